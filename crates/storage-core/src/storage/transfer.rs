//! Copies and renames within a storage (natively, or streamed through a create-only put where the backend's copy
//! cannot refuse a taken name), and copies to another storage.

use super::{OverwritePolicy, SaveOptions, Storage, run};
use crate::backend::{Capabilities, PutOptions, WriteMode};
use crate::content::Content;
use crate::error::{Operation, Result};
use crate::name::{AvailableNames, validate_key};

#[derive(Debug, Clone, Copy)]
enum Transfer {
    Copy,
    Rename,
}

impl Storage {
    /// Copy `from` to `to`, applying the overwrite policy to `to`; returns the name written.
    pub async fn copy(&self, from: &str, to: &str) -> Result<String> {
        run(Operation::Copy, self.transfer(from, to, Transfer::Copy)).await
    }

    /// Move `from` to `to`, applying the overwrite policy to `to`; returns the name written.
    pub async fn rename(&self, from: &str, to: &str) -> Result<String> {
        run(Operation::Rename, self.transfer(from, to, Transfer::Rename)).await
    }

    /// Copy `name` to another storage as `target_name`, streaming, with its attributes and (where both storages have
    /// ACLs) its ACL; the target's overwrite policy decides the stored name, which is returned.
    ///
    /// ```
    /// # async fn demo(disk: storage_core::Storage, s3: storage_core::Storage) -> storage_core::Result<()> {
    /// let stored = disk.copy_to("report.pdf", &s3, "archive/report.pdf").await?;
    /// assert!(stored.starts_with("archive/report")); // `archive/report_XXXXXXX.pdf` if s3 had one
    /// # Ok(()) }
    /// ```
    pub async fn copy_to(&self, name: &str, target: &Storage, target_name: &str) -> Result<String> {
        run(Operation::Copy, async {
            let reader = self.open(name).await?;
            let mut options = SaveOptions::default().with_attributes(reader.metadata.attributes.clone());
            if self.capabilities().acl && target.capabilities().acl {
                options = options.with_acl(self.acl(name).await?);
            }
            let content = Content::from_stream(reader.stream, Some(reader.metadata.size()));
            target.save_with(target_name, content, options).await
        })
        .await
    }

    async fn transfer(&self, from: &str, to: &str, kind: Transfer) -> Result<String> {
        validate_key(from)?;
        validate_key(to)?;
        let caps = self.capabilities();
        let names = AvailableNames::new(to, self.options.max_name_length)?;
        match self.options.overwrite {
            OverwritePolicy::Overwrite => {
                let to = names.truncated_original()?;
                if from != to {
                    self.transfer_once(from, &to, WriteMode::Overwrite, kind, caps).await?;
                } else {
                    // Copying or moving onto itself changes nothing, but the source must exist.
                    self.backend.head(from).await?;
                }
                Ok(to)
            }
            OverwritePolicy::Fail => {
                self.require_create_only(caps)?;
                let to = names.truncated_original()?;
                self.transfer_once(from, &to, WriteMode::CreateOnly, kind, caps).await?;
                Ok(to)
            }
            OverwritePolicy::Unique => {
                self.require_create_only(caps)?;
                self.with_unique_name(names, |candidate| async move {
                    self.transfer_once(from, &candidate, WriteMode::CreateOnly, kind, caps).await
                })
                .await
            }
        }
    }

    async fn transfer_once(
        &self,
        from: &str,
        to: &str,
        mode: WriteMode,
        kind: Transfer,
        caps: Capabilities,
    ) -> Result<()> {
        validate_key(to)?;
        let native = mode == WriteMode::Overwrite || caps.copy_with_create_only;
        match (kind, native) {
            (Transfer::Copy, true) => self.backend.copy(from, to, mode).await,
            (Transfer::Rename, true) => self.backend.rename(from, to, mode).await,
            (Transfer::Copy, false) => self.stream_copy(from, to, mode, caps).await,
            (Transfer::Rename, false) => {
                self.stream_copy(from, to, mode, caps).await?;
                self.backend.delete(from).await
            }
        }
    }

    /// Copy through a create-only put, for backends whose native copy cannot refuse an existing target.
    async fn stream_copy(&self, from: &str, to: &str, mode: WriteMode, caps: Capabilities) -> Result<()> {
        let source = self.backend.get(from, None).await?;
        let acl = if caps.acl { Some(self.backend.acl(from).await?) } else { None };
        let size = source.metadata.size();
        let content = Content::from_stream(source.stream, Some(size));
        let options = PutOptions::new(mode, source.metadata.attributes, acl);
        self.backend.put(to, content, options).await.map(drop)
    }
}

//! A backend made of a primary and mirrors, for moving an app between backends without downtime: writes go to all,
//! reads fall back from the primary to the mirrors, URLs come from the primary.
//!
//! The move: mirror the new backend behind the old one, backfill with [`crate::migrate()`], verify, then flip, so the
//! new one is primary and the old one a mirror that still answers what the backfill missed.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::backend::{Backend, Capabilities, GetResult, ListOptions, PresignRequest, PresignedRequest, PutOptions};
use crate::backend::{PutResult, WriteMode};
use crate::content::Content;
use crate::error::{Error, ErrorKind, Result};
use crate::migrate::copy_object;
use crate::storage::Storage;
use crate::types::{Acl, ByteRange, ListEntry, Metadata};

/// A primary backend and its mirrors, as one [`Backend`] (wrap it in a [`Storage`] for the policy).
///
/// - **Writes** (put, delete, copy, rename, set_acl) go to the primary first, then to every mirror. A failed
///   primary write fails the call and leaves the mirrors alone. A failed mirror write fails the call with
///   [`Error::Mirror`], which names the key already written to the primary.
/// - **Reads** (get, head, acl) come from the primary, and from the mirrors in order when the primary answers
///   `NotFound`. With [`MirrorBackend::with_read_through`], an object found on a mirror is first copied to the primary.
/// - **Listing and URLs** come from the primary only.
#[derive(Debug, Clone)]
pub struct MirrorBackend {
    primary: Arc<dyn Backend>,
    mirrors: Vec<Arc<dyn Backend>>,
    read_through: bool,
    name: String,
}

impl MirrorBackend {
    /// A primary and the mirrors every write goes to as well.
    pub fn new(primary: Arc<dyn Backend>, mirrors: Vec<Arc<dyn Backend>>) -> Self {
        let name = std::iter::once(&primary).chain(&mirrors).map(|b| b.name()).collect::<Vec<_>>().join("+");
        Self { primary, mirrors, read_through: false, name: format!("mirror({name})") }
    }

    /// The mirror backend of two storages' backends (their policy is not used: wrap the result in a storage).
    pub fn of(primary: &Storage, mirrors: &[&Storage]) -> Self {
        Self::new(primary.backend().clone(), mirrors.iter().map(|s| s.backend().clone()).collect())
    }

    /// Copy an object found only on a mirror back to the primary when it is read.
    pub fn with_read_through(mut self, read_through: bool) -> Self {
        self.read_through = read_through;
        self
    }

    /// A storage over this backend with the default policy.
    pub fn storage(self) -> Storage {
        Storage::new(self)
    }

    fn mirror_error(&self, key: &str, mirror: &dyn Backend, source: Error) -> Error {
        Error::Mirror {
            operation: crate::Operation::Unspecified,
            key: key.to_owned(),
            primary: self.primary.name().to_owned(),
            mirror: mirror.name().to_owned(),
            source: Box::new(source),
        }
    }

    /// Run `write` on every mirror; the first failure, after all were tried.
    async fn on_mirrors<'a, F, Fut>(&'a self, key: &str, write: F) -> Result<()>
    where
        F: Fn(&'a dyn Backend) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let mut first_failure = None;
        for mirror in &self.mirrors {
            if let Err(err) = write(mirror.as_ref()).await {
                first_failure.get_or_insert_with(|| self.mirror_error(key, mirror.as_ref(), err));
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// The first backend, primary first, whose `read` does not answer `NotFound`.
    async fn read_first<'a, T, F, Fut>(&'a self, read: F) -> Result<(T, usize)>
    where
        F: Fn(&'a dyn Backend) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut not_found = None;
        for (index, backend) in std::iter::once(&self.primary).chain(&self.mirrors).enumerate() {
            match read(backend.as_ref()).await {
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    not_found.get_or_insert(err);
                }
                other => return other.map(|value| (value, index)),
            }
        }
        Err(not_found.expect("the primary was asked"))
    }

    /// Copy `key` from mirror `index` to the primary, create-only, so a write racing with it wins.
    async fn copy_back(&self, key: &str, index: usize, opened: Option<GetResult>) -> Result<()> {
        let mirror = self.mirrors[index - 1].as_ref();
        match copy_object(mirror, self.primary.as_ref(), key, WriteMode::CreateOnly, opened).await {
            Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(()),
            other => other.map(drop),
        }
    }
}

#[async_trait]
impl Backend for MirrorBackend {
    fn name(&self) -> &str {
        &self.name
    }

    /// The primary's, less any write ability a mirror lacks (every write must land everywhere).
    fn capabilities(&self) -> Capabilities {
        let mut capabilities = self.primary.capabilities();
        for mirror in &self.mirrors {
            let theirs = mirror.capabilities();
            capabilities.write_with_attributes &= theirs.write_with_attributes;
            capabilities.write_with_user_metadata &= theirs.write_with_user_metadata;
            capabilities.acl &= theirs.acl;
        }
        capabilities
    }

    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        let (first, rewind) = content.tee();
        let result = self.primary.put(key, first, options.clone()).await?;
        let replay = rewind.rewind().await.map_err(|err| Error::from_io(self.primary.name(), Some(key), err))?;
        // The primary decided whether the name was free; the mirrors follow it.
        let mirrored = PutOptions { mode: WriteMode::Overwrite, ..options };
        self.on_mirrors(key, |mirror| {
            let (content, options) = (replay.content(), mirrored.clone());
            async move { mirror.put(key, content, options).await.map(drop) }
        })
        .await?;
        Ok(result)
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        let (result, index) = self.read_first(|backend| backend.get(key, range)).await?;
        if index == 0 || !self.read_through {
            return Ok(result);
        }
        // The whole object goes to the primary (through this read, unless it was a range), then is served from there.
        self.copy_back(key, index, range.is_none().then_some(result)).await?;
        self.primary.get(key, range).await
    }

    async fn head(&self, key: &str) -> Result<Metadata> {
        Ok(self.read_first(|backend| backend.head(key)).await?.0)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.primary.delete(key).await?;
        self.on_mirrors(key, |mirror| mirror.delete(key)).await
    }

    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        self.primary.list(options)
    }

    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.primary.copy(from, to, mode).await?;
        self.on_mirrors(to, |mirror| self.mirror_copy(mirror, from, to)).await
    }

    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.primary.rename(from, to, mode).await?;
        self.on_mirrors(to, |mirror| async move {
            self.mirror_copy(mirror, from, to).await?;
            mirror.delete(from).await
        })
        .await
    }

    fn public_url(&self, key: &str) -> Result<String> {
        self.primary.public_url(key)
    }

    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        self.primary.presign(request).await
    }

    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        self.primary.set_acl(key, acl).await?;
        self.on_mirrors(key, |mirror| async move {
            match mirror.set_acl(key, acl).await {
                // A mirror that lacks the object yet gets it, with this ACL, from the backfill.
                Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
                other => other,
            }
        })
        .await
    }

    async fn acl(&self, key: &str) -> Result<Acl> {
        Ok(self.read_first(|backend| backend.acl(key)).await?.0)
    }
}

impl MirrorBackend {
    /// Repeat a copy on a mirror: natively when the mirror has the source, else from the primary's new object.
    async fn mirror_copy(&self, mirror: &dyn Backend, from: &str, to: &str) -> Result<()> {
        match mirror.copy(from, to, WriteMode::Overwrite).await {
            Err(err) if err.kind() == ErrorKind::NotFound => {
                copy_object(self.primary.as_ref(), mirror, to, WriteMode::Overwrite, None).await.map(drop)
            }
            other => other,
        }
    }
}

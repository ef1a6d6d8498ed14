//! Writing: saves under the overwrite policy (unique names claimed by create-only writes), deletes, attribute
//! changes, and Django's naming helpers.

use chrono::Utc;

use super::{OverwritePolicy, SaveOptions, Storage, run};
use crate::backend::{Capabilities, PutOptions, WriteMode};
use crate::content::Content;
use crate::content_type::guess_content_type;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::name::{AvailableNames, UploadTo, validate_key};
use crate::types::Attributes;

/// How many alternative names a unique save tries before giving up (each collision is a real, concurrent writer).
const MAX_UNIQUE_ATTEMPTS: usize = 100;

impl Storage {
    /// Save `content` under `name` (or an alternative name, per the overwrite policy); returns the stored name.
    pub async fn save(&self, name: &str, content: impl Into<Content>) -> Result<String> {
        self.save_with(name, content, SaveOptions::default()).await
    }

    /// [`Storage::save`] with per-save attributes, ACL, policy and length limit.
    pub async fn save_with(&self, name: &str, content: impl Into<Content>, options: SaveOptions) -> Result<String> {
        run(Operation::Save, async {
            validate_key(name)?;
            let caps = self.capabilities();
            let attributes = self.write_attributes(name, options.attributes, caps)?;
            let acl = options.acl.or(self.options.default_acl);
            if acl.is_some() && !caps.acl {
                return Err(Error::unsupported(self.backend_name(), "ACLs"));
            }
            let policy = options.overwrite.unwrap_or(self.options.overwrite);
            let max_length = options.max_length.or(self.options.max_name_length);
            let names = AvailableNames::new(name, max_length)?;
            let content = content.into();

            match policy {
                OverwritePolicy::Overwrite => {
                    let name = names.truncated_original()?;
                    self.put_checked(&name, content, PutOptions::new(WriteMode::Overwrite, attributes, acl)).await?;
                    Ok(name)
                }
                OverwritePolicy::Fail => {
                    self.require_create_only(caps)?;
                    let name = names.truncated_original()?;
                    self.put_checked(&name, content, PutOptions::new(WriteMode::CreateOnly, attributes, acl)).await?;
                    Ok(name)
                }
                OverwritePolicy::Unique => {
                    self.require_create_only(caps)?;
                    let mut names = names;
                    let options = PutOptions::new(WriteMode::CreateOnly, attributes, acl);
                    // The first attempt streams directly; only a collision replays the content, from a spool.
                    let (first, rewind) = content.tee_until_claimed();
                    let first_name = names.next_candidate()?;
                    match self.put_checked(&first_name, first, options.clone()).await {
                        Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
                        other => return other.map(|()| first_name),
                    }
                    let content =
                        rewind.rewind().await.map_err(|err| Error::from_io(self.backend_name(), Some(name), err))?;
                    self.with_unique_name(names, |candidate| {
                        let content = content.content();
                        let options = options.clone();
                        async move { self.put_checked(&candidate, content, options).await }
                    })
                    .await
                }
            }
        })
        .await
    }

    async fn put_checked(&self, name: &str, content: Content, options: PutOptions) -> Result<()> {
        validate_key(name)?;
        self.backend.put(name, content, options).await.map(drop)
    }

    /// Try candidate names until `attempt` does not fail with `AlreadyExists`; never checks `exists` first.
    pub(super) async fn with_unique_name<F, Fut>(&self, mut names: AvailableNames, mut attempt: F) -> Result<String>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let mut last_error = None;
        for _ in 0..MAX_UNIQUE_ATTEMPTS {
            let candidate = names.next_candidate()?;
            match attempt(candidate.clone()).await {
                Ok(()) => return Ok(candidate),
                Err(err) if err.kind() == ErrorKind::AlreadyExists => last_error = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last_error.expect("at least one attempt was made"))
    }

    pub(super) fn require_create_only(&self, caps: Capabilities) -> Result<()> {
        if caps.write_with_create_only {
            return Ok(());
        }
        Err(Error::unsupported(
            self.backend_name(),
            "create-only writes (needed by the unique and fail overwrite policies; use OverwritePolicy::Overwrite)",
        ))
    }

    /// The attributes a save sends: the storage's defaults, then those chosen for the name, then the caller's,
    /// then a content type guessed from the name.
    fn write_attributes(&self, name: &str, given: Attributes, caps: Capabilities) -> Result<Attributes> {
        let mut attributes = self.options.default_attributes.clone();
        if let Some(hook) = &self.options.attributes_for {
            attributes = attributes.overlay(hook(name));
        }
        let attributes = attributes.overlay(given);
        attributes.validate(name)?;
        if attributes.has_headers() && !caps.write_with_attributes {
            return Err(Error::unsupported(
                self.backend_name(),
                "object attributes (content type, cache-control, ...)",
            ));
        }
        if !attributes.metadata.is_empty() && !caps.write_with_user_metadata {
            return Err(Error::unsupported(self.backend_name(), "user metadata"));
        }
        if !caps.write_with_attributes {
            // A guessed type is a convenience, not a request: a backend that cannot keep it simply does not get it.
            return Ok(attributes);
        }
        Ok(Attributes {
            content_type: attributes.content_type.or_else(|| Some(guess_content_type(name))),
            ..attributes
        })
    }

    /// Delete `name`; a missing name is not an error.
    pub async fn delete(&self, name: &str) -> Result<()> {
        run(Operation::Delete, async {
            validate_key(name)?;
            self.backend.delete(name).await
        })
        .await
    }

    /// Replace the attributes of `name` (content type, cache-control, user metadata, …) without writing its bytes
    /// again; its ACL stays. `Unsupported` where the backend cannot (S3: copy it onto itself with [`Storage::copy_to`]).
    pub async fn set_attributes(&self, name: &str, attributes: Attributes) -> Result<()> {
        run(Operation::SetAttributes, async {
            validate_key(name)?;
            attributes.validate(name)?;
            if !self.capabilities().set_attributes {
                return Err(Error::unsupported(self.backend_name(), "changing the attributes of a stored object"));
            }
            self.backend.set_attributes(name, attributes).await
        })
        .await
    }

    /// Django's `get_available_name`: the first candidate that does not exist *now*.
    ///
    /// Only for display: another writer may take the name before it is used. `save` never relies on it; it claims
    /// names with create-only writes instead.
    pub async fn get_available_name(&self, name: &str, max_length: Option<usize>) -> Result<String> {
        run(Operation::Name, async {
            let mut names = AvailableNames::new(name, max_length)?;
            loop {
                let candidate = names.next_candidate()?;
                validate_key(&candidate)?;
                if !self.exists(&candidate).await? {
                    return Ok(candidate);
                }
            }
        })
        .await
    }

    /// Django's `generate_filename`: a valid name for an uploaded `filename` under `upload_to`, dated now.
    pub fn generate_filename(&self, upload_to: &UploadTo, filename: &str) -> Result<String> {
        crate::name::generate_filename(upload_to, filename, Utc::now()).map_err(|err| err.during(Operation::Name))
    }
}

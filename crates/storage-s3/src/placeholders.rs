//! Placeholders on S3: the name claims of create-only saves and copies on servers that ignore `If-None-Match: *`
//! on CompleteMultipartUpload (Ceph 16), written by the one claim implementation (storage-object-store's
//! `placeholders`) through this backend's PutObject, and the probe objects hidden the same way. `storage gc`
//! (`S3Backend::remove_placeholders`) removes what a killed process left.

use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use storage_core::{Attributes, Backend, Error, PutOptions, Result};
use storage_object_store::attributes::from_store_attributes;
use storage_object_store::placeholders::{Claim, ClaimSite, PLACEHOLDER, may_be_placeholder};

use crate::S3Backend;
use crate::errors::map_error;

/// The key prefix of the objects that probe the server's conditional completion (hidden like placeholders, for the
/// moment they exist; `gc` removes one a killed process left).
pub(crate) const PROBE: &str = ".storage-probe-";

/// Where a claim's holder is told how to raise its lifetime.
const CLAIM_SETTING: &str = "S3Config::with_claim_lifetime";

impl S3Backend {
    /// Where this backend writes its claims: the one implementation, through this backend's PutObject (with its
    /// storage class and tags).
    fn claim_site<'a>(
        &'a self,
        put_options: &'a (dyn Fn(Attributes) -> object_store::PutOptions + Send + Sync),
        map: &'a (dyn Fn(object_store::Error, &str) -> Error + Send + Sync),
    ) -> ClaimSite<'a> {
        ClaimSite { store: &self.inner.store, put_options, map_error: map }
    }

    /// Claim `key` with a placeholder, or take over the dead claim there.
    pub(crate) async fn claim(&self, key: &str) -> Result<Claim> {
        let put_options = |attributes| self.put_options(attributes, None);
        let map = |err, key: &str| map_error(err, Some(key));
        let site = self.claim_site(&put_options, &map);
        site.claim(&self.path(key)?, key, self.inner.config.claim_lifetime).await
    }

    /// Delete the placeholder of a failed upload, while the claim is live.
    pub(crate) async fn release(&self, key: &str, claim: Claim) {
        let put_options = |attributes| self.put_options(attributes, None);
        let map = |err, key: &str| map_error(err, Some(key));
        if let Ok(path) = self.path(key) {
            self.claim_site(&put_options, &map).release(&path, claim).await;
        }
    }

    /// `Ok` while `claim` lets its holder complete over `key`.
    pub(crate) fn check_live(&self, claim: &Claim, key: &str) -> Result<()> {
        claim.check_live(crate::NAME, key, CLAIM_SETTING)
    }

    /// A single-request create-only write (an object, or a placeholder) that takes a dead claim over: refused with
    /// `AlreadyExists` by any other object, and by a live claim.
    pub(crate) async fn put_create_only(&self, key: &str, bytes: Bytes, options: &PutOptions) -> Result<()> {
        let put_options = |attributes| self.put_options(attributes, options.acl);
        let map = |err, key: &str| map_error(err, Some(key));
        let site = self.claim_site(&put_options, &map);
        site.put_create_only(&self.path(key)?, key, bytes, options.attributes.clone()).await.map(drop)
    }

    /// Delete the create-only placeholders older than `older_than` that a process left when it was killed during a
    /// unique-name save or copy (a live one replaces its own within the upload), and return their keys. No read path
    /// shows a placeholder, but it holds its name until removed. `storage gc` runs this with a day; an app can run it
    /// on a schedule.
    pub async fn remove_placeholders(&self, older_than: Duration) -> Result<Vec<String>> {
        let root = self.inner.prefix.trim_end_matches('/');
        let root = (!root.is_empty()).then(|| Path::from(root));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut listed = self.inner.store.list(root.as_ref());
        let mut removed = Vec::new();
        while let Some(meta) = listed.try_next().await.map_err(|err| map_error(err, None))? {
            let Some(key) = self.key_of(meta.location.as_ref()).map(str::to_owned) else { continue };
            if !may_be_placeholder(meta.size) && !key.starts_with(PROBE) {
                continue;
            }
            let options = object_store::GetOptions { head: true, ..Default::default() };
            let attributes = match self.inner.store.get_opts(&meta.location, options).await {
                Ok(head) => from_store_attributes(&head.attributes),
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(err) => return Err(map_error(err, Some(&key))),
            };
            let written = attributes.metadata.get(PLACEHOLDER).and_then(|secs| secs.parse::<u64>().ok());
            if written.is_some_and(|written| now.as_secs().saturating_sub(written) >= older_than.as_secs()) {
                self.delete(&key).await?;
                removed.push(key);
            }
        }
        Ok(removed)
    }
}

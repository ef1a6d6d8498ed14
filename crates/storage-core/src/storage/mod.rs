//! The `Storage` handle and its policy: Django's storage API over any backend, applying naming, overwrite and URL
//! policy. This module holds the handle, its options and what every operation shares; the operations are in
//! `save` (writes, deletes, attributes, naming), `read` (reads and listings), `transfer` (copy and rename) and
//! `urls` (URLs, upload links and forms, ACLs).

mod read;
mod save;
mod transfer;
mod urls;

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, Capabilities};
use crate::error::{Operation, Result};
use crate::types::{Acl, Attributes, ListEntry, PublicReads};
use crate::url::UrlPolicy;

/// How a save treats a name that is taken. The default, `Unique`, is the same on every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverwritePolicy {
    /// Replace the existing object (django-storages' S3 default, `file_overwrite = True`).
    Overwrite,
    /// Never replace: store under an alternative name `root_XXXXXXX.ext` (Django's `FileSystemStorage`).
    #[default]
    Unique,
    /// Never replace: fail with [`crate::ErrorKind::AlreadyExists`].
    Fail,
}

/// Attributes chosen from the name of each saved object (django-storages' `get_object_parameters(name)`).
pub type AttributesHook = Arc<dyn Fn(&str) -> Attributes + Send + Sync>;

/// Policy of one storage.
#[derive(Clone)]
#[non_exhaustive]
pub struct StorageOptions {
    /// What a save does when the name is taken.
    pub overwrite: OverwritePolicy,
    /// ACL sent with every save; `None` sends none (safe on buckets that reject ACLs).
    pub default_acl: Option<Acl>,
    /// Whether `url` hands out public or signed URLs.
    pub url_policy: UrlPolicy,
    /// The longest name (in characters) a save may produce; longer names are truncated as Django does.
    pub max_name_length: Option<usize>,
    /// Attributes every save starts from (django-storages' `object_parameters`).
    pub default_attributes: Attributes,
    /// Attributes for a given name, layered over `default_attributes` and under the save's own.
    pub attributes_for: Option<AttributesHook>,
    /// Which files anyone may read without a signature (see [`Storage::is_public`]).
    pub public_reads: PublicReads,
}

impl std::fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageOptions")
            .field("overwrite", &self.overwrite)
            .field("default_acl", &self.default_acl)
            .field("url_policy", &self.url_policy)
            .field("max_name_length", &self.max_name_length)
            .field("default_attributes", &self.default_attributes)
            .field("attributes_for", &self.attributes_for.as_ref().map(|_| "Fn(&str) -> Attributes"))
            .field("public_reads", &self.public_reads)
            .finish()
    }
}

impl Default for StorageOptions {
    fn default() -> Self {
        Self {
            overwrite: OverwritePolicy::default(),
            default_acl: None,
            url_policy: UrlPolicy::Public,
            max_name_length: None,
            default_attributes: Attributes::default(),
            attributes_for: None,
            public_reads: PublicReads::default(),
        }
    }
}

/// Options of one save, layered over the storage's defaults.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SaveOptions {
    /// Attributes set here win over the storage's defaults; a missing content type is guessed from the name.
    pub attributes: Attributes,
    /// The ACL for this save (else the storage's default ACL).
    pub acl: Option<Acl>,
    /// The overwrite policy for this save (else the storage's).
    pub overwrite: Option<OverwritePolicy>,
    /// The longest name this save may store, in characters (Django's `max_length`).
    pub max_length: Option<usize>,
}

impl SaveOptions {
    /// Save with this content type instead of guessing one from the name.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.attributes.content_type = Some(content_type.into());
        self
    }
    /// Save with these attributes, over the storage's defaults.
    pub fn with_attributes(mut self, attributes: Attributes) -> Self {
        self.attributes = attributes;
        self
    }
    /// Save with this canned ACL.
    pub fn with_acl(mut self, acl: Acl) -> Self {
        self.acl = Some(acl);
        self
    }
    /// Save under this overwrite policy.
    pub fn with_overwrite(mut self, policy: OverwritePolicy) -> Self {
        self.overwrite = Some(policy);
        self
    }
    /// Truncate the name (before its random part) to fit `max_length` characters.
    pub fn with_max_length(mut self, max_length: usize) -> Self {
        self.max_length = Some(max_length);
        self
    }
}

/// One page of a listing, and where the next one starts ([`Storage::list_page`]); only a storage makes one, so
/// fields can be added later:
///
/// ```compile_fail
/// let page = storage_core::Page { entries: Vec::new(), next_offset: None }; // non-exhaustive
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page {
    /// The entries of this page, in key order.
    pub entries: Vec<ListEntry>,
    /// Pass as the offset of the next call; `None` on the last page.
    pub next_offset: Option<String>,
}

/// The user-facing handle: cheap to clone, shareable across tasks, the same behaviour on every backend.
#[derive(Debug, Clone)]
pub struct Storage {
    backend: Arc<dyn Backend>,
    options: Arc<StorageOptions>,
}

impl Storage {
    /// A storage over `backend` with the default policy (unique names, public URLs).
    pub fn new(backend: impl Backend) -> Self {
        Self::from_arc(Arc::new(backend))
    }

    /// A storage over a shared backend, with the default policy.
    pub fn from_arc(backend: Arc<dyn Backend>) -> Self {
        Self { backend, options: Arc::new(StorageOptions::default()) }
    }

    /// This storage with every policy replaced by `options`.
    pub fn with_options(mut self, options: StorageOptions) -> Self {
        self.options = Arc::new(options);
        self
    }

    /// This storage with another overwrite policy.
    pub fn with_overwrite(mut self, policy: OverwritePolicy) -> Self {
        Arc::make_mut(&mut self.options).overwrite = policy;
        self
    }

    /// This storage with a canned ACL for every save that names none (django-storages' `default_acl`).
    pub fn with_default_acl(mut self, acl: Option<Acl>) -> Self {
        Arc::make_mut(&mut self.options).default_acl = acl;
        self
    }

    /// This storage with another URL policy.
    pub fn with_url_policy(mut self, policy: UrlPolicy) -> Self {
        Arc::make_mut(&mut self.options).url_policy = policy;
        self
    }

    /// This storage with a longest name, in characters, for every save.
    pub fn with_max_name_length(mut self, max_length: Option<usize>) -> Self {
        Arc::make_mut(&mut self.options).max_name_length = max_length;
        self
    }

    /// This storage with attributes every save starts from (django-storages' `object_parameters`).
    pub fn with_default_attributes(mut self, attributes: Attributes) -> Self {
        Arc::make_mut(&mut self.options).default_attributes = attributes;
        self
    }

    /// Attributes chosen per name, e.g. a long cache lifetime for `static/` and a download disposition for
    /// `exports/` (django-storages' `get_object_parameters`).
    pub fn with_attributes_for(mut self, hook: impl Fn(&str) -> Attributes + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.options).attributes_for = Some(Arc::new(hook));
        self
    }

    /// This storage with a rule for which files anyone may read at their plain URLs. A backend that keeps per-file
    /// ACLs answers by each file's ACL whatever is set here; [`PublicReads::Everything`] declares a storage of public
    /// files on one that keeps none.
    pub fn with_public_reads(mut self, public_reads: PublicReads) -> Self {
        Arc::make_mut(&mut self.options).public_reads = public_reads;
        self
    }

    /// A storage for private files (the seed's `S3PrivateFileField`): every save gets the `private` ACL where the
    /// backend has ACLs, and `url` always answers with a temporary URL valid for `expires`.
    pub fn private(self, expires: Duration) -> Self {
        let acl = self.capabilities().acl.then_some(Acl::Private);
        self.with_default_acl(acl).with_url_policy(UrlPolicy::Signed { expires })
    }

    /// The storage's policies.
    pub fn options(&self) -> &StorageOptions {
        &self.options
    }

    /// This storage over its backend wrapped in `layer` (tracing, retries, timeouts, …); the policy stays. The last
    /// layer added is the outermost: `storage.layer(RetryLayer::default()).layer(TracingLayer)` traces each call once,
    /// retries included.
    pub fn layer(mut self, layer: impl crate::layer::Layer) -> Self {
        self.backend = layer.layer(self.backend);
        self
    }

    /// The backend beneath, for what `Storage` does not wrap.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// What the backend can do; calls that need more answer `Unsupported`.
    pub fn capabilities(&self) -> Capabilities {
        self.backend.capabilities()
    }

    fn backend_name(&self) -> &str {
        self.backend.name()
    }
}

/// Run one `Storage` operation: every error it returns names `operation`.
async fn run<T>(operation: Operation, work: impl Future<Output = Result<T>>) -> Result<T> {
    work.await.map_err(|err| err.during(operation))
}

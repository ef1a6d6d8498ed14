//! The `Storage` handle: Django's storage API over any backend, applying naming, overwrite and URL policy.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};

use crate::backend::{
    Backend, Capabilities, GetResult, ListOptions, Method, PresignRequest, PresignedRequest, PutOptions, WriteMode,
};
use crate::content::Content;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::name::{AvailableNames, UploadTo, validate_key};
use crate::types::{Acl, Attributes, ByteRange, FileAcl, ListEntry, Metadata, ObjectMeta, PublicReads};
use crate::upload::{UploadForm, UploadPolicy};
use crate::url::{UrlOptions, UrlPolicy, check_header_value, content_disposition};

/// How a save treats a name that is taken. The default, `Unique`, is the same on every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverwritePolicy {
    /// Replace the existing object (django-storages' S3 default, `file_overwrite = True`).
    Overwrite,
    /// Never replace: store under an alternative name `root_XXXXXXX.ext` (Django's `FileSystemStorage`).
    #[default]
    Unique,
    /// Never replace: fail with [`ErrorKind::AlreadyExists`].
    Fail,
}

/// Fallback content type when neither the caller nor the name's extension gives one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// How many alternative names a unique save tries before giving up (each collision is a real, concurrent writer).
const MAX_UNIQUE_ATTEMPTS: usize = 100;

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

/// One page of a listing, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
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

    // ----- writing -----------------------------------------------------------------------------------------------

    /// Save `content` under `name` (or an alternative name, per the overwrite policy); returns the stored name.
    pub async fn save(&self, name: &str, content: impl Into<Content>) -> Result<String> {
        self.save_with(name, content, SaveOptions::default()).await
    }

    /// [`Storage::save`] with per-save attributes, ACL, policy and length limit.
    pub async fn save_with(&self, name: &str, content: impl Into<Content>, options: SaveOptions) -> Result<String> {
        async {
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
        }
        .await
        .map_err(during(Operation::Save))
    }

    async fn put_checked(&self, name: &str, content: Content, options: PutOptions) -> Result<()> {
        validate_key(name)?;
        self.backend.put(name, content, options).await.map(drop)
    }

    /// Try candidate names until `attempt` does not fail with `AlreadyExists`; never checks `exists` first.
    async fn with_unique_name<F, Fut>(&self, mut names: AvailableNames, mut attempt: F) -> Result<String>
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

    fn require_create_only(&self, caps: Capabilities) -> Result<()> {
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
            attributes = layer(attributes, hook(name));
        }
        let attributes = layer(attributes, given);
        check_attributes(name, &attributes)?;
        let explicit_headers =
            Attributes { metadata: Default::default(), ..attributes.clone() } != Attributes::default();
        if explicit_headers && !caps.write_with_attributes {
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

    // ----- reading -----------------------------------------------------------------------------------------------

    /// A streaming reader over the whole object.
    pub async fn open(&self, name: &str) -> Result<GetResult> {
        async {
            validate_key(name)?;
            self.backend.get(name, None).await
        }
        .await
        .map_err(during(Operation::Open))
    }

    /// A streaming reader over part of the object.
    pub async fn open_range(&self, name: &str, range: impl Into<ByteRange>) -> Result<GetResult> {
        async {
            validate_key(name)?;
            self.backend.get(name, Some(range.into())).await
        }
        .await
        .map_err(during(Operation::Open))
    }

    /// The whole object in memory. For large objects use [`Storage::open`].
    pub async fn read(&self, name: &str) -> Result<Bytes> {
        async {
            let reader = self.open(name).await?;
            let mut buf = BytesMut::with_capacity(usize::try_from(reader.metadata.size()).unwrap_or(0));
            let mut stream = reader.stream;
            while let Some(chunk) =
                stream.try_next().await.map_err(|err| Error::from_io(self.backend_name(), Some(name), err))?
            {
                buf.extend_from_slice(&chunk);
            }
            Ok(buf.freeze())
        }
        .await
        .map_err(during(Operation::Read))
    }

    /// Delete `name`; a missing name is not an error.
    pub async fn delete(&self, name: &str) -> Result<()> {
        async {
            validate_key(name)?;
            self.backend.delete(name).await
        }
        .await
        .map_err(during(Operation::Delete))
    }

    /// Whether `name` exists now (another writer may change that at once: saves never rely on it).
    pub async fn exists(&self, name: &str) -> Result<bool> {
        async {
            match self.metadata(name).await {
                Ok(_) => Ok(true),
                Err(err) if err.kind() == ErrorKind::NotFound => Ok(false),
                Err(err) => Err(err),
            }
        }
        .await
        .map_err(during(Operation::Exists))
    }

    /// The size of `name` in bytes.
    pub async fn size(&self, name: &str) -> Result<u64> {
        async { Ok(self.metadata(name).await?.size()) }.await.map_err(during(Operation::Metadata))
    }

    /// The metadata and attributes of `name`.
    pub async fn metadata(&self, name: &str) -> Result<Metadata> {
        async {
            validate_key(name)?;
            self.backend.head(name).await
        }
        .await
        .map_err(during(Operation::Metadata))
    }

    // ----- listing -----------------------------------------------------------------------------------------------

    /// Every object under `prefix` (a string prefix), recursively, in key order, fetched page by page.
    pub fn list(&self, prefix: &str) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list_entries(ListOptions::new(prefix))
            .try_filter_map(|entry| async move {
                Ok(match entry {
                    ListEntry::Object(meta) => Some(meta),
                    ListEntry::Prefix(_) => None,
                })
            })
            .boxed()
    }

    /// Objects and (with a delimiter) common prefixes, in key order.
    pub fn list_entries(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        if let Err(err) = validate_prefix(&options.prefix) {
            return futures::stream::once(async move { Err(err.during(Operation::List)) }).boxed();
        }
        let offset = options.offset.clone();
        // Backends may roll a common prefix up again when the offset is that prefix: drop what is not after it.
        self.backend
            .list(options)
            .try_filter(move |entry| {
                let keep = offset.as_deref().is_none_or(|offset| entry.key() > offset);
                async move { keep }
            })
            .map_err(during(Operation::List))
            .boxed()
    }

    /// At most `page_size` entries after `options.offset`, and the offset of the next page.
    pub async fn list_page(&self, options: ListOptions, page_size: usize) -> Result<Page> {
        async {
            if page_size == 0 {
                return Err(Error::invalid_argument(Some(&options.prefix), "the page size must be at least 1"));
            }
            let mut entries: Vec<ListEntry> = self.list_entries(options).take(page_size + 1).try_collect().await?;
            let next_offset = if entries.len() > page_size {
                entries.truncate(page_size);
                entries.last().map(|entry| entry.key().to_owned())
            } else {
                None
            };
            Ok(Page { entries, next_offset })
        }
        .await
        .map_err(during(Operation::List))
    }

    /// Django's `listdir`: the directories and files directly in `path`, as names relative to it.
    pub async fn listdir(&self, path: &str) -> Result<(Vec<String>, Vec<String>)> {
        async {
            let path = path.trim_end_matches('/');
            let prefix = if path.is_empty() { String::new() } else { format!("{path}/") };
            let entries: Vec<ListEntry> =
                self.list_entries(ListOptions::new(prefix.clone()).with_delimiter(true)).try_collect().await?;
            let (mut dirs, mut files) = (Vec::new(), Vec::new());
            for entry in entries {
                match entry {
                    ListEntry::Prefix(p) => dirs.push(p[prefix.len()..].trim_end_matches('/').to_owned()),
                    ListEntry::Object(meta) => files.push(meta.key[prefix.len()..].to_owned()),
                }
            }
            Ok((dirs, files))
        }
        .await
        .map_err(during(Operation::List))
    }

    // ----- copy and rename ---------------------------------------------------------------------------------------

    /// Copy `from` to `to`, applying the overwrite policy to `to`; returns the name written.
    pub async fn copy(&self, from: &str, to: &str) -> Result<String> {
        async { self.transfer(from, to, Transfer::Copy).await }.await.map_err(during(Operation::Copy))
    }

    /// Move `from` to `to`, applying the overwrite policy to `to`; returns the name written.
    pub async fn rename(&self, from: &str, to: &str) -> Result<String> {
        async { self.transfer(from, to, Transfer::Rename).await }.await.map_err(during(Operation::Rename))
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
        async {
            let reader = self.open(name).await?;
            let mut options = SaveOptions::default().with_attributes(reader.metadata.attributes.clone());
            if self.capabilities().acl && target.capabilities().acl {
                options = options.with_acl(self.acl(name).await?);
            }
            let content = Content::from_stream(reader.stream, Some(reader.metadata.size()));
            target.save_with(target_name, content, options).await
        }
        .await
        .map_err(during(Operation::Copy))
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

    // ----- URLs and ACLs -----------------------------------------------------------------------------------------

    /// The URL to hand out for `name`: public, or temporary when the storage is private.
    pub async fn url(&self, name: &str) -> Result<String> {
        async {
            validate_key(name)?;
            match self.options.url_policy {
                UrlPolicy::Public => {
                    if !self.capabilities().public_url {
                        return Err(Error::unsupported(self.backend_name(), "public URLs"));
                    }
                    self.backend.public_url(name)
                }
                UrlPolicy::Signed { expires } => self.temporary_url(name, expires, UrlOptions::get()).await,
            }
        }
        .await
        .map_err(during(Operation::Url))
    }

    /// An expiring signed URL for `name` (the URL of [`Storage::presigned_request`]).
    pub async fn temporary_url(&self, name: &str, expires: Duration, options: UrlOptions) -> Result<String> {
        Ok(self.presigned_request(name, expires, options).await?.url)
    }

    /// An expiring signed request for `name`: the URL and the headers a client must send with it.
    ///
    /// A PUT is create-only unless the storage overwrites, so an upload through it never replaces a file.
    pub async fn presigned_request(
        &self,
        name: &str,
        expires: Duration,
        options: UrlOptions,
    ) -> Result<PresignedRequest> {
        async {
            validate_key(name)?;
            // A type the link would carry is exactly one media type, whatever the backend can do.
            for (field, content_type) in
                [("response content type", &options.response_content_type), ("content type", &options.content_type)]
            {
                if let Some(content_type) = content_type {
                    crate::content_type::check(name, field, content_type)?;
                }
            }
            let caps = self.capabilities();
            let supported = match options.method {
                Method::Get => caps.presign_read,
                Method::Put => caps.presign_write,
            };
            if !supported {
                let what = match options.method {
                    Method::Get => "temporary URLs for reading",
                    Method::Put => "temporary URLs for uploading",
                };
                // The backend's own refusal, where it has one, says how to get the capability (fs: a signer).
                let refusal = self.backend.presign(&PresignRequest::new(options.method, name, expires)).await.err();
                return Err(refusal
                    .filter(|err| err.kind() == crate::ErrorKind::Unsupported)
                    .unwrap_or_else(|| Error::unsupported(self.backend_name(), what)));
            }
            self.check_expiry(name, expires, &caps)?;

            let mut request = PresignRequest::new(options.method, name, expires);
            match options.method {
                Method::Get => {
                    request.response_content_disposition = match &options.download_name {
                        Some(download_name) => Some(content_disposition(download_name, options.inline)?),
                        None => None,
                    };
                    request.response_content_type = options.response_content_type;
                }
                Method::Put => {
                    request.content_type = options.content_type;
                    request.acl = self.upload_acl(options.acl, &caps)?;
                    request.create_only = self.options.overwrite != OverwritePolicy::Overwrite;
                }
            }
            self.backend.presign(&request).await
        }
        .await
        .map_err(during(Operation::Presign))
    }

    /// The one expiry rule, with the maximum the backend declares.
    fn check_expiry(&self, key: &str, expires: Duration, caps: &Capabilities) -> Result<()> {
        crate::expiry::check_expiry(key, &format!("{} backend", self.backend_name()), expires, caps.presign_max_expiry)
    }

    /// The ACL an upload by URL or form sets: the one asked for, else the storage's default; `Unsupported` when the
    /// backend has no ACLs.
    fn upload_acl(&self, acl: Option<Acl>, caps: &Capabilities) -> Result<Option<Acl>> {
        let acl = acl.or(self.options.default_acl);
        if acl.is_some() && !caps.acl {
            return Err(Error::unsupported(self.backend_name(), "ACLs"));
        }
        Ok(acl)
    }

    /// An HTML form with which a browser uploads straight to the storage, within `policy`: the key or prefix, the
    /// size range, the content types, the checksum, the ACL (the storage's default ACL when the policy has none),
    /// the attributes and the expiry. S3 enforces it as a POST policy; disk and memory storages through
    /// `storage_http::SignedUrlService`, while the bytes stream in. `Unsupported` where the backend has no forms, and
    /// for a create-only policy where its forms cannot refuse a taken name (S3: see
    /// [`Capabilities::upload_form_with_create_only`]).
    pub async fn upload_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        async {
            policy.validate()?;
            let caps = self.capabilities();
            if !caps.upload_form {
                return Err(Error::unsupported(self.backend_name(), "direct upload forms"));
            }
            if policy.create_only && !caps.upload_form_with_create_only {
                return Err(Error::unsupported(self.backend_name(), crate::upload::CREATE_ONLY_FORMS));
            }
            let key = policy.key_field();
            self.check_expiry(&key, policy.expires_in, &caps)?;
            check_attributes(&key, &policy.attributes)?;
            let mut policy = policy.clone();
            policy.acl = self.upload_acl(policy.acl, &caps)?;
            self.backend.upload_form(&policy).await
        }
        .await
        .map_err(during(Operation::Presign))
    }

    /// A presigned PUT for `policy`, when a PUT can enforce it: one exact key, an exact size (a signed
    /// `Content-Length`), an exact content type, an MD5 (a signed `Content-MD5`), the ACL and create-only. The
    /// request's headers must be sent as given. A size range, a type prefix, a key prefix, attributes or a success
    /// action need [`Storage::upload_form`] (`InvalidArgument` says so); a SHA-256 is `Unsupported` on a PUT.
    pub async fn upload_url(&self, policy: &UploadPolicy) -> Result<PresignedRequest> {
        async {
            policy.validate()?;
            let form_only = |what: &str| {
                Err(Error::invalid_argument(
                    Some(&policy.key_field()),
                    format!("a PUT cannot enforce {what}; use upload_form for this policy"),
                ))
            };
            let crate::upload::UploadKey::Exact(key) = &policy.key else { return form_only("a key prefix") };
            let content_length = match &policy.size {
                None => None,
                Some(size) if size.start() == size.end() => Some(*size.start()),
                Some(_) => return form_only("a size range (only an exact size)"),
            };
            let content_type = match &policy.content_type {
                None => None,
                Some(crate::upload::ContentTypeRule::Exact(content_type)) => Some(content_type.clone()),
                Some(_) => return form_only("a content type prefix"),
            };
            let content_md5 = match policy.checksum {
                None => None,
                Some(crate::upload::Checksum::Md5(md5)) => Some(md5),
                Some(_) => return Err(Error::unsupported(self.backend_name(), "SHA-256 checksums on a PUT; use MD5")),
            };
            if policy.attributes != Attributes::default() {
                return form_only("attributes");
            }
            if policy.success != crate::upload::SuccessAction::Status(204) {
                return form_only("a success action");
            }
            let caps = self.capabilities();
            if !caps.presign_write {
                return Err(Error::unsupported(self.backend_name(), "temporary URLs for uploading"));
            }
            self.check_expiry(key, policy.expires_in, &caps)?;
            let mut request = PresignRequest::new(Method::Put, key.clone(), policy.expires_in);
            request.content_type = content_type;
            request.acl = self.upload_acl(policy.acl, &caps)?;
            request.create_only = policy.create_only;
            request.content_length = content_length;
            request.content_md5 = content_md5;
            self.backend.presign(&request).await
        }
        .await
        .map_err(during(Operation::Presign))
    }

    /// Replace the attributes of `name` (content type, cache-control, user metadata, …) without writing its bytes
    /// again; its ACL stays. `Unsupported` where the backend cannot (S3: copy it onto itself with [`Storage::copy_to`]).
    pub async fn set_attributes(&self, name: &str, attributes: Attributes) -> Result<()> {
        async {
            validate_key(name)?;
            check_attributes(name, &attributes)?;
            if !self.capabilities().set_attributes {
                return Err(Error::unsupported(self.backend_name(), "changing the attributes of a stored object"));
            }
            self.backend.set_attributes(name, attributes).await
        }
        .await
        .map_err(during(Operation::SetAttributes))
    }

    /// Set the canned ACL of an existing object.
    pub async fn set_acl(&self, name: &str, acl: Acl) -> Result<()> {
        async {
            validate_key(name)?;
            if !self.capabilities().acl {
                return Err(Error::unsupported(self.backend_name(), "ACLs"));
            }
            self.backend.set_acl(name, acl).await
        }
        .await
        .map_err(during(Operation::SetAcl))
    }

    /// The canned ACL of an existing object.
    pub async fn acl(&self, name: &str) -> Result<Acl> {
        async {
            validate_key(name)?;
            if !self.capabilities().acl {
                return Err(Error::unsupported(self.backend_name(), "ACLs"));
            }
            self.backend.acl(name).await
        }
        .await
        .map_err(during(Operation::Acl))
    }

    /// Whether anyone may read `name` without a signature: its own ACL grants public read, or, on a backend that
    /// keeps no per-file ACLs, the storage itself is declared public (its default ACL grants public read, or
    /// [`PublicReads::Everything`]). Everything else is private: servers of plain URLs answer 403 unless this is
    /// `true`. `NotFound` only where the backend keeps ACLs (elsewhere a missing file of a private storage is just not
    /// public, so strangers learn nothing of what exists).
    pub async fn is_public(&self, name: &str) -> Result<bool> {
        async {
            validate_key(name)?;
            let file_acl = if self.capabilities().acl {
                FileAcl::Kept(Some(self.backend.acl(name).await?))
            } else {
                FileAcl::NotKept
            };
            let declared = match self.options.default_acl {
                Some(acl) if acl.is_public_read() => PublicReads::Everything,
                _ => self.options.public_reads,
            };
            Ok(declared.allows(file_acl))
        }
        .await
        .map_err(during(Operation::Acl))
    }

    // ----- naming ------------------------------------------------------------------------------------------------

    /// Django's `get_available_name`: the first candidate that does not exist *now*.
    ///
    /// Only for display: another writer may take the name before it is used. `save` never relies on it; it claims
    /// names with create-only writes instead.
    pub async fn get_available_name(&self, name: &str, max_length: Option<usize>) -> Result<String> {
        async {
            let mut names = AvailableNames::new(name, max_length)?;
            loop {
                let candidate = names.next_candidate()?;
                validate_key(&candidate)?;
                if !self.exists(&candidate).await? {
                    return Ok(candidate);
                }
            }
        }
        .await
        .map_err(during(Operation::Name))
    }

    /// Django's `generate_filename`: a valid name for an uploaded `filename` under `upload_to`, dated now.
    pub fn generate_filename(&self, upload_to: &UploadTo, filename: &str) -> Result<String> {
        crate::name::generate_filename(upload_to, filename, Utc::now()).map_err(during(Operation::Name))
    }
}

/// Names the operation on every error a `Storage` method returns (`.map_err(during(Operation::Save))`).
fn during(operation: Operation) -> impl Fn(Error) -> Error {
    move |err| err.during(operation)
}

#[derive(Debug, Clone, Copy)]
enum Transfer {
    Copy,
    Rename,
}

/// `over`'s attributes where set, `under`'s elsewhere; metadata merged key by key.
fn layer(under: Attributes, over: Attributes) -> Attributes {
    let mut metadata = under.metadata;
    metadata.extend(over.metadata);
    Attributes {
        content_type: over.content_type.or(under.content_type),
        cache_control: over.cache_control.or(under.cache_control),
        content_disposition: over.content_disposition.or(under.content_disposition),
        content_encoding: over.content_encoding.or(under.content_encoding),
        content_language: over.content_language.or(under.content_language),
        metadata,
    }
}

/// The content type for a name's extension, or `application/octet-stream`.
pub fn guess_content_type(name: &str) -> String {
    mime_guess::from_path(name).first_raw().unwrap_or(DEFAULT_CONTENT_TYPE).to_owned()
}

fn check_attributes(key: &str, attributes: &Attributes) -> Result<()> {
    if let Some(content_type) = &attributes.content_type {
        crate::content_type::check(key, "content type", content_type)?;
    }
    let headers = [
        ("cache-control", &attributes.cache_control),
        ("content-disposition", &attributes.content_disposition),
        ("content-encoding", &attributes.content_encoding),
        ("content-language", &attributes.content_language),
    ];
    for (field, value) in headers {
        if let Some(value) = value {
            check_header_value(key, field, value)?;
        }
    }
    for (name, value) in &attributes.metadata {
        let valid_name = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(Error::invalid_argument(
                Some(key),
                format!("metadata name {name:?} must be lowercase ASCII letters, digits, `-` or `_`"),
            ));
        }
        if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(Error::invalid_argument(
                Some(key),
                format!(
                    "metadata {name:?} must be printable ASCII (S3 sends it as a header); percent-encode other text"
                ),
            ));
        }
    }
    Ok(())
}

/// A listing prefix is a valid key, optionally followed by one `/` (a partial last segment such as `pho` is fine).
fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    validate_key(prefix.strip_suffix('/').unwrap_or(prefix)).map_err(|err| match (err.kind(), err.message()) {
        (ErrorKind::InvalidName, Some(reason)) => Error::invalid_name(prefix, reason),
        _ => err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for ok in ["", "a", "a/", "a/b", "a/b/", "ph"] {
            assert!(validate_prefix(ok).is_ok(), "{ok}");
        }
        for bad in ["/", "/a", "../", "a/../", "a\\b", "a//", "a/.."] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn guesses_content_types() {
        assert_eq!(guess_content_type("a/report.pdf"), "application/pdf");
        assert_eq!(guess_content_type("index.html"), "text/html");
        assert_eq!(guess_content_type("noext"), DEFAULT_CONTENT_TYPE);
    }
}

//! The backend trait: the small surface a backend implements to move bytes, and the capabilities it declares.
//!
//! Backends see only keys that passed [`crate::validate_key`] and never apply naming, overwrite or URL policy:
//! [`crate::Storage`] does that once for all of them.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::content::{ByteStream, Content};
use crate::error::{Error, Result};
use crate::types::{Acl, Attributes, ByteRange, ListEntry, Metadata};

/// What a backend can do beyond the basic operations every backend has (put, get, head, delete, list, copy).
///
/// Names follow one grammar: `operation` or `operation_with_option`. The storage handle refuses a call that needs a
/// capability set to `false` with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) before the backend is
/// reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `put` honours [`WriteMode::CreateOnly`] atomically (needed by the `Unique` and `Fail` policies).
    pub write_with_create_only: bool,
    /// `put` keeps content type, cache-control, disposition, encoding and language.
    pub write_with_attributes: bool,
    /// `put` keeps user metadata.
    pub write_with_user_metadata: bool,
    /// `copy` honours [`WriteMode::CreateOnly`] atomically; without it the storage copies through a create-only put.
    pub copy_with_create_only: bool,
    /// A copy or rename keeps the object's ETag (S3's single-part copies, a file system's rename), which is how a
    /// retried move tells that its failed attempt took effect. Where copies get a new one (Azure's Copy Blob,
    /// object_store's `InMemory`), the retry layer compares the MD5 of the bytes instead: one read of the source per
    /// move, under [`crate::RetryLayer`] only.
    pub copy_keeps_etag: bool,
    /// `public_url` gives a URL that serves the object without signing.
    pub public_url: bool,
    /// `presign` gives expiring URLs for GET.
    pub presign_read: bool,
    /// `presign` gives expiring URLs for PUT.
    pub presign_write: bool,
    /// A presigned PUT's signature covers its `Content-Type`, `Content-Length` and `Content-MD5`, so the link can fix
    /// them (SigV4, the disk and memory signers). Azure's SAS covers no request header: its PUT links fix only the
    /// key, the expiry and create-only, and one that would fix more is `Unsupported`.
    pub presign_write_with_headers: bool,
    /// The longest expiry `presign` and `upload_form` accept; `None` is [`crate::DEFAULT_MAX_EXPIRY`] (7 days).
    pub presign_max_expiry: Option<Duration>,
    /// Canned ACLs on put, and `set_acl` / `acl` on existing objects.
    pub acl: bool,
    /// `set_attributes` replaces an existing object's attributes without writing its bytes again.
    pub set_attributes: bool,
    /// `upload_form` gives HTML forms for direct uploads whose policy the backend (or its HTTP service) enforces.
    pub upload_form: bool,
    /// Those forms honour a create-only policy: the upload is refused when its name is taken at the moment it
    /// lands. S3 has no conditional POST, so its forms cannot.
    pub upload_form_with_create_only: bool,
}

impl Capabilities {
    /// Nothing beyond the basic operations; backends switch on what they have.
    pub const fn none() -> Self {
        Self {
            write_with_create_only: false,
            write_with_attributes: false,
            write_with_user_metadata: false,
            copy_with_create_only: false,
            copy_keeps_etag: false,
            public_url: false,
            presign_read: false,
            presign_write: false,
            presign_write_with_headers: false,
            presign_max_expiry: None,
            acl: false,
            set_attributes: false,
            upload_form: false,
            upload_form_with_create_only: false,
        }
    }

    /// Everything (the memory backend).
    pub const fn all() -> Self {
        Self {
            write_with_create_only: true,
            write_with_attributes: true,
            write_with_user_metadata: true,
            copy_with_create_only: true,
            copy_keeps_etag: true,
            public_url: true,
            presign_read: true,
            presign_write: true,
            presign_write_with_headers: true,
            presign_max_expiry: None,
            acl: true,
            set_attributes: true,
            upload_form: true,
            upload_form_with_create_only: true,
        }
    }
}

/// Whether a write may replace an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Replace whatever is there.
    #[default]
    Overwrite,
    /// Fail with [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) if the key exists, atomically.
    CreateOnly,
}

/// How to write one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PutOptions {
    /// Whether the write may replace an existing object.
    pub mode: WriteMode,
    /// The attributes the object gets (content type, cache-control, user metadata, …).
    pub attributes: Attributes,
    /// The canned ACL the object gets, in the same request; `None` leaves the backend's default.
    pub acl: Option<Acl>,
}

impl PutOptions {
    /// Options for one write.
    pub fn new(mode: WriteMode, attributes: Attributes, acl: Option<Acl>) -> Self {
        Self { mode, attributes, acl }
    }
}

/// What a write reports back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PutResult {
    /// The new object's tag, when the backend knows it without extra work (S3 answers it; a disk would need a
    /// `stat`, so it says `None`).
    pub etag: Option<String>,
}

impl PutResult {
    /// A result with the new object's tag, if known.
    pub fn new(etag: Option<String>) -> Self {
        Self { etag }
    }
}

/// What a read returns: the object's metadata, the range served, and the bytes as a stream.
///
/// A backend builds one with [`GetResult::new`], so fields can be added later:
///
/// ```
/// # use futures::StreamExt;
/// # fn read(metadata: storage_core::Metadata) -> storage_core::GetResult {
/// storage_core::GetResult::new(metadata, 0..0, futures::stream::empty().boxed())
/// # }
/// ```
///
/// ```compile_fail
/// # use futures::StreamExt;
/// # fn read(metadata: storage_core::Metadata) -> storage_core::GetResult {
/// storage_core::GetResult { metadata, range: 0..0, stream: futures::stream::empty().boxed() } // non-exhaustive
/// # }
/// ```
#[non_exhaustive]
pub struct GetResult {
    /// The whole object's metadata (its size, not the range's).
    pub metadata: Metadata,
    /// The byte range the stream holds.
    pub range: Range<u64>,
    /// The bytes, as they arrive.
    pub stream: ByteStream,
}

impl GetResult {
    /// A read of `range` of the object described by `metadata`, whose bytes arrive on `stream`.
    pub fn new(metadata: Metadata, range: Range<u64>, stream: ByteStream) -> Self {
        Self { metadata, range, stream }
    }
}

impl fmt::Debug for GetResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetResult")
            .field("metadata", &self.metadata)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// Only keys starting with this string (a plain string prefix, as on S3).
    pub prefix: String,
    /// Roll keys up at the next `/` after the prefix into [`ListEntry::Prefix`] entries.
    pub delimiter: bool,
    /// Only entries whose key (or common prefix) sorts strictly after this one.
    pub offset: Option<String>,
}

impl ListOptions {
    /// Every object whose key starts with `prefix` (a plain string prefix), recursively.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into(), ..Self::default() }
    }
    /// Roll keys up at the next `/` into common prefixes, one directory level at a time.
    pub fn with_delimiter(mut self, delimiter: bool) -> Self {
        self.delimiter = delimiter;
        self
    }
    /// Start after this key (exclusive), for paging.
    pub fn with_offset(mut self, offset: Option<String>) -> Self {
        self.offset = offset;
        self
    }
}

/// What [`Backend::delete_if_unchanged`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionalDelete {
    /// The object had the expected tag (or was gone already) and is deleted.
    Deleted,
    /// The object changed since its tag was read: it is kept.
    Changed,
}

/// [`Backend::delete_if_unchanged`] by re-reading the metadata just before the delete: what a backend without an
/// atomic compare-and-delete (or a server that ignores `If-Match` on DELETE) does. A write landing between the read
/// and the delete is lost; that window is one round trip.
pub async fn delete_after_reread<B: Backend + ?Sized>(backend: &B, key: &str, etag: &str) -> Result<ConditionalDelete> {
    match backend.head(key).await {
        Ok(now) if now.meta.etag.as_deref() != Some(etag) => return Ok(ConditionalDelete::Changed),
        Ok(_) => {}
        Err(err) if err.kind() == crate::ErrorKind::NotFound => return Ok(ConditionalDelete::Deleted),
        Err(err) => return Err(err),
    }
    backend.delete(key).await.map(|()| ConditionalDelete::Deleted)
}

/// HTTP method of a temporary URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// Read the object.
    #[default]
    Get,
    /// Upload the object.
    Put,
}

impl Method {
    /// The method as HTTP writes it: `GET`, `PUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A temporary URL to sign, after the storage applied its policy (expiry checked, headers built).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresignRequest {
    /// What the URL allows.
    pub method: Method,
    /// The object's key.
    pub key: String,
    /// How long the URL works, from now.
    pub expires_in: Duration,
    /// GET: the `Content-Disposition` the response must carry.
    pub response_content_disposition: Option<String>,
    /// GET: the `Content-Type` the response must carry.
    pub response_content_type: Option<String>,
    /// PUT: the `Content-Type` the upload must declare.
    pub content_type: Option<String>,
    /// PUT: the ACL the upload must set.
    pub acl: Option<Acl>,
    /// PUT: refuse the upload if the key exists.
    pub create_only: bool,
    /// PUT: the exact size the upload must have (a signed `Content-Length`).
    pub content_length: Option<u64>,
    /// PUT: the MD5 the uploaded bytes must have (a signed `Content-MD5`).
    pub content_md5: Option<[u8; 16]>,
}

impl PresignRequest {
    /// A request for `method` on `key`, valid for `expires_in`, with no extra conditions.
    pub fn new(method: Method, key: impl Into<String>, expires_in: Duration) -> Self {
        Self {
            method,
            key: key.into(),
            expires_in,
            response_content_disposition: None,
            response_content_type: None,
            content_type: None,
            acl: None,
            create_only: false,
            content_length: None,
            content_md5: None,
        }
    }

    /// The headers a PUT of this request must carry that describe its body: `content-type`, `content-length` and
    /// `content-md5` (base64), each when the request sets it.
    pub fn body_headers(&self) -> Vec<(String, String)> {
        use base64::Engine as _;
        let mut headers = Vec::new();
        if let Some(content_type) = &self.content_type {
            headers.push(("content-type".to_owned(), content_type.clone()));
        }
        if let Some(length) = self.content_length {
            headers.push(("content-length".to_owned(), length.to_string()));
        }
        if let Some(md5) = self.content_md5 {
            headers.push(("content-md5".to_owned(), base64::engine::general_purpose::STANDARD.encode(md5)));
        }
        headers
    }
}

/// A signed request a client can make without credentials: the URL and the headers it must send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresignedRequest {
    /// The method the client must use.
    pub method: Method,
    /// The signed URL.
    pub url: String,
    /// Headers the signature covers (e.g. `content-type`, `x-amz-acl`, `if-none-match` on S3).
    pub headers: Vec<(String, String)>,
}

impl PresignedRequest {
    /// A signed request for `method` at `url`, with the headers the signature covers.
    pub fn new(method: Method, url: impl Into<String>, headers: Vec<(String, String)>) -> Self {
        Self { method, url: url.into(), headers }
    }
}

/// The operations a backend implements. Keep it small: everything else is policy in [`crate::Storage`].
///
/// Contract shared by all backends (checked by `storage-conformance`):
/// - `delete` of a missing key succeeds;
/// - `list` yields entries in ascending byte order of their keys, all starting with the prefix;
/// - `copy` and `rename` keep the attributes (and ACL, where kept), and report a missing source as
///   [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) before looking at the target;
/// - an optional method whose capability is `false` returns [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
#[async_trait]
pub trait Backend: fmt::Debug + Send + Sync + 'static {
    /// Short name used in messages: `memory`, `fs`, `s3`.
    fn name(&self) -> &str;

    /// What this backend can do beyond the required operations.
    fn capabilities(&self) -> Capabilities;

    /// Store `content` under `key`, atomically: a reader sees the old object or the whole new one.
    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult>;

    /// Read the object, or a range of it, as a stream.
    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult>;

    /// The object's metadata and attributes, without its bytes.
    async fn head(&self, key: &str) -> Result<Metadata>;

    /// Delete the object; a missing one is not an error.
    async fn delete(&self, key: &str) -> Result<()>;

    /// The entries under `options.prefix`, in byte order of their keys.
    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>>;

    /// Copy `from` to `to` on this backend, keeping attributes and ACL.
    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()>;

    /// Move `from` to `to`. The default copies then deletes; backends with a native move override it.
    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.copy(from, to, mode).await?;
        self.delete(from).await
    }

    /// A URL that serves the object without signing.
    fn public_url(&self, key: &str) -> Result<String> {
        let _ = key;
        Err(Error::unsupported(self.name(), "public URLs"))
    }

    /// An expiring signed URL.
    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        let _ = request;
        Err(Error::unsupported(self.name(), "temporary URLs"))
    }

    /// An HTML form for a direct upload that enforces `policy` (already validated by the storage).
    async fn upload_form(&self, policy: &crate::upload::UploadPolicy) -> Result<crate::upload::UploadForm> {
        let _ = policy;
        Err(Error::unsupported(self.name(), "direct upload forms"))
    }

    /// Give an existing object a canned ACL.
    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        let _ = (key, acl);
        Err(Error::unsupported(self.name(), "ACLs"))
    }

    /// The canned ACL of an existing object.
    async fn acl(&self, key: &str) -> Result<Acl> {
        let _ = key;
        Err(Error::unsupported(self.name(), "ACLs"))
    }

    /// Replace an existing object's attributes, keeping its bytes and ACL.
    async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
        let _ = (key, attributes);
        Err(Error::unsupported(self.name(), "changing the attributes of a stored object"))
    }

    /// Delete `key` only while its ETag is still `etag` (a cutover's delete of a source object it copied).
    ///
    /// This default re-reads the metadata just before the delete, so a write landing between that read and the
    /// delete is lost: backends that can compare and delete atomically (a conditional request, their own lock)
    /// override it. An object already gone counts as deleted, as for [`Backend::delete`].
    async fn delete_if_unchanged(&self, key: &str, etag: &str) -> Result<ConditionalDelete> {
        delete_after_reread(self, key, etag).await
    }
}

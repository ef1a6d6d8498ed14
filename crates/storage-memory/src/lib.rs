//! The in-memory backend test suites swap in: every capability, real signed URLs, and assertions for tests.
//!
//! Its `Storage`: `let storage = storage_memory::MemoryBackend::new().storage();`.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> storage_core::Result<()> {
//! use std::time::Duration;
//! use storage_core::UrlOptions;
//! use storage_memory::MemoryBackend;
//!
//! let memory = MemoryBackend::new();
//! let storage = memory.storage().private(Duration::from_secs(60));
//! let name = storage.save("invoices/42.pdf", b"%PDF").await?;
//! memory.assert_exists_with(&name, b"%PDF");
//!
//! // The link an app would redirect to: verifiable, and refused once expired or tampered with.
//! let url = storage.url(&name).await?;
//! assert_eq!(memory.fetch("GET", &url, &[], Default::default()).status, 200);
//! assert_eq!(memory.fetch("GET", &url.replace("invoices", "Invoices"), &[], Default::default()).status, 403);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use md5::{Digest, Md5};
use storage_core::link::{LinkRequest, LinkServer};
use storage_core::signing::{SignatureError, SigningKey, UrlSigner, encode_key_path};
use storage_core::{
    Acl, Attributes, Backend, ByteRange, Capabilities, ConditionalDelete, Content, Error, GetResult, ListEntry,
    ListOptions, Metadata, Method, ObjectMeta, PresignRequest, PresignedRequest, PutOptions, PutResult, Result,
    Storage, WriteMode, async_trait,
};

const NAME: &str = "memory";

/// Where URLs of a memory backend point by default. Nothing listens there: use [`MemoryBackend::fetch`].
pub const DEFAULT_BASE_URL: &str = "http://memory.invalid/";

#[derive(Debug, Clone)]
struct Object {
    data: Bytes,
    attributes: Attributes,
    acl: Option<Acl>,
    last_modified: DateTime<Utc>,
    etag: String,
}

impl Object {
    fn meta(&self, key: &str) -> ObjectMeta {
        ObjectMeta::new(key, self.data.len() as u64, self.last_modified, Some(self.etag.clone()))
    }
    fn metadata(&self, key: &str) -> Metadata {
        Metadata::new(self.meta(key), self.attributes.clone())
    }
}

/// A temporary URL this backend issued, kept so tests can assert on the links an app handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedUrl {
    /// What the URL allows.
    pub method: Method,
    /// The object's key.
    pub key: String,
    /// The lifetime asked for.
    pub expires_in: Duration,
    /// The URL handed out.
    pub url: String,
}

/// What [`MemoryBackend::fetch`] answers, as an HTTP server in front of the backend would.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Bytes,
}

impl Response {
    fn status(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Bytes::new() }
    }

    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Inner {
    objects: RwLock<BTreeMap<String, Object>>,
    signer: UrlSigner,
    issued: Mutex<Vec<IssuedUrl>>,
}

/// An in-memory backend. Clones share the same objects.
#[derive(Debug, Clone)]
pub struct MemoryBackend {
    inner: Arc<Inner>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// An empty backend with a fresh random signing key and URLs under [`DEFAULT_BASE_URL`].
    pub fn new() -> Self {
        Self::with_signer(UrlSigner::new(DEFAULT_BASE_URL, SigningKey::generate()))
    }

    /// An empty backend whose URLs are signed and verified by `signer` (its base URL, its keys).
    pub fn with_signer(signer: UrlSigner) -> Self {
        Self { inner: Arc::new(Inner { objects: RwLock::default(), signer, issued: Mutex::default() }) }
    }

    /// A [`Storage`] over this backend, with the default policy.
    pub fn storage(&self) -> Storage {
        Storage::new(self.clone())
    }

    /// The signer, for serving this backend's URLs over HTTP.
    pub fn signer(&self) -> &UrlSigner {
        &self.inner.signer
    }

    fn objects(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Object>> {
        self.inner.objects.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn objects_mut(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Object>> {
        self.inner.objects.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn insert(&self, key: &str, object: Object, mode: WriteMode) -> Result<()> {
        let mut objects = self.objects_mut();
        if mode == WriteMode::CreateOnly && objects.contains_key(key) {
            return Err(Error::already_exists(NAME, key));
        }
        objects.insert(key.to_owned(), object);
        Ok(())
    }

    fn object(&self, key: &str) -> Result<Object> {
        self.objects().get(key).cloned().ok_or_else(|| Error::not_found(NAME, key))
    }

    // ----- assertions for tests ----------------------------------------------------------------------------------

    /// All keys, in order.
    pub fn keys(&self) -> Vec<String> {
        self.objects().keys().cloned().collect()
    }

    /// Panics unless `name` exists.
    #[track_caller]
    pub fn assert_exists(&self, name: &str) {
        assert!(
            self.objects().contains_key(name),
            "expected `{name}` to exist in the memory storage; it holds {:?}",
            self.keys()
        );
    }

    /// Panics unless `name` exists with exactly `content`.
    #[track_caller]
    pub fn assert_exists_with(&self, name: &str, content: impl AsRef<[u8]>) {
        self.assert_exists(name);
        let stored = self.objects()[name].data.clone();
        assert!(
            stored.as_ref() == content.as_ref(),
            "`{name}` holds {} bytes that differ from the {} expected",
            stored.len(),
            content.as_ref().len()
        );
    }

    /// Panics if `name` exists.
    #[track_caller]
    pub fn assert_missing(&self, name: &str) {
        assert!(!self.objects().contains_key(name), "expected `{name}` to be missing from the memory storage");
    }

    /// Panics unless the storage holds exactly `count` objects.
    #[track_caller]
    pub fn assert_count(&self, count: usize) {
        let keys = self.keys();
        assert_eq!(keys.len(), count, "expected {count} objects in the memory storage, found {keys:?}");
    }

    /// Every temporary URL issued so far, oldest first.
    pub fn issued_urls(&self) -> Vec<IssuedUrl> {
        self.inner.issued.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Verify a URL this backend issued, for `method`, now.
    pub fn verify(
        &self,
        method: Method,
        url: &str,
    ) -> std::result::Result<storage_core::signing::VerifiedUrl, SignatureError> {
        self.inner.signer.verify_url(method, url, SystemTime::now())
    }

    /// Answer a request for one of this backend's URLs exactly as storage-http's `SignedUrlService` answers it over
    /// HTTP, since both ask storage-core's [`LinkServer`]: a signed GET or HEAD serves the object (206 for a range,
    /// 412 or 304 for its preconditions), a signed PUT stores `body` and answers 201, its signed size, MD5 and type
    /// enforced (nothing is stored when they differ), 403 for an expired, tampered or wrong-method URL, plain URLs
    /// serve only objects proven public (403 otherwise, as on S3), 404 for a missing object. Upload forms (a POST)
    /// are storage-http's alone: 405 here. The answer is that of this backend under the default policy
    /// ([`MemoryBackend::storage`]): an app whose `Storage` adds default attributes, layers or naming rules serves
    /// its links with `SignedUrlService` over that `Storage`, and tests that depend on them go through HTTP.
    pub fn fetch(&self, method: &str, url: &str, headers: &[(&str, &str)], body: Bytes) -> Response {
        let Some(rest) = url.strip_prefix(self.inner.signer.base_url()) else {
            return Response::status(404);
        };
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let request = LinkRequest::new(method, path, query)
            .with_headers(headers.iter().map(|(name, value)| (*name, value.as_bytes())));
        let links = LinkServer::new(self.storage(), self.inner.signer.clone());
        let upload = stream::once(async move { Ok(body) }).boxed();
        // Nothing in this backend waits on I/O or a timer, so the answer completes on this thread.
        futures::executor::block_on(async {
            let answer = links.answer(&request, upload).await;
            let headers = answer.headers.into_iter().map(|(name, value)| (name.to_owned(), value)).collect();
            let body = answer.body.into_bytes().await.unwrap_or_default();
            Response { status: answer.status, headers, body }
        })
    }
}

fn new_object(data: Bytes, attributes: Attributes, acl: Option<Acl>) -> Object {
    // An MD5 ETag, as S3 gives for single-part uploads, so migrations compare content without reading it.
    let etag = Md5::digest(&data).iter().map(|b| format!("{b:02x}")).collect::<String>();
    Object { data, attributes, acl, last_modified: Utc::now(), etag: format!("\"{etag}\"") }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::all();
        capabilities.presign_max_expiry = Some(self.inner.signer.max_expiry());
        capabilities
    }

    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        let data = content.into_bytes().await.map_err(|err| Error::from_io(NAME, Some(key), err))?;
        // Stored without a type, an object has the one its name implies, as on a disk; a copy keeps it.
        let mut attributes = options.attributes;
        attributes.content_type.get_or_insert_with(|| storage_core::guess_content_type(key));
        let object = new_object(data, attributes, options.acl);
        let etag = object.etag.clone();
        self.insert(key, object, options.mode)?;
        Ok(PutResult::new(Some(etag)))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        let object = self.object(key)?;
        let size = object.data.len() as u64;
        let range = match range {
            None => 0..size,
            Some(range) => range.resolve(size).ok_or_else(|| {
                Error::invalid_argument(Some(key), format!("the range {range:?} is outside the object's {size} bytes"))
                    .on_backend(NAME)
            })?,
        };
        let chunk = object.data.slice(range.start as usize..range.end as usize);
        Ok(GetResult::new(object.metadata(key), range, stream::once(async move { Ok(chunk) }).boxed()))
    }

    async fn head(&self, key: &str) -> Result<Metadata> {
        Ok(self.object(key)?.metadata(key))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.objects_mut().remove(key);
        Ok(())
    }

    /// Compared and deleted under the map's write lock: no write can come between.
    async fn delete_if_unchanged(&self, key: &str, etag: &str) -> Result<ConditionalDelete> {
        let mut objects = self.objects_mut();
        if objects.get(key).is_some_and(|object| object.etag != etag) {
            return Ok(ConditionalDelete::Changed);
        }
        objects.remove(key);
        Ok(ConditionalDelete::Deleted)
    }

    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let objects = self.objects();
        let prefix = options.prefix.as_str();
        let start = match &options.offset {
            Some(offset) if offset.as_str() >= prefix => Bound::Excluded(offset.as_str()),
            _ => Bound::Included(prefix),
        };
        let mut entries = Vec::new();
        for (key, object) in objects.range::<str, _>((start, Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                break;
            }
            let common = options
                .delimiter
                .then(|| key[prefix.len()..].find('/').map(|i| &key[..prefix.len() + i + 1]))
                .flatten();
            match common {
                Some(common) => {
                    let after_offset = options.offset.as_deref().is_none_or(|offset| common > offset);
                    let repeated = matches!(entries.last(), Some(ListEntry::Prefix(last)) if last == common);
                    if after_offset && !repeated {
                        entries.push(ListEntry::Prefix(common.to_owned()));
                    }
                }
                None => entries.push(ListEntry::Object(object.meta(key))),
            }
        }
        stream::iter(entries.into_iter().map(Ok)).boxed()
    }

    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        let mut object = self.object(from)?;
        object.last_modified = Utc::now();
        self.insert(to, object, mode)
    }

    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        let mut objects = self.objects_mut();
        if !objects.contains_key(from) {
            return Err(Error::not_found(NAME, from));
        }
        if mode == WriteMode::CreateOnly && objects.contains_key(to) {
            return Err(Error::already_exists(NAME, to));
        }
        let object = objects.remove(from).expect("checked above");
        objects.insert(to.to_owned(), object);
        Ok(())
    }

    fn public_url(&self, key: &str) -> Result<String> {
        Ok(format!("{}{}", self.inner.signer.base_url(), encode_key_path(key)))
    }

    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        let url = self.inner.signer.sign(request, SystemTime::now())?;
        self.inner.issued.lock().unwrap_or_else(|p| p.into_inner()).push(IssuedUrl {
            method: request.method,
            key: request.key.clone(),
            expires_in: request.expires_in,
            url: url.clone(),
        });
        // Every constraint is in the signed query; the headers only describe the body, as S3's do.
        let headers = request.body_headers();
        Ok(PresignedRequest::new(request.method, url, headers))
    }

    async fn upload_form(&self, policy: &storage_core::UploadPolicy) -> Result<storage_core::UploadForm> {
        self.inner.signer.sign_upload(policy, SystemTime::now())
    }

    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        let mut objects = self.objects_mut();
        let object = objects.get_mut(key).ok_or_else(|| Error::not_found(NAME, key))?;
        object.acl = Some(acl);
        Ok(())
    }

    async fn acl(&self, key: &str) -> Result<Acl> {
        // S3 reports `private` for an object saved without an ACL; so does this backend.
        Ok(self.object(key)?.acl.unwrap_or(Acl::Private))
    }

    async fn set_attributes(&self, key: &str, mut attributes: Attributes) -> Result<()> {
        attributes.content_type.get_or_insert_with(|| storage_core::guess_content_type(key));
        let mut objects = self.objects_mut();
        let object = objects.get_mut(key).ok_or_else(|| Error::not_found(NAME, key))?;
        object.attributes = attributes;
        Ok(())
    }
}

/// The README's examples, compiled and run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}

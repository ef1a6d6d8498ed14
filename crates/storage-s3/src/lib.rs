//! The S3 backend: private files on S3 and temporary access to them, on object_store.
//!
//! Reads, listings, deletes, copies, single-part puts and multipart parts go through object_store's `AmazonS3`.
//! What object_store cannot express is added around it, never by patching it:
//! - a canned ACL on a put rides in `PutOptions::extensions` to an `HttpService` that adds `x-amz-acl` and
//!   re-signs with object_store's public `AwsAuthorizer` (one request, so a private file is never briefly public);
//! - object ACLs (`?acl`) and the creation of multipart uploads are requests signed the same way;
//! - a create-only multipart upload first claims its name with a create-only, zero-byte placeholder
//!   (`If-None-Match: *` on PutObject, which every S3 enforces; Ceph 16 ignores it on CompleteMultipartUpload),
//!   then completes over it, or deletes it if the upload fails;
//! - presigned URLs are signed here (`presign.rs`) with the SigV4 signing key cached per day, for the public host
//!   when it differs from the internal endpoint.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use http::{HeaderName, HeaderValue, Method as HttpMethod};
use object_store::aws::AmazonS3;
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{Attribute, AttributeValue, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use storage_core::signing::encode_key_path;
use storage_core::{
    Acl, Backend, ByteRange, Capabilities, Content, Error, GetResult, ListEntry, ListOptions, Metadata, Method,
    PresignRequest, PresignedRequest, PutOptions, PutResult, Result, Storage, WriteMode, async_trait,
};

mod acl;
mod adapter;
mod cloudfront;
mod config;
mod convert;
mod gzip;
mod presign;
mod signed;

pub use adapter::ObjectStoreBackend;
pub use cloudfront::{CloudFrontPolicy, CloudFrontSigner};
pub use config::{AddressingStyle, DEFAULT_GZIP_CONTENT_TYPES, S3Config, ServerSideEncryption};

use convert::{attribute_headers, from_store_attributes, map_error, to_meta, to_store_attributes};
use presign::{Presigner, UrlToSign};
use signed::{Credentials, ExtraHeaders, HeaderConnector, Signed, xml_text};

pub(crate) const NAME: &str = "s3";

/// S3's longest presigned URL lifetime (SigV4): seven days.
pub const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// A backend over one bucket (and an optional key prefix, `location`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct S3Backend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: AmazonS3,
    /// Signs URLs for the public host: `public_endpoint`, or the endpoint itself.
    presigner: Presigner,
    signed: Signed,
    config: S3Config,
    /// `location` with a trailing `/`, or empty.
    prefix: String,
}

impl S3Backend {
    pub fn new(config: S3Config) -> Result<Self> {
        config.validate()?;
        let credentials = Credentials::default();
        let builder = config.builder().with_http_connector(HeaderConnector(credentials.clone()));
        let store = builder.clone().build().map_err(|err| map_error(err, None))?;
        credentials.set(store.credentials().clone(), config.region());
        let public_endpoint = config.public_endpoint.clone().unwrap_or_else(|| config.endpoint_or_default());
        let presigner =
            Presigner::new(&config.bucket_url(&public_endpoint), config.region(), store.credentials().clone())?;
        let client = object_store::client::HttpConnector::connect(
            &object_store::client::ReqwestConnector::default(),
            &object_store::ClientOptions::new().with_allow_http(true),
        )
        .map_err(|err| map_error(err, None))?;
        let prefix = match config.location.trim_matches('/') {
            "" => String::new(),
            location => format!("{location}/"),
        };
        Ok(Self { inner: Arc::new(Inner { store, presigner, signed: Signed { client, credentials }, config, prefix }) })
    }

    /// A [`Storage`] over this backend with the default policy.
    pub fn storage(&self) -> Storage {
        Storage::new(self.clone())
    }

    pub fn config(&self) -> &S3Config {
        &self.inner.config
    }

    /// Create the bucket if it does not exist (for tests and first-time setup; production buckets are usually made
    /// by infrastructure tools).
    pub async fn create_bucket(&self) -> Result<()> {
        let url = self.inner.config.bucket_url(&self.inner.config.endpoint_or_default());
        let reply = self.inner.signed.send(HttpMethod::PUT, &url, vec![], Bytes::new(), "").await?;
        if reply.status.is_success() || reply.body.contains("BucketAlreadyOwnedByYou") {
            return Ok(());
        }
        reply.check(&self.inner.config.bucket).map(drop)
    }

    /// Give an object the configured tags (PutObjectTagging).
    async fn put_tags(&self, key: &str) -> Result<()> {
        use base64::Engine as _;
        use md5::Digest as _;
        let tags = &self.inner.config.tags;
        if tags.is_empty() {
            return Ok(());
        }
        let escape = |text: &str| quick_xml::escape::escape(text).into_owned();
        let tag_set: String = tags
            .iter()
            .map(|(k, v)| format!("<Tag><Key>{}</Key><Value>{}</Value></Tag>", escape(k), escape(v)))
            .collect();
        let body = Bytes::from(format!("<Tagging><TagSet>{tag_set}</TagSet></Tagging>"));
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
        let headers =
            vec![(HeaderName::from_static("content-md5"), HeaderValue::from_str(&md5).expect("base64 is ascii"))];
        let url = format!("{}?tagging", self.object_url(&self.inner.config.endpoint_or_default(), key));
        self.inner.signed.send(HttpMethod::PUT, &url, headers, body, key).await?.check(key).map(drop)
    }

    /// The tags of an object (GetObjectTagging).
    pub async fn tags(&self, key: &str) -> Result<Vec<(String, String)>> {
        storage_core::validate_key(key)?;
        let url = format!("{}?tagging", self.object_url(&self.inner.config.endpoint_or_default(), key));
        let reply = self.inner.signed.send(HttpMethod::GET, &url, vec![], Bytes::new(), key).await?.check(key)?;
        Ok(reply
            .body
            .split("<Tag>")
            .skip(1)
            .filter_map(|tag| Some((xml_text(tag, "Key")?, xml_text(tag, "Value")?)))
            .collect())
    }

    fn path(&self, key: &str) -> Result<Path> {
        Path::parse(format!("{}{key}", self.inner.prefix))
            .map_err(|err| Error::invalid_name(key, format!("not a valid S3 key: {err}")))
    }

    fn key_of<'a>(&self, path: &'a str) -> Option<&'a str> {
        path.strip_prefix(&self.inner.prefix)
    }

    /// The URL of an object on `endpoint` (path or virtual-hosted style).
    fn object_url(&self, endpoint: &str, key: &str) -> String {
        let bucket_url = self.inner.config.bucket_url(endpoint);
        format!("{bucket_url}/{}", encode_key_path(&format!("{}{key}", self.inner.prefix)))
    }

    async fn put_single(&self, key: &str, bytes: Bytes, options: &PutOptions) -> Result<()> {
        let mut put = object_store::PutOptions {
            mode: match options.mode {
                WriteMode::Overwrite => PutMode::Overwrite,
                WriteMode::CreateOnly => PutMode::Create,
            },
            attributes: to_store_attributes(&options.attributes),
            ..Default::default()
        };
        let config = &self.inner.config;
        if let Some(class) = &config.storage_class {
            put.attributes.insert(Attribute::StorageClass, AttributeValue::from(class.clone()));
        }
        // Tags and the ACL go through the header service: object_store form-encodes tags, which Ceph misreads.
        let extra: Vec<_> = options.acl.map(acl_header).into_iter().chain(config.tagging_header()).collect();
        if !extra.is_empty() {
            put.extensions.insert(ExtraHeaders(extra));
        }
        self.inner
            .store
            .put_opts(&self.path(key)?, PutPayload::from(bytes), put)
            .await
            .map(drop)
            .map_err(|err| map_error(err, Some(key)))
    }

    /// A multipart upload with `part_concurrency` parts in flight, aborted on any failure (no orphaned parts).
    /// Create-only: the name is claimed first by a create-only placeholder, so the check and the write cannot be
    /// separated by another writer; a failed upload releases the claim.
    async fn put_multipart(
        &self,
        key: &str,
        first: Bytes,
        rest: storage_core::ByteStream,
        options: &PutOptions,
        claim: storage_core::NameClaim,
    ) -> Result<()> {
        if options.mode == WriteMode::CreateOnly {
            let placeholder = PutOptions::new(WriteMode::CreateOnly, options.attributes.clone(), options.acl);
            self.put_single(key, Bytes::new(), &placeholder).await?;
            // The name is ours now: the storage need not keep the content for another attempt.
            claim.claimed();
        }
        let uploaded = self.upload_parts(key, first, rest, options).await;
        if uploaded.is_err() && options.mode == WriteMode::CreateOnly {
            let _ = self.inner.store.delete(&self.path(key)?).await;
        }
        uploaded
    }

    async fn upload_parts(
        &self,
        key: &str,
        first: Bytes,
        mut rest: storage_core::ByteStream,
        options: &PutOptions,
    ) -> Result<()> {
        let path = self.path(key)?;
        let url = self.object_url(&self.inner.config.endpoint_or_default(), key);
        let mut headers = attribute_headers(&options.attributes)?;
        headers.extend(options.acl.map(acl_header));
        headers.extend(self.inner.config.object_headers());
        let created =
            self.inner.signed.send(HttpMethod::POST, &format!("{url}?uploads"), headers, Bytes::new(), key).await?;
        let upload_id = xml_text(&created.check(key)?.body, "UploadId").ok_or_else(|| {
            Error::backend(NAME, Some(key), "CreateMultipartUpload answered no UploadId", true, "missing UploadId")
        })?;

        let uploaded = async {
            let (part_size, concurrency) = (self.inner.config.part_size, self.inner.config.part_concurrency);
            // Dropping the set (on an error) aborts the parts still in flight.
            let mut in_flight = tokio::task::JoinSet::new();
            let mut parts: Vec<(usize, PartId)> = Vec::new();
            let mut next_index = 0;
            // Chunks are gathered into parts without copying; a chunk that straddles two parts is split.
            let mut buffer = PartBuffer::default();
            buffer.push(first);
            let mut ended = false;
            loop {
                while !ended && buffer.len < part_size {
                    match rest.try_next().await.map_err(|err| Error::from_io(NAME, Some(key), err))? {
                        Some(chunk) => buffer.push(chunk),
                        None => ended = true,
                    }
                }
                if buffer.len == 0 && next_index > 0 {
                    break;
                }
                let part = buffer.take(part_size);
                let (store, path, upload_id, index) =
                    (self.inner.store.clone(), path.clone(), upload_id.clone(), next_index);
                in_flight.spawn(async move {
                    let id = store.put_part(&path, &upload_id, index, part).await;
                    (index, id)
                });
                next_index += 1;
                while in_flight.len() >= concurrency {
                    parts.push(joined_part(in_flight.join_next().await, key)?);
                }
                if ended && buffer.len == 0 {
                    break;
                }
            }
            while !in_flight.is_empty() {
                parts.push(joined_part(in_flight.join_next().await, key)?);
            }
            parts.sort_unstable_by_key(|(index, _)| *index);
            let parts = parts.into_iter().map(|(_, id)| id).collect();
            self.inner
                .store
                .complete_multipart(&path, &upload_id, parts)
                .await
                .map_err(|err| map_error(err, Some(key)))?;
            // Ceph ignores x-amz-tagging on CreateMultipartUpload; set the tags on the finished object instead.
            self.put_tags(key).await
        }
        .await;
        if uploaded.is_err() {
            let _ = self.inner.store.abort_multipart(&path, &upload_id).await;
        }
        uploaded
    }
}

#[async_trait]
impl Backend for S3Backend {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::all();
        // S3's CopyObject cannot refuse an existing target; the storage copies through a create-only put instead.
        capabilities.copy_with_create_only = false;
        capabilities.presign_max_expiry = Some(MAX_PRESIGN_EXPIRY);
        capabilities
    }

    async fn put(&self, key: &str, content: Content, mut options: PutOptions) -> Result<PutResult> {
        let threshold = self.inner.config.multipart_threshold;
        let content = if self.inner.config.gzips(&options.attributes) {
            options.attributes.content_encoding = Some("gzip".into());
            let stream = content.into_stream().await.map_err(|err| Error::from_io(NAME, Some(key), err))?;
            Content::from_stream(gzip::compress(stream), None)
        } else {
            content
        };
        if let Some(bytes) = content.as_bytes().filter(|bytes| bytes.len() <= threshold).cloned() {
            self.put_single(key, bytes, &options).await?;
            return Ok(PutResult::default());
        }
        // Read up to the threshold: a small stream or file becomes one PutObject, a large one a multipart upload.
        let claim = content.name_claim();
        let mut stream = content.into_stream().await.map_err(|err| Error::from_io(NAME, Some(key), err))?;
        let mut head = BytesMut::new();
        while head.len() <= threshold {
            match stream.try_next().await.map_err(|err| Error::from_io(NAME, Some(key), err))? {
                Some(chunk) => head.extend_from_slice(&chunk),
                None => {
                    self.put_single(key, head.freeze(), &options).await?;
                    return Ok(PutResult::default());
                }
            }
        }
        self.put_multipart(key, head.freeze(), stream, &options, claim).await?;
        Ok(PutResult::default())
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        get_object(&self.inner.store, &self.path(key)?, key, range, |err, key| map_error(err, Some(key))).await
    }

    async fn head(&self, key: &str) -> Result<Metadata> {
        head_object(&self.inner.store, &self.path(key)?, key, |err, key| map_error(err, Some(key))).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self.inner.store.delete(&self.path(key)?).await {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
            Err(err) => Err(map_error(err, Some(key))),
        }
    }

    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let backend = self.clone();
        let prefix = format!("{}{}", self.inner.prefix, options.prefix);
        let offset = options.offset.map(|offset| format!("{}{offset}", self.inner.prefix));
        let delimiter = options.delimiter;
        let start = Some(PageState { token: None, first: true });
        stream::unfold(start, move |state| {
            let (backend, prefix, offset) = (backend.clone(), prefix.clone(), offset.clone());
            async move {
                let state = state?;
                if !state.first && state.token.is_none() {
                    return None;
                }
                let options = PaginatedListOptions {
                    offset: offset.clone(),
                    delimiter: delimiter.then_some("/".into()),
                    page_token: state.token.clone(),
                    ..Default::default()
                };
                let listed =
                    backend.inner.store.list_paginated(Some(prefix.as_str()).filter(|p| !p.is_empty()), options).await;
                match listed {
                    Err(err) => Some((stream::iter(vec![Err(map_error(err, Some(&prefix)))]), None)),
                    Ok(page) => {
                        let mut entries: Vec<Result<ListEntry>> = Vec::new();
                        for meta in &page.result.objects {
                            if let Some(key) = backend.key_of(meta.location.as_ref()) {
                                entries.push(Ok(ListEntry::Object(to_meta(key, meta))));
                            }
                        }
                        for common in &page.result.common_prefixes {
                            if let Some(key) = backend.key_of(common.as_ref()) {
                                entries.push(Ok(ListEntry::Prefix(format!("{key}/"))));
                            }
                        }
                        // S3 returns objects and common prefixes in separate lists: merge them into key order.
                        entries.sort_by(|a, b| match (a, b) {
                            (Ok(a), Ok(b)) => a.key().cmp(b.key()),
                            _ => std::cmp::Ordering::Equal,
                        });
                        Some((stream::iter(entries), Some(PageState { token: page.page_token, first: false })))
                    }
                }
            }
        })
        .flatten()
        .boxed()
    }

    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        if mode == WriteMode::CreateOnly {
            return Err(Error::unsupported(NAME, "create-only copies"));
        }
        let acl = self.acl(from).await?;
        self.inner.store.copy(&self.path(from)?, &self.path(to)?).await.map_err(|err| map_error(err, Some(from)))?;
        // CopyObject gives the copy the bucket's default ACL; keep the source's.
        if acl != Acl::Private {
            self.set_acl(to, acl).await?;
        }
        Ok(())
    }

    fn public_url(&self, key: &str) -> Result<String> {
        let config = &self.inner.config;
        Ok(match &config.custom_domain {
            Some(domain) => {
                format!("{}//{domain}/{}", config.url_protocol, encode_key_path(&format!("{}{key}", self.inner.prefix)))
            }
            None => {
                self.object_url(&config.public_endpoint.clone().unwrap_or_else(|| config.endpoint_or_default()), key)
            }
        })
    }

    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        let key = &request.key;
        if let (Method::Get, Some(cloudfront)) = (request.method, &self.inner.config.cloudfront) {
            // The distribution must forward these query parameters to S3 for the overrides to apply.
            let overrides: Vec<String> = [
                ("response-content-disposition", &request.response_content_disposition),
                ("response-content-type", &request.response_content_type),
            ]
            .into_iter()
            .filter_map(|(name, value)| {
                Some(format!("{name}={}", storage_core::signing::encode_query_value(value.as_deref()?)))
            })
            .collect();
            let mut url = self.public_url(key)?;
            if !overrides.is_empty() {
                url = format!("{url}?{}", overrides.join("&"));
            }
            let signed = cloudfront.sign_url(&url, std::time::SystemTime::now() + request.expires_in)?;
            return Ok(PresignedRequest::new(Method::Get, signed, Vec::new()));
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        for (name, value) in [
            ("content-type", request.content_type.as_deref()),
            ("x-amz-acl", request.acl.map(Acl::as_str)),
            ("if-none-match", request.create_only.then_some("*")),
        ] {
            if let Some(value) = value {
                HeaderValue::from_str(value)
                    .map_err(|_| Error::invalid_argument(Some(key), format!("{name} is not a valid header value")))?;
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
        let query: Vec<(&str, &str)> = [
            ("response-content-disposition", &request.response_content_disposition),
            ("response-content-type", &request.response_content_type),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_deref()?)))
        .collect();
        let signed_headers: Vec<(&str, &str)> =
            headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        let encoded_key = encode_key_path(&format!("{}{key}", self.inner.prefix));
        let url = self
            .inner
            .presigner
            .sign(&UrlToSign {
                method: request.method.as_str(),
                encoded_key: &encoded_key,
                expires_in: request.expires_in,
                query: &query,
                headers: &signed_headers,
            })
            .await?;
        Ok(PresignedRequest::new(request.method, url, headers))
    }

    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        let url = format!("{}?acl", self.object_url(&self.inner.config.endpoint_or_default(), key));
        let reply = self.inner.signed.send(HttpMethod::PUT, &url, vec![acl_header(acl)], Bytes::new(), key).await?;
        reply.check(key).map(drop)
    }

    async fn acl(&self, key: &str) -> Result<Acl> {
        let url = format!("{}?acl", self.object_url(&self.inner.config.endpoint_or_default(), key));
        let reply = self.inner.signed.send(HttpMethod::GET, &url, vec![], Bytes::new(), key).await?;
        Ok(acl::canned(&reply.check(key)?.body))
    }
}

/// Chunks waiting to become a part.
#[derive(Default)]
struct PartBuffer {
    chunks: std::collections::VecDeque<Bytes>,
    len: usize,
}

impl PartBuffer {
    fn push(&mut self, chunk: Bytes) {
        self.len += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// The first `size` bytes (or all there are), as one payload of the same chunks.
    fn take(&mut self, size: usize) -> PutPayload {
        let mut part = Vec::new();
        let mut taken = 0;
        while taken < size {
            let Some(mut chunk) = self.chunks.pop_front() else { break };
            if taken + chunk.len() > size {
                self.chunks.push_front(chunk.split_off(size - taken));
            }
            taken += chunk.len();
            part.push(chunk);
        }
        self.len -= taken;
        part.into_iter().collect()
    }
}

/// The result of a part upload that finished, in its place.
fn joined_part(
    joined: Option<std::result::Result<(usize, object_store::Result<PartId>), tokio::task::JoinError>>,
    key: &str,
) -> Result<(usize, PartId)> {
    let (index, id) = joined
        .expect("only called while parts are in flight")
        .map_err(|err| Error::backend(NAME, Some(key), "a part upload stopped", true, err))?;
    Ok((index, id.map_err(|err| map_error(err, Some(key)))?))
}

/// A ranged read through any object_store, with an out-of-range request reported as such.
pub(crate) async fn get_object(
    store: &dyn ObjectStore,
    path: &Path,
    key: &str,
    range: Option<ByteRange>,
    map_error: impl Fn(object_store::Error, &str) -> Error,
) -> Result<GetResult> {
    let options = GetOptions {
        range: range.map(|range| match range {
            ByteRange::Bounded { start, end } => GetRange::Bounded(start..end),
            ByteRange::From(start) => GetRange::Offset(start),
            ByteRange::Suffix(n) => GetRange::Suffix(n),
        }),
        ..Default::default()
    };
    let result = store.get_opts(path, options).await.map_err(|err| match (range, err) {
        (Some(range), object_store::Error::Generic { .. } | object_store::Error::NotModified { .. }) => {
            Error::invalid_argument(Some(key), format!("the range {range:?} is outside the object"))
        }
        (_, err) => map_error(err, key),
    })?;
    let metadata = Metadata::new(to_meta(key, &result.meta), from_store_attributes(&result.attributes));
    let range = result.range.clone();
    let stream = result.into_stream().map_err(std::io::Error::other).boxed();
    Ok(GetResult { metadata, range, stream })
}

/// Metadata and attributes through any object_store (a HEAD request on S3).
pub(crate) async fn head_object(
    store: &dyn ObjectStore,
    path: &Path,
    key: &str,
    map_error: impl Fn(object_store::Error, &str) -> Error,
) -> Result<Metadata> {
    let options = GetOptions { head: true, ..Default::default() };
    let result = store.get_opts(path, options).await.map_err(|err| map_error(err, key))?;
    Ok(Metadata::new(to_meta(key, &result.meta), from_store_attributes(&result.attributes)))
}

struct PageState {
    token: Option<String>,
    first: bool,
}

fn acl_header(acl: Acl) -> (HeaderName, HeaderValue) {
    (HeaderName::from_static("x-amz-acl"), HeaderValue::from_static(acl.as_str()))
}

//! The S3 backend: private files on S3 and temporary access to them, on object_store.
//!
//! Its `Storage`: `let storage = storage_s3::S3Backend::new(S3Config::new("my-bucket"))?.storage();`.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
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
//!
//! Modules by concern: `list` (paginated listing), `multipart` (large saves), `presign`, `signed` (hand-signed
//! requests and the header service), `xml` (every S3 document, typed), `acl`, `errors` (failures by status and S3
//! code), `attributes` (attribute headers), `placeholders` (name claims and `gc`), `cloudfront`, `gzip`, `config`.
//! What any object_store backend shares (attribute conversions, the claim implementation, the reads that hide
//! placeholders, and `ObjectStoreBackend` itself) is in storage-object-store.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, TryStreamExt};
use http::{HeaderName, HeaderValue, Method as HttpMethod};
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::{Attribute, AttributeValue, ObjectStore, ObjectStoreExt, PutPayload};
use storage_core::signing::encode_key_path;
use storage_core::{
    Acl, Backend, ByteRange, Capabilities, Content, Error, GetResult, ListEntry, ListOptions, Metadata, PresignRequest,
    PresignedRequest, PutOptions, PutResult, Result, Storage, WriteMode, async_trait,
};

mod acl;
mod attributes;
mod cloudfront;
mod config;
mod delete;
mod errors;
mod gzip;
mod list;
mod multipart;
mod placeholders;
mod policy;
mod post;
mod presign;
mod signed;
mod xml;

pub use cloudfront::{CloudFrontPolicy, CloudFrontSigner};
pub use config::{
    AddressingStyle, ClientSettings, CreateOnlyMultipart, DEFAULT_GZIP_CONTENT_TYPES, S3Config, ServerSideEncryption,
};
pub use policy::{AclActions, iam_policy, public_prefix_policy};
/// Moved to its own crate, storage-object-store, which builds no S3 client; re-exported for existing users.
pub use storage_object_store::ObjectStoreBackend;

use acl::acl_header;
use errors::map_error;
use multipart::Completion;
use presign::Presigner;
use signed::{Credentials, ExtraHeaders, HeaderConnector, Signed};
use storage_object_store::attributes::{get_object, head_object, to_store_attributes};
use storage_object_store::placeholders::{create_only_upload, refuse_claim_metadata};

pub(crate) const NAME: &str = "s3";

/// S3's longest presigned URL lifetime (SigV4): seven days, every backend's default maximum, which S3 cannot raise.
pub const MAX_PRESIGN_EXPIRY: Duration = storage_core::DEFAULT_MAX_EXPIRY;

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
    /// Whether the server honours `If-None-Match: *` on CompleteMultipartUpload, once probed.
    conditional_completion: tokio::sync::OnceCell<bool>,
    /// Whether the server honours `If-Match` on DeleteObject, once probed.
    conditional_delete: tokio::sync::OnceCell<bool>,
}

impl S3Backend {
    /// A backend for `config`, checked; no request is sent until the first operation.
    pub fn new(config: S3Config) -> Result<Self> {
        let config = config.resolved();
        config.validate()?;
        let credentials = Credentials::default();
        let builder = config.builder()?.with_http_connector(HeaderConnector(credentials.clone()));
        let store = builder.clone().build().map_err(|err| map_error(err, None))?;
        credentials.set(store.credentials().clone(), config.region());
        let public_endpoint = config.public_endpoint.clone().unwrap_or_else(|| config.endpoint_or_default());
        let presigner =
            Presigner::new(&config.bucket_url(&public_endpoint), config.region(), store.credentials().clone())?;
        // The hand-signed requests go out with the same client settings as object_store's.
        let client = object_store::client::HttpConnector::connect(
            &object_store::client::ReqwestConnector::default(),
            &config.client.options(&config.endpoint_or_default())?,
        )
        .map_err(|err| map_error(err, None))?;
        let prefix = match config.location.trim_matches('/') {
            "" => String::new(),
            location => format!("{location}/"),
        };
        let signed = Signed { client, credentials, retry: config.retry };
        let (conditional_completion, conditional_delete) = Default::default();
        let inner = Inner { store, presigner, signed, config, prefix, conditional_completion, conditional_delete };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// A [`Storage`] over this backend with the default policy.
    pub fn storage(&self) -> Storage {
        Storage::new(self.clone())
    }

    /// The settings it was made with.
    pub fn config(&self) -> &S3Config {
        &self.inner.config
    }

    /// Create the bucket if it does not exist (for tests and first-time setup; production buckets are usually made
    /// by infrastructure tools).
    pub async fn create_bucket(&self) -> Result<()> {
        let url = self.inner.config.bucket_url(&self.inner.config.endpoint_or_default());
        let reply = self.inner.signed.send(HttpMethod::PUT, &url, vec![], Bytes::new(), "").await?;
        if reply.status.is_success() || reply.error_code().as_deref() == Some("BucketAlreadyOwnedByYou") {
            return Ok(());
        }
        reply.check(&self.inner.config.bucket).map(drop)
    }

    /// Replace the bucket's policy (PutBucketPolicy) with `policy`, a JSON document such as
    /// [`public_prefix_policy`] makes. Needs `s3:PutBucketPolicy`, which an app's own credentials rarely have: this is
    /// for setup tools and tests.
    pub async fn put_bucket_policy(&self, policy: &str) -> Result<()> {
        let url = format!("{}?policy", self.inner.config.bucket_url(&self.inner.config.endpoint_or_default()));
        let body = Bytes::from(policy.to_owned());
        let bucket = self.inner.config.bucket.clone();
        self.inner.signed.send(HttpMethod::PUT, &url, vec![], body, &bucket).await?.check(&bucket).map(drop)
    }

    /// Give an object the configured tags (PutObjectTagging).
    async fn put_tags(&self, key: &str) -> Result<()> {
        use base64::Engine as _;
        use md5::Digest as _;
        let tags = &self.inner.config.tags;
        if tags.is_empty() {
            return Ok(());
        }
        let body = xml::write(&xml::Tagging::new(tags.iter().cloned()), "PutObjectTagging", key)?;
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
        let tagging: xml::Tagging = xml::read(&reply.body, "GetObjectTagging", key)?;
        Ok(tagging.into_pairs())
    }

    /// CopyObject, keeping the source's ACL (CopyObject alone would give the copy the bucket's default).
    async fn copy_object(&self, from: &str, to: &str, acl: Option<Acl>) -> Result<()> {
        self.inner.store.copy(&self.path(from)?, &self.path(to)?).await.map_err(|err| map_error(err, Some(from)))?;
        match acl {
            Some(acl) if acl != Acl::Private => self.set_acl(to, acl).await,
            _ => Ok(()),
        }
    }

    /// `Unsupported` when the bucket takes no ACLs (`acls = false`), before any request carries one.
    fn require_acls(&self) -> Result<()> {
        if self.inner.config.acls {
            return Ok(());
        }
        Err(Error::unsupported(NAME, "ACLs (this bucket is configured with `acls = false`: a bucket policy decides)"))
    }

    fn path(&self, key: &str) -> Result<Path> {
        Path::parse(format!("{}{key}", self.inner.prefix))
            .map_err(|err| Error::invalid_name(key, format!("not a valid S3 key: {err}")).on_backend(NAME))
    }

    fn key_of<'a>(&self, path: &'a str) -> Option<&'a str> {
        path.strip_prefix(&self.inner.prefix)
    }

    /// The URL of an object on `endpoint` (path or virtual-hosted style).
    fn object_url(&self, endpoint: &str, key: &str) -> String {
        let bucket_url = self.inner.config.bucket_url(endpoint);
        format!("{bucket_url}/{}", encode_key_path(&format!("{}{key}", self.inner.prefix)))
    }

    /// One PutObject; a create-only one takes over a dead claim (see `placeholders.rs`).
    async fn put_single(&self, key: &str, bytes: Bytes, options: &PutOptions) -> Result<()> {
        if options.mode == WriteMode::CreateOnly {
            return self.put_create_only(key, bytes, options).await;
        }
        let put = self.put_options(options.attributes.clone(), options.acl);
        self.inner
            .store
            .put_opts(&self.path(key)?, PutPayload::from(bytes), put)
            .await
            .map(drop)
            .map_err(|err| map_error(err, Some(key)))
    }

    /// object_store's options for a PutObject (in overwrite mode) of an object with `attributes` and `acl`.
    fn put_options(&self, attributes: storage_core::Attributes, acl: Option<Acl>) -> object_store::PutOptions {
        let mut put = object_store::PutOptions { attributes: to_store_attributes(&attributes), ..Default::default() };
        let config = &self.inner.config;
        if let Some(class) = &config.storage_class {
            put.attributes.insert(Attribute::StorageClass, AttributeValue::from(class.clone()));
        }
        // Tags and the ACL go through the header service: object_store form-encodes tags, which Ceph misreads.
        let extra: Vec<_> = acl.map(acl_header).into_iter().chain(config.tagging_header()).collect();
        if !extra.is_empty() {
            put.extensions.insert(ExtraHeaders(extra));
        }
        put
    }
}

#[async_trait]
impl Backend for S3Backend {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::all();
        // Changing attributes in place is a CopyObject onto itself, which object_store does not offer: a migration
        // copies the bytes again instead.
        capabilities.set_attributes = false;
        capabilities.acl = self.inner.config.acls;
        // A POST has no condition on the key's absence: a form could neither refuse a taken name nor a second post.
        capabilities.upload_form_with_create_only = false;
        capabilities.presign_max_expiry = Some(MAX_PRESIGN_EXPIRY);
        capabilities
    }

    async fn put(&self, key: &str, content: Content, mut options: PutOptions) -> Result<PutResult> {
        refuse_claim_metadata(NAME, key, &options.attributes)?;
        if options.acl.is_some() {
            self.require_acls()?;
        }
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
        get_object(&self.inner.store, &self.path(key)?, key, range, NAME, |err, key| map_error(err, Some(key))).await
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

    async fn delete_if_unchanged(&self, key: &str, etag: &str) -> Result<storage_core::ConditionalDelete> {
        self.delete_if_match(key, etag).await
    }

    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        list::list(self.clone(), options)
    }

    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        // No byte of the object passes through this client: CopyObject up to 5 GiB, UploadPartCopy above.
        let source = self.head(from).await?;
        let acl = if self.inner.config.acls { Some(self.acl(from).await?) } else { None };
        let large = source.size() > self.inner.config.multipart_copy_threshold;
        if mode == WriteMode::CreateOnly {
            if self.completes_conditionally().await {
                return self.multipart_copy(from, to, &source, acl, Completion::IfAbsent).await;
            }
            // CopyObject cannot refuse an existing target: claim the name first, then copy over it.
            let copy = async |held| {
                if large {
                    return self.multipart_copy(from, to, &source, acl, Completion::OverClaim(held)).await;
                }
                self.check_live(&held, to)?;
                self.copy_object(from, to, acl).await
            };
            let release = |held| self.release(to, held);
            return create_only_upload(self.claim(to), Default::default(), copy, release).await;
        }
        if large {
            return self.multipart_copy(from, to, &source, acl, Completion::Overwrite).await;
        }
        self.copy_object(from, to, acl).await
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
        presign::presign(self, request).await
    }

    async fn upload_form(&self, policy: &storage_core::UploadPolicy) -> Result<storage_core::UploadForm> {
        self.post_form(policy).await
    }

    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        self.require_acls()?;
        let url = format!("{}?acl", self.object_url(&self.inner.config.endpoint_or_default(), key));
        let reply = self.inner.signed.send(HttpMethod::PUT, &url, vec![acl_header(acl)], Bytes::new(), key).await?;
        reply.check(key).map(drop)
    }

    async fn acl(&self, key: &str) -> Result<Acl> {
        self.require_acls()?;
        let url = format!("{}?acl", self.object_url(&self.inner.config.endpoint_or_default(), key));
        let reply = self.inner.signed.send(HttpMethod::GET, &url, vec![], Bytes::new(), key).await?;
        acl::canned(&reply.check(key)?.body, key)
    }
}

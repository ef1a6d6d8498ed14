//! Google Cloud Storage: the data path on object_store's GCS client, and V4 signed URLs and POST policies signed here.
//!
//! Its `Storage`: `let storage = storage_gcs::GcsBackend::new(GcsConfig::new("my-bucket"))?.storage();`.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
//!
//! The bytes go through storage-object-store's adapter; the signatures are checked against Google's own conformance
//! vectors (tests/gcs/vectors.rs). See docs/gcs.md for the settings, the guarantees and the gaps.

#![warn(missing_docs)]

use std::sync::Arc;

use futures::stream::BoxStream;
use object_store::ClientOptions;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::prefix::PrefixStore;
use storage_core::{
    Acl, Attributes, Backend, ByteRange, Capabilities, ConditionalDelete, Content, Error, GetResult, ListEntry,
    ListOptions, Metadata, Method, PresignRequest, PresignedRequest, PutOptions, PutResult, Result, Storage,
    UploadForm, UploadPolicy, WriteMode, async_trait,
};
use storage_object_store::ObjectStoreBackend;

mod key;
mod post;
mod sign;

pub use key::ServiceAccountKey;
pub use post::{PostCondition, PostKey, PostPolicy, SignedPost};
pub use sign::{ALGORITHM, DEFAULT_ENDPOINT, Endpoint, MAX_EXPIRY, SignedUrl, Signer, UrlRequest, UrlStyle};

/// The backend's name in messages.
pub const NAME: &str = "gcs";

/// How the backend authenticates its requests.
#[derive(Clone)]
#[non_exhaustive]
pub enum GcsCredentials {
    /// A service account's JSON key file, read: object_store authenticates with it, and URLs and forms are signed
    /// with it.
    ServiceAccountKey(String),
    /// object_store's own discovery (`GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_APPLICATION_CREDENTIALS`, the metadata
    /// server); nothing to sign URLs with, unless [`GcsConfig::with_signing_key`] gives a key.
    Environment,
    /// A fixed OAuth bearer token, never refreshed: a token minted elsewhere, or any string for an emulator such
    /// as fake-gcs-server (object_store 0.14.2 fetches a token for deletes and writes even when told to sign
    /// nothing, so an emulator needs one).
    BearerToken(String),
    /// No credentials at all: reads of a public bucket.
    Anonymous,
}

impl std::fmt::Debug for GcsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ServiceAccountKey(_) => "ServiceAccountKey(<redacted>)",
            Self::BearerToken(_) => "BearerToken(<redacted>)",
            Self::Environment => "Environment",
            Self::Anonymous => "Anonymous",
        })
    }
}

impl GcsCredentials {
    /// The credentials of a key file: a service account's signs URLs too; any other kind (an `authorized_user`
    /// file from `gcloud auth application-default login`) is left to object_store's discovery.
    pub fn from_key_file(path: &std::path::Path) -> Result<Self> {
        let json = std::fs::read_to_string(path).map_err(|err| {
            Error::configuration(
                "the GCS key file",
                format!("cannot read {} ({err}); give the path of the JSON key file", path.display()),
            )
            .on_backend(NAME)
        })?;
        Ok(if ServiceAccountKey::from_json(&json).is_ok() { Self::ServiceAccountKey(json) } else { Self::Environment })
    }

    /// From the environment, as Google's clients and object_store read it: `GOOGLE_SERVICE_ACCOUNT_KEY` (the JSON
    /// itself), else the key file `GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_SERVICE_ACCOUNT_PATH` or
    /// `GOOGLE_APPLICATION_CREDENTIALS` names, else object_store's discovery (the metadata server).
    pub fn from_env() -> Result<Self> {
        if let Ok(json) = std::env::var("GOOGLE_SERVICE_ACCOUNT_KEY") {
            ServiceAccountKey::from_json(&json)?;
            return Ok(Self::ServiceAccountKey(json));
        }
        let file = ["GOOGLE_SERVICE_ACCOUNT", "GOOGLE_SERVICE_ACCOUNT_PATH", "GOOGLE_APPLICATION_CREDENTIALS"]
            .into_iter()
            .find_map(std::env::var_os);
        match file {
            Some(path) => Self::from_key_file(std::path::Path::new(&path)),
            None => Ok(Self::Environment),
        }
    }
}

/// The settings of one GCS backend. `Debug` never shows a private key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GcsConfig {
    /// The bucket.
    pub bucket: String,
    /// A name prefix under which every object is stored (`gs://bucket/prefix`), without leading or trailing `/`.
    pub prefix: String,
    /// Where requests go: Google by default, an emulator's `http://127.0.0.1:PORT` in tests.
    pub endpoint: Option<String>,
    /// How the data path authenticates.
    pub credentials: GcsCredentials,
    /// What signs URLs and forms: the service account key of `credentials` by default.
    pub signing_key: Option<ServiceAccountKey>,
    /// How signed URLs and forms name the bucket: path-style by default.
    pub url_style: UrlStyle,
}

impl GcsConfig {
    /// A bucket reached with object_store's own credential discovery, on Google's endpoint.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: String::new(),
            endpoint: None,
            credentials: GcsCredentials::Environment,
            signing_key: None,
            url_style: UrlStyle::Path,
        }
    }

    /// Store every name under `prefix`.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.trim_matches('/').to_owned();
        self
    }

    /// Send requests (and sign URLs) for this endpoint.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Authenticate this way.
    pub fn with_credentials(mut self, credentials: GcsCredentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Sign URLs and forms with this key.
    pub fn with_signing_key(mut self, key: ServiceAccountKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Sign URLs and forms in this style (virtual-hosted, or a bucket-bound hostname).
    pub fn with_url_style(mut self, style: UrlStyle) -> Self {
        self.url_style = style;
        self
    }
}

/// A GCS bucket (or a prefix of one) as a [`Backend`]: reads, writes, listings and copies through object_store,
/// signed URLs and upload forms signed here. `Debug` leaves object_store's client out: its `Debug` shows the bearer
/// token and credentials it holds.
#[derive(Clone)]
pub struct GcsBackend {
    data: ObjectStoreBackend,
    bucket: String,
    /// The prefix with its trailing `/`, or empty.
    prefix: String,
    signer: Option<Signer>,
}

impl std::fmt::Debug for GcsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsBackend")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl GcsBackend {
    /// A backend for `config`. Fails on a malformed endpoint or key; reaching the bucket is left to the first request.
    pub fn new(config: GcsConfig) -> Result<Self> {
        let endpoint = Endpoint::parse(config.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT))?;
        // A bucket the style cannot put in a URL is refused now, not at the first signature.
        config.url_style.locate(&endpoint, &config.bucket)?;
        let mut builder = GoogleCloudStorageBuilder::new()
            .with_bucket_name(&config.bucket)
            .with_base_url(&endpoint.url())
            .with_client_options(ClientOptions::new().with_allow_http(true));
        let mut signing_key = config.signing_key.clone();
        match &config.credentials {
            GcsCredentials::ServiceAccountKey(json) => {
                signing_key = match signing_key {
                    Some(key) => Some(key),
                    None => Some(ServiceAccountKey::from_json(json)?),
                };
                builder = builder.with_service_account_key(json.clone());
            }
            GcsCredentials::Environment => {
                for (key, value) in std::env::vars().filter(|(key, _)| key.starts_with("GOOGLE_")) {
                    if let Ok(key) = key.to_ascii_lowercase().parse() {
                        builder = builder.with_config(key, value);
                    }
                }
            }
            GcsCredentials::BearerToken(token) => builder = builder.with_bearer_token(token.clone()),
            GcsCredentials::Anonymous => builder = builder.with_skip_signature(true),
        }
        let store = builder.build().map_err(|err| {
            Error::configuration("the GCS backend", "object_store could not build its GCS client; check the settings")
                .on_backend(NAME)
                .with_source(err)
        })?;
        let store: Arc<dyn object_store::ObjectStore> = if config.prefix.is_empty() {
            Arc::new(store)
        } else {
            Arc::new(PrefixStore::new(store, config.prefix.as_str()))
        };
        // GCS keeps the content headers and user metadata, as object_store writes them.
        let mut capabilities = Capabilities::none();
        capabilities.write_with_attributes = true;
        capabilities.write_with_user_metadata = true;
        let data = ObjectStoreBackend::new(store, NAME).with_capabilities(capabilities);
        let prefix = if config.prefix.is_empty() { String::new() } else { format!("{}/", config.prefix) };
        let signer = signing_key.map(|key| Signer::new(key, endpoint).with_url_style(config.url_style));
        Ok(Self { data, bucket: config.bucket, prefix, signer })
    }

    /// A storage over this backend with the default policy.
    pub fn storage(&self) -> Storage {
        Storage::new(self.clone())
    }

    /// The object's name in the bucket.
    fn full_name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The signer, or `Unsupported` naming what needed it.
    fn signer(&self, what: &'static str) -> Result<&Signer> {
        self.signer.as_ref().ok_or_else(|| Error::unsupported(NAME, what))
    }

    /// `request` as a V4 signed URL: response overrides as signed query parameters on a GET; on a PUT the body's
    /// headers, and `x-goog-if-generation-match: 0` for a create-only upload (GCS then refuses a taken name).
    fn signed_url(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        let signer = self.signer("temporary URLs (no service account key to sign with)")?;
        let object = self.full_name(&request.key);
        let mut url = UrlRequest::new(
            request.method.as_str(),
            &self.bucket,
            Some(&object),
            request.expires_in,
            chrono::Utc::now(),
        );
        match request.method {
            Method::Get => {
                if let Some(disposition) = &request.response_content_disposition {
                    url = url.with_query("response-content-disposition", disposition);
                }
                if let Some(content_type) = &request.response_content_type {
                    url = url.with_query("response-content-type", content_type);
                }
            }
            Method::Put => {
                if request.acl.is_some() {
                    return Err(Error::unsupported(NAME, "ACLs (buckets with uniform access have none)"));
                }
                for (name, value) in request.body_headers() {
                    url = url.with_header(&name, &value);
                }
                if request.create_only {
                    url = url.with_header("x-goog-if-generation-match", "0");
                }
            }
        }
        let signed = signer.sign_url(&url)?;
        Ok(PresignedRequest::new(request.method, signed.url, signed.headers))
    }
}

// Every method is the adapter's or this crate's signing: none may fall back to a default unseen.
#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl Backend for GcsBackend {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = self.data.capabilities();
        let signs = self.signer.is_some();
        capabilities.presign_read = signs;
        capabilities.presign_write = signs;
        // A V4 signature lists the body's headers in `X-Goog-SignedHeaders`: GCS refuses a PUT that changes them.
        capabilities.presign_write_with_headers = signs;
        capabilities.presign_max_expiry = Some(MAX_EXPIRY);
        capabilities.upload_form = signs;
        capabilities
    }

    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        self.data.put(key, content, options).await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        self.data.get(key, range).await
    }

    async fn head(&self, key: &str) -> Result<Metadata> {
        self.data.head(key).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.data.delete(key).await
    }

    async fn delete_if_unchanged(&self, key: &str, etag: &str) -> Result<ConditionalDelete> {
        // object_store's client sends no condition on DELETE: re-read just before it (docs/guides/migrate-at-scale.md
        // states the window).
        storage_core::delete_after_reread(self, key, etag).await
    }

    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        self.data.list(options)
    }

    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.data.copy(from, to, mode).await
    }

    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.data.rename(from, to, mode).await
    }

    /// Unsupported: a bucket with uniform access serves nothing unsigned per object.
    fn public_url(&self, key: &str) -> Result<String> {
        self.data.public_url(key)
    }

    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        self.signed_url(request)
    }

    async fn upload_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        self.post_form(policy)
    }

    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        self.data.set_acl(key, acl).await
    }

    async fn acl(&self, key: &str) -> Result<Acl> {
        self.data.acl(key).await
    }

    async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
        self.data.set_attributes(key, attributes).await
    }
}

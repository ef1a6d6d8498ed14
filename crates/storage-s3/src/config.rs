//! S3 settings, one for each django-storages S3 setting that applies to a backend (policy settings such as
//! `default_acl`, `file_overwrite` and `querystring_auth` live on the `Storage`).

use std::fmt;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, RetryConfig};
use storage_core::{Error, Result};

/// How object URLs name the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressingStyle {
    /// `https://endpoint/bucket/key` — what S3-compatible servers (Ceph, MinIO) expect.
    #[default]
    Path,
    /// `https://bucket.endpoint/key` — AWS's preferred style.
    Virtual,
}

/// Server-side encryption of new objects (`AWS_S3_OBJECT_PARAMETERS["ServerSideEncryption"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerSideEncryption {
    /// SSE-S3 (`AES256`): keys managed by S3.
    S3,
    /// SSE-KMS with this key (`aws:kms`).
    Kms {
        /// The KMS key's id or ARN.
        key_id: String,
    },
}

/// How a create-only save too large for one request (a multipart upload) claims its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CreateOnlyMultipart {
    /// Ask the server once, on the first such save: a probe upload completed with `If-None-Match: *` over an object
    /// that exists. A 412 means the server honours it (`Conditional`); anything else, `Placeholder`.
    #[default]
    Detect,
    /// Complete the upload with `If-None-Match: *` (AWS S3 since 2024): nothing is written before the completion,
    /// which either takes the free name or is refused with 412.
    Conditional,
    /// Claim the name first with a hidden zero-byte placeholder (`storage gc` removes one a killed process left),
    /// for servers that ignore the header on completion (Ceph 16).
    Placeholder,
}

impl std::str::FromStr for CreateOnlyMultipart {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "detect" => Ok(Self::Detect),
            "conditional" => Ok(Self::Conditional),
            "placeholder" => Ok(Self::Placeholder),
            other => Err(format!("`{other}`; use `detect`, `conditional` or `placeholder`")),
        }
    }
}

/// The settings of one S3 backend. `Debug` never shows the secret key or the session token.
#[derive(Clone)]
#[non_exhaustive]
pub struct S3Config {
    /// `bucket_name` / `AWS_STORAGE_BUCKET_NAME`.
    pub bucket: String,
    /// `location`: a key prefix under which every name is stored.
    pub location: String,
    /// `region_name` / `AWS_S3_REGION_NAME`; falls back to `AWS_REGION`, then `us-east-1`.
    pub region: Option<String>,
    /// `endpoint_url` / `AWS_S3_ENDPOINT_URL`: where requests go (e.g. `http://127.0.0.1:7480`).
    pub endpoint: Option<String>,
    /// The host clients reach, when it differs from `endpoint` (containers, VPCs): URLs are signed for it.
    pub public_endpoint: Option<String>,
    /// `addressing_style` / `AWS_S3_ADDRESSING_STYLE`.
    pub addressing_style: AddressingStyle,
    /// `access_key` / `AWS_S3_ACCESS_KEY_ID`; without it the `AWS_*` environment and the credential chain are used.
    pub access_key_id: Option<String>,
    /// `secret_key` / `AWS_S3_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
    /// `security_token` / `AWS_SESSION_TOKEN`.
    pub session_token: Option<String>,
    /// `custom_domain` / `AWS_S3_CUSTOM_DOMAIN`: public URLs use this host.
    pub custom_domain: Option<String>,
    /// `url_protocol` / `AWS_S3_URL_PROTOCOL`, for `custom_domain` URLs (default `https:`).
    pub url_protocol: String,
    /// Larger saves use a multipart upload (django-storages leaves this to boto3, whose default is 8 MiB).
    pub multipart_threshold: usize,
    /// The size of each uploaded part (at least 5 MiB, S3's minimum).
    pub part_size: usize,
    /// Parts uploaded at once (boto3's `max_concurrency`); memory holds this many parts plus the one being filled.
    pub part_concurrency: usize,
    /// `StorageClass` for new objects (`STANDARD_IA`, `GLACIER_IR`, …); the bucket's default when `None`.
    pub storage_class: Option<String>,
    /// Tags of new objects (`Tagging`).
    pub tags: Vec<(String, String)>,
    /// `ServerSideEncryption` (and `SSEKMSKeyId`) of new objects.
    pub server_side_encryption: Option<ServerSideEncryption>,
    /// `gzip` / `AWS_IS_GZIPPED`: compress saves whose content type is in `gzip_content_types` and that have no
    /// content encoding yet, and store them with `Content-Encoding: gzip`.
    pub gzip: bool,
    /// `gzip_content_types` / `GZIP_CONTENT_TYPES`.
    pub gzip_content_types: Vec<String>,
    /// `cloudfront_key` + `cloudfront_key_id`: temporary GET URLs are CloudFront URLs on `custom_domain`.
    pub cloudfront: Option<crate::CloudFrontSigner>,
    /// Whether the bucket takes object ACLs. `false` for a bucket with Object Ownership "bucket owner enforced",
    /// the default of every AWS bucket created since April 2023: the backend then declares no ACL capability and no
    /// request carries `x-amz-acl`; privacy comes from the bucket (see `storage s3 policy`).
    pub acls: bool,
    /// How every request reaches S3 (`proxies`, `verify`, timeouts in django-storages and botocore).
    pub client: ClientSettings,
    /// How a create-only multipart save claims its name: detected by default.
    pub create_only_multipart: CreateOnlyMultipart,
    /// How long a save or copy may take while a placeholder claims its name (the `placeholder` mode of
    /// `create_only_multipart`); default one hour. One that takes longer fails instead of completing, and a claim
    /// whose holder can no longer complete (this long, plus the time a last request may take: up to as long again,
    /// at most 5 minutes) is dead: the next save or copy to the name takes it over.
    pub claim_lifetime: std::time::Duration,
    /// Copies of objects larger than this are multipart copies (UploadPartCopy) of `copy_part_size` parts; default
    /// 5 GiB, the largest a single CopyObject takes.
    pub multipart_copy_threshold: u64,
    /// The size of each part of a multipart copy (5 MiB to 5 GiB; default 512 MiB).
    pub copy_part_size: u64,
    /// How object_store and the hand-signed requests retry a failed request (default
    /// [`storage_core::backoff::OBJECT_STORE`]). What fails after these retries comes back permanent.
    pub retry: storage_core::backoff::RetryPolicy,
}

/// The HTTP client settings of every request the backend sends: object_store's and its own hand-signed ones alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientSettings {
    /// An HTTP(S) proxy for every request (`AWS_S3_PROXIES`), e.g. `http://proxy.internal:3128`.
    pub proxy: Option<String>,
    /// Extra trusted root certificates, PEM (`AWS_S3_VERIFY = "/path/ca.pem"`), e.g. a private S3's CA.
    pub ca_certificates_pem: Option<Vec<u8>>,
    /// Accept any TLS certificate (`AWS_S3_VERIFY = False`): only for a test server.
    pub accept_invalid_certificates: bool,
    /// The longest wait for a connection (botocore's `connect_timeout`).
    pub connect_timeout: Option<std::time::Duration>,
    /// The longest wait for a whole request (botocore's `read_timeout`); a stream of a large object is one request.
    pub request_timeout: Option<std::time::Duration>,
}

impl ClientSettings {
    /// object_store's options for these settings, for requests to `endpoint` (plain HTTP only to an `http://` one).
    pub(crate) fn options(&self, endpoint: &str) -> Result<object_store::ClientOptions> {
        let mut options = object_store::ClientOptions::new().with_allow_http(endpoint.starts_with("http://"));
        if let Some(proxy) = &self.proxy {
            options = options.with_proxy_url(proxy);
        }
        if let Some(pem) = &self.ca_certificates_pem {
            let certificates = object_store::Certificate::from_pem_bundle(pem).map_err(|err| {
                Error::configuration("the s3 backend", format!("the CA certificates are not PEM certificates: {err}"))
                    .on_backend(crate::NAME)
            })?;
            for certificate in certificates {
                options = options.with_root_certificate(certificate);
            }
        }
        options = options.with_allow_invalid_certificates(self.accept_invalid_certificates);
        if let Some(timeout) = self.connect_timeout {
            options = options.with_connect_timeout(timeout);
        }
        if let Some(timeout) = self.request_timeout {
            options = options.with_timeout(timeout);
        }
        Ok(options)
    }
}

/// django-storages' `GZIP_CONTENT_TYPES` default.
pub const DEFAULT_GZIP_CONTENT_TYPES: [&str; 5] =
    ["text/css", "text/javascript", "application/javascript", "application/x-javascript", "image/svg+xml"];

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("location", &self.location)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("public_endpoint", &self.public_endpoint)
            .field("addressing_style", &self.addressing_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("custom_domain", &self.custom_domain)
            .field("url_protocol", &self.url_protocol)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .field("part_concurrency", &self.part_concurrency)
            .field("storage_class", &self.storage_class)
            .field("tags", &self.tags)
            .field("server_side_encryption", &self.server_side_encryption)
            .field("gzip", &self.gzip)
            .field("gzip_content_types", &self.gzip_content_types)
            .field("cloudfront", &self.cloudfront)
            .field("acls", &self.acls)
            .field("client", &self.client)
            .field("create_only_multipart", &self.create_only_multipart)
            .field("claim_lifetime", &self.claim_lifetime)
            .field("multipart_copy_threshold", &self.multipart_copy_threshold)
            .field("copy_part_size", &self.copy_part_size)
            .field("retry", &self.retry)
            .finish()
    }
}

const MIB: usize = 1 << 20;

impl S3Config {
    /// Settings for `bucket`, with django-storages' defaults; credentials from the environment unless set.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            location: String::new(),
            region: None,
            endpoint: None,
            public_endpoint: None,
            addressing_style: AddressingStyle::default(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            custom_domain: None,
            url_protocol: "https:".into(),
            multipart_threshold: 8 * MIB,
            part_size: 8 * MIB,
            part_concurrency: 4,
            storage_class: None,
            tags: Vec::new(),
            server_side_encryption: None,
            gzip: false,
            gzip_content_types: DEFAULT_GZIP_CONTENT_TYPES.iter().map(|t| t.to_string()).collect(),
            cloudfront: None,
            acls: true,
            client: ClientSettings::default(),
            create_only_multipart: CreateOnlyMultipart::Detect,
            claim_lifetime: std::time::Duration::from_secs(3600),
            multipart_copy_threshold: 5 << 30,
            copy_part_size: 512 << 20,
            retry: storage_core::backoff::OBJECT_STORE,
        }
    }

    /// Keep every key under this prefix (django-storages' `location`).
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = location.into();
        self
    }
    /// The bucket's region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
    /// The endpoint URL of an S3-compatible server (`endpoint_url`).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
    /// The endpoint presigned and public URLs name, when clients reach S3 elsewhere than the app.
    pub fn with_public_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.public_endpoint = Some(endpoint.into());
        self
    }
    /// Path-style or virtual-hosted URLs.
    pub fn with_addressing_style(mut self, style: AddressingStyle) -> Self {
        self.addressing_style = style;
        self
    }
    /// Sign with these credentials instead of the environment's.
    pub fn with_credentials(mut self, access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        self.access_key_id = Some(access_key_id.into());
        self.secret_access_key = Some(secret_access_key.into());
        self
    }
    /// A session token for temporary credentials.
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }
    /// Public URLs on this host, e.g. a CDN (`custom_domain`).
    pub fn with_custom_domain(mut self, domain: impl Into<String>) -> Self {
        self.custom_domain = Some(domain.into());
        self
    }
    /// The scheme of `custom_domain` URLs: `https:` (default) or `http:`.
    pub fn with_url_protocol(mut self, protocol: impl Into<String>) -> Self {
        self.url_protocol = protocol.into();
        self
    }
    /// Saves above `threshold` bytes go up as multipart uploads of `part_size` parts.
    pub fn with_multipart(mut self, threshold: usize, part_size: usize) -> Self {
        self.multipart_threshold = threshold;
        self.part_size = part_size;
        self
    }

    /// Upload up to `parts` parts of a multipart upload at once (default 4: 32 MiB of parts in flight).
    pub fn with_part_concurrency(mut self, parts: usize) -> Self {
        self.part_concurrency = parts;
        self
    }

    /// The storage class of new objects, e.g. `STANDARD_IA`.
    pub fn with_storage_class(mut self, class: impl Into<String>) -> Self {
        self.storage_class = Some(class.into());
        self
    }
    /// One more tag on every new object.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }
    /// Sign temporary GET URLs for CloudFront (needs `custom_domain`, the distribution's host).
    pub fn with_cloudfront(mut self, signer: crate::CloudFrontSigner) -> Self {
        self.cloudfront = Some(signer);
        self
    }
    /// Whether the bucket takes object ACLs; `false` for a bucket with ACLs disabled (every new AWS bucket).
    pub fn with_acls(mut self, acls: bool) -> Self {
        self.acls = acls;
        self
    }
    /// How create-only multipart saves claim their names (by default detected from the server).
    pub fn with_create_only_multipart(mut self, mode: CreateOnlyMultipart) -> Self {
        self.create_only_multipart = mode;
        self
    }
    /// How long a save or copy may take while a placeholder claims its name (default one hour): see
    /// [`S3Config::claim_lifetime`]. Short ones are for tests of what a killed process leaves.
    pub fn with_claim_lifetime(mut self, lifetime: std::time::Duration) -> Self {
        self.claim_lifetime = lifetime;
        self
    }
    /// Copies above `threshold` bytes go as multipart copies of `part_size` parts (default: above 5 GiB, in parts
    /// of 512 MiB).
    pub fn with_multipart_copy(mut self, threshold: u64, part_size: u64) -> Self {
        self.multipart_copy_threshold = threshold;
        self.copy_part_size = part_size;
        self
    }
    /// Retry each failed request by `policy` (object_store's requests and the hand-signed ones alike).
    pub fn with_retry_policy(mut self, policy: storage_core::backoff::RetryPolicy) -> Self {
        self.retry = policy;
        self
    }
    /// Send every request with these client settings (proxy, certificates, timeouts).
    pub fn with_client(mut self, client: ClientSettings) -> Self {
        self.client = client;
        self
    }
    /// Compress saves of the gzip content types (django-storages' `gzip`).
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }
    /// Encrypt new objects at rest this way.
    pub fn with_server_side_encryption(mut self, encryption: ServerSideEncryption) -> Self {
        self.server_side_encryption = Some(encryption);
        self
    }

    /// The headers that give a new object its class, tags and encryption (for requests built here; object_store
    /// sends the same from its own configuration).
    pub(crate) fn object_headers(&self) -> Vec<(http::HeaderName, http::HeaderValue)> {
        use http::{HeaderName, HeaderValue};
        let mut headers = Vec::new();
        let mut push = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.push((HeaderName::from_static(name), value));
            }
        };
        if let Some(class) = &self.storage_class {
            push("x-amz-storage-class", class);
        }
        match &self.server_side_encryption {
            Some(ServerSideEncryption::S3) => push("x-amz-server-side-encryption", "AES256"),
            Some(ServerSideEncryption::Kms { key_id }) => {
                push("x-amz-server-side-encryption", "aws:kms");
                push("x-amz-server-side-encryption-aws-kms-key-id", key_id);
            }
            None => {}
        }
        headers.extend(self.tagging_header());
        headers
    }

    /// `x-amz-tagging`, percent-encoded (`%20` for a space: Ceph keeps a form-encoded `+` as a plus sign).
    pub(crate) fn tagging_header(&self) -> Option<(http::HeaderName, http::HeaderValue)> {
        if self.tags.is_empty() {
            return None;
        }
        let encode = storage_core::signing::encode_query_value;
        let tagging: Vec<String> = self.tags.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        let value = http::HeaderValue::from_str(&tagging.join("&")).ok()?;
        Some((http::HeaderName::from_static("x-amz-tagging"), value))
    }

    /// Whether a save with these attributes is to be compressed.
    pub(crate) fn gzips(&self, attributes: &storage_core::Attributes) -> bool {
        let essence = |t: &str| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        self.gzip
            && attributes.content_encoding.is_none()
            && attributes
                .content_type
                .as_deref()
                .is_some_and(|t| self.gzip_content_types.iter().any(|g| essence(g) == essence(t)))
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let problem = |message: String| Err(Error::configuration("the s3 backend", message).on_backend(crate::NAME));
        if self.bucket.is_empty() {
            return problem("the bucket name is empty; set `bucket`".into());
        }
        for (name, url) in [("endpoint", &self.endpoint), ("public_endpoint", &self.public_endpoint)] {
            if let Some(url) = url.as_deref().filter(|u| !u.starts_with("http://") && !u.starts_with("https://")) {
                return problem(format!("`{name}` {url:?} must start with http:// or https://"));
            }
        }
        if self.custom_domain.as_deref().is_some_and(|d| d.contains("://")) {
            return problem("`custom_domain` is a host name; put the scheme in `url_protocol`".into());
        }
        if self.cloudfront.is_some() && self.custom_domain.is_none() {
            return problem("CloudFront signing needs `custom_domain`, the distribution's host name".into());
        }
        if self.part_size < 5 * MIB || self.multipart_threshold < self.part_size {
            return problem(
                "`part_size` must be at least 5 MiB (S3's minimum) and at most `multipart_threshold`".into(),
            );
        }
        if !(5 * MIB as u64..=5 << 30).contains(&self.copy_part_size) || self.multipart_copy_threshold > 5 << 30 {
            return problem(
                "`copy_part_size` must be between 5 MiB and 5 GiB, and `multipart_copy_threshold` at most 5 GiB (the \
                 largest single CopyObject)"
                    .into(),
            );
        }
        if !(std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(7 * 24 * 3600))
            .contains(&self.claim_lifetime)
        {
            return problem(
                "`claim_lifetime` must be between 1s (a claim's deadline is kept in whole seconds) and 7 days".into(),
            );
        }
        if self.part_concurrency == 0 {
            return problem("`part_concurrency` must be at least 1".into());
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return problem("give both the access key id and the secret access key, or neither".into());
        }
        Ok(())
    }

    pub(crate) fn region(&self) -> String {
        self.region.clone().unwrap_or_else(|| "us-east-1".into())
    }

    /// These settings with what they leave out taken from the environment, once, so object_store, the presigner and
    /// the hand-signed requests all use the same endpoint and region: `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT`),
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`).
    pub(crate) fn resolved(mut self) -> Self {
        let env = |names: &[&str]| names.iter().find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
        if self.endpoint.is_none() {
            self.endpoint = env(&["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]);
        }
        if self.region.is_none() {
            self.region = env(&["AWS_REGION", "AWS_DEFAULT_REGION"]);
        }
        self
    }

    pub(crate) fn endpoint_or_default(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region()))
    }

    /// The URL of the bucket on `endpoint`, in the configured addressing style.
    pub(crate) fn bucket_url(&self, endpoint: &str) -> String {
        let endpoint = endpoint.trim_end_matches('/');
        match self.addressing_style {
            AddressingStyle::Path => format!("{endpoint}/{}", self.bucket),
            AddressingStyle::Virtual => match endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{}.{host}", self.bucket),
                None => format!("{}.{endpoint}", self.bucket),
            },
        }
    }

    /// object_store's builder for these settings, [`S3Config::resolved`] first: the endpoint and region it uses are
    /// the ones set here, the same the presigner and the hand-signed requests use. Of the environment it takes only
    /// the credential chain's variables ([`CREDENTIAL_VARIABLES`]), never object_store's own reading of the rest
    /// (`AWS_ENDPOINT_URL_S3`, an empty `AWS_ENDPOINT_URL`, `AWS_SKIP_SIGNATURE`, ...), which the presigner and the
    /// hand-signed requests would not follow.
    pub(crate) fn builder(&self) -> Result<AmazonS3Builder> {
        let mut builder = credentials_from_environment(AmazonS3Builder::new())
            .with_client_options(self.client.options(&self.endpoint_or_default())?)
            .with_retry(retry_config(&self.retry))
            .with_bucket_name(&self.bucket)
            .with_region(self.region())
            .with_virtual_hosted_style_request(self.addressing_style == AddressingStyle::Virtual);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        } else if self.endpoint.is_some() && !credentials_in_environment() {
            // object_store would fall through to AWS's instance metadata, which an S3-compatible server's
            // credentials never come from: its failure would only hide that none were given.
            return Err(missing_credentials());
        }
        if let Some(token) = &self.session_token {
            builder = builder.with_token(token);
        }
        match &self.server_side_encryption {
            Some(ServerSideEncryption::S3) => {
                // The encryption keys are only reachable by name in object_store's public API.
                if let Ok(key) = "aws_server_side_encryption".parse::<AmazonS3ConfigKey>() {
                    builder = builder.with_config(key, "AES256");
                }
            }
            Some(ServerSideEncryption::Kms { key_id }) => builder = builder.with_sse_kms_encryption(key_id),
            None => {}
        }
        Ok(builder)
    }
}

/// `policy` as object_store's retry settings, so its requests retry as the hand-signed ones and `RetryLayer` do.
fn retry_config(policy: &storage_core::backoff::RetryPolicy) -> RetryConfig {
    let backoff =
        BackoffConfig { init_backoff: policy.initial_backoff, max_backoff: policy.max_backoff, base: policy.base };
    let max_retries = usize::try_from(policy.max_retries).unwrap_or(usize::MAX);
    RetryConfig { backoff, max_retries, retry_timeout: policy.retry_timeout }
}

/// The variables of object_store's credential chain, the only ones it is given from the environment: static keys,
/// a web identity (Kubernetes), a container's credentials endpoint (ECS, EKS Pod Identity), the instance metadata.
const CREDENTIAL_VARIABLES: [&str; 12] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_METADATA_ENDPOINT",
    "AWS_IMDSV1_FALLBACK",
];

/// `builder` with each set, non-empty [`CREDENTIAL_VARIABLES`] variable.
fn credentials_from_environment(mut builder: AmazonS3Builder) -> AmazonS3Builder {
    for name in CREDENTIAL_VARIABLES {
        let value = std::env::var(name).ok().filter(|value| !value.is_empty());
        if let (Some(value), Ok(key)) = (value, name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()) {
            builder = builder.with_config(key, value);
        }
    }
    builder
}

/// Whether the environment gives object_store credentials: keys, a web identity (Kubernetes), a container's
/// credentials endpoint (ECS).
fn credentials_in_environment() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    [
        "AWS_ACCESS_KEY_ID",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ]
    .into_iter()
    .any(set)
}

/// No credentials for a server other than AWS: say where they come from, before any request is made.
fn missing_credentials() -> Error {
    Error::permission_denied(
        crate::NAME,
        None,
        "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones) \
         in the environment; for a profile of ~/.aws/config, export its keys with \
         `eval \"$(aws configure export-credentials --profile NAME --format env)\"`",
        None,
    )
    .during(storage_core::Operation::Configure)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy storage-core states as object_store's is object_store's own default, so handing it over changes
    /// nothing, and a new object_store version with other defaults fails here.
    /// Every credential variable is a key object_store knows, so none is dropped by a misspelling.
    #[test]
    fn every_credential_variable_is_an_object_store_key() {
        for name in CREDENTIAL_VARIABLES {
            assert!(name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>().is_ok(), "{name}");
        }
    }

    #[test]
    fn the_shared_retry_policy_is_object_stores_default() {
        let (ours, theirs) = (retry_config(&storage_core::backoff::OBJECT_STORE), RetryConfig::default());
        assert_eq!(
            (
                ours.max_retries,
                ours.retry_timeout,
                ours.backoff.init_backoff,
                ours.backoff.max_backoff,
                ours.backoff.base
            ),
            (
                theirs.max_retries,
                theirs.retry_timeout,
                theirs.backoff.init_backoff,
                theirs.backoff.max_backoff,
                theirs.backoff.base
            )
        );
    }
}

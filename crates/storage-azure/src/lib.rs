//! The Azure Blob Storage backend: private files in a container and temporary access to them, on object_store.
//!
//! Its `Storage`: `let storage = storage_azure::AzureBackend::new(config)?.storage();` with an [`AzureConfig`].
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in, and
//! docs/azure.md says what this backend guarantees and what it cannot.
//!
//! Reads, heads, listings, deletes, copies and saves up to one block go through object_store's `MicrosoftAzure`
//! (via storage-object-store's `ObjectStoreBackend`). What object_store cannot express is added around it:
//! - a save larger than one block is uploaded here, block by block (Put Block), and committed with Put Block List
//!   carrying `If-None-Match: *` when create-only (`signed.rs`, signed by object_store's `AzureAuthorizer`): the
//!   service refuses a taken name at the commit, so no placeholder ever claims one;
//! - SAS links are signed here (`sas.rs`), with response overrides and the create-only permission.
//!
//! Azure has no per-blob ACLs: a container is private or gives public reads of its blobs, which its owner sets;
//! [`AzureConfig::public_access`] declares which, and with it the `public_url` capability.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use http::{HeaderName, HeaderValue, Method as HttpMethod};
use object_store::azure::{AzureAccessKey, AzureCredential, MicrosoftAzureBuilder};
use object_store::prefix::PrefixStore;
use storage_core::signing::encode_key_path;
use storage_core::{
    Backend, ByteRange, Capabilities, ConditionalDelete, Content, Error, GetResult, ListEntry, ListOptions, Metadata,
    PresignRequest, PresignedRequest, PutOptions, PutResult, Result, Storage, WriteMode, async_trait,
};
use storage_object_store::ObjectStoreBackend;
use storage_object_store::placeholders::refuse_claim_metadata;

mod config;
mod metadata;
mod sas;
mod signed;

pub use config::{
    AccountKey, AzureConfig, ContainerAccess, DEFAULT_BLOCK_SIZE, EMULATOR_ACCOUNT, EMULATOR_ACCOUNT_KEY,
};

use sas::{Permission, Sas};
use signed::Signed;

pub(crate) const NAME: &str = "azure";

/// What a request for a per-blob ACL is answered with.
const NO_BLOB_ACLS: &str = "ACLs (Azure has none per blob: the container's public access level applies to every blob)";

/// The longest SAS link this backend signs: seven days, every backend's default maximum.
pub const MAX_PRESIGN_EXPIRY: Duration = storage_core::DEFAULT_MAX_EXPIRY;

/// A backend over one container (and an optional key prefix). Cheap to clone.
#[derive(Clone)]
pub struct AzureBackend {
    inner: Arc<Inner>,
}

/// The settings (whose key is redacted) and nothing else: object_store's client, the signing client and the SAS key
/// would all print the account key.
impl std::fmt::Debug for AzureBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureBackend").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

struct Inner {
    /// object_store's client, under the prefix: every operation it can express.
    objects: ObjectStoreBackend,
    signed: Signed,
    config: AzureConfig,
    /// The account key's bytes, which sign SAS links.
    sas_key: Vec<u8>,
    /// `location` with a trailing `/`, or empty.
    prefix: String,
}

impl AzureBackend {
    /// A backend for `config`, checked; no request is sent until the first operation.
    pub fn new(config: AzureConfig) -> Result<Self> {
        let config = config.resolved();
        config.validate()?;
        let key = config.access_key.as_ref().expect("validated").expose().to_owned();
        let bad_key = || {
            Error::configuration("the azure backend", "the account key is not base64; copy it from the portal again")
                .on_backend(NAME)
        };
        let sas_key = base64::engine::general_purpose::STANDARD.decode(&key).map_err(|_| bad_key())?;
        let endpoint = config.endpoint_or_default();
        let options = object_store::ClientOptions::new().with_allow_http(endpoint.starts_with("http://"));
        let store = MicrosoftAzureBuilder::new()
            .with_account(&config.account)
            .with_access_key(&key)
            .with_container_name(&config.container)
            .with_endpoint(endpoint)
            .with_client_options(options.clone())
            .build()
            .map_err(|err| storage_object_store::errors::map_error(NAME, err, None))?;
        let prefix = match config.location.trim_matches('/') {
            "" => String::new(),
            location => format!("{location}/"),
        };
        let store: Arc<dyn object_store::ObjectStore> = match prefix.as_str() {
            "" => Arc::new(store),
            prefix => Arc::new(PrefixStore::new(store, prefix.trim_end_matches('/'))),
        };
        let mut attributes = Capabilities::none();
        attributes.write_with_attributes = true;
        attributes.write_with_user_metadata = true;
        let objects = ObjectStoreBackend::new(store, NAME).with_capabilities(attributes);
        let client =
            object_store::client::HttpConnector::connect(&object_store::client::ReqwestConnector::default(), &options)
                .map_err(|err| storage_object_store::errors::map_error(NAME, err, None))?;
        let credential = AzureCredential::AccessKey(AzureAccessKey::try_new(&key).map_err(|_| bad_key())?);
        let signed = Signed { client, credential, account: config.account.clone() };
        Ok(Self { inner: Arc::new(Inner { objects, signed, config, sas_key, prefix }) })
    }

    /// A [`Storage`] over this backend with the default policy.
    pub fn storage(&self) -> Storage {
        Storage::new(self.clone())
    }

    /// The settings it was made with.
    pub fn config(&self) -> &AzureConfig {
        &self.inner.config
    }

    /// Create the container if it does not exist, with the configured public access level (for tests and first-time
    /// setup; production containers are usually made by infrastructure tools).
    pub async fn create_container(&self) -> Result<()> {
        let config = &self.inner.config;
        let url = format!("{}/{}?restype=container", config.endpoint_or_default(), config.container);
        let headers = match config.public_access {
            ContainerAccess::Private => vec![],
            ContainerAccess::PublicBlobs => {
                vec![(HeaderName::from_static("x-ms-blob-public-access"), HeaderValue::from_static("blob"))]
            }
        };
        let reply = self.inner.signed.send(HttpMethod::PUT, &url, headers, Bytes::new(), &config.container).await?;
        if reply.code.as_deref() == Some("ContainerAlreadyExists") {
            return Ok(());
        }
        reply.check(&config.container)
    }

    /// The blob's name in the container: the prefix and the key.
    fn blob_name(&self, key: &str) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    fn blob_url(&self, key: &str) -> String {
        let config = &self.inner.config;
        format!("{}/{}/{}", config.endpoint_or_default(), config.container, encode_key_path(&self.blob_name(key)))
    }

    /// A save larger than one block: Put Block for each, then one Put Block List, create-only by `If-None-Match: *`.
    /// Block ids carry a random upload id, so two uploads to one name never mix their uncommitted blocks.
    async fn put_blocks(
        &self,
        key: &str,
        first: Bytes,
        mut rest: storage_core::ByteStream,
        options: &PutOptions,
    ) -> Result<()> {
        let upload = fastrand::u64(..);
        let mut ids = Vec::new();
        let block_size = self.inner.config.block_size;
        let mut block = BytesMut::from(first.as_ref());
        loop {
            let next = rest.try_next().await.map_err(|err| Error::from_io(NAME, Some(key), err))?;
            let last = next.is_none();
            if let Some(chunk) = next {
                block.extend_from_slice(&chunk);
            }
            while block.len() >= block_size || (last && !block.is_empty()) {
                let size = block.len().min(block_size);
                let id = base64::engine::general_purpose::STANDARD.encode(format!("{upload:016x}-{:08}", ids.len()));
                self.put_block(key, &id, block.split_to(size).freeze()).await?;
                ids.push(id);
            }
            if last {
                break;
            }
        }
        self.commit_blocks(key, ids, options).await
    }

    async fn put_block(&self, key: &str, id: &str, bytes: Bytes) -> Result<()> {
        let mut url = url::Url::parse(&self.blob_url(key)).map_err(|err| Error::invalid_name(key, err.to_string()))?;
        url.query_pairs_mut().append_pair("comp", "block").append_pair("blockid", id);
        self.inner.signed.send(HttpMethod::PUT, url.as_str(), vec![], bytes, key).await?.check(key)
    }

    async fn commit_blocks(&self, key: &str, ids: Vec<String>, options: &PutOptions) -> Result<()> {
        let list = BlockList { latest: ids };
        let body = quick_xml::se::to_string(&list)
            .map_err(|err| Error::backend(NAME, Some(key), "could not write the block list").with_source(err))?;
        let mut headers = attribute_headers(key, &options.attributes)?;
        if options.mode == WriteMode::CreateOnly {
            headers.push((http::header::IF_NONE_MATCH, HeaderValue::from_static("*")));
        }
        let url = format!("{}?comp=blocklist", self.blob_url(key));
        self.inner.signed.send(HttpMethod::PUT, &url, headers, Bytes::from(body), key).await?.check(key)
    }
}

/// The entry with its ETag in quotes, as HTTP headers carry it.
fn quote_etag(mut entry: ListEntry) -> ListEntry {
    if let ListEntry::Object(meta) = &mut entry {
        if let Some(etag) = meta.etag.as_mut().filter(|etag| !etag.starts_with('"')) {
            *etag = format!("\"{etag}\"");
        }
    }
    entry
}

/// Put Block List's body: the blocks to commit, in order.
#[derive(Debug, serde::Serialize)]
#[serde(rename = "BlockList")]
struct BlockList {
    #[serde(rename = "Latest")]
    latest: Vec<String>,
}

/// The headers that give a committed blob its attributes and metadata.
fn attribute_headers(key: &str, attributes: &storage_core::Attributes) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let invalid = |what: &str| Error::invalid_argument(Some(key), format!("the {what} is not a valid header value"));
    let fields = [
        ("x-ms-blob-content-type", &attributes.content_type),
        ("x-ms-blob-cache-control", &attributes.cache_control),
        ("x-ms-blob-content-disposition", &attributes.content_disposition),
        ("x-ms-blob-content-encoding", &attributes.content_encoding),
        ("x-ms-blob-content-language", &attributes.content_language),
    ];
    let mut headers = Vec::new();
    for (name, value) in fields {
        if let Some(value) = value {
            let value = HeaderValue::from_str(value).map_err(|_| invalid(name))?;
            headers.push((HeaderName::from_static(name), value));
        }
    }
    for (name, value) in &attributes.metadata {
        let header = HeaderName::try_from(format!("x-ms-meta-{name}")).map_err(|_| invalid("metadata name"))?;
        headers.push((header, HeaderValue::from_str(value).map_err(|_| invalid("metadata value"))?));
    }
    Ok(headers)
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Backend for AzureBackend {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::all();
        // Copy Blob gives the copy a new ETag: a retried move is recognised by its bytes' MD5.
        capabilities.copy_keeps_etag = false;
        // No per-blob ACLs: the container's access level decides, for every blob at once.
        capabilities.acl = false;
        capabilities.public_url = self.inner.config.public_access == ContainerAccess::PublicBlobs;
        // Set Blob Properties replaces the headers but not the metadata in one call: a migration copies instead.
        capabilities.set_attributes = false;
        // No POST policy on Azure.
        capabilities.upload_form = false;
        capabilities.upload_form_with_create_only = false;
        // A SAS signs no request header: a PUT link cannot fix the content type, size or MD5.
        capabilities.presign_write_with_headers = false;
        capabilities.presign_max_expiry = Some(MAX_PRESIGN_EXPIRY);
        capabilities
    }

    async fn put(&self, key: &str, content: Content, mut options: PutOptions) -> Result<PutResult> {
        refuse_claim_metadata(NAME, key, &options.attributes)?;
        options.attributes = metadata::to_azure(options.attributes);
        if options.acl.is_some() {
            return Err(Error::unsupported(NAME, NO_BLOB_ACLS));
        }
        let block_size = self.inner.config.block_size;
        if content.as_bytes().is_some_and(|bytes| bytes.len() <= block_size) {
            return self.inner.objects.put(key, content, options).await;
        }
        // Read up to one block: a small stream or file is one Put Blob, a large one is uploaded in blocks.
        let mut stream = content.into_stream().await.map_err(|err| Error::from_io(NAME, Some(key), err))?;
        let mut head = BytesMut::new();
        while head.len() <= block_size {
            match stream.try_next().await.map_err(|err| Error::from_io(NAME, Some(key), err))? {
                Some(chunk) => head.extend_from_slice(&chunk),
                None if head.len() <= block_size => {
                    return self.inner.objects.put(key, Content::from_bytes(head.freeze()), options).await;
                }
                None => break,
            }
        }
        self.put_blocks(key, head.freeze(), stream, &options).await?;
        Ok(PutResult::default())
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        // Azure reads no suffix range (`bytes=-n`): the object's size turns it into a range from an offset.
        let range = match range {
            Some(ByteRange::Suffix(n)) => {
                let size = self.head(key).await?.size();
                (size > 0).then(|| ByteRange::From(size.saturating_sub(n)))
            }
            other => other,
        };
        let mut read = self.inner.objects.get(key, range).await?;
        read.metadata.attributes = metadata::from_azure(std::mem::take(&mut read.metadata.attributes));
        Ok(read)
    }

    async fn head(&self, key: &str) -> Result<Metadata> {
        let mut head = self.inner.objects.head(key).await?;
        head.attributes = metadata::from_azure(std::mem::take(&mut head.attributes));
        Ok(head)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.inner.objects.delete(key).await
    }

    async fn delete_if_unchanged(&self, key: &str, etag: &str) -> Result<ConditionalDelete> {
        // object_store's client sends no condition on DELETE: re-read just before it (docs/guides/migrate-at-scale.md
        // states the window).
        storage_core::delete_after_reread(self, key, etag).await
    }

    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        // A listing gives ETags unquoted, a HEAD quoted: one form, HTTP's, for both.
        self.inner.objects.list(options).map_ok(quote_etag).boxed()
    }

    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        // Copy Blob, server-side; create-only by `If-None-Match: *`, which the service enforces.
        self.inner.objects.copy(from, to, mode).await
    }

    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.inner.objects.rename(from, to, mode).await
    }

    fn public_url(&self, key: &str) -> Result<String> {
        if self.inner.config.public_access != ContainerAccess::PublicBlobs {
            return Err(Error::unsupported(
                NAME,
                "public URLs (the container is private: its public access level is not `blob`)",
            ));
        }
        Ok(self.blob_url(key))
    }

    async fn upload_form(&self, policy: &storage_core::UploadPolicy) -> Result<storage_core::UploadForm> {
        let _ = policy;
        Err(Error::unsupported(NAME, "direct upload forms (Azure has no POST policy; use an upload URL)"))
    }

    async fn set_acl(&self, key: &str, acl: storage_core::Acl) -> Result<()> {
        let _ = (key, acl);
        Err(Error::unsupported(NAME, NO_BLOB_ACLS))
    }

    async fn acl(&self, key: &str) -> Result<storage_core::Acl> {
        let _ = key;
        Err(Error::unsupported(NAME, NO_BLOB_ACLS))
    }

    async fn set_attributes(&self, key: &str, attributes: storage_core::Attributes) -> Result<()> {
        let _ = (key, attributes);
        Err(Error::unsupported(NAME, "changing the attributes of a stored blob (copy it again instead)"))
    }

    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        if request.acl.is_some() {
            return Err(Error::unsupported(NAME, NO_BLOB_ACLS));
        }
        if request.content_type.is_some() || request.content_length.is_some() || request.content_md5.is_some() {
            return Err(Error::unsupported(NAME, storage_core::upload::UNSIGNED_PUT_HEADERS));
        }
        let config = &self.inner.config;
        let blob = self.blob_name(&request.key);
        let sas = Sas {
            account: &config.account,
            container: &config.container,
            blob: &blob,
            permission: Permission::of(request),
            expires_in: request.expires_in,
            content_disposition: request.response_content_disposition.as_deref(),
            content_type: request.response_content_type.as_deref(),
        };
        let query = sas.query(&self.inner.sas_key, SystemTime::now())?;
        let mut url = url::Url::parse(&self.blob_url(&request.key))
            .map_err(|err| Error::invalid_name(&request.key, err.to_string()))?;
        url.query_pairs_mut().extend_pairs(query);
        let headers = match request.method {
            storage_core::Method::Get => vec![],
            storage_core::Method::Put => vec![("x-ms-blob-type".to_owned(), "BlockBlob".to_owned())],
        };
        Ok(PresignedRequest::new(request.method, url.to_string(), headers))
    }
}

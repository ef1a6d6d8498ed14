//! The typed settings of one storage: one section per backend (`backend = "fs"` reads an [`FsSection`], with the
//! keys of a disk storage only) and the [`PolicyConfig`] every backend shares. Durations, ACLs and modes are checked
//! as the file is read, each refusal naming its key.

use std::num::NonZeroUsize;
#[cfg(any(feature = "fs", feature = "memory", feature = "s3", feature = "gcs"))]
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use storage_core::{Acl, OverwritePolicy};

use crate::setting_message;

/// The backend of a storage and its own settings, chosen by `backend = "..."` or by the scheme of `url`. A backend
/// exists here only when storage-config is built with its feature (`fs`, `memory`, `s3`, all on by default).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BackendConfig {
    /// `backend = "fs"`: files in a directory.
    #[cfg(feature = "fs")]
    Fs(FsSection),
    /// `backend = "memory"`: files in this process's memory.
    #[cfg(feature = "memory")]
    Memory(MemorySection),
    /// `backend = "s3"`: objects in an S3 bucket.
    #[cfg(feature = "s3")]
    S3(S3Section),
    /// `backend = "gcs"`: objects in a Google Cloud Storage bucket.
    #[cfg(feature = "gcs")]
    Gcs(GcsSection),
    /// `backend = "azure"`: blobs in an Azure Blob Storage container.
    #[cfg(feature = "azure")]
    Azure(AzureSection),
}

impl BackendConfig {
    /// The backend's name, as `backend = "..."` spells it.
    pub fn name(&self) -> &'static str {
        match *self {
            #[cfg(feature = "fs")]
            BackendConfig::Fs(_) => "fs",
            #[cfg(feature = "memory")]
            BackendConfig::Memory(_) => "memory",
            #[cfg(feature = "s3")]
            BackendConfig::S3(_) => "s3",
            #[cfg(feature = "gcs")]
            BackendConfig::Gcs(_) => "gcs",
            #[cfg(feature = "azure")]
            BackendConfig::Azure(_) => "azure",
        }
    }

    /// For a storage whose URLs `SignedUrlService` serves (fs and memory): its `base_url`, to read or to set. S3
    /// serves its own URLs: `None`.
    pub fn served_base_url(&mut self) -> Option<&mut Option<String>> {
        match self {
            #[cfg(feature = "fs")]
            BackendConfig::Fs(fs) => Some(&mut fs.base_url),
            #[cfg(feature = "memory")]
            BackendConfig::Memory(memory) => Some(&mut memory.base_url),
            #[cfg(feature = "s3")]
            BackendConfig::S3(_) => None,
            #[cfg(feature = "gcs")]
            BackendConfig::Gcs(_) => None,
            #[cfg(feature = "azure")]
            BackendConfig::Azure(_) => None,
        }
    }
}

/// `backend = "fs"`: a directory on the local disk.
#[cfg(feature = "fs")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FsSection {
    /// The root directory, relative to the directory the storage is built in (`location`, required).
    pub location: PathBuf,
    /// Where its URLs point (the `serve` address); [`crate::DEFAULT_BASE_URL`] unless set.
    pub base_url: Option<String>,
    /// The file holding the URL signing key (created, mode 0600, when missing); default `.storage/signing-key`
    /// under the root.
    pub signing_key_file: Option<PathBuf>,
    /// Create the root directory on the first write when it is missing (default: only for the embedded default);
    /// without it, a missing root is an error naming it, so a mistyped path never becomes a new, empty storage.
    #[serde(default)]
    pub create: bool,
    /// `false` for a file system without user extended attributes; the storage then keeps no attributes and no
    /// ACLs (saves that ask for them are refused) instead of losing them.
    #[serde(default = "yes")]
    pub attributes: bool,
    /// The longest expiry of its links and forms, `30d` (default `7d`, S3's fixed limit).
    #[serde(default, deserialize_with = "durations::max_expires")]
    pub max_expires: Option<Duration>,
}

/// `backend = "memory"`: files in this process's memory, gone when it ends.
#[cfg(feature = "memory")]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemorySection {
    /// Where its URLs point (the `serve` address); [`crate::DEFAULT_BASE_URL`] unless set.
    pub base_url: Option<String>,
    /// The file holding the URL signing key (created, mode 0600, when missing); default a fresh key per process.
    pub signing_key_file: Option<PathBuf>,
    /// The longest expiry of its links and forms, `30d` (default `7d`).
    #[serde(default, deserialize_with = "durations::max_expires")]
    pub max_expires: Option<Duration>,
}

/// `backend = "gcs"` (`gs://bucket/prefix`): a Google Cloud Storage bucket. No secret is read from here: the key file
/// is named by `service_account` or by the `GOOGLE_*` environment (docs/gcs.md).
#[cfg(feature = "gcs")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GcsSection {
    /// The bucket (required).
    pub bucket: String,
    /// The name prefix every object is stored under.
    pub location: Option<String>,
    /// Where requests go and signed URLs point (default `https://storage.googleapis.com`).
    pub endpoint: Option<String>,
    /// The service account's JSON key file, relative to the configuration; else `GOOGLE_SERVICE_ACCOUNT_KEY`,
    /// `GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_SERVICE_ACCOUNT_PATH`, `GOOGLE_APPLICATION_CREDENTIALS`, the metadata server.
    pub service_account: Option<PathBuf>,
    /// Send no credentials (reads of a public bucket).
    #[serde(default)]
    pub anonymous: bool,
    /// How signed URLs and forms name the bucket: `path` (default, `storage.googleapis.com/bucket/object`) or
    /// `virtual-hosted` (`bucket.storage.googleapis.com/object`).
    #[serde(default, deserialize_with = "gcs_url_style")]
    pub url_style: Option<storage_gcs::UrlStyle>,
    /// A domain serving the bucket (`https://mydomain.tld`, a CNAME or load balancer): signed URLs and forms point
    /// there, `https://mydomain.tld/object`. A host and port alone; refused with `url_style`.
    pub bucket_bound_hostname: Option<String>,
}

/// `backend = "s3"`: a bucket on S3 or an S3-compatible server. Secrets are never read from here: credentials come
/// from `AWS_*` environment variables, as do the endpoint and region when they are left out.
#[cfg(feature = "s3")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct S3Section {
    /// The bucket (required).
    pub bucket: String,
    /// The key prefix every name is stored under.
    pub location: Option<String>,
    /// The region (`AWS_REGION`, else `AWS_DEFAULT_REGION`, otherwise).
    pub region: Option<String>,
    /// The endpoint URL, for S3-compatible servers (`AWS_ENDPOINT_URL`, else `AWS_ENDPOINT`, otherwise).
    pub endpoint: Option<String>,
    /// The host presigned URLs name, when clients reach S3 elsewhere than the app does.
    pub public_endpoint: Option<String>,
    /// `path` (default) or `virtual`.
    #[serde(default, deserialize_with = "addressing_style")]
    pub addressing_style: storage_s3::AddressingStyle,
    /// The host of public URLs, e.g. a CDN (django-storages' `custom_domain`).
    pub custom_domain: Option<String>,
    /// The scheme of `custom_domain` URLs, `https:` (default) or `http:`.
    pub url_protocol: Option<String>,
    /// Compress saves of text types (django-storages' `gzip`).
    #[serde(default)]
    pub gzip: bool,
    /// `false` for a bucket with ACLs disabled (Object Ownership "bucket owner enforced", the default of every AWS
    /// bucket made since April 2023): no request then carries an ACL, and a bucket policy decides what is public.
    #[serde(default = "yes")]
    pub acls: bool,
    /// How a create-only multipart save claims its name: `detect` (default, asks the server once), `conditional`
    /// (`If-None-Match: *` on completion, AWS) or `placeholder` (a hidden claim, Ceph 16).
    #[serde(default, deserialize_with = "create_only_multipart")]
    pub create_only_multipart: storage_s3::CreateOnlyMultipart,
    /// How long a save or copy may take over a placeholder claim, e.g. `"2h"` (default one hour); a claim a killed
    /// process left is taken over once this (plus the time of a last request) has passed.
    #[serde(default, deserialize_with = "durations::claim_lifetime")]
    pub claim_lifetime: Option<Duration>,
    /// An HTTP(S) proxy for every request, e.g. `http://proxy.internal:3128` (django-storages' `proxies`).
    pub proxy: Option<String>,
    /// A PEM file of extra trusted CA certificates (django-storages' `verify = "/path/ca.pem"`).
    pub ca_bundle: Option<PathBuf>,
    /// `false` accepts any TLS certificate, for a test server only (django-storages' `verify = False`).
    #[serde(default = "yes")]
    pub verify: bool,
    /// The longest wait for a connection: `5s`.
    #[serde(default, deserialize_with = "durations::connect_timeout")]
    pub connect_timeout: Option<Duration>,
    /// The longest wait for one whole request: `60s`.
    #[serde(default, deserialize_with = "durations::timeout")]
    pub timeout: Option<Duration>,
    /// The storage class of new objects, e.g. `STANDARD_IA`.
    pub storage_class: Option<String>,
}

/// `backend = "azure"`: a container on Azure Blob Storage or Azurite. Secrets are never read from here: the account
/// key comes from `AZURE_STORAGE_ACCOUNT_KEY`, as do the account and endpoint when they are left out
/// (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ENDPOINT`; `AZURE_STORAGE_USE_EMULATOR=true` for Azurite).
#[cfg(feature = "azure")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AzureSection {
    /// The container (required).
    pub container: String,
    /// The key prefix every name is stored under.
    pub location: Option<String>,
    /// The storage account (`AZURE_STORAGE_ACCOUNT_NAME` otherwise).
    pub account: Option<String>,
    /// The account's blob endpoint, e.g. `http://127.0.0.1:10000/devstoreaccount1` for Azurite
    /// (`https://ACCOUNT.blob.core.windows.net` otherwise).
    pub endpoint: Option<String>,
    /// Azurite at `AZURITE_BLOB_STORAGE_URL` with its well-known development account.
    #[serde(default)]
    pub use_emulator: bool,
    /// The container's public access level as its owner set it: `private` (default) or `blob` (anyone reads
    /// blobs, and the storage gives plain public URLs).
    #[serde(default, deserialize_with = "public_access")]
    pub public_access: storage_azure::ContainerAccess,
}

/// What a storage does whatever its backend: names, ACLs, privacy, expiry and layers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// `unique` (default), `overwrite` or `fail`.
    #[serde(default, deserialize_with = "overwrite")]
    pub overwrite: OverwritePolicy,
    /// The canned ACL of every save (`private`, `public-read`, ...).
    #[serde(default, deserialize_with = "acl")]
    pub acl: Option<Acl>,
    /// Every URL of this storage is signed and expires (and saves are `private` where the backend has ACLs).
    #[serde(default)]
    pub private: bool,
    /// A storage of public files on a backend that keeps no per-file ACLs (fs with `attributes = false`): anyone may
    /// read every file at its plain URL. Without it, such a storage serves nothing without a signature.
    #[serde(default)]
    pub public: bool,
    /// How long signed URLs live: `60s`, `10m`, `1h`, `7d` (default 1h).
    #[serde(default, deserialize_with = "durations::expires")]
    pub expires: Option<Duration>,
    /// Layers around the backend, innermost first: `retry`, `tracing`, `timeout:30s` (per operation and per stalled
    /// stream), `limit:16` (operations in flight).
    #[serde(default)]
    pub layers: Vec<LayerConfig>,
}

/// One layer of `layers`, as written: `retry`, `tracing`, `timeout:30s`, `limit:16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
#[non_exhaustive]
pub enum LayerConfig {
    /// `retry`: retryable errors are retried with backoff.
    Retry,
    /// `tracing`: one span per operation.
    Tracing,
    /// `timeout:30s`: the longest an operation, or a stalled stream, may take.
    Timeout(Duration),
    /// `limit:16`: operations in flight at once.
    Limit(NonZeroUsize),
}

impl TryFrom<String> for LayerConfig {
    type Error = String;

    fn try_from(layer: String) -> Result<Self, String> {
        match layer.split_once(':') {
            None if layer == "retry" => Ok(LayerConfig::Retry),
            None if layer == "tracing" => Ok(LayerConfig::Tracing),
            Some(("timeout", limit)) => duration("layers", limit).map(LayerConfig::Timeout),
            Some(("limit", count)) => count
                .parse()
                .map(LayerConfig::Limit)
                .map_err(|_| format!("layer `{layer}`: the limit is a number of operations, as `limit:16`")),
            _ => Err(format!("unknown layer `{layer}`; use `retry`, `tracing`, `timeout:30s` or `limit:16`")),
        }
    }
}

fn yes() -> bool {
    true
}

/// A setting written as text, read by `parse`, whose refusal is the message shown.
fn parsed<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// A duration setting named `field`, read by storage-core's one parser.
pub(crate) fn duration(field: &str, text: &str) -> Result<Duration, String> {
    storage_core::parse_duration(text).map_err(|err| format!("`{field}`: {}", setting_message(err)))
}

/// The duration settings, each a `deserialize_with` function that names its key in a refusal.
mod durations {
    use std::time::Duration;

    use serde::Deserializer;

    macro_rules! duration_settings {
        ($($field:ident),*) => {$(
            pub(super) fn $field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
                super::parsed(deserializer, |text| super::duration(stringify!($field), text)).map(Some)
            }
        )*};
    }

    duration_settings!(expires, max_expires, claim_lifetime, connect_timeout, timeout);
}

fn overwrite<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OverwritePolicy, D::Error> {
    parsed(deserializer, |text| match text {
        "unique" => Ok(OverwritePolicy::Unique),
        "overwrite" => Ok(OverwritePolicy::Overwrite),
        "fail" => Ok(OverwritePolicy::Fail),
        other => Err(format!("overwrite `{other}` is not unique, overwrite or fail")),
    })
}

fn acl<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Acl>, D::Error> {
    parsed(deserializer, |text| text.parse().map(Some).map_err(|err| format!("`acl`: {}", setting_message(err))))
}

#[cfg(feature = "s3")]
fn addressing_style<'de, D: Deserializer<'de>>(deserializer: D) -> Result<storage_s3::AddressingStyle, D::Error> {
    parsed(deserializer, |text| match text {
        "path" => Ok(storage_s3::AddressingStyle::Path),
        "virtual" => Ok(storage_s3::AddressingStyle::Virtual),
        other => Err(format!("addressing_style `{other}` is not `path` or `virtual`")),
    })
}

#[cfg(feature = "gcs")]
fn gcs_url_style<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<storage_gcs::UrlStyle>, D::Error> {
    parsed(deserializer, |text| match text {
        "path" => Ok(Some(storage_gcs::UrlStyle::Path)),
        "virtual-hosted" => Ok(Some(storage_gcs::UrlStyle::VirtualHosted)),
        other => Err(format!(
            "url_style `{other}` is not `path` or `virtual-hosted`; a domain of your own goes in `bucket_bound_hostname`"
        )),
    })
}

#[cfg(feature = "s3")]
fn create_only_multipart<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<storage_s3::CreateOnlyMultipart, D::Error> {
    parsed(deserializer, |text| text.parse().map_err(|err| format!("`create_only_multipart` is {err}")))
}

#[cfg(feature = "azure")]
fn public_access<'de, D: Deserializer<'de>>(deserializer: D) -> Result<storage_azure::ContainerAccess, D::Error> {
    let text = String::deserialize(deserializer)?;
    storage_azure::ContainerAccess::parse(&text)
        .map_err(|_| serde::de::Error::custom(format!("`public_access` is `{text}`; use \"private\" or \"blob\"")))
}

//! Named storages from `storage.toml` (Django's `STORAGES`, in TOML), storage URLs and the embedded default.
//!
//! A `Storage` by name: `config.storage("default")?` gives its settings, `.build("default", dir)?.storage` the handle.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
//!
//! This is the configuration the `storage` command reads, as a library an app builds its storages from; it needs no
//! command-line crate. Each storage is read into typed settings as the file is loaded: the section of its backend
//! ([`FsSection`], [`MemorySection`], [`S3Section`], with that backend's keys only) and its [`PolicyConfig`].
//!
//! ```
//! let config: storage_config::Config = toml::from_str(r#"
//!     [storages.default]
//!     backend = "fs"
//!     location = "./media"
//!
//!     [storages.private]
//!     url = "s3://my-bucket/private?region=eu-west-1"
//!     private = true
//!     expires = "60s"
//! "#).unwrap();
//! assert_eq!(config.storages.len(), 2);
//! ```
//!
//! # Feature flags
//!
//! | Feature  | Default | Backend                                                             |
//! |----------|---------|---------------------------------------------------------------------|
//! | `fs`     | on      | `backend = "fs"`, `file://` and plain-path URLs (storage-fs)        |
//! | `memory` | on      | `backend = "memory"`, `memory://` (storage-memory)                  |
//! | `s3`     | on      | `backend = "s3"`, `s3://` (storage-s3, and so object_store's client) |
//! | `gcs`    | on      | `backend = "gcs"`, `gs://` (storage-gcs: object_store's GCS client) |
//! | `azure`  | on      | `backend = "azure"`, `az://` (storage-azure, and so object_store's Azure client) |
//!
//! An app that keeps its files on disk depends on `storage-config` with `default-features = false, features =
//! ["fs"]` and builds no S3 client; a storage naming a backend left out is refused, naming the feature to enable.

#![warn(missing_docs)]
// With some backends left out, what only they use is unused: not worth a `cfg` on each helper.
#![cfg_attr(
    not(all(feature = "fs", feature = "memory", feature = "s3", feature = "gcs", feature = "azure")),
    allow(dead_code, unused_imports, unused_variables, unreachable_code)
)]

#[cfg(not(any(feature = "fs", feature = "memory", feature = "s3", feature = "gcs")))]
compile_error!(
    "storage-config builds storages of at least one backend: enable its `fs`, `memory`, `s3` or `gcs` feature"
);

mod resolve;
mod sections;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
pub use storage_core::parse_duration;
#[cfg(any(feature = "fs", feature = "memory"))]
use storage_core::signing::UrlSigner;
use storage_core::{Error, ErrorKind, PublicReads, Result, Storage, UrlPolicy};
#[cfg(any(feature = "fs", feature = "memory"))]
pub use storage_fs::load_or_create_key;
#[cfg(feature = "fs")]
use storage_fs::{FsBackend, MissingRoot};
#[cfg(feature = "s3")]
use storage_s3::S3Backend;

use crate::resolve::Overrides;
#[cfg(feature = "azure")]
pub use crate::sections::AzureSection;
#[cfg(feature = "fs")]
pub use crate::sections::FsSection;
#[cfg(feature = "gcs")]
pub use crate::sections::GcsSection;
#[cfg(feature = "memory")]
pub use crate::sections::MemorySection;
#[cfg(feature = "s3")]
pub use crate::sections::S3Section;
pub use crate::sections::{BackendConfig, LayerConfig, PolicyConfig};

/// Where the embedded default keeps its files, relative to the working directory.
pub const DEFAULT_LOCATION: &str = "storage-data";
/// Where `serve` and `share` listen, and so where fs and memory URLs point, unless configured.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8000/";

/// A whole `storage.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The storages by name; `default` is the one commands use unless told otherwise.
    #[serde(default, deserialize_with = "named_storages")]
    pub storages: BTreeMap<String, StorageConfig>,
}

/// One named storage, typed: its backend's section and its policy. Read from a `[storages.NAME]` table, or from a
/// storage URL (`url = "s3://bucket/prefix?region=..."`, whose settings the table's own keys replace).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StorageConfig {
    /// The storage URL its settings start from (`url = ...`, or a URL on the command line), if any.
    pub url: Option<String>,
    /// The backend and its own settings.
    pub backend: BackendConfig,
    /// What the storage does whatever its backend.
    pub policy: PolicyConfig,
    /// The table as written, so environment overrides are applied to it and read again whole.
    source: toml::Table,
}

impl<'de> Deserialize<'de> for StorageConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let source = toml::Table::deserialize(deserializer)?;
        resolve::typed(&source, Path::new(""), &Overrides::none()).map_err(serde::de::Error::custom)
    }
}

/// `[storages.NAME]` tables, each read into its typed settings with its name in any refusal.
fn named_storages<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<BTreeMap<String, StorageConfig>, D::Error> {
    struct Storages;
    /// One table, whose refusal names the storage (and, through the TOML reader, the table's line).
    struct Named<'a>(&'a str);

    impl<'de> serde::de::DeserializeSeed<'de> for Named<'_> {
        type Value = StorageConfig;
        fn deserialize<D: serde::Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> std::result::Result<Self::Value, D::Error> {
            let source = toml::Table::deserialize(deserializer)?;
            resolve::typed(&source, Path::new(""), &Overrides::none())
                .map_err(|err| serde::de::Error::custom(format!("storage `{}`: {err}", self.0)))
        }
    }

    impl<'de> serde::de::Visitor<'de> for Storages {
        type Value = BTreeMap<String, StorageConfig>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("tables of storages, as [storages.NAME]")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
            let mut storages = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                let storage = map.next_value_seed(Named(&name))?;
                storages.insert(name, storage);
            }
            Ok(storages)
        }
    }

    deserializer.deserialize_map(Storages)
}

/// A storage ready to use, and what serving its URLs needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Built {
    /// The storage, with its policy applied.
    pub storage: Storage,
    /// How the storage's own URLs are signed, if it signs them itself (fs and memory).
    signing: Option<Signing>,
    /// For S3 storages: the backend, for what only S3 has (removing placeholders, tags, bucket policies).
    #[cfg(feature = "s3")]
    pub s3: Option<S3Backend>,
}

/// The signer of an fs or memory storage: a disk storage reads (or creates) its key on the first signing only.
#[derive(Debug, Clone)]
enum Signing {
    #[cfg(feature = "fs")]
    Disk(FsBackend),
    #[cfg(feature = "memory")]
    Memory(Box<UrlSigner>),
}

impl Built {
    /// For fs and memory storages: the signer of their URLs, for `SignedUrlService`. A disk storage's key file is
    /// read, or created, now.
    #[cfg(any(feature = "fs", feature = "memory"))]
    pub fn signer(&self) -> Result<Option<UrlSigner>> {
        match &self.signing {
            None => Ok(None),
            #[cfg(feature = "fs")]
            Some(Signing::Disk(backend)) => Ok(backend.signer()?.cloned()),
            #[cfg(feature = "memory")]
            Some(Signing::Memory(signer)) => Ok(Some((**signer).clone())),
        }
    }

    /// Whether the storage signs its own URLs (fs and memory), so that `SignedUrlService` can serve them.
    pub fn signs_its_urls(&self) -> bool {
        self.signing.is_some()
    }
}

fn config_error(message: String) -> Error {
    Error::configuration("the storage settings", message)
}

/// What a parser of storage-core refused in a setting: its message alone, without the operation it names.
fn setting_message(err: Error) -> String {
    match (err.kind(), err.message()) {
        (ErrorKind::InvalidArgument, Some(message)) => message.to_owned(),
        _ => err.to_string(),
    }
}

/// The process environment, the one place `STORAGE_<NAME>_<FIELD>` variables are read.
fn environment(variable: &str) -> Option<String> {
    std::env::var(variable).ok()
}

impl Config {
    /// Read `path`; a missing file is an error that names it.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| config_error(format!("cannot read the config file {}: {err}", path.display())))?;
        let config: Config = toml::from_str(&text).map_err(|err| {
            // One line, as file:line:column, naming the key that is wrong.
            let at = err.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(":{line}:{column}")
            });
            config_error(format!("{}{}: {}", path.display(), at.unwrap_or_default(), err.message().trim()))
        })?;
        Ok(config)
    }

    /// The named storage, with `STORAGE_<NAME>_<FIELD>` environment overrides applied; `None` when none has the name.
    pub fn storage(&self, name: &str) -> Result<Option<StorageConfig>> {
        self.storages.get(name).map(|config| overridden(&config.source, name, &environment)).transpose()
    }
}

/// The storage `name` of the table `source`, with the `STORAGE_<NAME>_<FIELD>` variables `lookup` gives applied.
fn overridden(source: &toml::Table, name: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<StorageConfig> {
    resolve::typed(source, Path::new(""), &Overrides::of(name, lookup))
        .map_err(|err| config_error(format!("storage `{name}`: {err}")))
}

impl StorageConfig {
    /// The embedded default: files in `./storage-data`, URLs served on 127.0.0.1:8000, a key made on first use.
    /// `STORAGE_DEFAULT_*` environment overrides apply to it as to a configured `default`.
    pub fn embedded_default(base: &Path) -> Result<StorageConfig> {
        let mut source = toml::Table::new();
        source.insert("backend".into(), "fs".into());
        source.insert("location".into(), base.join(DEFAULT_LOCATION).display().to_string().into());
        source.insert("create".into(), true.into());
        overridden(&source, "default", &environment)
    }

    /// A storage named by URL on the command line; `base` resolves a plain path.
    pub fn from_url(text: &str, base: &Path) -> Result<StorageConfig> {
        let mut source = toml::Table::new();
        source.insert("url".into(), text.into());
        resolve::typed(&source, base, &Overrides::none()).map_err(|err| {
            // The URL's own faults name it already; a setting it carries is named with it.
            if err.starts_with("storage URL ") {
                config_error(err)
            } else {
                config_error(format!("storage URL {text:?}: {err}"))
            }
        })
    }

    /// Build the storage `name` describes. `base` resolves relative paths.
    pub fn build(&self, name: &str, base: &Path) -> Result<Built> {
        let at = |what: String| config_error(format!("storage `{name}`: {what}"));
        let max_expiry =
            |configured: Option<std::time::Duration>| configured.unwrap_or(storage_core::DEFAULT_MAX_EXPIRY);
        let (storage, signing) = match &self.backend {
            #[cfg(feature = "fs")]
            BackendConfig::Fs(fs) => {
                let location = base.join(&fs.location);
                let missing_root = if fs.create { MissingRoot::CreateOnFirstWrite } else { MissingRoot::Refuse };
                let backend = if fs.attributes {
                    FsBackend::opened(&location, missing_root)?
                } else {
                    FsBackend::without_attributes_opened(&location, missing_root)?
                };
                let key_file = match &fs.signing_key_file {
                    Some(file) => base.join(file),
                    None => backend.root().join(storage_fs::RESERVED_DIR).join("signing-key"),
                };
                let backend =
                    backend.with_signing_key_file(base_url(&fs.base_url), key_file, max_expiry(fs.max_expires));
                (backend.storage(), Some(Signing::Disk(backend)))
            }
            #[cfg(feature = "memory")]
            BackendConfig::Memory(memory) => {
                let key = match &memory.signing_key_file {
                    Some(file) => load_or_create_key(&base.join(file))?,
                    None => storage_core::signing::SigningKey::generate(),
                };
                let signer =
                    UrlSigner::new(base_url(&memory.base_url), key).with_max_expiry(max_expiry(memory.max_expires));
                let storage = storage_memory::MemoryBackend::with_signer(signer.clone()).storage();
                (storage, Some(Signing::Memory(Box::new(signer))))
            }
            #[cfg(feature = "s3")]
            BackendConfig::S3(s3) => {
                let backend = S3Backend::new(s3.s3_config().map_err(at)?)?;
                let storage = backend.storage();
                let storage = self.policy.applied(storage).map_err(at)?;
                return Ok(Built { storage, signing: None, s3: Some(backend) });
            }
            #[cfg(feature = "gcs")]
            BackendConfig::Gcs(gcs) => (storage_gcs::GcsBackend::new(gcs.gcs_config(base)?)?.storage(), None),
            #[cfg(feature = "azure")]
            BackendConfig::Azure(azure) => (storage_azure::AzureBackend::new(azure.azure_config())?.storage(), None),
        };
        let storage = self.policy.applied(storage).map_err(at)?;
        Ok(Built {
            storage,
            signing,
            #[cfg(feature = "s3")]
            s3: None,
        })
    }
}

/// The base URL of a disk or memory storage's links: the configured one, else where `serve` listens by default.
#[cfg(any(feature = "fs", feature = "memory"))]
fn base_url(configured: &Option<String>) -> String {
    configured.clone().unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
}

#[cfg(feature = "gcs")]
impl GcsSection {
    /// storage-gcs's settings for this section, the key file read (relative to `base`) or found in the environment.
    fn gcs_config(&self, base: &Path) -> Result<storage_gcs::GcsConfig> {
        let credentials = match (&self.service_account, self.anonymous) {
            (Some(_), true) => {
                return Err(Error::configuration(
                    "the GCS storage",
                    "`service_account` and `anonymous = true` contradict each other; keep one",
                ));
            }
            (None, true) => storage_gcs::GcsCredentials::Anonymous,
            (Some(file), false) => storage_gcs::GcsCredentials::from_key_file(&base.join(file))?,
            (None, false) => storage_gcs::GcsCredentials::from_env()?,
        };
        let mut config = storage_gcs::GcsConfig::new(&self.bucket).with_credentials(credentials);
        if let Some(location) = &self.location {
            config = config.with_prefix(location);
        }
        if let Some(endpoint) = &self.endpoint {
            config = config.with_endpoint(endpoint);
        }
        let style = match (&self.url_style, &self.bucket_bound_hostname) {
            (Some(_), Some(_)) => {
                return Err(Error::configuration(
                    "the GCS storage",
                    "`url_style` and `bucket_bound_hostname` contradict each other; keep one",
                ));
            }
            (Some(style), None) => style.clone(),
            (None, Some(hostname)) => storage_gcs::UrlStyle::bucket_bound_hostname(hostname)?,
            (None, None) => storage_gcs::UrlStyle::Path,
        };
        Ok(config.with_url_style(style))
    }
}

#[cfg(feature = "s3")]
impl S3Section {
    /// storage-s3's settings for this section. The endpoint and region left out here are read from the environment
    /// by storage-s3 alone ([`storage_s3::S3Config`]), one rule for every request it makes.
    fn s3_config(&self) -> std::result::Result<storage_s3::S3Config, String> {
        let mut config = storage_s3::S3Config::new(&self.bucket).with_addressing_style(self.addressing_style);
        if let Some(location) = &self.location {
            config = config.with_location(location);
        }
        if let Some(region) = &self.region {
            config = config.with_region(region);
        }
        if let Some(endpoint) = &self.endpoint {
            config = config.with_endpoint(endpoint);
        }
        if let Some(public) = &self.public_endpoint {
            config = config.with_public_endpoint(public);
        }
        if let Some(domain) = &self.custom_domain {
            config = config.with_custom_domain(domain);
        }
        if let Some(protocol) = &self.url_protocol {
            config = config.with_url_protocol(protocol);
        }
        if let Some(class) = &self.storage_class {
            config = config.with_storage_class(class);
        }
        let mut client = storage_s3::ClientSettings::default();
        client.proxy.clone_from(&self.proxy);
        if let Some(path) = &self.ca_bundle {
            let pem =
                std::fs::read(path).map_err(|err| format!("cannot read the CA bundle {}: {err}", path.display()))?;
            client.ca_certificates_pem = Some(pem);
        }
        client.accept_invalid_certificates = !self.verify;
        client.connect_timeout = self.connect_timeout;
        client.request_timeout = self.timeout;
        let mut config = config
            .with_client(client)
            .with_gzip(self.gzip)
            .with_acls(self.acls)
            .with_create_only_multipart(self.create_only_multipart);
        if let Some(lifetime) = self.claim_lifetime {
            config = config.with_claim_lifetime(lifetime);
        }
        Ok(config)
    }
}

impl PolicyConfig {
    /// `storage` with this policy: overwrites, privacy and expiry, the default ACL, public reads, then the layers.
    fn applied(&self, storage: Storage) -> std::result::Result<Storage, String> {
        let expires = self.expires.unwrap_or(storage_core::DEFAULT_EXPIRY);
        // Refused now rather than on every link the storage would hand out.
        let max = storage.capabilities().presign_max_expiry.unwrap_or(storage_core::DEFAULT_MAX_EXPIRY);
        if expires > max {
            return Err(format!(
                "`expires` is {} s, longer than its links may last ({} s); shorten it, or raise `max_expires` \
                 (fs and memory storages only)",
                expires.as_secs(),
                max.as_secs()
            ));
        }
        let mut storage = storage.with_overwrite(self.overwrite);
        storage = if self.private { storage.private(expires) } else { storage.with_url_policy(UrlPolicy::Public) };
        if let Some(acl) = self.acl {
            storage = storage.with_default_acl(Some(acl));
        }
        match (self.public, self.private) {
            (true, true) => return Err("`public = true` and `private = true` contradict; keep one".to_owned()),
            (true, false) => storage = storage.with_public_reads(PublicReads::Everything),
            (false, _) => {}
        }
        for layer in &self.layers {
            storage = match *layer {
                LayerConfig::Retry => storage.layer(storage_core::RetryLayer::default()),
                LayerConfig::Tracing => storage.layer(storage_core::TracingLayer),
                LayerConfig::Timeout(limit) => storage.layer(storage_core::TimeoutLayer::new(limit, limit)),
                LayerConfig::Limit(count) => storage.layer(storage_core::ConcurrencyLimitLayer::new(count.get())),
            };
        }
        Ok(storage)
    }
}

#[cfg(feature = "azure")]
impl AzureSection {
    /// storage-azure's settings for this section; what is left out is read from the environment by storage-azure.
    fn azure_config(&self) -> storage_azure::AzureConfig {
        let mut config = storage_azure::AzureConfig::new(
            self.account.clone().unwrap_or_default(),
            storage_azure::AccountKey::new(""),
            &self.container,
        )
        .with_location(self.location.clone().unwrap_or_default())
        .with_public_access(self.public_access);
        config.access_key = None;
        config.endpoint = self.endpoint.clone();
        if self.use_emulator {
            config = config.on_local_emulator();
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{Config, PublicReads, StorageConfig};

    /// The refusal of the storage `name` in `text`, as the whole file is read.
    fn refusal(text: &str) -> String {
        toml::from_str::<Config>(text).expect_err("a refused setting").message().to_owned()
    }

    #[test]
    fn create_only_multipart_from_the_table_or_the_url_reaches_the_backend() {
        let config: Config = toml::from_str(
            "[storages.aws]\nbackend = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\ncreate_only_multipart = \"conditional\"\n",
        )
        .unwrap();
        let mode = |config: StorageConfig| {
            config.build("t", Path::new("/")).unwrap().s3.expect("an s3 backend").config().create_only_multipart
        };
        assert_eq!(mode(config.storage("aws").unwrap().unwrap()), storage_s3::CreateOnlyMultipart::Conditional);
        let url = "s3://b/p?region=us-east-1&create_only_multipart=placeholder";
        assert_eq!(
            mode(StorageConfig::from_url(url, Path::new("/")).unwrap()),
            storage_s3::CreateOnlyMultipart::Placeholder
        );
        assert_eq!(
            mode(StorageConfig::from_url("s3://b/p?region=us-east-1", Path::new("/")).unwrap()),
            storage_s3::CreateOnlyMultipart::Detect
        );
        let bad = StorageConfig::from_url("s3://b/p?region=us-east-1&create_only_multipart=maybe", Path::new("/"))
            .unwrap_err();
        assert!(bad.to_string().contains("`create_only_multipart` is `maybe`; use `detect`"), "{bad}");
    }

    #[test]
    fn claim_lifetime_from_the_table_or_the_url_reaches_the_backend() {
        let lifetime = |config: StorageConfig| {
            config.build("t", Path::new("/")).unwrap().s3.expect("an s3 backend").config().claim_lifetime
        };
        let config: Config =
            toml::from_str("[storages.aws]\nbackend = \"s3\"\nbucket = \"b\"\nclaim_lifetime = \"2h\"\n").unwrap();
        assert_eq!(lifetime(config.storage("aws").unwrap().unwrap()), std::time::Duration::from_secs(7200));
        let url = "s3://b/p?region=us-east-1&claim_lifetime=90s";
        assert_eq!(lifetime(StorageConfig::from_url(url, Path::new("/")).unwrap()), std::time::Duration::from_secs(90));
        let default = StorageConfig::from_url("s3://b/p?region=us-east-1", Path::new("/")).unwrap();
        assert_eq!(lifetime(default), std::time::Duration::from_secs(3600));
        for (out_of_range, says) in [
            ("0s", "`claim_lifetime`: duration `0s`: a duration is at least one second"),
            ("8d", "`claim_lifetime` must be between 1s"),
        ] {
            let url = format!("s3://b/p?region=us-east-1&claim_lifetime={out_of_range}");
            let bad = StorageConfig::from_url(&url, Path::new("/"))
                .and_then(|config| config.build("t", Path::new("/")))
                .unwrap_err();
            assert!(bad.to_string().contains(says), "{out_of_range}: {bad}");
            assert!(!bad.to_string().contains("storage operation"), "the setting is named, not an operation: {bad}");
        }
    }

    #[test]
    fn acls_off_from_the_table_or_the_url_reaches_the_backend() {
        let config: Config = toml::from_str(
            "[storages.media]\nbackend = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\nacls = false\n\
             [storages.legacy]\nbackend = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\n",
        )
        .unwrap();
        let acl = |config: StorageConfig| config.build("t", Path::new("/")).unwrap().storage.capabilities().acl;
        assert!(!acl(config.storage("media").unwrap().unwrap()), "acls = false");
        assert!(acl(config.storage("legacy").unwrap().unwrap()), "ACLs stay on unless switched off");
        assert!(!acl(StorageConfig::from_url("s3://b/p?acls=false&region=us-east-1", Path::new("/")).unwrap()));
        let bad = StorageConfig::from_url("s3://b/p?acls=no", Path::new("/")).unwrap_err();
        assert!(bad.to_string().contains("`acls` is `no`; use `true` or `false`"), "{bad}");
    }

    #[test]
    fn public_declares_every_file_public_and_contradicts_private() {
        let config: Config = toml::from_str(
            "[storages.open]\nbackend = \"memory\"\npublic = true\n[storages.closed]\nbackend = \"memory\"\n\
             [storages.both]\nbackend = \"memory\"\npublic = true\nprivate = true\n",
        )
        .unwrap();
        let reads = |name: &str| {
            let storage = config.storage(name).unwrap().unwrap();
            storage.build(name, Path::new("/")).map(|built| built.storage.options().public_reads)
        };
        assert_eq!(reads("open").unwrap(), PublicReads::Everything);
        assert_eq!(reads("closed").unwrap(), PublicReads::PerFileAcl, "private unless declared public");
        let both = reads("both").unwrap_err().to_string();
        assert!(both.contains("`public = true` and `private = true` contradict"), "{both}");
    }

    #[test]
    fn layers_are_named_in_the_table_and_unknown_ones_refused() {
        let config: Config = toml::from_str(
            "[storages.m]\nbackend = \"memory\"\nlayers = [\"retry\", \"timeout:30s\", \"limit:8\", \"tracing\"]\n",
        )
        .unwrap();
        let built = config.storage("m").unwrap().unwrap().build("m", Path::new("/")).unwrap();
        assert_eq!(built.storage.backend().name(), "memory", "layers keep the backend's name");
        let bad = refusal("[storages.bad]\nbackend = \"memory\"\nlayers = [\"retyr\"]\n");
        assert!(bad.contains("storage `bad`: unknown layer `retyr`; use `retry`"), "{bad}");
        let bad = refusal("[storages.bad]\nbackend = \"memory\"\nlayers = [\"limit:0\"]\n");
        assert!(bad.contains("layer `limit:0`: the limit is a number of operations"), "{bad}");
    }

    #[test]
    fn durations_are_checked_as_the_file_is_read_naming_the_storage_and_key() {
        for (key, value, says) in [
            ("expires", "soon", "storage `s`: `expires`: duration `soon`"),
            ("max_expires", "213503982334602d", "storage `s`: `max_expires`: duration `213503982334602d`"),
            ("expires", "0s", "a duration is at least one second"),
        ] {
            let bad = refusal(&format!("[storages.s]\nbackend = \"memory\"\n{key} = \"{value}\"\n"));
            assert!(bad.contains(says), "{key} = {value}: {bad}");
        }
        let bad = refusal("[storages.s]\nbackend = \"s3\"\nbucket = \"b\"\ntimeout = \"1 minute\"\n");
        assert!(bad.contains("storage `s`: `timeout`: duration `1 minute`"), "{bad}");
        let config: Config =
            toml::from_str("[storages.s]\nbackend = \"s3\"\nbucket = \"b\"\nconnect_timeout = \"5s\"\n").unwrap();
        let Some(crate::BackendConfig::S3(s3)) = config.storage("s").unwrap().map(|s| s.backend) else {
            panic!("an s3 storage")
        };
        assert_eq!(s3.connect_timeout, Some(std::time::Duration::from_secs(5)));
    }

    #[test]
    fn a_url_and_its_table_read_as_one_typed_storage_the_table_winning() {
        let config: Config = toml::from_str(
            "[storages.p]\nurl = \"s3://bucket/private?region=eu-west-1&acls=false\"\nregion = \"us-east-1\"\n\
             private = true\nexpires = \"60s\"\n",
        )
        .unwrap();
        let storage = config.storage("p").unwrap().unwrap();
        assert_eq!(storage.url.as_deref(), Some("s3://bucket/private?region=eu-west-1&acls=false"));
        assert!(storage.policy.private);
        let crate::BackendConfig::S3(s3) = storage.backend else { panic!("the URL's scheme names the backend") };
        assert_eq!((s3.bucket.as_str(), s3.location.as_deref()), ("bucket", Some("private")));
        assert_eq!(s3.region.as_deref(), Some("us-east-1"), "the table's own key wins");
        assert!(!s3.acls, "the URL's setting stays where the table has none");
        let bad = refusal("[storages.m]\nurl = \"memory://\"\nlocation = \"x\"\n");
        assert!(
            bad.contains("storage `m`: unknown field `location`, expected one of `backend`, `url`, `base_url`"),
            "{bad}"
        );
    }

    /// A fresh directory of this process holding Google's dummy service account key as `key.json`.
    #[cfg(feature = "gcs")]
    fn dir_with_gcs_key(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("{name}-{:x}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = include_str!("../../storage-gcs/tests/data/test_service_account.not-a-test.json");
        std::fs::write(dir.join("key.json"), key).unwrap();
        dir
    }

    #[cfg(feature = "gcs")]
    #[test]
    fn a_gs_url_is_a_gcs_storage_signing_with_its_key_file() {
        let dir = dir_with_gcs_key("storage-config-gcs");
        let url = "gs://media/site/private?endpoint=http://127.0.0.1:4443&service_account=key.json";
        let storage = StorageConfig::from_url(url, &dir).unwrap();
        let crate::BackendConfig::Gcs(gcs) = &storage.backend else { panic!("gs:// names the gcs backend") };
        assert_eq!((gcs.bucket.as_str(), gcs.location.as_deref()), ("media", Some("site/private")));
        assert_eq!(gcs.endpoint.as_deref(), Some("http://127.0.0.1:4443"));
        let built = storage.build("media", &dir).unwrap().storage;
        let capabilities = built.capabilities();
        assert!(capabilities.presign_read && capabilities.upload_form, "the key file signs: {capabilities:?}");
        let shown = format!("{built:?}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        let toml = "[storages.g]\nbackend = \"gcs\"\nbucket = \"b\"\nanonymous = true\nservice_account = \"k.json\"\n";
        let config: Config = toml::from_str(toml).unwrap();
        let err = config.storage("g").unwrap().unwrap().build("g", &dir).unwrap_err();
        assert!(err.to_string().contains("contradict"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(feature = "gcs")]
    #[test]
    fn a_gcs_storage_signs_in_the_url_style_its_url_or_table_names() {
        use storage_gcs::UrlStyle;
        let dir = dir_with_gcs_key("storage-config-gcs-style");
        let style = |url: &str| {
            let storage = StorageConfig::from_url(url, &dir).unwrap();
            let crate::BackendConfig::Gcs(gcs) = &storage.backend else { panic!("gs:// names the gcs backend") };
            gcs.gcs_config(&dir).unwrap().url_style
        };
        assert_eq!(style("gs://media?url_style=virtual-hosted"), UrlStyle::VirtualHosted);
        let bound = UrlStyle::bucket_bound_hostname("http://cdn.example.com").unwrap();
        assert_eq!(style("gs://media?bucket_bound_hostname=http://cdn.example.com"), bound);
        assert_eq!(style("gs://media?url_style=path"), UrlStyle::Path);
        assert_eq!(style("gs://media"), UrlStyle::Path);
        let refusal = |toml: &str| {
            let config: Config = toml::from_str(toml).map_err(|err| err.to_string())?;
            let storage = config.storage("g").map_err(|err| err.to_string())?.expect("the storage g");
            storage.build("g", &dir).map(drop).map_err(|err| err.to_string())
        };
        let head = "[storages.g]\nbackend = \"gcs\"\nbucket = \"b\"\nservice_account = \"key.json\"\n";
        for (setting, why) in [
            ("url_style = \"virtual-hosted\"\nbucket_bound_hostname = \"cdn.example.com\"\n", "contradict"),
            ("url_style = \"virtual\"\n", "is not `path` or `virtual-hosted`"),
            ("bucket_bound_hostname = \"https://cdn.example.com/media\"\n", "bucket-bound hostname"),
            ("bucket_bound_hostname = \"https://user@cdn.example.com\"\n", "bucket-bound hostname"),
        ] {
            let err = refusal(&format!("{head}{setting}")).unwrap_err();
            assert!(err.contains(why), "{setting}: {err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

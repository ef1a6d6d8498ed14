//! Named storages from `storage.toml` (Django's `STORAGES`, in TOML), storage URLs and the embedded default.
//!
//! A `Storage` by name: `config.storage("default")` gives its settings, `.build("default", dir)?.storage` the handle.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
//!
//! This is the configuration the `storage` command reads, as a library an app builds its storages from; it needs no
//! command-line crate.
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

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
pub use storage_core::parse_duration;
use storage_core::signing::{SigningKey, UrlSigner};
use storage_core::{Acl, Error, ErrorKind, OverwritePolicy, PublicReads, Result, Storage, UrlPolicy};
pub use storage_fs::load_or_create_key;
use storage_fs::{FsBackend, MissingRoot};
use storage_memory::MemoryBackend;
use storage_s3::{AddressingStyle, ClientSettings, S3Backend, S3Config};

/// Where the embedded default keeps its files, relative to the working directory.
pub const DEFAULT_LOCATION: &str = "storage-data";
/// Where `serve` and `share` listen, and so where fs and memory URLs point, unless configured.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8000/";

/// A whole `storage.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The storages by name; `default` is the one commands use unless told otherwise.
    #[serde(default)]
    pub storages: BTreeMap<String, StorageConfig>,
}

/// One named storage: a backend and its options, or a storage URL, plus the storage's policy.
/// Secrets are never read from here: S3 credentials come from `AWS_*` environment variables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `fs`, `memory` or `s3`; may be left out when `url` is given.
    pub backend: Option<String>,
    /// A storage URL instead of the fields below: `file:///abs/path`, `memory://`, `s3://bucket/prefix?...`.
    pub url: Option<String>,
    /// fs: the root directory; s3: the key prefix.
    pub location: Option<String>,
    /// fs and memory: where their URLs point (the `serve` address).
    pub base_url: Option<String>,
    /// fs and memory: the file holding the URL signing key (created, mode 0600, when missing).
    pub signing_key_file: Option<PathBuf>,
    /// fs: create the root directory on the first write when it is missing (default: only for the embedded
    /// default); without it, a missing root is an error naming it, so a mistyped path never becomes a new, empty
    /// storage.
    pub create: Option<bool>,
    /// fs: `false` for a file system without user extended attributes; the storage then keeps no attributes and no
    /// ACLs (saves that ask for them are refused) instead of losing them.
    pub attributes: Option<bool>,
    /// s3: the bucket.
    pub bucket: Option<String>,
    /// s3: the region (`AWS_DEFAULT_REGION` otherwise).
    pub region: Option<String>,
    /// s3: the endpoint URL, for S3-compatible servers (`AWS_ENDPOINT_URL` otherwise).
    pub endpoint: Option<String>,
    /// s3: the host presigned URLs name, when clients reach S3 elsewhere than the app does.
    pub public_endpoint: Option<String>,
    /// `path` or `virtual`.
    pub addressing_style: Option<String>,
    /// s3: the host of public URLs, e.g. a CDN (django-storages' `custom_domain`).
    pub custom_domain: Option<String>,
    /// s3: the scheme of `custom_domain` URLs, `https:` (default) or `http:`.
    pub url_protocol: Option<String>,
    /// s3: compress saves of text types (django-storages' `gzip`).
    pub gzip: Option<bool>,
    /// s3: `false` for a bucket with ACLs disabled (Object Ownership "bucket owner enforced", the default of every
    /// AWS bucket made since April 2023): no request then carries an ACL, and a bucket policy decides what is public.
    pub acls: Option<bool>,
    /// s3: how a create-only multipart save claims its name: `detect` (default, asks the server once),
    /// `conditional` (`If-None-Match: *` on completion, AWS) or `placeholder` (a hidden claim, Ceph 16).
    pub create_only_multipart: Option<String>,
    /// s3: how long a save or copy may take over a placeholder claim, e.g. `"2h"` (default one hour); a claim a
    /// killed process left is taken over once this (plus the time of a last request) has passed.
    pub claim_lifetime: Option<String>,
    /// s3: an HTTP(S) proxy for every request, e.g. `http://proxy.internal:3128` (django-storages' `proxies`).
    pub proxy: Option<String>,
    /// s3: a PEM file of extra trusted CA certificates (django-storages' `verify = "/path/ca.pem"`).
    pub ca_bundle: Option<PathBuf>,
    /// s3: `false` accepts any TLS certificate, for a test server only (django-storages' `verify = False`).
    pub verify: Option<bool>,
    /// s3: the longest wait for a connection: `5s`.
    pub connect_timeout: Option<String>,
    /// s3: the longest wait for one whole request: `60s`.
    pub timeout: Option<String>,
    /// Layers around the backend, innermost first: `retry`, `tracing`, `timeout:30s` (per operation and per stalled
    /// stream), `limit:16` (operations in flight).
    pub layers: Option<Vec<String>>,
    /// `STORAGE_<NAME>_ACLS`, as the variable's name and its text.
    #[serde(skip)]
    env_acls: Option<(String, String)>,
    /// s3: the storage class of new objects, e.g. `STANDARD_IA`.
    pub storage_class: Option<String>,
    /// `unique` (default), `overwrite` or `fail`.
    pub overwrite: Option<String>,
    /// The canned ACL of every save (`private`, `public-read`, ...).
    pub acl: Option<String>,
    /// Every URL of this storage is signed and expires (and saves are `private` where the backend has ACLs).
    pub private: Option<bool>,
    /// A storage of public files on a backend that keeps no per-file ACLs (fs with `attributes = false`): anyone
    /// may read every file at its plain URL. Without it, such a storage serves nothing without a signature.
    pub public: Option<bool>,
    /// How long signed URLs live: `60s`, `10m`, `1h`, `7d` (default 1h).
    pub expires: Option<String>,
    /// fs and memory: the longest expiry of their links and forms, `30d` (default `7d`, S3's fixed limit; an S3
    /// storage refuses the setting).
    pub max_expires: Option<String>,
}

/// A storage ready to use, and what serving its URLs needs.
#[derive(Debug, Clone)]
pub struct Built {
    /// The storage, with its policy applied.
    pub storage: Storage,
    /// How the storage's own URLs are signed, if it signs them itself (fs and memory).
    signing: Option<Signing>,
    /// For S3 storages: the backend, for what only S3 has (removing placeholders, tags, bucket policies).
    pub s3: Option<S3Backend>,
}

/// The signer of an fs or memory storage: a disk storage reads (or creates) its key on the first signing only.
#[derive(Debug, Clone)]
enum Signing {
    Disk(FsBackend),
    Memory(Box<UrlSigner>),
}

impl Built {
    /// For fs and memory storages: the signer of their URLs, for `SignedUrlService`. A disk storage's key file is
    /// read, or created, now.
    pub fn signer(&self) -> Result<Option<UrlSigner>> {
        match &self.signing {
            None => Ok(None),
            Some(Signing::Disk(backend)) => Ok(backend.signer()?.cloned()),
            Some(Signing::Memory(signer)) => Ok(Some((**signer).clone())),
        }
    }

    /// Whether the storage signs its own URLs (fs and memory), so that `SignedUrlService` can serve them.
    pub fn signs_its_urls(&self) -> bool {
        self.signing.is_some()
    }
}

/// The fields a storage URL sets, so a URL and a table read the same way.
fn from_url(text: &str, base: &Path) -> Result<StorageConfig> {
    let bad = |what: &str| config_error(format!("storage URL {text:?}: {what}"));
    if !text.contains("://") {
        // A plain path, relative to the working directory.
        return Ok(StorageConfig {
            backend: Some("fs".into()),
            location: Some(base.join(text).display().to_string()),
            ..Default::default()
        });
    }
    let url = url::Url::parse(text).map_err(|err| bad(&format!("not a URL ({err})")))?;
    let mut config = StorageConfig::default();
    match url.scheme() {
        "file" => {
            let path =
                url.to_file_path().map_err(|()| bad("a file URL needs an absolute path, as file:///srv/media"))?;
            config.backend = Some("fs".into());
            config.location = Some(path.display().to_string());
        }
        "memory" => config.backend = Some("memory".into()),
        "s3" => {
            config.backend = Some("s3".into());
            let bucket = url
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| bad("name the bucket, as s3://bucket/prefix"))?;
            config.bucket = Some(bucket.to_owned());
            let prefix = url.path().trim_matches('/');
            config.location = (!prefix.is_empty()).then(|| prefix.to_owned());
        }
        other => return Err(bad(&format!("unknown scheme `{other}`; use file://, memory:// or s3://"))),
    }
    for (name, value) in url.query_pairs() {
        let value = Some(value.into_owned());
        match name.as_ref() {
            "endpoint" => config.endpoint = value,
            "public_endpoint" => config.public_endpoint = value,
            "region" => config.region = value,
            "acl" => config.acl = value,
            "addressing_style" => config.addressing_style = value,
            "base_url" => config.base_url = value,
            "overwrite" => config.overwrite = value,
            "expires" => config.expires = value,
            "max_expires" => config.max_expires = value,
            "create" => {
                config.create = Some(parse_bool(&name, value.as_deref().unwrap_or_default()).map_err(|e| bad(&e))?)
            }
            "custom_domain" => config.custom_domain = value,
            "acls" => config.acls = Some(parse_bool(&name, value.as_deref().unwrap_or_default()).map_err(|e| bad(&e))?),
            "create_only_multipart" => config.create_only_multipart = value,
            "claim_lifetime" => config.claim_lifetime = value,
            other => return Err(bad(&format!("unknown option `{other}`"))),
        }
    }
    Ok(config)
}

fn config_error(message: String) -> Error {
    Error::configuration("the storage settings", message)
}

/// `true` or `false`, for a setting named `name`.
fn parse_bool(name: &str, text: &str) -> std::result::Result<bool, String> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("`{name}` is `{other}`; use `true` or `false`")),
    }
}

/// A duration setting (`expires`, `max_expires`, a timeout) of storage `name`, read by storage-core's one parser.
fn duration_setting(name: &str, field: &str, text: &str) -> Result<Duration> {
    parse_duration(text).map_err(|err| config_error(format!("storage `{name}`: `{field}`: {}", setting_message(err))))
}

/// What a parser of storage-core refused in a setting: its message alone, without the operation it names.
fn setting_message(err: Error) -> String {
    match (err.kind(), err.message()) {
        (ErrorKind::InvalidArgument, Some(message)) => message.to_owned(),
        _ => err.to_string(),
    }
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

    /// The named storage, with `STORAGE_<NAME>_<FIELD>` environment overrides applied.
    pub fn storage(&self, name: &str) -> Option<StorageConfig> {
        let mut config = self.storages.get(name).cloned()?;
        config.apply_env(name);
        Some(config)
    }
}

impl StorageConfig {
    fn apply_env(&mut self, name: &str) {
        let prefix = format!("STORAGE_{}_", name.to_ascii_uppercase().replace('-', "_"));
        let var = |field: &str| std::env::var(format!("{prefix}{field}")).ok();
        let fields: [(&str, &mut Option<String>); 8] = [
            ("URL", &mut self.url),
            ("LOCATION", &mut self.location),
            ("BASE_URL", &mut self.base_url),
            ("BUCKET", &mut self.bucket),
            ("REGION", &mut self.region),
            ("ENDPOINT", &mut self.endpoint),
            ("ACL", &mut self.acl),
            ("EXPIRES", &mut self.expires),
        ];
        for (field, slot) in fields {
            if let Some(value) = var(field) {
                *slot = Some(value);
            }
        }
        // Read when the storage is built, so a value that is not a boolean is reported naming the variable.
        if let Some(value) = var("ACLS") {
            self.env_acls = Some((format!("{prefix}ACLS"), value));
        }
    }

    /// The embedded default: files in `./storage-data`, URLs served on 127.0.0.1:8000, a key made on first use.
    /// `STORAGE_DEFAULT_*` environment overrides apply to it as to a configured `default`.
    pub fn embedded_default(base: &Path) -> StorageConfig {
        let mut config = StorageConfig {
            backend: Some("fs".into()),
            location: Some(base.join(DEFAULT_LOCATION).display().to_string()),
            create: Some(true),
            ..Default::default()
        };
        config.apply_env("default");
        config
    }

    /// A storage named by URL on the command line.
    pub fn from_url(text: &str, base: &Path) -> Result<StorageConfig> {
        from_url(text, base)
    }

    /// These settings with those of `url` filled in (the table's own fields win). `base` resolves relative paths.
    pub fn resolved(&self, base: &Path) -> Result<StorageConfig> {
        Ok(match &self.url {
            Some(url) => from_url(url, base)?.overlaid_by(self),
            None => self.clone(),
        })
    }

    /// Build the storage `name` describes. `base` resolves relative paths.
    pub fn build(&self, name: &str, base: &Path) -> Result<Built> {
        let config = self.resolved(base)?;
        let at = |field: &str| format!("storage `{name}`: {field}");
        let backend =
            config.backend.clone().ok_or_else(|| config_error(at("set `backend` (fs, memory or s3) or `url`")))?;
        let base_url = config.base_url.clone().unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let max_expiry = match &config.max_expires {
            Some(text) => duration_setting(name, "max_expires", text)?,
            None => storage_core::DEFAULT_MAX_EXPIRY,
        };
        let (storage, signer, s3) = match backend.as_str() {
            "fs" => {
                let location = base.join(
                    config.location.as_deref().ok_or_else(|| config_error(at("an fs storage needs `location`")))?,
                );
                let missing_root =
                    if config.create.unwrap_or(false) { MissingRoot::CreateOnFirstWrite } else { MissingRoot::Refuse };
                let backend = match config.attributes {
                    Some(false) => FsBackend::without_attributes_opened(&location, missing_root)?,
                    _ => FsBackend::opened(&location, missing_root)?,
                };
                let key_file = match &config.signing_key_file {
                    Some(file) => base.join(file),
                    None => backend.root().join(storage_fs::RESERVED_DIR).join("signing-key"),
                };
                let backend = backend.with_signing_key_file(base_url, key_file, max_expiry);
                (backend.storage(), Some(Signing::Disk(backend)), None)
            }
            "memory" => {
                let key = match &config.signing_key_file {
                    Some(file) => load_or_create_key(&base.join(file))?,
                    None => SigningKey::generate(),
                };
                let signer = UrlSigner::new(base_url, key).with_max_expiry(max_expiry);
                (MemoryBackend::with_signer(signer.clone()).storage(), Some(Signing::Memory(Box::new(signer))), None)
            }
            "s3" => {
                if config.max_expires.is_some() {
                    return Err(config_error(at(&format!(
                        "`max_expires` is for fs and memory storages; S3 presigned URLs last at most {} s \
                         (SigV4), so remove it",
                        storage_s3::MAX_PRESIGN_EXPIRY.as_secs()
                    ))));
                }
                let backend = S3Backend::new(config.s3_config(name)?)?;
                (backend.storage(), None, Some(backend))
            }
            other => return Err(config_error(at(&format!("unknown backend `{other}`; use fs, memory or s3")))),
        };
        Ok(Built { storage: config.apply_policy(name, storage)?, signing: signer, s3 })
    }

    /// `self` with every field `over` sets replaced.
    fn overlaid_by(mut self, over: &StorageConfig) -> StorageConfig {
        macro_rules! take {
            ($($field:ident),*) => { $( if over.$field.is_some() { self.$field = over.$field.clone(); } )* };
        }
        take!(
            backend,
            location,
            base_url,
            signing_key_file,
            create,
            attributes,
            bucket,
            region,
            endpoint,
            public_endpoint,
            addressing_style,
            custom_domain,
            url_protocol,
            gzip,
            acls,
            create_only_multipart,
            claim_lifetime,
            env_acls,
            layers,
            proxy,
            ca_bundle,
            verify,
            connect_timeout,
            timeout,
            storage_class,
            overwrite,
            acl,
            private,
            public,
            expires,
            max_expires
        );
        self
    }

    fn s3_config(&self, name: &str) -> Result<S3Config> {
        let bucket = self
            .bucket
            .clone()
            .ok_or_else(|| config_error(format!("storage `{name}`: an s3 storage needs `bucket`")))?;
        let mut config = S3Config::new(bucket);
        if let Some(location) = &self.location {
            config = config.with_location(location);
        }
        if let Some(region) = &self.region {
            config = config.with_region(region);
        }
        let endpoint = self.endpoint.clone().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        if let Some(endpoint) = endpoint {
            config = config.with_endpoint(endpoint);
        }
        if let Some(public) = &self.public_endpoint {
            config = config.with_public_endpoint(public);
        }
        match self.addressing_style.as_deref() {
            None | Some("path") => {}
            Some("virtual") => config = config.with_addressing_style(AddressingStyle::Virtual),
            Some(other) => {
                return Err(config_error(format!(
                    "storage `{name}`: addressing_style `{other}` is not `path` or `virtual`"
                )));
            }
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
        let mut client = ClientSettings::default();
        client.proxy.clone_from(&self.proxy);
        if let Some(path) = &self.ca_bundle {
            let pem = std::fs::read(path).map_err(|err| {
                config_error(format!("storage `{name}`: cannot read the CA bundle {}: {err}", path.display()))
            })?;
            client.ca_certificates_pem = Some(pem);
        }
        client.accept_invalid_certificates = self.verify == Some(false);
        let timeout = |field: &str, text: &Option<String>| {
            text.as_deref().map(|text| duration_setting(name, field, text)).transpose()
        };
        client.connect_timeout = timeout("connect_timeout", &self.connect_timeout)?;
        client.request_timeout = timeout("timeout", &self.timeout)?;
        let config = config.with_client(client);
        let acls = match &self.env_acls {
            Some((variable, text)) => parse_bool(variable, text).map_err(config_error)?,
            None => self.acls.unwrap_or(true),
        };
        let mut config = config.with_gzip(self.gzip.unwrap_or(false)).with_acls(acls);
        if let Some(mode) = &self.create_only_multipart {
            let mode = mode
                .parse()
                .map_err(|err| config_error(format!("storage `{name}`: `create_only_multipart` is {err}")))?;
            config = config.with_create_only_multipart(mode);
        }
        if let Some(lifetime) = &self.claim_lifetime {
            config = config.with_claim_lifetime(duration_setting(name, "claim_lifetime", lifetime)?);
        }
        Ok(config)
    }

    fn apply_policy(&self, name: &str, storage: Storage) -> Result<Storage> {
        let at = |what: String| config_error(format!("storage `{name}`: {what}"));
        let overwrite = match self.overwrite.as_deref() {
            None | Some("unique") => OverwritePolicy::Unique,
            Some("overwrite") => OverwritePolicy::Overwrite,
            Some("fail") => OverwritePolicy::Fail,
            Some(other) => return Err(at(format!("overwrite `{other}` is not unique, overwrite or fail"))),
        };
        let expires = match &self.expires {
            Some(text) => duration_setting(name, "expires", text)?,
            None => storage_core::DEFAULT_EXPIRY,
        };
        // Refused now rather than on every link the storage would hand out.
        let max = storage.capabilities().presign_max_expiry.unwrap_or(storage_core::DEFAULT_MAX_EXPIRY);
        if expires > max {
            return Err(at(format!(
                "`expires` is {} s, longer than its links may last ({} s); shorten it, or raise `max_expires` \
                 (fs and memory storages only)",
                expires.as_secs(),
                max.as_secs()
            )));
        }
        let mut storage = storage.with_overwrite(overwrite);
        if self.private.unwrap_or(false) {
            storage = storage.private(expires);
        } else {
            storage = storage.with_url_policy(UrlPolicy::Public);
        }
        if let Some(acl) = &self.acl {
            let acl: Acl = acl.parse().map_err(|err: Error| at(format!("`acl`: {}", setting_message(err))))?;
            storage = storage.with_default_acl(Some(acl));
        }
        match (self.public.unwrap_or(false), self.private.unwrap_or(false)) {
            (true, true) => return Err(at("`public = true` and `private = true` contradict; keep one".to_owned())),
            (true, false) => storage = storage.with_public_reads(PublicReads::Everything),
            (false, _) => {}
        }
        for layer in self.layers.iter().flatten() {
            storage = match layer.split_once(':') {
                None if layer == "retry" => storage.layer(storage_core::RetryLayer::default()),
                None if layer == "tracing" => storage.layer(storage_core::TracingLayer),
                Some(("timeout", limit)) => {
                    let limit = duration_setting(name, "layers", limit)?;
                    storage.layer(storage_core::TimeoutLayer::new(limit, limit))
                }
                Some(("limit", count)) => match count.parse::<usize>() {
                    Ok(count) if count > 0 => storage.layer(storage_core::ConcurrencyLimitLayer::new(count)),
                    _ => {
                        return Err(at(format!("layer `{layer}`: the limit is a number of operations, as `limit:16`")));
                    }
                },
                _ => {
                    return Err(at(format!(
                        "unknown layer `{layer}`; use `retry`, `tracing`, `timeout:30s` or `limit:16`"
                    )));
                }
            };
        }
        Ok(storage)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{Config, PublicReads, StorageConfig};

    #[test]
    fn create_only_multipart_from_the_table_or_the_url_reaches_the_backend() {
        let config: Config = toml::from_str(
            "[storages.aws]\nbackend = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\ncreate_only_multipart = \"conditional\"\n",
        )
        .unwrap();
        let mode = |config: StorageConfig| {
            config.build("t", Path::new("/")).unwrap().s3.expect("an s3 backend").config().create_only_multipart
        };
        assert_eq!(mode(config.storage("aws").unwrap()), storage_s3::CreateOnlyMultipart::Conditional);
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
            .unwrap()
            .build("t", Path::new("/"))
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
        assert_eq!(lifetime(config.storage("aws").unwrap()), std::time::Duration::from_secs(7200));
        let url = "s3://b/p?region=us-east-1&claim_lifetime=90s";
        assert_eq!(lifetime(StorageConfig::from_url(url, Path::new("/")).unwrap()), std::time::Duration::from_secs(90));
        let default = StorageConfig::from_url("s3://b/p?region=us-east-1", Path::new("/")).unwrap();
        assert_eq!(lifetime(default), std::time::Duration::from_secs(3600));
        for (out_of_range, says) in [
            ("0s", "`claim_lifetime`: duration `0s`: a duration is at least one second"),
            ("8d", "`claim_lifetime` must be between 1s"),
        ] {
            let url = format!("s3://b/p?region=us-east-1&claim_lifetime={out_of_range}");
            let bad = StorageConfig::from_url(&url, Path::new("/")).unwrap().build("t", Path::new("/")).unwrap_err();
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
        assert!(!acl(config.storage("media").unwrap()), "acls = false");
        assert!(acl(config.storage("legacy").unwrap()), "ACLs stay on unless switched off");
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
            config.storage(name).unwrap().build(name, Path::new("/")).map(|built| built.storage.options().public_reads)
        };
        assert_eq!(reads("open").unwrap(), PublicReads::Everything);
        assert_eq!(reads("closed").unwrap(), PublicReads::PerFileAcl, "private unless declared public");
        let both = reads("both").unwrap_err().to_string();
        assert!(both.contains("`public = true` and `private = true` contradict"), "{both}");
    }

    #[test]
    fn layers_are_named_in_the_table_and_unknown_ones_refused() {
        let config: Config = toml::from_str(
            "[storages.m]\nbackend = \"memory\"\nlayers = [\"retry\", \"timeout:30s\", \"limit:8\", \"tracing\"]\n\
             [storages.bad]\nbackend = \"memory\"\nlayers = [\"retyr\"]\n",
        )
        .unwrap();
        let built = config.storage("m").unwrap().build("m", Path::new("/")).unwrap();
        assert_eq!(built.storage.backend().name(), "memory", "layers keep the backend's name");
        let bad = config.storage("bad").unwrap().build("bad", Path::new("/")).unwrap_err();
        assert!(bad.to_string().contains("unknown layer `retyr`; use `retry`"), "{bad}");
    }
}

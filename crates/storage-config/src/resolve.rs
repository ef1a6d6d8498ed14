//! From a storage's TOML table to its typed settings: the settings of its `url` filled in under the table's own,
//! the `STORAGE_<NAME>_<FIELD>` environment overrides, then each key checked against the one backend it names.

use std::path::Path;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

#[cfg(feature = "fs")]
use crate::FsSection;
#[cfg(feature = "gcs")]
use crate::GcsSection;
#[cfg(feature = "memory")]
use crate::MemorySection;
#[cfg(feature = "s3")]
use crate::S3Section;
#[cfg(feature = "azure")]
use crate::sections::AzureSection;
use crate::{BackendConfig, PolicyConfig, StorageConfig};

/// Every backend a storage may name, built in or not.
const BACKENDS: [&str; 5] = ["fs", "memory", "s3", "gcs", "azure"];

/// The `STORAGE_<NAME>_<FIELD>` variables besides `_URL`, by field, and the keys they set.
const OVERRIDDEN_KEYS: [(&str, &str); 8] = [
    ("LOCATION", "location"),
    ("BASE_URL", "base_url"),
    ("BUCKET", "bucket"),
    ("REGION", "region"),
    ("ENDPOINT", "endpoint"),
    ("ACL", "acl"),
    ("EXPIRES", "expires"),
    ("ACLS", "acls"),
];

/// The environment overrides of one storage: `STORAGE_<NAME>_<FIELD>`, read through `lookup`.
pub(crate) struct Overrides<'a> {
    prefix: String,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Overrides<'a> {
    /// The overrides of the storage `name`, each variable read by `lookup` (the process environment in use).
    pub(crate) fn of(name: &str, lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Overrides { prefix: format!("STORAGE_{}_", name.to_ascii_uppercase().replace('-', "_")), lookup }
    }

    /// No overrides: the table as written.
    pub(crate) fn none() -> Self {
        Overrides { prefix: String::new(), lookup: &|_| None }
    }

    /// The variable for `field` and its value, when set.
    fn get(&self, field: &str) -> Option<(String, String)> {
        let variable = format!("{}{field}", self.prefix);
        (self.lookup)(&variable).map(|value| (variable, value))
    }
}

/// The typed settings of the table `source`. `base` resolves a plain-path `url`; `overrides` are applied first.
pub(crate) fn typed(source: &Table, base: &Path, overrides: &Overrides<'_>) -> Result<StorageConfig, String> {
    let mut table = source.clone();
    if let Some((_, url)) = overrides.get("URL") {
        table.insert("url".into(), Value::String(url));
    }
    let url = match table.remove("url") {
        None => None,
        Some(Value::String(url)) => Some(url),
        Some(_) => return Err("`url` is a storage URL in quotes, as \"s3://bucket/prefix\"".into()),
    };
    let mut merged = match &url {
        Some(url) => url_table(url, base)?,
        None => Table::new(),
    };
    merged.extend(table);
    let kind = match merged.remove("backend") {
        Some(Value::String(kind)) => kind,
        Some(other) => {
            return Err(format!("`backend` is {other}; use \"fs\", \"memory\", \"s3\", \"gcs\" or \"azure\""));
        }
        None => return Err("set `backend` (fs, memory, s3, gcs or azure) or `url`".into()),
    };
    let (backend_keys, policy_keys) = (keys_of_backend(&kind)?, fields_of::<PolicyConfig>());
    for (field, key) in OVERRIDDEN_KEYS {
        let Some((variable, value)) = overrides.get(field) else { continue };
        // A variable for a key this backend has not (`STORAGE_DEFAULT_BUCKET` on a disk storage) changes nothing.
        if backend_keys.contains(&key) || policy_keys.contains(&key) {
            let value = match key {
                "acls" => Value::Boolean(parse_bool(&variable, &value)?),
                _ => Value::String(value),
            };
            merged.insert(key.into(), value);
        }
    }
    let (mut section, mut policy) = (Table::new(), Table::new());
    for (key, value) in merged {
        if policy_keys.contains(&key.as_str()) {
            policy.insert(key, value);
        } else if backend_keys.contains(&key.as_str()) {
            section.insert(key, value);
        } else {
            return Err(misplaced(&kind, &key, backend_keys, policy_keys));
        }
    }
    let backend = typed_backend(&kind, section)?;
    Ok(StorageConfig { url, backend, policy: typed_table(policy)?, source: source.clone() })
}

/// The settings of a storage URL as the keys of a table: `file:///abs/path`, `memory://`, `s3://bucket/prefix?...`,
/// or a plain path relative to `base`.
pub(crate) fn url_table(text: &str, base: &Path) -> Result<Table, String> {
    let bad = |what: &str| format!("storage URL {text:?}: {what}");
    let mut table = Table::new();
    if !text.contains("://") {
        table.insert("backend".into(), "fs".into());
        table.insert("location".into(), base.join(text).display().to_string().into());
        return Ok(table);
    }
    let url = url::Url::parse(text).map_err(|err| bad(&format!("not a URL ({err})")))?;
    match url.scheme() {
        "file" => {
            let path =
                url.to_file_path().map_err(|()| bad("a file URL needs an absolute path, as file:///srv/media"))?;
            table.insert("backend".into(), "fs".into());
            table.insert("location".into(), path.display().to_string().into());
        }
        "memory" => {
            table.insert("backend".into(), "memory".into());
        }
        // A bucket and a prefix: `s3://bucket/prefix` on S3, `gs://bucket/prefix` on GCS.
        scheme @ ("s3" | "gs") => {
            let backend = if scheme == "s3" { "s3" } else { "gcs" };
            let bucket = url
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| bad(&format!("name the bucket, as {scheme}://bucket/prefix")))?;
            table.insert("backend".into(), backend.into());
            table.insert("bucket".into(), bucket.into());
            let prefix = url.path().trim_matches('/');
            if !prefix.is_empty() {
                table.insert("location".into(), prefix.into());
            }
        }
        "az" => {
            let container = url
                .host_str()
                .filter(|container| !container.is_empty())
                .ok_or_else(|| bad("name the container, as az://container/prefix"))?;
            table.insert("backend".into(), "azure".into());
            table.insert("container".into(), container.into());
            let prefix = url.path().trim_matches('/');
            if !prefix.is_empty() {
                table.insert("location".into(), prefix.into());
            }
        }
        other => return Err(bad(&format!("unknown scheme `{other}`; use file://, memory://, s3://, gs:// or az://"))),
    }
    for (name, value) in url.query_pairs() {
        let value = match name.as_ref() {
            "create" | "acls" | "anonymous" | "use_emulator" => {
                Value::Boolean(parse_bool(&name, &value).map_err(|e| bad(&e))?)
            }
            "endpoint"
            | "public_endpoint"
            | "region"
            | "acl"
            | "addressing_style"
            | "base_url"
            | "overwrite"
            | "expires"
            | "max_expires"
            | "custom_domain"
            | "create_only_multipart"
            | "claim_lifetime"
            | "service_account"
            | "url_style"
            | "bucket_bound_hostname"
            | "account"
            | "public_access" => Value::String(value.into_owned()),
            other => return Err(bad(&format!("unknown option `{other}`"))),
        };
        table.insert(name.into_owned(), value);
    }
    Ok(table)
}

/// `true` or `false`, for a setting named `name`.
fn parse_bool(name: &str, text: &str) -> Result<bool, String> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("`{name}` is `{other}`; use `true` or `false`")),
    }
}

/// The keys of the backend `kind`'s section, or why a storage cannot name it in this build.
fn keys_of_backend(kind: &str) -> Result<&'static [&'static str], String> {
    match kind {
        #[cfg(feature = "fs")]
        "fs" => Ok(fields_of::<FsSection>()),
        #[cfg(feature = "memory")]
        "memory" => Ok(fields_of::<MemorySection>()),
        #[cfg(feature = "s3")]
        "s3" => Ok(fields_of::<S3Section>()),
        #[cfg(feature = "gcs")]
        "gcs" => Ok(fields_of::<GcsSection>()),
        #[cfg(feature = "azure")]
        "azure" => Ok(fields_of::<AzureSection>()),
        _ => Err(unavailable(kind)),
    }
}

/// Why no storage can use the backend `kind` here: no such backend, or one this build of storage-config leaves out.
pub(crate) fn unavailable(kind: &str) -> String {
    if BACKENDS.contains(&kind) {
        format!(
            "the `{kind}` backend is not built into this program; enable the `{kind}` feature of storage-config \
             (features = [\"{kind}\"])"
        )
    } else {
        format!("unknown backend `{kind}`; use fs, memory, s3, gcs or azure")
    }
}

/// The section of the backend `kind` (a name [`keys_of_backend`] accepted), typed.
fn typed_backend(kind: &str, section: Table) -> Result<BackendConfig, String> {
    let required =
        |key: &str| if section.contains_key(key) { Ok(()) } else { Err(format!("an {kind} storage needs `{key}`")) };
    match kind {
        #[cfg(feature = "fs")]
        "fs" => {
            required("location")?;
            typed_table(section).map(BackendConfig::Fs)
        }
        #[cfg(feature = "memory")]
        "memory" => typed_table(section).map(BackendConfig::Memory),
        #[cfg(feature = "s3")]
        "s3" => {
            required("bucket")?;
            typed_table(section).map(BackendConfig::S3)
        }
        #[cfg(feature = "gcs")]
        "gcs" => {
            required("bucket")?;
            typed_table(section).map(BackendConfig::Gcs)
        }
        #[cfg(feature = "azure")]
        "azure" => {
            required("container")?;
            typed_table(section).map(BackendConfig::Azure)
        }
        _ => Err(unavailable(kind)),
    }
}

fn typed_table<T: DeserializeOwned>(table: Table) -> Result<T, String> {
    Value::Table(table).try_into().map_err(|err: toml::de::Error| err.message().to_owned())
}

/// A key the backend `kind` does not take: the keys it does, or what to do instead.
fn misplaced(kind: &str, key: &str, backend_keys: &[&str], policy_keys: &[&str]) -> String {
    #[cfg(feature = "s3")]
    if kind == "s3" && key == "max_expires" {
        return format!(
            "`max_expires` is for fs and memory storages; S3 presigned URLs last at most {} s (SigV4), so remove it",
            storage_s3::MAX_PRESIGN_EXPIRY.as_secs()
        );
    }
    let expected: Vec<String> =
        ["backend", "url"].iter().chain(backend_keys).chain(policy_keys).map(|key| format!("`{key}`")).collect();
    // serde's own words, as for any other unknown key; the keys listed are this backend's.
    format!("unknown field `{key}`, expected one of {}", expected.join(", "))
}

/// The field names of a `#[derive(Deserialize)]` struct, as serde lists them to its deserializer.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{Error as _, Visitor};

    /// A deserializer that only records the field names a struct asks for.
    struct FieldNames<'a>(&'a mut &'static [&'static str]);

    impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("only a struct's field names are read"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(Self::Error::custom("only a struct's field names are read"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    // The error is the point: the names were recorded on the way.
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{Overrides, typed, unavailable};

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_backend_left_out_of_the_build_names_the_feature_to_enable() {
        let message = unavailable("s3");
        assert!(message.contains("enable the `s3` feature of storage-config"), "{message}");
        assert_eq!(unavailable("ftp"), "unknown backend `ftp`; use fs, memory, s3, gcs or azure");
    }

    #[test]
    fn each_backend_takes_only_its_own_keys() {
        let err = typed(&table("backend = 'fs'\nlocation = 'x'\nbucket = 'b'"), Path::new(""), &Overrides::none())
            .unwrap_err();
        assert!(err.starts_with("unknown field `bucket`, expected one of `backend`, `url`, `location`"), "{err}");
        let err = typed(&table("backend = 'memory'\nlocaton = 'x'"), Path::new(""), &Overrides::none()).unwrap_err();
        assert!(err.contains("unknown field `locaton`"), "{err}");
        let err = typed(&table("backend = 'fs'"), Path::new(""), &Overrides::none()).unwrap_err();
        assert_eq!(err, "an fs storage needs `location`");
    }

    #[test]
    fn environment_overrides_reach_only_the_keys_their_backend_has() {
        let env = |variable: &str| match variable {
            "STORAGE_MEDIA_LOCATION" => Some("elsewhere".to_owned()),
            "STORAGE_MEDIA_BUCKET" => Some("ignored".to_owned()),
            "STORAGE_MEDIA_EXPIRES" => Some("5m".to_owned()),
            _ => None,
        };
        let config =
            typed(&table("backend = 'fs'\nlocation = 'media'"), Path::new(""), &Overrides::of("media", &env)).unwrap();
        let crate::BackendConfig::Fs(fs) = &config.backend else { panic!("an fs storage: {config:?}") };
        assert_eq!(fs.location, Path::new("elsewhere"));
        assert_eq!(config.policy.expires, Some(std::time::Duration::from_secs(300)));
        let acls = |variable: &str| (variable == "STORAGE_B_ACLS").then(|| "maybe".to_owned());
        let err = typed(&table("backend = 's3'\nbucket = 'b'"), Path::new(""), &Overrides::of("b", &acls)).unwrap_err();
        assert_eq!(err, "`STORAGE_B_ACLS` is `maybe`; use `true` or `false`");
    }
}

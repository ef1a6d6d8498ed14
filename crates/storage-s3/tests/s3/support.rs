//! The RGW the tests run against: the one `STORAGE_S3_*` names, or one started through `xtask/scripts/rgw.sh`.

use std::collections::BTreeMap;

use storage_conformance::{Fixture, ReqwestClient};
use storage_s3::{S3Backend, S3Config};

/// Connection settings, read from the environment or from the start script's `export` lines.
pub fn server() -> &'static BTreeMap<String, String> {
    storage_conformance::local_rgw()
}

fn setting(name: &str) -> String {
    server().get(name).cloned().unwrap_or_else(|| panic!("{name} is not set"))
}

/// The configuration for a fresh, isolated location in the test bucket.
pub fn config() -> S3Config {
    let location = format!("tests/{:016x}", rand_u64());
    S3Config::new(setting("STORAGE_S3_BUCKET"))
        .with_endpoint(setting("STORAGE_S3_ENDPOINT"))
        .with_region(setting("STORAGE_S3_REGION"))
        .with_credentials(setting("STORAGE_S3_ACCESS_KEY_ID"), setting("STORAGE_S3_SECRET_ACCESS_KEY"))
        .with_location(location)
}

/// [`config`] for a bucket without ACLs (`acls = false`).
pub fn config_without_acls() -> S3Config {
    let mut config = config();
    config.acls = false;
    config
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    hasher.finish()
}

pub async fn backend_with(config: S3Config) -> S3Backend {
    let backend = S3Backend::new(config).expect("backend");
    backend.create_bucket().await.expect("create the test bucket");
    backend
}

pub async fn backend() -> S3Backend {
    backend_with(config()).await
}

pub async fn fixture() -> Fixture {
    fixture_of(backend().await)
}

/// The conformance fixture of `backend`.
pub fn fixture_of(backend: S3Backend) -> Fixture {
    // RGW answers in milliseconds, memory and disk in microseconds: fewer random sequences in the model cases.
    Fixture::new(backend).with_http(ReqwestClient::default()).with_model_cases(16)
}

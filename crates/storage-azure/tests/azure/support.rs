//! The Azurite the tests run against: the one `AZURITE_BLOB_STORAGE_URL` names, or one started through
//! `xtask/scripts/azurite.sh`.

use std::collections::BTreeMap;

use storage_azure::{AccountKey, AzureBackend, AzureConfig, ContainerAccess};
use storage_conformance::{Fixture, ReqwestClient};

/// Connection settings, read from the environment or from the start script's `export` lines.
pub fn server() -> &'static BTreeMap<String, String> {
    storage_conformance::local_azurite()
}

fn setting(name: &str) -> String {
    server().get(name).cloned().unwrap_or_else(|| panic!("{name} is not set"))
}

/// The configuration for a fresh, isolated location in the test container.
pub fn config() -> AzureConfig {
    AzureConfig::new(
        setting("STORAGE_AZURE_ACCOUNT"),
        AccountKey::new(setting("STORAGE_AZURE_ACCESS_KEY")),
        setting("STORAGE_AZURE_CONTAINER"),
    )
    .with_emulator(&setting("AZURITE_BLOB_STORAGE_URL"))
    .with_location(format!("tests/{:016x}", fastrand::u64(..)))
}

/// [`config`] for a fresh container whose blobs anyone may read.
pub fn public_config() -> AzureConfig {
    let mut config = config().with_public_access(ContainerAccess::PublicBlobs);
    config.container = format!("public-{:016x}", fastrand::u64(..));
    config
}

pub async fn backend_with(config: AzureConfig) -> AzureBackend {
    let backend = AzureBackend::new(config).expect("backend");
    backend.create_container().await.expect("create the test container");
    backend
}

pub async fn backend() -> AzureBackend {
    backend_with(config()).await
}

pub async fn fixture() -> Fixture {
    fixture_of(backend().await)
}

/// The conformance fixture of `backend`.
pub fn fixture_of(backend: AzureBackend) -> Fixture {
    // Azurite answers in milliseconds, memory and disk in microseconds: fewer random sequences in the model cases (8: the suite runs twice, plain and under faults).
    Fixture::new(backend).with_http(ReqwestClient::default()).with_model_cases(8)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

pub fn anonymous() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

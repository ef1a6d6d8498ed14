//! `storage` with `az://` storages on Azurite: `storage migrate DIR az://…` and `storage migrate az://… s3://…` (on
//! RGW), each verified, the files read back through the libraries.

use futures::TryStreamExt;
use storage_core::Storage;

use crate::backends;

/// The `az://` URL of a fresh prefix in the test container on Azurite, and its storage.
async fn fresh_azure() -> (String, Storage) {
    let azurite = storage_conformance::local_azurite();
    let location = backends::unique_prefix();
    let config = storage_azure::AzureConfig::new(
        azurite["STORAGE_AZURE_ACCOUNT"].clone(),
        storage_azure::AccountKey::new(azurite["STORAGE_AZURE_ACCESS_KEY"].clone()),
        azurite["STORAGE_AZURE_CONTAINER"].clone(),
    )
    .with_emulator(&azurite["AZURITE_BLOB_STORAGE_URL"])
    .with_location(&location);
    let backend = storage_azure::AzureBackend::new(config).unwrap();
    backend.create_container().await.unwrap();
    let url = format!("az://{}/{location}?use_emulator=true", azurite["STORAGE_AZURE_CONTAINER"]);
    (url, backend.storage())
}

/// The `storage` command with Azurite's and RGW's settings in its environment, as a deployment gives them.
fn storage_command(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let azurite = storage_conformance::local_azurite();
    let rgw = storage_conformance::local_rgw();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_storage"))
        .current_dir(dir)
        .env("AZURITE_BLOB_STORAGE_URL", &azurite["AZURITE_BLOB_STORAGE_URL"])
        .env("AWS_ACCESS_KEY_ID", &rgw["STORAGE_S3_ACCESS_KEY_ID"])
        .env("AWS_SECRET_ACCESS_KEY", &rgw["STORAGE_S3_SECRET_ACCESS_KEY"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "storage {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

async fn contents(storage: &Storage) -> Vec<(String, Vec<u8>)> {
    let keys: Vec<String> = storage.list("").map_ok(|meta| meta.key).try_collect().await.unwrap();
    let mut files = Vec::new();
    for key in keys {
        let bytes = storage.read(&key).await.unwrap().to_vec();
        files.push((key, bytes));
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_migrate_moves_a_directory_to_azure_and_azure_to_rgw() {
    backends::create_bucket().await;
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let mut expected = Vec::new();
    for index in 0..20u64 {
        let name = format!("docs/{index:02} report #{index}.bin");
        let bytes = storage_conformance::test_bytes(index, (index as usize) * 997);
        std::fs::create_dir_all(tree.join("docs")).unwrap();
        std::fs::write(tree.join(&name), &bytes).unwrap();
        expected.push((name, bytes));
    }
    // Large enough for Azure's block upload (8 MiB blocks).
    let large = storage_conformance::test_bytes(99, (8 << 20) + 4096);
    std::fs::write(tree.join("large.bin"), &large).unwrap();
    expected.push(("large.bin".to_owned(), large));
    expected.sort();

    let (azure_url, azure) = fresh_azure().await;
    let report = storage_command(dir.path(), &["migrate", "./tree", &azure_url, "--verify", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!((report["copied"].as_u64(), report["verified"].as_u64()), (Some(21), Some(21)), "{report}");
    assert!(contents(&azure).await == expected, "the directory's files, byte for byte, on Azure");

    let location = backends::unique_prefix();
    let rgw = storage_conformance::local_rgw();
    let s3_url = format!(
        "s3://{}/{location}?endpoint={}&region={}",
        rgw["STORAGE_S3_BUCKET"], rgw["STORAGE_S3_ENDPOINT"], rgw["STORAGE_S3_REGION"]
    );
    let report = storage_command(dir.path(), &["migrate", &azure_url, &s3_url, "--verify", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!((report["copied"].as_u64(), report["verified"].as_u64()), (Some(21), Some(21)), "{report}");
    let s3 = storage_s3::S3Backend::new(backends::s3_config(&location)).unwrap().storage();
    assert!(contents(&s3).await == expected, "Azure's blobs, byte for byte, on RGW");

    let listed = storage_command(dir.path(), &["--storage", &azure_url, "ls", "docs/"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("00 report #0.bin") && listed.contains("19 report #19.bin"), "{listed}");
}

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

/// A few files with attributes and metadata, no ACL (Azure has none per blob).
async fn write_files(storage: &Storage) {
    for index in 0..12u64 {
        let attributes = storage_core::Attributes::default()
            .with_content_type("application/pdf")
            .with_metadata("origin-name", format!("report {index}.pdf"));
        let options = storage_core::SaveOptions::default().with_attributes(attributes);
        let data = storage_conformance::test_bytes(index, (index as usize) * 1531);
        storage.save_with(&format!("files/{index}.pdf"), data, options).await.unwrap();
    }
}

async fn files_with_attributes(storage: &Storage) -> Vec<(String, Vec<u8>, storage_core::Attributes)> {
    let mut files = Vec::new();
    for (key, bytes) in contents(storage).await {
        let attributes = storage.metadata(&key).await.unwrap().attributes;
        files.push((key, bytes, attributes));
    }
    files
}

/// Migrations from disk and from RGW to Azure and back, verified, keeping bytes, attributes and metadata; then the
/// mirror storage against the model of its members, with Azure as the primary and as the mirror of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_mirror_between_azure_and_disk_and_rgw_in_both_directions() {
    backends::create_bucket().await;
    let verified = storage_migrate::MigrateOptions::default().with_verify(true);
    for kind in [backends::Kind::Fs, backends::Kind::S3] {
        let (source, _dir) = backends::fresh(kind).await;
        write_files(&source).await;
        let expected = files_with_attributes(&source).await;
        let (_, azure) = fresh_azure().await;
        let report = storage_migrate::migrate(&source, &azure, &verified, &|_| {}).await.unwrap();
        assert_eq!((report.copied, report.verified), (12, 12), "{kind:?} to Azure: {report}");
        assert!(files_with_attributes(&azure).await == expected, "{kind:?} to Azure keeps every field");
        let (back, _dir2) = backends::fresh(kind).await;
        let report = storage_migrate::migrate(&azure, &back, &verified, &|_| {}).await.unwrap();
        assert_eq!((report.copied, report.verified), (12, 12), "Azure to {kind:?}: {report}");
        assert!(files_with_attributes(&back).await == expected, "Azure to {kind:?} keeps every field");

        let (_, primary) = fresh_azure().await;
        let (mirror, _dir3) = backends::fresh(kind).await;
        storage_conformance::mirror_model_with_cases(fixture(&primary), fixture(&mirror), 4).await;
        let (primary, _dir4) = backends::fresh(kind).await;
        let (_, mirror) = fresh_azure().await;
        storage_conformance::mirror_model_with_cases(fixture(&primary), fixture(&mirror), 4).await;
    }
}

fn fixture(storage: &Storage) -> storage_conformance::Fixture {
    storage_conformance::Fixture::from_arc(storage.backend().clone())
}

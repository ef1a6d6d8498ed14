//! Opening a root: a missing one refused or created as asked, and the one-line constructor of a signing backend.

use std::time::Duration;

use storage_core::{ErrorKind, UrlOptions};
use storage_fs::{FsBackend, MissingRoot, RESERVED_DIR};

#[tokio::test]
async fn signed_makes_links_with_a_key_kept_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FsBackend::signed(dir.path(), "http://127.0.0.1:9/files/").unwrap().storage();
    storage.save("a.txt", "a").await.unwrap();
    let link = storage.temporary_url("a.txt", Duration::from_secs(60), UrlOptions::get()).await.unwrap();
    assert!(link.starts_with("http://127.0.0.1:9/files/a.txt?") && link.contains("X-Storage-Signature="), "{link}");
    let key_file = dir.path().join(RESERVED_DIR).join("signing-key");
    let key = std::fs::read_to_string(&key_file).expect("the key is kept under the root");
    let reopened = FsBackend::signed(dir.path(), "http://127.0.0.1:9/files/").unwrap();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key, "reopening reuses the key");
    assert!(reopened.signer().unwrap().is_some(), "it serves its links");
    let id = storage_fs::load_or_create_key(&key_file).unwrap().id().to_owned();
    assert!(link.contains(&format!("X-Storage-Key-Id={id}&")), "signed with the key on disk: {link}");
}

#[tokio::test]
async fn temporary_urls_without_a_signer_name_the_way_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FsBackend::new(dir.path()).unwrap().storage();
    let err = storage.temporary_url("a.txt", Duration::from_secs(60), UrlOptions::get()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("FsBackend::signed(dir, base_url)"), "{err}");
}

#[tokio::test]
async fn a_key_file_is_read_or_created_on_the_first_signing_only() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keys/signing-key");
    let backend = FsBackend::new(dir.path().join("root")).unwrap().with_signing_key_file(
        "http://127.0.0.1:9/",
        key_file.clone(),
        Duration::from_secs(3600),
    );
    let storage = backend.storage();
    storage.save("a.txt", "a").await.unwrap();
    storage.read("a.txt").await.unwrap();
    assert!(storage.capabilities().presign_read, "it can sign");
    assert!(!key_file.exists(), "saving and reading make no key");
    storage.temporary_url("a.txt", Duration::from_secs(60), UrlOptions::get()).await.unwrap();
    assert!(key_file.exists(), "the first signing does");
}

#[test]
fn a_missing_root_is_refused_naming_it_unless_it_may_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo/deep");
    let err = FsBackend::opened(&missing, MissingRoot::Refuse).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let message = format!("{err}: {}", std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default());
    assert!(message.contains(&missing.display().to_string()) && message.contains("mkdir -p"), "{message}");
    assert!(!dir.path().join("typo").exists(), "refusing creates nothing");
    let err = FsBackend::without_attributes_opened(&missing, MissingRoot::Refuse).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    FsBackend::opened(&missing, MissingRoot::Create).unwrap();
    assert!(missing.is_dir(), "created when allowed");
    FsBackend::opened(&missing, MissingRoot::Refuse).expect("an existing root opens");
}

#[tokio::test]
async fn a_backend_only_read_from_leaves_its_root_as_it_found_it() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FsBackend::new(dir.path()).unwrap().storage();
    assert_eq!(storage.listdir("").await.unwrap(), (vec![], vec![]));
    assert!(!storage.exists("a.txt").await.unwrap());
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(entries, 0, "opening, listing and looking wrote nothing, not even `.storage/`");
    storage.save("a.txt", "a").await.unwrap();
    assert!(dir.path().join(RESERVED_DIR).join("tmp").is_dir(), "the first write makes the temporary directory");
}

#[tokio::test]
async fn a_root_made_on_the_first_write_reads_as_empty_until_then() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("later/root");
    let storage = FsBackend::opened(&root, MissingRoot::CreateOnFirstWrite).unwrap().storage();
    assert_eq!(storage.listdir("").await.unwrap(), (vec![], vec![]));
    assert_eq!(storage.read("a.txt").await.unwrap_err().kind(), ErrorKind::NotFound);
    storage.delete("a.txt").await.unwrap();
    assert!(!dir.path().join("later").exists(), "looking made nothing");
    storage.save("a.txt", "a").await.unwrap();
    assert_eq!(std::fs::read_to_string(root.join("a.txt")).unwrap(), "a", "the first write made the root");
    assert_eq!(storage.listdir("").await.unwrap(), (vec![], vec!["a.txt".to_owned()]));
}

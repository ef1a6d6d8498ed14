//! What lands on disk: plain files, hidden sidecars, modes, and metadata that survives a reopen.

use std::os::unix::fs::PermissionsExt;

use storage_core::{Acl, Attributes, SaveOptions};
use storage_fs::{FsBackend, RESERVED_DIR};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn objects_are_plain_files_and_metadata_survives_a_reopen() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let storage = FsBackend::new(dir.path()).unwrap().storage();
        let attributes = Attributes::default()
            .with_content_type("text/csv")
            .with_cache_control("no-cache")
            .with_content_disposition("inline")
            .with_metadata("owner", "42");
        let options = SaveOptions::default().with_attributes(attributes.clone()).with_acl(Acl::PublicRead);
        storage.save_with("exports/data.bin", "a,b\n1,2\n", options).await.unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("exports/data.bin")).unwrap(), "a,b\n1,2\n");

        let reopened = FsBackend::new(dir.path()).unwrap().storage();
        let metadata = reopened.metadata("exports/data.bin").await.unwrap();
        assert_eq!(metadata.attributes, attributes);
        assert_eq!(reopened.acl("exports/data.bin").await.unwrap(), Acl::PublicRead);

        let listed: Vec<String> =
            futures::TryStreamExt::try_collect(futures::TryStreamExt::map_ok(reopened.list(""), |m| m.key))
                .await
                .unwrap();
        assert_eq!(listed, ["exports/data.bin"], "sidecars and temp files are never listed");
        let (dirs, files) = reopened.listdir("").await.unwrap();
        assert_eq!((dirs, files), (vec!["exports".to_owned()], vec![]));
        assert!(dir.path().join(RESERVED_DIR).join("meta").is_dir(), "the sidecar lives under .storage/meta");

        reopened.delete("exports/data.bin").await.unwrap();
        assert!(!dir.path().join("exports").exists(), "empty directories are pruned, as S3 has none");
        let sidecars = walk_files(&dir.path().join(RESERVED_DIR).join("meta"));
        assert!(sidecars.is_empty(), "the sidecar went with the object: {sidecars:?}");
    });
}

#[test]
fn a_plain_save_writes_no_sidecar_and_files_placed_by_hand_are_served() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let storage = FsBackend::new(dir.path()).unwrap().storage();
        storage.save("photo.jpg", "jpeg").await.unwrap();
        assert!(walk_files(&dir.path().join(RESERVED_DIR)).is_empty(), "the guessed type needs no sidecar");
        std::fs::write(dir.path().join("by-hand.pdf"), "%PDF").unwrap();
        let metadata = storage.metadata("by-hand.pdf").await.unwrap();
        assert_eq!(metadata.content_type(), Some("application/pdf"));
        assert_eq!(storage.metadata("photo.jpg").await.unwrap().content_type(), Some("image/jpeg"));
    });
}

#[test]
fn permission_modes_apply() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let storage = FsBackend::new(dir.path()).unwrap().with_file_mode(0o600).with_dir_mode(0o700).storage();
        storage.save("private/key.pem", "k").await.unwrap();
        let mode = |p: &str| std::fs::metadata(dir.path().join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("private/key.pem"), 0o600);
        assert_eq!(mode("private"), 0o700);
        let streamed = storage_core::Content::from_stream(futures::stream::iter([Ok(bytes::Bytes::from("s"))]), None);
        storage.save("private/streamed.txt", streamed).await.unwrap();
        assert_eq!(mode("private/streamed.txt"), 0o600);
    });
}

#[test]
fn the_reserved_directory_is_not_a_key() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let storage = FsBackend::new(dir.path()).unwrap().storage();
        let err = storage.save(".storage/meta/x", "x").await.unwrap_err();
        assert_eq!(err.kind(), storage_core::ErrorKind::InvalidName);
        assert!(err.to_string().contains("reserved"), "{err}");
        storage.save(".storage-not-reserved.txt", "x").await.unwrap();
    });
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            found.extend(walk_files(&entry.path()));
        } else {
            found.push(entry.path());
        }
    }
    found
}

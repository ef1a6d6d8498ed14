//! What lands on disk: plain files whose metadata is in their own extended attribute, modes, metadata that survives
//! a reopen and travels with the file, and the refusal of a file system without extended attributes.

use std::os::unix::fs::PermissionsExt;

use crate::support::runtime;
use storage_core::{Acl, Attributes, SaveOptions};
use storage_fs::{FsBackend, RESERVED_DIR};

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
        assert_eq!(listed, ["exports/data.bin"], "temp files are never listed");
        let (dirs, files) = reopened.listdir("").await.unwrap();
        assert_eq!((dirs, files), (vec!["exports".to_owned()], vec![]));
        assert!(walk_files(&dir.path().join(RESERVED_DIR)).is_empty(), "no file beside the object holds its metadata");

        // The metadata is part of the file: moved by another program, it comes along.
        std::fs::rename(dir.path().join("exports/data.bin"), dir.path().join("moved.bin")).unwrap();
        assert_eq!(reopened.metadata("moved.bin").await.unwrap().attributes, attributes);
        reopened.delete("moved.bin").await.unwrap();
        reopened.save("exports/again.bin", "x").await.unwrap();
        reopened.delete("exports/again.bin").await.unwrap();
        assert!(!dir.path().join("exports").exists(), "empty directories are pruned, as S3 has none");
    });
}

#[test]
fn files_placed_by_hand_are_served_and_a_saved_file_carries_its_md5() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let storage = FsBackend::new(dir.path()).unwrap().storage();
        storage.save("photo.jpg", "jpeg").await.unwrap();
        let etag = storage.metadata("photo.jpg").await.unwrap().meta.etag.unwrap();
        assert_eq!(etag, format!("\"{}\"", md5("jpeg")), "the ETag is the MD5 of the bytes, as on S3");
        let listed: Vec<_> = futures::TryStreamExt::try_collect(reopen(dir.path()).list("")).await.unwrap();
        assert_eq!(listed[0].etag.as_deref(), Some(etag.as_str()), "listings carry the MD5 too, for migrate");

        std::fs::write(dir.path().join("by-hand.pdf"), "%PDF").unwrap();
        let metadata = storage.metadata("by-hand.pdf").await.unwrap();
        assert_eq!(metadata.content_type(), Some("application/pdf"));
        assert!(!metadata.meta.etag.unwrap().contains(&md5("%PDF")), "no MD5 was taken of a file placed by hand");
        assert_eq!(storage.acl("by-hand.pdf").await.unwrap(), Acl::Private);

        std::fs::write(dir.path().join("photo.jpg"), "changed in place").unwrap();
        let changed = storage.metadata("photo.jpg").await.unwrap().meta.etag.unwrap();
        assert_ne!(changed, etag, "the MD5 of the old bytes is not trusted for new ones");
    });
}

fn reopen(dir: &std::path::Path) -> storage_core::Storage {
    FsBackend::new(dir).unwrap().storage()
}

fn md5(text: &str) -> String {
    use md5::Digest as _;
    md5::Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_file_system_without_extended_attributes_is_refused_or_opened_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let plain = FsBackend::without_attributes(dir.path()).unwrap();
    let caps = storage_core::Backend::capabilities(&plain);
    assert!(!caps.acl && !caps.write_with_attributes && !caps.write_with_user_metadata, "it declares none");
    runtime().block_on(async {
        let storage = plain.storage();
        let refused = storage.save_with("a.txt", "x", SaveOptions::default().with_acl(Acl::PublicRead)).await;
        assert_eq!(refused.unwrap_err().kind(), storage_core::ErrorKind::Unsupported, "never silently lost");
        storage.save("a.txt", "x").await.unwrap();
        assert_eq!(storage.metadata("a.txt").await.unwrap().content_type(), Some("text/plain"));
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

/// Every error the backend builds names it, the kinds whose constructor takes no backend too: a reserved name, a range
/// past the end, a root others can write, a signing key file that is not one.
#[test]
fn every_error_the_backend_builds_names_it() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let storage = FsBackend::new(&root).unwrap().storage();
        storage.save("a.txt", "abc").await.unwrap();
        let reserved = storage.save(".storage/x", "x").await.unwrap_err();
        let past_the_end = storage.open_range("a.txt", 10..20).await.err().unwrap();
        let key_file = root.join("key.txt");
        std::fs::write(&key_file, "not a key").unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let bad_key = storage_fs::load_or_create_key(&key_file).unwrap_err();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let loose_root = FsBackend::new(&root).unwrap_err();
        let kinds = [reserved.kind(), past_the_end.kind(), bad_key.kind(), loose_root.kind()];
        use storage_core::ErrorKind::{Configuration, InvalidArgument, InvalidName};
        assert_eq!(kinds, [InvalidName, InvalidArgument, Configuration, Configuration]);
        for err in [reserved, past_the_end, bad_key, loose_root] {
            assert_eq!(err.backend_name(), Some("fs"), "{err}");
        }
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

#[test]
fn reads_are_exact_whether_or_not_the_file_is_in_the_page_cache() {
    // A read first tries without waiting for the disk (RWF_NOWAIT) and otherwise reads in the blocking pool; with
    // the file's pages dropped from the cache, the second path answers, with the same bytes.
    let multi_thread = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for runtime in [runtime(), multi_thread] {
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let storage = FsBackend::new(dir.path()).unwrap().storage();
            let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
            storage.save("cold.bin", data.clone()).await.unwrap();
            let drop_from_cache = || {
                let file = std::fs::File::open(dir.path().join("cold.bin")).unwrap();
                file.sync_all().unwrap();
                rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
            };
            let range = storage_core::ByteRange::Bounded { start: 4097, end: 50_000 };
            for cached in [true, false] {
                if !cached {
                    drop_from_cache();
                }
                let whole = storage.read("cold.bin").await.unwrap();
                assert!(whole.as_ref() == &data[..], "the whole file differs; cached: {cached}");
                if !cached {
                    drop_from_cache();
                }
                let opened = storage.open_range("cold.bin", range).await.unwrap();
                let chunks: Vec<bytes::Bytes> = futures::TryStreamExt::try_collect(opened.stream).await.unwrap();
                assert!(chunks.concat() == data[4097..50_000], "the range differs; cached: {cached}");
            }
        });
    }
}

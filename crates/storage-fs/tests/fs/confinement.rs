//! Hostile names never touch anything outside the root: `..`, absolute paths, backslashes, NUL, and symlinks
//! inside the root that point out.

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use storage_core::{Acl, ErrorKind, Storage};
use storage_fs::FsBackend;

/// Everything observable about a directory tree: each path with its contents and mode.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut seen = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            let contents = if meta.is_file() { std::fs::read(entry.path()).unwrap() } else { Vec::new() };
            seen.insert(entry.path(), (contents, meta.permissions().mode()));
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    seen
}

struct Sandbox {
    _dir: tempfile::TempDir,
    outside: PathBuf,
    storage: Storage,
}

fn sandbox() -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    let root = dir.path().join("root");
    std::fs::create_dir_all(outside.join("sub")).unwrap();
    std::fs::write(outside.join("secret.txt"), "sentinel").unwrap();
    std::fs::write(outside.join("sub/file"), "sentinel too").unwrap();
    std::fs::create_dir_all(root.join("nested")).unwrap();
    symlink(&outside, root.join("link")).unwrap();
    symlink(outside.join("secret.txt"), root.join("file-link")).unwrap();
    symlink("../../outside", root.join("nested/up")).unwrap();
    let storage = FsBackend::new(&root).unwrap().storage();
    Sandbox { _dir: dir, outside, storage }
}

fn hostile_name() -> impl Strategy<Value = String> {
    let segment = prop::sample::select(vec![
        "..",
        ".",
        "",
        "link",
        "file-link",
        "nested",
        "up",
        "secret.txt",
        "sub",
        "a",
        "..\\..",
        "\0",
        "%2e%2e",
        "~",
        "C:",
        ".storage",
        "tmp",
        "x\ny",
        "new.txt",
    ]);
    let separator = prop::sample::select(vec!["/", "\\", "//"]);
    (any::<bool>(), proptest::collection::vec((segment, separator), 1..5)).prop_map(|(absolute, parts)| {
        let mut name = if absolute { "/".to_owned() } else { String::new() };
        for (index, (segment, separator)) in parts.iter().enumerate() {
            if index > 0 {
                name.push_str(separator);
            }
            name.push_str(segment);
        }
        name
    })
}

/// Run every operation on `name`; none may succeed through a link, and none may change anything outside.
async fn attack(storage: &Storage, name: &str) {
    storage.save("seed.txt", "seed").await.ok();
    let through_link = name.starts_with("link/") || name.starts_with("file-link") || name.starts_with("nested/up");
    let results = [
        ("save", storage.save(name, "attack").await.map(drop)),
        ("read", storage.read(name).await.map(drop)),
        ("metadata", storage.metadata(name).await.map(drop)),
        ("delete", storage.delete(name).await),
        ("copy to", storage.copy("seed.txt", name).await.map(drop)),
        ("copy from", storage.copy(name, "copied.txt").await.map(drop)),
        ("rename from", storage.rename(name, "renamed.txt").await.map(drop)),
        ("set_acl", storage.set_acl(name, Acl::PublicRead).await),
        ("listdir", storage.listdir(name).await.map(drop)),
    ];
    for (operation, result) in results {
        if through_link && let Err(err) = &result {
            assert!(
                matches!(err.kind(), ErrorKind::PermissionDenied | ErrorKind::InvalidName | ErrorKind::NotFound),
                "{operation} {name:?}: {err}"
            );
        }
        if through_link && operation != "delete" && operation != "listdir" {
            assert!(result.is_err(), "{operation} {name:?} went through a symlink");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hostile_names_never_touch_anything_outside(names in proptest::collection::vec(hostile_name(), 1..8)) {
        let sandbox = sandbox();
        let before = snapshot(&sandbox.outside);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            for name in &names {
                attack(&sandbox.storage, name).await;
            }
        });
        prop_assert_eq!(snapshot(&sandbox.outside), before, "the sentinel directory changed");
    }
}

#[test]
fn links_inside_the_root_are_refused_not_followed() {
    let sandbox = sandbox();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for name in ["link/secret.txt", "file-link", "nested/up/secret.txt", "link/sub/file"] {
            let err = sandbox.storage.read(name).await.expect_err(name);
            assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{name}: {err}");
            assert!(err.to_string().contains("symbolic link"), "{err}");
            let err = sandbox.storage.save(name, "x").await.expect_err(name);
            assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{name}: {err}");
        }
        let listed: Vec<String> =
            futures::TryStreamExt::try_collect(futures::TryStreamExt::map_ok(sandbox.storage.list(""), |m| m.key))
                .await
                .unwrap();
        assert!(listed.iter().all(|key| !key.contains("secret")), "links are not listed: {listed:?}");
        let absolute = sandbox.outside.join("secret.txt");
        let err = sandbox.storage.read(absolute.to_str().unwrap()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidName);
    });
}

/// A local process keeps swapping a directory inside the root with a symbolic link to a directory outside it
/// (atomically, with `RENAME_EXCHANGE`) while saves, reads, copies, renames and deletes run under that directory:
/// nothing is ever written outside, and nothing outside is ever read.
#[test]
fn a_directory_swapped_for_a_link_mid_operation_never_leads_outside() {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
    std::fs::create_dir_all(&outside).unwrap();
    for name in ["secret.txt", "doc.txt", "copy.txt", "moved.txt"] {
        std::fs::write(outside.join(name), "OUTSIDE").unwrap();
    }
    std::fs::create_dir_all(root.join("swap")).unwrap();
    let storage = FsBackend::new(&root).unwrap().storage();
    symlink(&outside, root.join("swap-link")).unwrap();
    let before = snapshot(&outside);

    let done = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = {
        let (done, swaps, root) = (done.clone(), swaps.clone(), root.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                renameat_with(CWD, root.join("swap"), CWD, root.join("swap-link"), RenameFlags::EXCHANGE).unwrap();
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut through_the_directory = 0;
    runtime.block_on(async {
        for round in 0..1500 {
            let content = format!("inside {round}");
            if storage.save("swap/doc.txt", content.clone()).await.is_ok() {
                through_the_directory += 1;
            }
            for name in ["swap/doc.txt", "swap/secret.txt", "swap/copy.txt", "swap/moved.txt"] {
                if let Ok(bytes) = storage.read(name).await {
                    assert_ne!(&bytes[..], b"OUTSIDE", "round {round}: {name} was read from outside the root");
                }
            }
            let _ = storage.copy("swap/doc.txt", "swap/copy.txt").await;
            let _ = storage.rename("swap/copy.txt", "swap/moved.txt").await;
            let _ = storage.set_acl("swap/moved.txt", Acl::PublicRead).await;
            let _ = storage.delete("swap/moved.txt").await;
            let _ = storage.listdir("swap").await;
        }
    });
    done.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    assert!(swaps.load(Ordering::Relaxed) > 100, "the directory really was swapped while the operations ran");
    assert!(through_the_directory > 0, "some saves went through while the real directory was in place");
    assert_eq!(snapshot(&outside), before, "nothing outside the root changed");
}

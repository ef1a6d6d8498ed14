//! Several processes on one directory, as web workers run: 8 real processes × 200 random operations on 16 keys, and
//! afterwards every file's bytes and metadata come from one operation.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::runtime;
use storage_core::{Acl, Attributes, OverwritePolicy, SaveOptions, Storage};
use storage_fs::{FsBackend, RESERVED_DIR};

/// Set in a worker process: the root it works in, and its number.
const WORKER_ROOT: &str = "STORAGE_FS_TEST_WORKER_ROOT";
const WORKER_ID: &str = "STORAGE_FS_TEST_WORKER_ID";
const WORKERS: u64 = 8;
const OPERATIONS: u64 = 200;
const KEYS: u64 = 16;

fn key(index: u64) -> String {
    format!("shared/k{index:02}.bin")
}

/// What one save writes: bytes, attributes and ACL that each name the operation, so a mix of two is visible.
fn save_of(worker: u64, op: u64) -> (String, SaveOptions) {
    let tag = format!("w{worker}-op{op}");
    let bytes = format!("{tag} ").repeat(1 + (op as usize % 7) * 300);
    let attributes = Attributes::default()
        .with_content_type(format!("application/x-{tag}"))
        .with_cache_control(format!("max-age={op}"))
        .with_metadata("op", &tag);
    let acl = if (worker + op) % 2 == 0 { Acl::PublicRead } else { Acl::AuthenticatedRead };
    (bytes, SaveOptions::default().with_attributes(attributes).with_acl(acl).with_overwrite(OverwritePolicy::Overwrite))
}

/// A deterministic sequence per worker (xorshift), so a failure reruns the same way.
fn operations(worker: u64) -> impl Iterator<Item = (u64, u64, u64)> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ (worker + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    (0..OPERATIONS).map(move |op| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (op, state % 5, state >> 32)
    })
}

async fn work(storage: &Storage, worker: u64) {
    for (op, kind, random) in operations(worker) {
        let (a, b) = (key(random % KEYS), key((random >> 8) % KEYS));
        let outcome = match kind {
            0 | 1 => {
                let (bytes, options) = save_of(worker, op);
                storage.save_with(&a, bytes, options).await.map(drop)
            }
            2 => storage.set_acl(&a, if random % 2 == 0 { Acl::PublicRead } else { Acl::AuthenticatedRead }).await,
            3 => storage.copy(&a, &b).await.map(drop),
            _ => match random % 3 {
                0 => storage.delete(&a).await,
                _ => storage.rename(&a, &b).await.map(drop),
            },
        };
        // A key another worker deleted or moved meanwhile is the only failure concurrency may cause.
        if let Err(err) = outcome {
            assert_eq!(err.kind(), storage_core::ErrorKind::NotFound, "worker {worker} op {op}: {err}");
        }
    }
}

fn storage(root: &Path) -> Storage {
    FsBackend::new(root).unwrap().storage().with_overwrite(OverwritePolicy::Overwrite)
}

/// In a normal run: one worker's operations alone. In a child of `eight_processes_never_mix_bytes_and_metadata`:
/// that worker, on the shared root.
#[test]
fn one_worker_runs_its_operations() {
    if let (Some(root), Some(id)) = (std::env::var_os(WORKER_ROOT), std::env::var(WORKER_ID).ok()) {
        runtime().block_on(work(&storage(Path::new(&root)), id.parse().unwrap()));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(work(&storage(dir.path()), 0));
}

#[test]
fn eight_processes_never_mix_bytes_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "processes::one_worker_runs_its_operations", "--test-threads", "1"])
                .env(WORKER_ROOT, root)
                .env(WORKER_ID, worker.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (worker, child) in workers.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "worker {worker}: {}", String::from_utf8_lossy(&output.stdout));
    }

    let expected: BTreeMap<String, (String, SaveOptions)> = (0..WORKERS)
        .flat_map(|worker| (0..OPERATIONS).map(move |op| (format!("w{worker}-op{op}"), save_of(worker, op))))
        .collect();
    runtime().block_on(async {
        let storage = storage(root);
        let listed: Vec<_> = futures::TryStreamExt::try_collect(storage.list("")).await.unwrap();
        for object in &listed {
            let bytes = storage.read(&object.key).await.unwrap();
            let text = String::from_utf8(bytes.to_vec()).unwrap();
            let tag = text.split(' ').next().unwrap().to_owned();
            let (expected_bytes, options) = &expected[&tag];
            assert_eq!(&text, expected_bytes, "`{}` holds one save's bytes, whole", object.key);
            let metadata = storage.metadata(&object.key).await.unwrap();
            assert_eq!(metadata.attributes, options.attributes, "`{}`: the attributes of the bytes' save", object.key);
            let acl = storage.acl(&object.key).await.unwrap();
            assert!(
                matches!(acl, Acl::PublicRead | Acl::AuthenticatedRead),
                "`{}`: an ACL some operation set",
                object.key
            );
        }
        assert!(listed.len() <= KEYS as usize);
    });
    let leftovers: Vec<_> = std::fs::read_dir(root.join(RESERVED_DIR).join("tmp")).unwrap().flatten().collect();
    assert!(leftovers.is_empty(), "no temp file is left behind: {leftovers:?}");
}

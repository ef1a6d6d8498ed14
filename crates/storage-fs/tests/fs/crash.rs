//! A writer killed mid-save leaves no file under the final name, or the old one with its old metadata.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::runtime;
use bytes::Bytes;
use futures::StreamExt;
use storage_core::{Acl, Attributes, OverwritePolicy, SaveOptions};
use storage_fs::{FsBackend, RESERVED_DIR};

/// Set in the child process: the root it writes into, forever, until it is killed.
const CHILD_ROOT: &str = "STORAGE_FS_TEST_CHILD_ROOT";
const MIB: usize = 1 << 20;

/// A streamed save of `chunks` MiB (endless if `None`), paced so a parent can watch it, overwriting with its own
/// attributes and ACL.
async fn streamed_save(root: &Path, chunks: Option<usize>, pause: Duration) -> storage_core::Result<String> {
    let storage = FsBackend::new(root)?.storage().with_overwrite(OverwritePolicy::Overwrite);
    let stream = futures::stream::iter(0..chunks.unwrap_or(usize::MAX)).then(move |i| async move {
        tokio::time::sleep(pause).await;
        Ok(Bytes::from(vec![(i % 251) as u8; MIB]))
    });
    let options = SaveOptions::default().with_content_type("application/x-new").with_acl(Acl::Private);
    storage.save_with("big.bin", storage_core::Content::from_stream(stream, None), options).await
}

/// Start the child writer on `root` and SIGKILL it once it has written 8 MiB to its temp file.
fn kill_a_writer_mid_save(root: &Path) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash::streamed_save_lands_whole", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ROOT, root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while temp_bytes(root) < 8 * MIB as u64 {
        assert!(Instant::now() < deadline, "the child never got going");
        assert!(child.try_wait().unwrap().is_none(), "the child writer exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no cleanup runs in the child
    child.wait().unwrap();
}

/// In a normal run: a streamed save lands whole. In the child of `killed_mid_write_leaves_nothing`: the writer that
/// gets killed.
#[test]
fn streamed_save_lands_whole() {
    if let Some(root) = std::env::var_os(CHILD_ROOT) {
        let _ = runtime().block_on(streamed_save(Path::new(&root), None, Duration::from_millis(20)));
        unreachable!("the parent kills this process");
    }
    let dir = tempfile::tempdir().unwrap();
    let stored = runtime().block_on(streamed_save(dir.path(), Some(24), Duration::ZERO)).unwrap();
    assert_eq!(stored, "big.bin");
    let written = std::fs::read(dir.path().join("big.bin")).unwrap();
    assert_eq!(written.len(), 24 * MIB);
    assert!(written.chunks(MIB).enumerate().all(|(i, chunk)| chunk.iter().all(|b| *b == (i % 251) as u8)));
}

fn temp_bytes(root: &Path) -> u64 {
    let temp = root.join(RESERVED_DIR).join("tmp");
    std::fs::read_dir(temp).into_iter().flatten().flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
}

#[test]
fn killed_mid_write_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    kill_a_writer_mid_save(dir.path());

    assert!(!dir.path().join("big.bin").exists(), "no file under the final name");
    assert!(temp_bytes(dir.path()) >= 8 * MIB as u64, "the partial data stayed in the temp area");
    runtime().block_on(async {
        let storage = FsBackend::new(dir.path()).unwrap().storage();
        assert!(!storage.exists("big.bin").await.unwrap());
        let listed: Vec<_> = futures::TryStreamExt::try_collect(storage.list("")).await.unwrap();
        assert!(listed.is_empty(), "the partial temp file is not listed: {listed:?}");
        assert_eq!(storage.save("big.bin", "fresh").await.unwrap(), "big.bin", "the name is free");
    });
}

#[test]
fn a_killed_overwrite_leaves_the_old_object_with_its_old_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let attributes = Attributes::default().with_content_type("text/csv").with_metadata("v", "1");
    let old = SaveOptions::default().with_attributes(attributes).with_acl(Acl::PublicRead);
    runtime().block_on(async {
        FsBackend::new(dir.path()).unwrap().storage().save_with("big.bin", "old,bytes\n", old).await.unwrap();
    });
    kill_a_writer_mid_save(dir.path());
    runtime().block_on(async {
        let storage = FsBackend::new(dir.path()).unwrap().storage();
        assert_eq!(storage.read("big.bin").await.unwrap(), "old,bytes\n", "the old bytes");
        let metadata = storage.metadata("big.bin").await.unwrap();
        assert_eq!(metadata.content_type(), Some("text/csv"), "with their own metadata");
        assert_eq!(metadata.attributes.metadata.get("v").map(String::as_str), Some("1"));
        assert_eq!(storage.acl("big.bin").await.unwrap(), Acl::PublicRead, "and their own ACL");
    });
}

//! Fresh, isolated storages of every backend for the cross-backend tests (migrate, mirror), and a tree of test files.

use std::sync::atomic::{AtomicUsize, Ordering};

use storage_core::{Acl, Attributes, Content, PutOptions, Storage, WriteMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Fs,
    S3,
}

pub const KINDS: [Kind; 3] = [Kind::Memory, Kind::Fs, Kind::S3];

/// A fresh storage of `kind`; the returned guard keeps a disk storage's directory alive.
pub async fn fresh(kind: Kind) -> (Storage, Option<tempfile::TempDir>) {
    match kind {
        Kind::Memory => (storage_memory::MemoryBackend::new().storage(), None),
        Kind::Fs => {
            let dir = tempfile::tempdir().unwrap();
            (storage_fs::FsBackend::new(dir.path()).unwrap().storage(), Some(dir))
        }
        Kind::S3 => (storage_s3::S3Backend::new(s3_config(&unique_prefix())).unwrap().storage(), None),
    }
}

/// The local RGW, at `location` in the test bucket (created if missing).
pub fn s3_config(location: &str) -> storage_s3::S3Config {
    let rgw = storage_conformance::local_rgw();
    storage_s3::S3Config::new(rgw["STORAGE_S3_BUCKET"].clone())
        .with_endpoint(rgw["STORAGE_S3_ENDPOINT"].clone())
        .with_region(rgw["STORAGE_S3_REGION"].clone())
        .with_credentials(&rgw["STORAGE_S3_ACCESS_KEY_ID"], &rgw["STORAGE_S3_SECRET_ACCESS_KEY"])
        .with_location(location)
}

pub async fn create_bucket() {
    storage_s3::S3Backend::new(s3_config("")).unwrap().create_bucket().await.unwrap();
}

pub fn unique_prefix() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("cross/{}-{nanos:x}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// One file of the test tree: a name with spaces, unicode, `%` or `#`, a size from 0 B to 20 MiB, and a mix of
/// content types, attributes and ACLs.
#[derive(Debug, Clone)]
pub struct TreeFile {
    pub name: String,
    pub data: Vec<u8>,
    pub attributes: Attributes,
    pub acl: Acl,
}

pub fn tree_file(i: usize) -> TreeFile {
    let name = match i % 5 {
        0 => format!("plain/{i}.txt"),
        1 => format!("with space/report {i}.pdf"),
        2 => format!("unicode/naïve-日本-{i}.bin"),
        3 => format!("percent/100%-{i}.csv"),
        _ => format!("hash/#tag-{i}.json"),
    };
    let len = match i {
        0 => 0,
        1 => 20 << 20,
        2 => 9 << 20,
        3 => (5 << 20) + 1,
        _ => (i * 7919) % 40_000,
    };
    let mut attributes = Attributes::default().with_content_type(match i % 4 {
        0 => "text/plain",
        1 => "application/pdf",
        2 => "application/octet-stream",
        _ => "application/json; charset=utf-8",
    });
    if i % 3 == 0 {
        attributes = attributes.with_cache_control("max-age=86400");
    }
    if i % 5 == 0 {
        attributes = attributes.with_content_disposition(format!("attachment; filename=\"f{i}.txt\""));
    }
    if i % 7 == 0 {
        attributes = attributes.with_content_language("en");
    }
    if i % 11 == 0 {
        attributes = attributes.with_content_encoding("identity");
    }
    if i % 2 == 0 {
        attributes = attributes.with_metadata("index", i.to_string()).with_metadata("origin", "tree");
    }
    let acl = if i % 4 == 0 { Acl::PublicRead } else { Acl::Private };
    TreeFile { name, data: storage_conformance::test_bytes(i as u64, len), attributes, acl }
}

/// Write files `range` of the tree under their exact names.
pub async fn write_tree(storage: &Storage, range: std::ops::Range<usize>) {
    use futures::StreamExt;
    futures::stream::iter(range)
        .for_each_concurrent(16, |i| async move {
            let file = tree_file(i);
            let options = PutOptions::new(WriteMode::Overwrite, file.attributes, Some(file.acl));
            storage.backend().put(&file.name, Content::from(file.data), options).await.unwrap();
        })
        .await;
}

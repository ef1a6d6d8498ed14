//! Copies stay on the server: a create-only copy or rename of a large object sends almost nothing through the client,
//! counted by a recording service in front of RGW.

use storage_core::{ErrorKind, OverwritePolicy};

use crate::recording;
use crate::support::{backend_with, config, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_only_copy_of_20_mib_sends_under_1_mib_through_the_client() {
    let recording = recording::start(&server()["STORAGE_S3_ENDPOINT"]).await;
    let storage = backend_with(config().with_endpoint(&recording.endpoint)).await.storage();
    let data = storage_conformance::test_bytes(20, 20 << 20);
    storage.save("big.bin", data.clone()).await.unwrap();
    let before = recording.requests().len();

    // Unique (the default): the first candidate is free, then one is taken and another name is made.
    let copied = storage.copy("big.bin", "copy.bin").await.unwrap();
    assert_eq!(copied, "copy.bin");
    let second = storage.copy("big.bin", "copy.bin").await.unwrap();
    assert_ne!(second, "copy.bin", "a taken name is never replaced");
    let moved = storage.rename("copy.bin", "moved.bin").await.unwrap();
    let failing = storage.clone().with_overwrite(OverwritePolicy::Fail);
    assert_eq!(failing.copy("big.bin", "moved.bin").await.unwrap_err().kind(), ErrorKind::AlreadyExists);

    let during: Vec<_> = recording.requests().split_off(before);
    let through_client: usize = during.iter().map(|r| r.bytes_up + r.bytes_down).sum();
    assert!(through_client < 1 << 20, "{through_client} bytes through the client in {} requests", during.len());
    for name in [&second, &moved] {
        assert!(storage.read(name).await.unwrap() == data, "`{name}` holds the whole object");
    }
    assert!(!storage.exists("copy.bin").await.unwrap(), "renamed away");
}

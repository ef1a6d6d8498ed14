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

/// A unique-name save above the multipart threshold claims its name with a zero-byte placeholder on servers that
/// ignore `If-None-Match` on completion (Ceph 16). While the upload runs, nothing of this crate shows it: `exists`,
/// `metadata`, `open` and `list` answer as if the name were free, and the placeholder still keeps the name taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_is_never_visible_while_a_slow_multipart_save_runs() {
    let recording = recording::start(&server()["STORAGE_S3_ENDPOINT"]).await;
    let config = config().with_endpoint(&recording.endpoint).with_multipart(5 << 20, 5 << 20);
    let storage = backend_with(config).await.storage();
    let (feed, chunks) = futures::channel::mpsc::unbounded::<std::io::Result<bytes::Bytes>>();
    let data = storage_conformance::test_bytes(7, 12 << 20);
    let saving = tokio::spawn({
        let storage = storage.clone();
        async move { storage.save("slow/upload.bin", storage_core::Content::from_stream(chunks, None)).await }
    });
    let mut fed = 0;
    let mut watched = 0;
    for chunk in data.chunks(1 << 20) {
        feed.unbounded_send(Ok(bytes::Bytes::copy_from_slice(chunk))).unwrap();
        fed += chunk.len();
        if fed <= 6 << 20 {
            continue;
        }
        // Past the threshold: wait for the placeholder to be written (a condition, not a time).
        let claimed = || {
            recording.requests().iter().any(|r| {
                r.method == "PUT"
                    && r.uri.contains("slow/upload.bin")
                    && r.headers.iter().any(|(n, _)| n.contains("placeholder"))
            })
        };
        while !claimed() {
            tokio::task::yield_now().await;
        }
        assert!(!storage.exists("slow/upload.bin").await.unwrap(), "exists during the upload");
        assert_eq!(storage.metadata("slow/upload.bin").await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(storage.open("slow/upload.bin").await.unwrap_err().kind(), ErrorKind::NotFound);
        let listed: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(storage.list("slow/")).await.unwrap();
        assert!(listed.is_empty(), "listed during the upload: {listed:?}");
        let other = storage.save("slow/upload.bin", b"another").await.unwrap();
        assert_ne!(other, "slow/upload.bin", "the placeholder keeps the name taken");
        storage.delete(&other).await.unwrap();
        watched += 1;
    }
    drop(feed);
    assert_eq!(saving.await.unwrap().unwrap(), "slow/upload.bin");
    assert!(watched >= 5, "watched {watched} times during the upload");
    assert!(storage.read("slow/upload.bin").await.unwrap() == data);
}

//! Create-only saves larger than one block: committed by Put Block List with `If-None-Match: *`, which Azurite
//! enforces, so unique names need no placeholder — under 64 concurrent saves of one name, and after a save that
//! fails half-way.

use std::io;

use bytes::Bytes;
use futures::StreamExt;
use storage_core::{Content, ErrorKind, ListOptions, OverwritePolicy, SaveOptions};

use crate::support::{backend_with, config, runtime};

/// Blocks of 64 KiB, so a save of a few hundred KiB is a block upload.
const BLOCK: usize = 64 << 10;

fn streamed(bytes: Vec<u8>) -> Content {
    let chunks: Vec<io::Result<Bytes>> = bytes.chunks(10_000).map(|chunk| Ok(Bytes::copy_from_slice(chunk))).collect();
    Content::from_stream(futures::stream::iter(chunks).boxed(), None)
}

#[test]
fn sixty_four_concurrent_unique_saves_of_one_name_make_sixty_four_files_and_no_placeholder() {
    runtime().block_on(async {
        let backend = backend_with(config().with_block_size(BLOCK)).await;
        let storage = backend.storage();
        let saves = (0..64u64).map(|index| {
            let storage = storage.clone();
            async move {
                let bytes = storage_conformance::test_bytes(index, 3 * BLOCK + 17);
                let options = SaveOptions::default().with_overwrite(OverwritePolicy::Unique);
                let name = storage.save_with("report.bin", streamed(bytes.clone()), options).await.unwrap();
                (name, bytes)
            }
        });
        let saved: Vec<(String, Vec<u8>)> = futures::future::join_all(saves).await;
        let names: std::collections::BTreeSet<&String> = saved.iter().map(|(name, _)| name).collect();
        assert_eq!(names.len(), 64, "64 distinct names: {names:?}");
        for (name, bytes) in &saved {
            assert!(storage.read(name).await.unwrap() == bytes.as_slice(), "{name} holds its own save's bytes");
        }
        let listed: Vec<_> = storage_core::Backend::list(&backend, ListOptions::new("")).collect().await;
        let listed: Vec<_> = listed.into_iter().map(|entry| entry.unwrap()).collect();
        assert_eq!(listed.len(), 64, "exactly the 64 files, nothing else: {listed:?}");
    });
}

#[test]
fn a_block_upload_onto_a_taken_name_is_refused_at_the_commit_and_a_failed_one_leaves_the_name_free() {
    runtime().block_on(async {
        let storage = backend_with(config().with_block_size(BLOCK)).await.storage();
        let failing = SaveOptions::default().with_overwrite(OverwritePolicy::Fail);
        storage.save("taken.bin", "first").await.unwrap();
        let big = storage_conformance::test_bytes(1, 4 * BLOCK);
        let err = storage.save_with("taken.bin", streamed(big.clone()), failing.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        assert_eq!(storage.read("taken.bin").await.unwrap(), "first", "nothing replaced");

        // A save whose stream breaks after two blocks: no claim is left behind, so the name is free at once.
        let mut chunks: Vec<io::Result<Bytes>> = vec![Ok(Bytes::from(vec![1u8; 2 * BLOCK + 5]))];
        chunks.push(Err(io::Error::other("the client went away")));
        let broken = Content::from_stream(futures::stream::iter(chunks).boxed(), None);
        storage.save_with("fresh.bin", broken, failing.clone()).await.unwrap_err();
        assert!(!storage.exists("fresh.bin").await.unwrap(), "a failed save leaves nothing");
        storage.save_with("fresh.bin", streamed(big.clone()), failing).await.unwrap();
        assert!(storage.read("fresh.bin").await.unwrap() == big.as_slice());
    });
}

//! Policy pieces that need no backend: download names, content types, spooling of streamed content.

use bytes::Bytes;
use futures::{TryStreamExt, stream};
use storage_core::{Content, Disposition, content_disposition, guess_content_type};

#[test]
fn download_names_become_content_disposition() {
    let check = |name: &str, disposition: Disposition, expected: &str| {
        assert_eq!(content_disposition(name, disposition).unwrap(), expected)
    };
    check("report.pdf", Disposition::Attachment, "attachment; filename=\"report.pdf\"");
    check("report.pdf", Disposition::Inline, "inline; filename=\"report.pdf\"");
    check(
        "Q3 – final.pdf",
        Disposition::Attachment,
        "attachment; filename=\"Q3 _ final.pdf\"; filename*=UTF-8''Q3%20%E2%80%93%20final.pdf",
    );
    check(
        "say \"hi\".txt",
        Disposition::Attachment,
        "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt",
    );
    assert!(content_disposition("a\r\nSet-Cookie: x", Disposition::Attachment).is_err(), "no header injection");
    assert!(content_disposition("", Disposition::Attachment).is_err());
}

#[test]
fn content_types_are_guessed_from_the_extension() {
    assert_eq!(guess_content_type("photo.JPG"), "image/jpeg");
    assert_eq!(guess_content_type("a/b/page.html"), "text/html");
    assert_eq!(guess_content_type("archive.tar.gz"), "application/gzip");
    assert_eq!(guess_content_type("README"), "application/octet-stream");
}

fn chunks(total: usize, chunk: usize) -> Content {
    let pieces: Vec<std::io::Result<Bytes>> = (0..total.div_ceil(chunk))
        .map(|i| Ok(Bytes::from(vec![(i % 251) as u8; chunk.min(total - i * chunk)])))
        .collect();
    Content::from_stream(stream::iter(pieces), None)
}

async fn collect(content: Content) -> Vec<u8> {
    let parts: Vec<Bytes> = content.into_stream().await.unwrap().try_collect().await.unwrap();
    parts.concat()
}

#[tokio::test]
async fn a_teed_stream_passes_through_and_replays_from_memory() {
    let (first, rewind) = chunks(1000, 100).tee();
    assert_eq!(collect(first).await.len(), 1000, "the first attempt sees every byte");
    let replayable = rewind.rewind().await.unwrap();
    let again = replayable.content();
    assert!(again.as_bytes().is_some(), "a small stream is spooled in memory");
    assert_eq!(collect(again).await, collect(replayable.content()).await, "every replay gives the same bytes");
}

#[tokio::test]
async fn a_large_stream_spills_and_an_abandoned_first_attempt_still_replays_whole() {
    let total = storage_core::content::SPOOL_MEMORY_LIMIT + 12_345;
    let (first, rewind) = chunks(total, 1 << 20).tee();
    // The backend gives up after three chunks (say, it found the name taken early).
    let mut stream = first.into_stream().await.unwrap();
    for _ in 0..3 {
        stream.try_next().await.unwrap().unwrap();
    }
    drop(stream);
    let replayable = rewind.rewind().await.unwrap();
    let content = replayable.content();
    let path = content.as_path().expect("spilled to disk").to_owned();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), total as u64, "the rest was read from the source");
    assert_eq!(collect(content).await.len(), total);
    assert_eq!(collect(replayable.content()).await.len(), total);
    drop(replayable);
    assert!(!path.exists(), "the spool file is deleted with its last handle");
}

#[tokio::test]
async fn a_claimed_name_stops_the_spool_but_only_for_a_tee_until_claimed() {
    let total = storage_core::content::SPOOL_MEMORY_LIMIT + 12_345;
    let (first, rewind) = chunks(total, 1 << 20).tee_until_claimed();
    first.name_claim().claimed();
    assert_eq!(collect(first).await.len(), total, "claiming never changes what the backend reads");
    let err = rewind.rewind().await.unwrap_err();
    assert!(err.to_string().contains("claimed the name"), "{err}");

    // A plain tee (the mirror's, which must replay to every mirror) ignores a backend's claim.
    let (first, rewind) = chunks(total, 1 << 20).tee();
    first.name_claim().claimed();
    assert_eq!(collect(first).await.len(), total);
    assert_eq!(collect(rewind.rewind().await.unwrap().content()).await.len(), total);
}

#[tokio::test]
async fn replayable_content_is_shared_not_copied() {
    let (first, rewind) = Content::from_bytes(Bytes::from_static(b"abc")).tee();
    assert_eq!(first.as_bytes().unwrap(), "abc");
    assert_eq!(rewind.rewind().await.unwrap().content().as_bytes().unwrap(), "abc");
}

#[tokio::test]
async fn a_file_is_streamed_not_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
    let content = Content::from_path(&path);
    assert_eq!(content.size().await.unwrap(), Some(1 << 20));
    let chunks: Vec<Bytes> = content.into_stream().await.unwrap().try_collect().await.unwrap();
    assert!(chunks.len() >= 4, "read in chunks of at most {} bytes", storage_core::content::FILE_CHUNK);
    assert!(chunks.iter().all(|c| c.len() <= storage_core::content::FILE_CHUNK));
}

/// Borrowed data is accepted as it is (copied once), as owned data is: `save(name, &data[..])` compiles for data that
/// lives on the stack, not only for `b"…"` literals.
#[tokio::test]
async fn borrowed_and_owned_bytes_are_content() {
    let owned: Vec<u8> = b"borrowed".to_vec();
    let text = String::from("text");
    let contents = [
        Content::from(&owned[..]),
        Content::from(&owned),
        Content::from(text.as_str()),
        Content::from(&text),
        Content::from(owned.clone()),
        Content::from(Bytes::from(owned.clone())),
        Content::from(text.clone()),
        Content::from(b"literal"),
    ];
    drop(owned);
    let sizes: Vec<Option<u64>> =
        futures::future::join_all(contents.iter().map(|content| async { content.size().await.unwrap() })).await;
    assert_eq!(sizes, [8, 8, 4, 4, 8, 8, 4, 7].map(Some));
}

//! The conformance cases. Each `pub async fn` here must be listed in `with_case_list!` (a test checks it).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use storage_core::{
    Acl, Attributes, ByteRange, ErrorKind, ListEntry, ListOptions, Method, OverwritePolicy, Result, SaveOptions,
    Storage, UrlOptions,
};

use crate::{Fixture, HttpRequest, HttpResponse};

// ----- helpers -----------------------------------------------------------------------------------------------------

/// Check that `result` failed with `kind` (an `Unsupported` checked counts for [`crate::Case::needs`]).
#[track_caller]
pub(crate) fn assert_kind<T: std::fmt::Debug>(result: Result<T>, kind: ErrorKind, what: &str) {
    match result {
        Err(err) => {
            assert_eq!(err.kind(), kind, "{what}: expected {kind}, got {err}");
            if kind == ErrorKind::Unsupported {
                crate::checked_unsupported();
            }
        }
        Ok(value) => panic!("{what}: expected {kind}, got Ok({value:?})"),
    }
}

/// Save under `name` and read back through a streaming reader; returns what was stored under which name.
async fn check_round_trip(storage: &Storage, name: &str, data: Bytes) {
    let stored = storage.save(name, data.clone()).await.expect("save");
    assert_eq!(stored, name, "a free name is stored unchanged");
    let reader = storage.open(name).await.expect("open");
    assert_eq!(reader.metadata.size(), data.len() as u64);
    let chunks: Vec<Bytes> = reader.stream.try_collect().await.expect("stream");
    let read: Vec<u8> = chunks.concat();
    assert!(read == data, "{name}: read {} bytes back, differing from the {} saved", read.len(), data.len());
    assert_eq!(storage.size(name).await.expect("size"), data.len() as u64);
}

/// `root_XXXXXXX.ext` for `name` = `root.ext`.
pub(crate) fn is_alternative_of(candidate: &str, name: &str) -> bool {
    let (dir, file) = name.rsplit_once('/').map_or(("", name), |(d, f)| (d, f));
    let ext_at = file.trim_start_matches('.').find('.').map(|i| i + (file.len() - file.trim_start_matches('.').len()));
    let (root, ext) = ext_at.map_or((file, ""), |i| (&file[..i], &file[i..]));
    let prefix = if dir.is_empty() { format!("{root}_") } else { format!("{dir}/{root}_") };
    candidate
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(ext))
        .is_some_and(|random| random.len() == 7 && random.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// `len` bytes of test content, the same for every case.
fn pattern(len: usize) -> Bytes {
    crate::test_bytes(0, len).into()
}

async fn keys(storage: &Storage, prefix: &str) -> Vec<String> {
    storage.list(prefix).map_ok(|meta| meta.key).try_collect().await.expect("list")
}

async fn send(
    fx: &Fixture,
    method: &'static str,
    url: &str,
    headers: Vec<(String, String)>,
    body: Bytes,
) -> HttpResponse {
    fx.http().send(HttpRequest { method, url: url.to_owned(), headers, body }).await
}

/// Change one character inside the value of the first query parameter whose name ends with `param`.
fn tamper(url: &str, param: &str) -> String {
    let at = url.find(&format!("{param}=")).unwrap_or_else(|| panic!("{url} has no {param}")) + param.len() + 1;
    let at = at + 2.min(url[at..].find('&').unwrap_or(url.len() - at).saturating_sub(1));
    let old = url.as_bytes()[at];
    let new = if old == b'A' { 'B' } else { 'A' };
    format!("{}{}{}", &url[..at], new, &url[at + 1..])
}

// ----- round trips -------------------------------------------------------------------------------------------------

/// An empty object saves and reads back empty.
pub async fn round_trip_empty(fx: Fixture) {
    check_round_trip(&fx.storage(), "empty.txt", Bytes::new()).await;
}

/// A one-byte object reads back exactly.
pub async fn round_trip_one_byte(fx: Fixture) {
    check_round_trip(&fx.storage(), "one.bin", Bytes::from_static(b"x")).await;
}

/// Every byte value survives a round trip.
pub async fn round_trip_binary(fx: Fixture) {
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 4 + 3).collect();
    check_round_trip(&fx.storage(), "binary.bin", every_byte.into()).await;
}

/// A multi-megabyte object reads back exactly.
pub async fn round_trip_large(fx: Fixture) {
    check_round_trip(&fx.storage(), "large/ten-mib.bin", pattern(10 * 1024 * 1024)).await;
}

/// A save from a stream of unknown length reads back exactly.
pub async fn round_trip_streamed(fx: Fixture) {
    let storage = fx.storage();
    let data = pattern(3 * 1024 * 1024 + 17);
    let chunks: Vec<std::io::Result<Bytes>> =
        data.chunks(64 * 1024 + 7).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let content = storage_core::Content::from_stream(stream::iter(chunks), None);
    let stored = storage.save("streamed.bin", content).await.expect("save a stream");
    assert_eq!(stored, "streamed.bin");
    assert!(storage.read("streamed.bin").await.expect("read") == data);
}

/// A save from a local file reads back exactly.
pub async fn round_trip_from_file(fx: Fixture) {
    let storage = fx.storage();
    let data = pattern(1024 * 1024 + 5);
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&data).expect("write temp file");
    let stored =
        storage.save("from-file.bin", storage_core::Content::from_path(file.path())).await.expect("save a file");
    assert_eq!(stored, "from-file.bin");
    assert!(storage.read("from-file.bin").await.expect("read") == data);
    let missing = storage_core::Content::from_path(file.path().with_extension("missing"));
    assert_kind(storage.save("never.bin", missing).await, ErrorKind::NotFound, "save of a missing local file");
    assert!(!storage.exists("never.bin").await.expect("exists"), "a failed save leaves nothing behind");
}

/// Ranged reads return the bytes asked for, clamp at the end, and refuse ranges past it.
pub async fn read_ranges(fx: Fixture) {
    let storage = fx.storage();
    let data = pattern(1000);
    storage.save("ranges.bin", data.clone()).await.expect("save");
    let checks: [(ByteRange, std::ops::Range<usize>); 5] = [
        ((10..20).into(), 10..20),
        ((990..2000).into(), 990..1000),
        ((500..).into(), 500..1000),
        (ByteRange::Suffix(7), 993..1000),
        (ByteRange::Suffix(5000), 0..1000),
    ];
    for (range, expected) in checks {
        let reader = storage.open_range("ranges.bin", range).await.expect("ranged open");
        assert_eq!(reader.range, expected.start as u64..expected.end as u64, "{range:?}");
        let bytes: Vec<Bytes> = reader.stream.try_collect().await.expect("stream");
        assert!(bytes.concat() == data[expected.clone()], "{range:?} returned the wrong bytes");
    }
    assert_kind(storage.open_range("ranges.bin", 1000..1010).await, ErrorKind::InvalidArgument, "range past the end");
}

// ----- names -------------------------------------------------------------------------------------------------------

/// Names that differ between backends when they are encoded carelessly (object_store#238, kestra#18051).
pub const SPECIAL_NAMES: &[&str] = &[
    "with space.txt",
    "ünïcødé/日本語.txt",
    "hash#tag.txt",
    "percent%20sign.txt",
    "plus+sign.txt",
    "question?mark.txt",
    "amp&ersand=equals.txt",
    "tilde~quote'paren(1).txt",
    "emoji 🦀.bin",
];

/// Names with spaces, unicode, `#`, `%`, `+`, `?` and `&` are stored exactly as given.
pub async fn special_names_round_trip(fx: Fixture) {
    let storage = fx.storage();
    for (i, name) in SPECIAL_NAMES.iter().enumerate() {
        check_round_trip(&storage, name, Bytes::from(format!("content {i}"))).await;
    }
    let listed: BTreeSet<String> = keys(&storage, "").await.into_iter().collect();
    let expected: BTreeSet<String> = SPECIAL_NAMES.iter().map(|n| n.to_string()).collect();
    assert_eq!(listed, expected, "listing returns every special name unchanged");
    for name in SPECIAL_NAMES {
        storage.delete(name).await.expect("delete");
        assert!(!storage.exists(name).await.expect("exists"), "{name} deleted");
    }
}

/// Names with directories save, list and delete like flat ones.
pub async fn nested_paths(fx: Fixture) {
    let storage = fx.storage();
    check_round_trip(&storage, "a/b/c/d/e.txt", Bytes::from_static(b"deep")).await;
    check_round_trip(&storage, "a/b/sibling.txt", Bytes::from_static(b"near")).await;
    assert_eq!(keys(&storage, "a/").await, ["a/b/c/d/e.txt", "a/b/sibling.txt"]);
    storage.delete("a/b/c/d/e.txt").await.expect("delete");
    assert_eq!(keys(&storage, "a/").await, ["a/b/sibling.txt"], "no empty directories are listed");
}

/// Names that could escape the root or mean different things on different backends are refused.
pub async fn invalid_names_refused(fx: Fixture) {
    let storage = fx.storage();
    for name in ["", "/etc/passwd", "../escape", "a/../../b", "a/./b", "a\\b", "nul\0byte", "a//b", "dir/", "tab\there"]
    {
        assert_kind(storage.save(name, "x").await, ErrorKind::InvalidName, &format!("save {name:?}"));
        assert_kind(storage.read(name).await, ErrorKind::InvalidName, &format!("read {name:?}"));
        assert_kind(storage.delete(name).await, ErrorKind::InvalidName, &format!("delete {name:?}"));
        assert_kind(storage.exists(name).await, ErrorKind::InvalidName, &format!("exists {name:?}"));
        if let Err(err) = storage.save(name, "x").await {
            assert!(err.to_string().contains(&format!("{name:?}")), "the error quotes the name: {err}");
        }
    }
    assert!(keys(&storage, "").await.is_empty(), "nothing was written");
}

/// Reading, inspecting and copying a missing name answer `NotFound`.
pub async fn missing_objects(fx: Fixture) {
    let storage = fx.storage();
    assert_kind(storage.read("nope.txt").await, ErrorKind::NotFound, "read");
    assert_kind(storage.metadata("nope.txt").await, ErrorKind::NotFound, "metadata");
    assert_kind(storage.size("nope.txt").await, ErrorKind::NotFound, "size");
    assert!(!storage.exists("nope.txt").await.expect("exists"));
    let err = storage.read("nope.txt").await.expect_err("missing");
    let message = err.to_string();
    assert!(message.contains("nope.txt") && message.contains(fx.backend.name()), "{message}");
}

// ----- overwrite policy --------------------------------------------------------------------------------------------

/// Under `Overwrite`, a second save replaces the first under the same name.
pub async fn overwrite_policy_overwrite(fx: Fixture) {
    let storage = fx.storage().with_overwrite(OverwritePolicy::Overwrite);
    assert_eq!(storage.save("same.txt", "first").await.expect("save"), "same.txt");
    assert_eq!(storage.save("same.txt", "second").await.expect("save"), "same.txt");
    assert_eq!(storage.read("same.txt").await.expect("read"), "second");
    assert_eq!(keys(&storage, "").await, ["same.txt"]);
}

/// Under `Unique`, a taken name is stored as `name_XXXXXXX.ext` and the first file is kept.
pub async fn overwrite_policy_unique(fx: Fixture) {
    let storage = fx.storage();
    assert_eq!(storage.options().overwrite, OverwritePolicy::Unique, "unique is the default on every backend");
    assert_eq!(storage.save("dir/same.tar.gz", "first").await.expect("save"), "dir/same.tar.gz");
    let second = storage.save("dir/same.tar.gz", "second").await.expect("save");
    assert!(is_alternative_of(&second, "dir/same.tar.gz"), "{second} is dir/same_XXXXXXX.tar.gz");
    assert_eq!(storage.read("dir/same.tar.gz").await.expect("read"), "first");
    assert_eq!(storage.read(&second).await.expect("read"), "second");
    let dotted = storage.save(".env", "a").await.expect("save");
    let dotted_again = storage.save(".env", "b").await.expect("save");
    assert_eq!(dotted, ".env");
    assert!(is_alternative_of(&dotted_again, ".env"), "a leading dot is not an extension: {dotted_again}");
}

/// Under `Fail`, a taken name is refused with `AlreadyExists` and nothing changes.
pub async fn overwrite_policy_fail(fx: Fixture) {
    let storage = fx.storage().with_overwrite(OverwritePolicy::Fail);
    if !fx.backend.capabilities().write_with_create_only {
        assert_kind(storage.save("same.txt", "x").await, ErrorKind::Unsupported, "fail policy without create-only");
        return;
    }
    storage.save("same.txt", "first").await.expect("save");
    assert_kind(storage.save("same.txt", "second").await, ErrorKind::AlreadyExists, "second save");
    assert_eq!(storage.read("same.txt").await.expect("read"), "first", "the first content survives");
}

/// Concurrent saves to one name under `Unique` all succeed, under distinct names.
pub async fn unique_concurrent_saves(fx: Fixture) {
    const WRITERS: usize = 64;
    let storage = fx.storage();
    let saves = (0..WRITERS).map(|i| {
        let storage = storage.clone();
        tokio::spawn(async move {
            let content = Bytes::from(format!("writer {i}"));
            (storage.save("contended.txt", content.clone()).await, content)
        })
    });
    let results = futures::future::join_all(saves).await;
    let mut names = BTreeSet::new();
    for result in results {
        let (saved, content) = result.expect("task");
        let name = saved.expect("every concurrent save succeeds");
        assert!(name == "contended.txt" || is_alternative_of(&name, "contended.txt"), "{name}");
        assert_eq!(storage.read(&name).await.expect("read"), content, "{name} holds its own writer's content");
        names.insert(name);
    }
    assert_eq!(names.len(), WRITERS, "all names distinct: none lost, none overwritten");
    assert_eq!(keys(&storage, "").await.len(), WRITERS);
}

/// A streamed save that meets a taken name is replayed under a new one, whole.
pub async fn unique_streamed_collision(fx: Fixture) {
    let storage = fx.storage();
    storage.save("taken.bin", "first").await.expect("save");
    let data = pattern(9 * 1024 * 1024); // over the in-memory spool limit, so the retry reads a temp file
    let chunks: Vec<std::io::Result<Bytes>> = data.chunks(1 << 20).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let stored = storage
        .save("taken.bin", storage_core::Content::from_stream(stream::iter(chunks), None))
        .await
        .expect("a streamed save onto a taken name");
    assert!(is_alternative_of(&stored, "taken.bin"), "{stored}");
    assert!(storage.read(&stored).await.expect("read") == data, "the whole stream arrived under the new name");
}

// ----- listing -----------------------------------------------------------------------------------------------------

/// Listings honour plain string prefixes and roll up directories with a delimiter.
pub async fn list_prefix_and_delimiter(fx: Fixture) {
    let storage = fx.storage();
    for name in
        ["photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "photos/top.jpg", "photo.txt", "zeta.txt"]
    {
        storage.save(name, name.to_owned()).await.expect("save");
    }
    assert_eq!(
        keys(&storage, "photos/").await,
        ["photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "photos/top.jpg"]
    );
    assert_eq!(
        keys(&storage, "photo").await,
        ["photo.txt", "photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "photos/top.jpg"],
        "a prefix is a plain string prefix"
    );
    let entries: Vec<ListEntry> = storage
        .list_entries(ListOptions::new("photos/").with_delimiter(true))
        .try_collect()
        .await
        .expect("delimited list");
    let shown: Vec<&str> = entries.iter().map(ListEntry::key).collect();
    assert_eq!(shown, ["photos/2024/", "photos/2025/", "photos/top.jpg"]);
    if let Some(ListEntry::Object(meta)) = entries.last() {
        assert_eq!(meta.size, "photos/top.jpg".len() as u64);
    }
    let root: Vec<String> = storage
        .list_entries(ListOptions::new("").with_delimiter(true))
        .map_ok(|e| e.key().to_owned())
        .try_collect()
        .await
        .expect("root list");
    assert_eq!(root, ["photo.txt", "photos/", "zeta.txt"]);
    assert!(keys(&storage, "nothing/").await.is_empty());
    assert_kind(
        storage.list("../").try_collect::<Vec<_>>().await,
        ErrorKind::InvalidName,
        "a prefix that escapes the root",
    );
}

/// Listings are in byte order of keys, which is not the order of a naive directory walk: `a-b` sorts before `a/x`
/// (`-` is 0x2D, `/` 0x2F) and `a/x` before `a0` (`0` is 0x30), though a walk of sorted names reaches `a/x` through
/// `a`, the first of `a`, `a-b`, `a0`. Flat, delimited and from an offset.
pub async fn listing_is_in_byte_order_not_in_directory_order(fx: Fixture) {
    let storage = fx.storage();
    for name in ["a0", "a/x", "a-b", "a/y/z", "a.txt"] {
        storage.save(name, name.to_owned()).await.expect("save");
    }
    let in_byte_order = ["a-b", "a.txt", "a/x", "a/y/z", "a0"];
    assert_eq!(keys(&storage, "").await, in_byte_order);
    assert_eq!(keys(&storage, "a").await, in_byte_order, "under a prefix that is not a directory");
    let delimited = |options: ListOptions| async {
        let keys: Vec<String> =
            storage.list_entries(options).map_ok(|e| e.key().to_owned()).try_collect().await.expect("list");
        keys
    };
    assert_eq!(delimited(ListOptions::new("").with_delimiter(true)).await, ["a-b", "a.txt", "a/", "a0"]);
    let after = ListOptions::new("").with_offset(Some("a-b".to_owned()));
    assert_eq!(delimited(after).await, in_byte_order[1..], "from an offset");
    let after = ListOptions::new("").with_offset(Some("a/x".to_owned()));
    assert_eq!(delimited(after).await, in_byte_order[3..], "from an offset inside the directory");
}

/// Pages from offsets list every object once, in key order.
pub async fn list_pagination(fx: Fixture) {
    // More objects than one S3 page (1,000), under two directories, to walk pages both flat and delimited.
    const COUNT: usize = 1_030;
    let storage = fx.storage().with_overwrite(OverwritePolicy::Overwrite);
    let names: Vec<String> =
        (0..COUNT).map(|i| format!("many/{}/{i:05}.txt", if i % 2 == 0 { "even" } else { "odd" })).collect();
    stream::iter(names.clone())
        .map(|name| {
            let storage = storage.clone();
            async move { storage.save(&name, Bytes::new()).await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("save many");
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(keys(&storage, "many/").await, expected, "a full listing crosses backend pages");

    let mut walked = Vec::new();
    let mut offset = None;
    let mut pages = 0;
    loop {
        let page = storage.list_page(ListOptions::new("many/").with_offset(offset), 100).await.expect("page");
        assert!(page.entries.len() <= 100);
        walked.extend(page.entries.into_iter().map(|e| e.key().to_owned()));
        pages += 1;
        match page.next_offset {
            Some(next) => offset = Some(next),
            None => break,
        }
    }
    assert_eq!(walked, expected, "pages joined give the full listing");
    assert_eq!(pages, COUNT.div_ceil(100));

    let first = storage.list_page(ListOptions::new("many/").with_delimiter(true), 1).await.expect("delimited page");
    assert_eq!(first.entries, [ListEntry::Prefix("many/even/".into())]);
    let second = storage
        .list_page(ListOptions::new("many/").with_delimiter(true).with_offset(first.next_offset), 1)
        .await
        .expect("delimited page");
    assert_eq!(second.entries, [ListEntry::Prefix("many/odd/".into())]);
    assert_eq!(second.next_offset, None, "the last page says so");
}

/// `listdir` answers directories and files as Django does.
pub async fn listdir_like_django(fx: Fixture) {
    let storage = fx.storage();
    for name in ["docs/a.txt", "docs/b.txt", "docs/sub/c.txt", "docs/sub/deeper/d.txt", "root.txt"] {
        storage.save(name, "x").await.expect("save");
    }
    let (dirs, files) = storage.listdir("docs").await.expect("listdir");
    assert_eq!((dirs, files), (vec!["sub".to_owned()], vec!["a.txt".to_owned(), "b.txt".to_owned()]));
    let (dirs, files) = storage.listdir("").await.expect("listdir root");
    assert_eq!((dirs, files), (vec!["docs".to_owned()], vec!["root.txt".to_owned()]));
    let (dirs, files) = storage.listdir("docs/sub/").await.expect("listdir with slash");
    assert_eq!((dirs, files), (vec!["deeper".to_owned()], vec!["c.txt".to_owned()]));
    let (dirs, files) = storage.listdir("absent").await.expect("listdir of nothing");
    assert!(dirs.is_empty() && files.is_empty());
}

/// Deleting a missing name succeeds, and a deleted name is gone.
pub async fn delete_is_idempotent(fx: Fixture) {
    let storage = fx.storage();
    storage.delete("never-existed.txt").await.expect("deleting a missing name succeeds");
    storage.save("gone.txt", "x").await.expect("save");
    storage.delete("gone.txt").await.expect("delete");
    storage.delete("gone.txt").await.expect("delete again");
    assert_kind(storage.read("gone.txt").await, ErrorKind::NotFound, "read after delete");
    assert!(keys(&storage, "").await.is_empty());
}

// ----- metadata ----------------------------------------------------------------------------------------------------

fn full_attributes() -> Attributes {
    Attributes::default()
        .with_content_type("text/plain; charset=utf-8")
        .with_cache_control("max-age=86400, public")
        .with_content_disposition("attachment; filename=\"report.txt\"")
        .with_content_encoding("identity")
        .with_content_language("en-GB")
        .with_metadata("owner", "user-42")
        .with_metadata("origin-name", "Report 2024 (final).txt")
}

/// Attributes and user metadata read back as saved.
pub async fn metadata_round_trip(fx: Fixture) {
    let storage = fx.storage();
    let caps = fx.backend.capabilities();
    let attributes = full_attributes();
    let saved =
        storage.save_with("meta.txt", "hello", SaveOptions::default().with_attributes(attributes.clone())).await;
    if !caps.write_with_attributes || !caps.write_with_user_metadata {
        assert_kind(saved, ErrorKind::Unsupported, "attributes on a backend without them");
        return;
    }
    saved.expect("save with attributes");
    let metadata = storage.metadata("meta.txt").await.expect("metadata");
    assert_eq!(metadata.attributes, attributes, "every attribute survives");
    assert_eq!(metadata.size(), 5);
    assert!(metadata.meta.etag.is_some(), "an etag is reported");
    let listed: Vec<_> = storage.list("meta").try_collect().await.expect("list");
    assert_eq!(listed[0].size, 5);
    assert_eq!(listed[0].etag, metadata.meta.etag, "list and head agree on the etag");
    let before = metadata.meta.last_modified;
    assert!((chrono::Utc::now() - before).num_seconds().abs() < 300, "last_modified is about now: {before}");

    assert_kind(
        storage
            .save_with(
                "bad.txt",
                "x",
                SaveOptions::default().with_attributes(Attributes::default().with_metadata("Bad Name", "v")),
            )
            .await,
        ErrorKind::InvalidArgument,
        "metadata name with a space",
    );
    assert_kind(
        storage
            .save_with(
                "bad.txt",
                "x",
                SaveOptions::default().with_attributes(Attributes::default().with_cache_control("a\r\nb")),
            )
            .await,
        ErrorKind::InvalidArgument,
        "header injection",
    );
    assert!(!storage.exists("bad.txt").await.expect("exists"), "a refused save writes nothing");
}

/// A save without a content type gets one guessed from the name, where the backend keeps types.
pub async fn content_type_guessed(fx: Fixture) {
    let storage = fx.storage();
    if !fx.backend.capabilities().write_with_attributes {
        // A guessed type is dropped quietly; an explicit one is refused.
        storage.save("page.html", "x").await.expect("a save without explicit attributes works");
        let explicit =
            storage.save_with("data.txt", "{}", SaveOptions::default().with_content_type("application/json")).await;
        assert_kind(explicit, ErrorKind::Unsupported, "an explicit content type without attribute support");
        return;
    }
    for (name, expected) in
        [("page.html", "text/html"), ("doc.pdf", "application/pdf"), ("blob", "application/octet-stream")]
    {
        storage.save(name, "x").await.expect("save");
        assert_eq!(storage.metadata(name).await.expect("metadata").content_type(), Some(expected), "{name}");
    }
    storage
        .save_with("data.txt", "{}", SaveOptions::default().with_content_type("application/json"))
        .await
        .expect("save");
    assert_eq!(storage.metadata("data.txt").await.expect("metadata").content_type(), Some("application/json"));
}

/// Default, per-name and per-save attributes layer in that order.
pub async fn attributes_layered_per_name(fx: Fixture) {
    let storage = fx
        .storage()
        .with_default_attributes(Attributes::default().with_cache_control("max-age=60").with_metadata("app", "demo"))
        .with_attributes_for(|name| {
            if name.starts_with("static/") {
                Attributes::default().with_cache_control("public, max-age=31536000, immutable")
            } else if name.starts_with("exports/") {
                Attributes::default().with_content_disposition("attachment")
            } else {
                Attributes::default()
            }
        });
    let caps = fx.backend.capabilities();
    if !caps.write_with_attributes || !caps.write_with_user_metadata {
        assert_kind(storage.save("static/app.css", "x").await, ErrorKind::Unsupported, "attributes without support");
        return;
    }
    storage.save("static/app.css", "body{}").await.expect("save");
    storage.save("exports/data.csv", "a,b").await.expect("save");
    let given = SaveOptions::default().with_attributes(Attributes::default().with_cache_control("no-store"));
    storage.save_with("static/live.json", "{}", given).await.expect("save");

    let static_file = storage.metadata("static/app.css").await.expect("metadata").attributes;
    assert_eq!(
        static_file.cache_control.as_deref(),
        Some("public, max-age=31536000, immutable"),
        "the hook wins over defaults"
    );
    assert_eq!(static_file.content_type.as_deref(), Some("text/css"), "the type is still guessed");
    assert_eq!(static_file.metadata.get("app").map(String::as_str), Some("demo"), "defaults fill the rest");
    let export = storage.metadata("exports/data.csv").await.expect("metadata").attributes;
    assert_eq!(
        (export.cache_control.as_deref(), export.content_disposition.as_deref()),
        (Some("max-age=60"), Some("attachment"))
    );
    let live = storage.metadata("static/live.json").await.expect("metadata").attributes;
    assert_eq!(live.cache_control.as_deref(), Some("no-store"), "the save's own attributes win over the hook");
}

// ----- copy and rename ---------------------------------------------------------------------------------------------

/// A copy has the source's bytes, attributes and ACL.
pub async fn copy_keeps_content_and_metadata(fx: Fixture) {
    let storage = fx.storage();
    let caps = fx.backend.capabilities();
    let options = if caps.write_with_attributes && caps.write_with_user_metadata {
        SaveOptions::default().with_attributes(full_attributes())
    } else {
        SaveOptions::default()
    };
    storage.save_with("src/original.txt", "payload", options).await.expect("save");
    assert_eq!(storage.copy("src/original.txt", "dst/copy.txt").await.expect("copy"), "dst/copy.txt");
    assert_eq!(storage.read("dst/copy.txt").await.expect("read"), "payload");
    assert_eq!(storage.read("src/original.txt").await.expect("read"), "payload", "the source stays");
    let source = storage.metadata("src/original.txt").await.expect("metadata");
    let copy = storage.metadata("dst/copy.txt").await.expect("metadata");
    assert_eq!(copy.attributes, source.attributes, "attributes are copied");
    assert_kind(storage.copy("src/missing.txt", "dst/x.txt").await, ErrorKind::NotFound, "copy of a missing source");
    assert!(!storage.exists("dst/x.txt").await.expect("exists"));
}

/// Copies and renames apply the overwrite policy to the target name.
pub async fn copy_applies_policy(fx: Fixture) {
    let storage = fx.storage();
    storage.save("a.txt", "a").await.expect("save");
    storage.save("b.txt", "b").await.expect("save");
    let unique = storage.copy("a.txt", "b.txt").await.expect("unique copy");
    assert!(is_alternative_of(&unique, "b.txt"), "{unique}");
    assert_eq!(storage.read("b.txt").await.expect("read"), "b", "the target was not replaced");
    assert_eq!(storage.read(&unique).await.expect("read"), "a");

    let failing = storage.clone().with_overwrite(OverwritePolicy::Fail);
    assert_kind(failing.copy("a.txt", "b.txt").await, ErrorKind::AlreadyExists, "fail policy copy");
    let overwriting = storage.clone().with_overwrite(OverwritePolicy::Overwrite);
    assert_eq!(overwriting.copy("a.txt", "b.txt").await.expect("overwrite copy"), "b.txt");
    assert_eq!(storage.read("b.txt").await.expect("read"), "a");
}

/// Copying onto an earlier copy and then renaming over it. Found by the model test on object_store's
/// LocalFileSystem, which left a staging file (`<target>#0`) behind, listed as an object when the name has a `#`.
pub async fn repeated_copies_and_a_rename_over_a_copy_leave_no_stray_objects(fx: Fixture) {
    let storage = fx.storage().with_overwrite(OverwritePolicy::Overwrite);
    storage.save("a.txt", "first").await.expect("save");
    for _ in 0..2 {
        assert_eq!(storage.copy("a.txt", "b #1.txt").await.expect("overwrite copy"), "b #1.txt");
    }
    let listed = |storage: storage_core::Storage| async move {
        let objects: Vec<_> = storage.list("").try_collect().await.expect("list");
        objects.into_iter().map(|meta| meta.key).collect::<Vec<_>>()
    };
    assert_eq!(listed(storage.clone()).await, ["a.txt", "b #1.txt"]);
    assert_eq!(storage.rename("a.txt", "b #1.txt").await.expect("rename"), "b #1.txt");
    assert_eq!(listed(storage.clone()).await, ["b #1.txt"]);
    assert_eq!(storage.read("b #1.txt").await.expect("read"), "first");
}

/// A rename moves bytes, attributes and ACL, and the source is gone.
pub async fn rename_moves(fx: Fixture) {
    let storage = fx.storage();
    let caps = fx.backend.capabilities();
    let options = if caps.write_with_attributes && caps.write_with_user_metadata {
        SaveOptions::default().with_attributes(full_attributes())
    } else {
        SaveOptions::default()
    };
    storage.save_with("old/name.txt", "moving", options).await.expect("save");
    let before = storage.metadata("old/name.txt").await.expect("metadata");
    assert_eq!(storage.rename("old/name.txt", "new/name.txt").await.expect("rename"), "new/name.txt");
    assert!(!storage.exists("old/name.txt").await.expect("exists"), "the source is gone");
    assert_eq!(storage.read("new/name.txt").await.expect("read"), "moving");
    let after = storage.metadata("new/name.txt").await.expect("metadata");
    assert_eq!(after.attributes, before.attributes, "attributes move along");

    storage.save("other.txt", "other").await.expect("save");
    let failing = storage.clone().with_overwrite(OverwritePolicy::Fail);
    assert_kind(failing.rename("new/name.txt", "other.txt").await, ErrorKind::AlreadyExists, "fail policy rename");
    assert_eq!(storage.read("new/name.txt").await.expect("read"), "moving", "a refused rename keeps the source");
    assert_eq!(storage.read("other.txt").await.expect("read"), "other", "and the target");
    assert_kind(storage.rename("absent.txt", "x.txt").await, ErrorKind::NotFound, "rename of a missing source");
}

/// Django's `test_file_truncation`: `max_length` 20 under `tests/`.
pub async fn available_name_truncation(fx: Fixture) {
    let storage = fx.storage();
    let limited = SaveOptions::default().with_max_length(20);
    let first = storage.save_with("tests/filename.ext", "Same Content", limited.clone()).await.expect("save");
    assert_eq!(first, "tests/filename.ext");
    let second = storage.save_with("tests/filename.ext", "Same Content", limited.clone()).await.expect("save");
    assert!(is_alternative_of(&second, "tests/fi.ext"), "truncated to fit: {second}");
    assert_eq!(second.chars().count(), 20);

    storage.save_with("tests/short.longext", "Same Content", limited.clone()).await.expect("save");
    let err = storage.save_with("tests/short.longext", "Same Content", limited).await.expect_err("no room to truncate");
    assert_eq!(err.kind(), ErrorKind::InvalidName);
    assert!(err.to_string().contains("max_length"), "{err}");
    assert_eq!(keys(&storage, "tests/").await.len(), 3, "the refused save wrote nothing");

    let shown = storage.get_available_name("tests/filename.ext", None).await.expect("available name");
    assert!(is_alternative_of(&shown, "tests/filename.ext"), "{shown}");
    assert_eq!(storage.get_available_name("tests/free.ext", None).await.expect("free"), "tests/free.ext");
}

// ----- ACLs and URLs -----------------------------------------------------------------------------------------------

/// Canned ACLs read back as set, or answer `Unsupported`.
pub async fn acl_round_trip(fx: Fixture) {
    let storage = fx.storage();
    if !fx.backend.capabilities().acl {
        let saved = storage.save_with("acl.txt", "x", SaveOptions::default().with_acl(Acl::Private)).await;
        assert_kind(saved, ErrorKind::Unsupported, "save with an ACL");
        assert!(!storage.exists("acl.txt").await.expect("exists"), "nothing written");
        storage.save("acl.txt", "x").await.expect("save without an ACL");
        assert_kind(storage.set_acl("acl.txt", Acl::PublicRead).await, ErrorKind::Unsupported, "set_acl");
        assert_kind(storage.acl("acl.txt").await, ErrorKind::Unsupported, "acl");
        return;
    }
    let private = storage.clone().private(Duration::from_secs(60));
    private.save("secret.txt", "s").await.expect("save");
    assert_eq!(storage.acl("secret.txt").await.expect("acl"), Acl::Private);
    storage.set_acl("secret.txt", Acl::PublicRead).await.expect("set_acl");
    assert_eq!(storage.acl("secret.txt").await.expect("acl"), Acl::PublicRead);
    storage.copy("secret.txt", "copied.txt").await.expect("copy");
    assert_eq!(storage.acl("copied.txt").await.expect("acl"), Acl::PublicRead, "copy keeps the ACL");
    storage.set_acl("copied.txt", Acl::Private).await.expect("set_acl");
    storage.rename("copied.txt", "moved.txt").await.expect("rename");
    assert_eq!(storage.acl("moved.txt").await.expect("acl"), Acl::Private, "rename keeps the ACL");
    assert_kind(storage.acl("absent.txt").await, ErrorKind::NotFound, "acl of a missing object");
}

/// Changing attributes in place keeps the bytes and the ACL; a backend that cannot says `Unsupported` and changes
/// nothing.
pub async fn set_attributes_keeps_bytes_and_acl(fx: Fixture) {
    let storage = fx.storage();
    let name = storage.save("report.pdf", "%PDF").await.expect("save");
    let wanted = Attributes::default()
        .with_content_type("application/x-report")
        .with_cache_control("max-age=60")
        .with_metadata("owner", "alice");
    let before = storage.metadata(&name).await.expect("metadata").attributes;
    if !fx.backend.capabilities().set_attributes {
        let refused = storage.set_attributes(&name, wanted).await;
        assert_kind(refused, ErrorKind::Unsupported, "set_attributes");
        assert_eq!(storage.metadata(&name).await.expect("metadata").attributes, before, "nothing changed");
        return;
    }
    let acl = fx.backend.capabilities().acl.then_some(Acl::PublicRead);
    if let Some(acl) = acl {
        storage.set_acl(&name, acl).await.expect("set_acl");
    }
    storage.set_attributes(&name, wanted.clone()).await.expect("set_attributes");
    let after = storage.metadata(&name).await.expect("metadata").attributes;
    assert_eq!(after.content_type, wanted.content_type);
    assert_eq!(after.cache_control, wanted.cache_control);
    assert_eq!(after.metadata, wanted.metadata);
    assert_eq!(storage.read(&name).await.expect("read"), "%PDF", "the bytes stay");
    if let Some(acl) = acl {
        assert_eq!(storage.acl(&name).await.expect("acl"), acl, "the ACL stays");
    }
    let missing = storage.set_attributes("absent.pdf", wanted).await;
    assert_kind(missing, ErrorKind::NotFound, "set_attributes of a missing object");
}

/// A content type is exactly one media type at every entry, on every backend: a list (which a browser reads as its
/// last, active type), a parameter that does not parse or a control character is `InvalidArgument` on save, copy,
/// attribute update, signed links and upload policies, and nothing is written.
pub async fn content_type_lists_refused_at_every_entry(fx: Fixture) {
    use storage_core::UploadPolicy;
    let storage = fx.storage();
    let caps = fx.backend.capabilities();
    for bad in ["image/png,text/html", "text/plain, text/html", "text/plain; charset", "text/plain\r\nx: y"] {
        let typed = SaveOptions::default().with_content_type(bad);
        assert_kind(storage.save_with("list.txt", "x", typed).await, ErrorKind::InvalidArgument, bad);
        let attributes = SaveOptions::default().with_attributes(Attributes::default().with_content_type(bad));
        assert_kind(storage.save_with("list.txt", "x", attributes).await, ErrorKind::InvalidArgument, bad);
        let defaults = storage.clone().with_default_attributes(Attributes::default().with_content_type(bad));
        assert_kind(defaults.save("list.txt", "x").await, ErrorKind::InvalidArgument, bad);
        assert!(!storage.exists("list.txt").await.expect("exists"), "{bad}: a refused save writes nothing");

        let updated = storage.set_attributes("list.txt", Attributes::default().with_content_type(bad)).await;
        assert_kind(updated, ErrorKind::InvalidArgument, bad);
        let hour = Duration::from_secs(3600);
        let put = storage.presigned_request("list.txt", hour, UrlOptions::put().with_content_type(bad)).await;
        assert_kind(put, ErrorKind::InvalidArgument, bad);
        let get = storage.temporary_url("list.txt", hour, UrlOptions::get().with_response_content_type(bad)).await;
        assert_kind(get, ErrorKind::InvalidArgument, bad);
        let exact = UploadPolicy::exact("list.txt").with_content_type(bad);
        assert_kind(storage.upload_form(&exact).await, ErrorKind::InvalidArgument, bad);
        assert_kind(storage.upload_url(&exact).await, ErrorKind::InvalidArgument, bad);
    }
    for prefix in ["image/png,", "image", "image/png/", "*/", "/", "image /", "imag\ne/"] {
        let policy = UploadPolicy::prefix("inbox/").with_content_type_prefix(prefix);
        assert_kind(storage.upload_form(&policy).await, ErrorKind::InvalidArgument, prefix);
    }
    if caps.write_with_attributes {
        // A file stored below the policy with a list (by an older version, or another tool) is not copied with it.
        let attributes = Attributes::default().with_content_type("image/png,text/html");
        let options = storage_core::PutOptions::new(storage_core::WriteMode::Overwrite, attributes, None);
        fx.backend.put("legacy.png", Bytes::from_static(b"<script>").into(), options).await.expect("put");
        let copied = storage.copy_to("legacy.png", &storage, "copied.png").await;
        assert_kind(copied, ErrorKind::InvalidArgument, "a copy carrying a list type");
        assert!(!storage.exists("copied.png").await.expect("exists"), "a refused copy writes nothing");
    }
}

/// Upload forms: a backend without them says `Unsupported`; one with them gives a `POST` form carrying its key, and
/// refuses a policy that is not a valid name or has an empty size range (the whole table is
/// `storage_conformance::direct_uploads`, over HTTP).
pub async fn upload_forms_or_unsupported(fx: Fixture) {
    let storage = fx.storage();
    let policy = storage_core::UploadPolicy::exact("inbox/photo.png").allowing_overwrite();
    if !fx.backend.capabilities().upload_form {
        assert_kind(storage.upload_form(&policy).await, ErrorKind::Unsupported, "upload_form");
        return;
    }
    let form = storage.upload_form(&policy).await.expect("upload_form");
    assert_eq!(form.method(), "POST");
    assert!(form.field("key").is_some_and(|key| key.ends_with("inbox/photo.png")), "{form:?}");
    let bad_name = storage_core::UploadPolicy::exact("../escape.png");
    assert_kind(storage.upload_form(&bad_name).await, ErrorKind::InvalidName, "a key that is not a name");
    #[allow(clippy::reversed_empty_ranges, reason = "the empty range is the point")]
    let empty = policy.clone().with_size(10..=1);
    assert_kind(storage.upload_form(&empty).await, ErrorKind::InvalidArgument, "an empty size range");
}

/// An overwrite that gives no ACL leaves the object private, however often it happens, and its plain URL refuses a
/// stranger. (The disk once reused a freed inode for the next temporary file and paired the new bytes with the old
/// file's `public-read` metadata: every second overwrite was served publicly.)
pub async fn overwrite_without_an_acl_is_private_every_time(fx: Fixture) {
    let storage = fx.storage().with_overwrite(OverwritePolicy::Overwrite);
    let caps = fx.backend.capabilities();
    if !caps.acl {
        let public = SaveOptions::default().with_acl(Acl::PublicRead);
        assert_kind(storage.save_with("shared/a.txt", "x", public).await, ErrorKind::Unsupported, "save with an ACL");
        return;
    }
    let public = SaveOptions::default().with_acl(Acl::PublicRead);
    storage.save_with("shared/a.txt", "published", public).await.expect("save public-read");
    assert_eq!(storage.acl("shared/a.txt").await.expect("acl"), Acl::PublicRead);
    let plain = if caps.public_url { Some(storage.url("shared/a.txt").await.expect("url")) } else { None };
    for round in 0..50 {
        let content = format!("overwrite {round}, private");
        storage.save("shared/a.txt", content.clone()).await.expect("overwrite");
        assert_eq!(storage.acl("shared/a.txt").await.expect("acl"), Acl::Private, "after overwrite {round}");
        assert_eq!(storage.read("shared/a.txt").await.expect("read"), content);
        if let Some(plain) = &plain {
            let response = send(&fx, "GET", plain, vec![], Bytes::new()).await;
            assert_eq!(response.status, 403, "overwrite {round} is not served at its plain URL: {plain}");
        }
    }
}

/// Public URLs serve public objects and refuse private ones, or answer `Unsupported`.
pub async fn public_urls(fx: Fixture) {
    let storage = fx.storage();
    storage.save("public/hello world.txt", "hello").await.expect("save");
    if !fx.backend.capabilities().public_url {
        assert_kind(storage.url("public/hello world.txt").await, ErrorKind::Unsupported, "url");
        return;
    }
    let url = storage.url("public/hello world.txt").await.expect("url");
    assert!(!url.contains(' '), "the key is encoded in the url: {url}");
    if fx.backend.capabilities().acl {
        storage.set_acl("public/hello world.txt", Acl::PublicRead).await.expect("set_acl");
        let response = send(&fx, "GET", &url, vec![], Bytes::new()).await;
        assert_eq!((response.status, response.body.as_ref()), (200, &b"hello"[..]), "a public-read object is served");
        storage.save("public/no-acl.txt", "unset").await.expect("save");
        let unset = storage.url("public/no-acl.txt").await.expect("url");
        let response = send(&fx, "GET", &unset, vec![], Bytes::new()).await;
        assert_eq!(response.status, 403, "an object saved without an ACL is private, as on a new S3 bucket");
        let private = storage.clone().private(Duration::from_secs(60));
        private.save("public/secret.txt", "secret").await.expect("save");
        let plain = storage.url("public/secret.txt").await.expect("url");
        let response = send(&fx, "GET", &plain, vec![], Bytes::new()).await;
        assert_eq!(response.status, 403, "a private object refuses strangers at its plain url");
        assert!(
            private.url("public/secret.txt").await.expect("url").contains('?'),
            "a private storage's url is signed"
        );
    }
}

/// Private unless proven public: a file nobody made public never answers 2xx at its plain URL, nor at a signed
/// link's URL without its query, on a backend with per-file ACLs or without them.
pub async fn plain_urls_of_files_never_made_public_are_refused(fx: Fixture) {
    let storage = fx.storage();
    let caps = fx.backend.capabilities();
    let private = storage.clone().private(Duration::from_secs(60));
    let mut names = vec![
        storage.save("docs/plain secret.txt", "never made public").await.expect("save"),
        private.save("docs/private secret.txt", "never made public").await.expect("save"),
    ];
    if caps.acl {
        let name = storage.save("docs/made private.txt", "never made public").await.expect("save");
        storage.set_acl(&name, Acl::Private).await.expect("set_acl");
        names.push(name);
    }
    assert!(!storage.is_public(&names[0]).await.expect("is_public"), "a plain save is not public");
    if !caps.public_url {
        assert_kind(storage.url(&names[0]).await, ErrorKind::Unsupported, "url");
        return;
    }
    for name in &names {
        let mut urls = vec![storage.url(name).await.expect("url")];
        if caps.presign_read {
            let signed = private.url(name).await.expect("a signed url");
            urls.push(signed.split('?').next().expect("a url").to_owned());
        }
        for url in urls {
            for headers in [vec![], vec![("range".to_owned(), "bytes=0-3".to_owned())]] {
                let response = send(&fx, "GET", &url, headers.clone(), Bytes::new()).await;
                assert!(
                    !(200..300).contains(&response.status) && response.body != "never made public",
                    "GET {url} {headers:?} of a file never made public answered {}",
                    response.status
                );
            }
        }
    }
}

/// Signed download URLs work, refuse tampering and other methods, and expire.
pub async fn temporary_url_get(fx: Fixture) {
    let storage = fx.storage().private(Duration::from_secs(60));
    storage.save("private/report #1.pdf", "%PDF-report").await.expect("save");
    let caps = fx.backend.capabilities();
    let options = UrlOptions::get().with_download_name("Q3 report – final.pdf");
    if !caps.presign_read {
        let issued = storage.temporary_url("private/report #1.pdf", Duration::from_secs(60), options).await;
        assert_kind(issued, ErrorKind::Unsupported, "temporary url");
        return;
    }
    let url =
        storage.temporary_url("private/report #1.pdf", Duration::from_secs(60), options).await.expect("temporary url");
    let response = send(&fx, "GET", &url, vec![], Bytes::new()).await;
    assert_eq!(response.status, 200, "a fresh url works");
    assert_eq!(response.body, "%PDF-report");
    let disposition = response.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("filename*=UTF-8''Q3%20report"),
        "{disposition}"
    );

    // SigV4 and the disk and memory signers name them so; Azure's SAS `sig` and `rscd`.
    let signature = if url.contains("Signature=") { "Signature" } else { "sig" };
    let disposition =
        if url.contains("response-content-disposition=") { "response-content-disposition" } else { "rscd" };
    for (what, bad) in [
        ("signature", tamper(&url, signature)),
        ("key", url.replacen("report", "rePort", 1)),
        ("override", tamper(&url, disposition)),
    ] {
        let response = send(&fx, "GET", &bad, vec![], Bytes::new()).await;
        assert_eq!(response.status, 403, "a url with its {what} changed is refused: {bad}");
    }
    let response = send(&fx, "PUT", &url, vec![], Bytes::from_static(b"overwrite")).await;
    // Azure answers a PUT without its `x-ms-blob-type` 400 before it looks at the permission (storage-azure's own
    // tests send a well-formed one and see the 403); the object staying unchanged is the point.
    assert!(matches!(response.status, 400 | 403), "a GET url does not allow PUT: {}", response.status);
    assert_eq!(storage.read("private/report #1.pdf").await.expect("read"), "%PDF-report");

    let (before, lifetime) = (std::time::SystemTime::now(), Duration::from_secs(10));
    let short = storage.temporary_url("private/report #1.pdf", lifetime, UrlOptions::get()).await.expect("short url");
    let issued = before..std::time::SystemTime::now();
    crate::watch_link_expire(issued, lifetime, || async {
        send(&fx, "GET", &short, vec![], Bytes::new()).await.status
    })
    .await;
}

/// Signed upload URLs store exactly what they allow, create-only unless the storage overwrites.
pub async fn temporary_url_put(fx: Fixture) {
    let storage = fx.storage();
    if !fx.backend.capabilities().presign_write {
        let issued = storage.temporary_url("upload.txt", Duration::from_secs(60), UrlOptions::put()).await;
        assert_kind(issued, ErrorKind::Unsupported, "temporary upload url");
        return;
    }
    if !fx.backend.capabilities().presign_write_with_headers {
        return temporary_url_put_without_headers(&fx).await;
    }
    let options = UrlOptions::put().with_content_type("text/plain");
    let request = storage
        .presigned_request("uploads/one.txt", Duration::from_secs(60), options.clone())
        .await
        .expect("presigned put");
    assert_eq!(request.method, Method::Put);
    let response = send(&fx, "PUT", &request.url, request.headers.clone(), Bytes::from_static(b"uploaded")).await;
    assert!((200..300).contains(&response.status), "upload accepted: {}", response.status);
    assert_eq!(storage.read("uploads/one.txt").await.expect("read"), "uploaded");
    assert_eq!(storage.metadata("uploads/one.txt").await.expect("metadata").content_type(), Some("text/plain"));

    let again = send(&fx, "PUT", &request.url, request.headers.clone(), Bytes::from_static(b"replaced")).await;
    assert!(!(200..300).contains(&again.status), "the unique policy makes upload urls create-only: {}", again.status);
    assert_eq!(storage.read("uploads/one.txt").await.expect("read"), "uploaded", "nothing was replaced");

    let fresh =
        storage.presigned_request("uploads/two.txt", Duration::from_secs(60), options).await.expect("presigned put");
    let mut wrong_type = fresh.headers.clone();
    wrong_type.retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
    wrong_type.push(("content-type".into(), "text/html".into()));
    let refused = send(&fx, "PUT", &fresh.url, wrong_type, Bytes::from_static(b"<script>")).await;
    assert_eq!(refused.status, 403, "an upload with another content type is refused");
    assert!(!storage.exists("uploads/two.txt").await.expect("exists"));
    let refused = send(&fx, "GET", &fresh.url, vec![], Bytes::new()).await;
    assert_eq!(refused.status, 403, "a PUT url does not allow GET");
}

/// [`temporary_url_put`] where the signature covers no request header (Azure's SAS): a link that would fix the
/// content type is refused, and one without it still stores exactly what it allows, create-only.
async fn temporary_url_put_without_headers(fx: &Fixture) {
    let storage = fx.storage();
    let typed = UrlOptions::put().with_content_type("text/plain");
    let refused = storage.presigned_request("uploads/one.txt", Duration::from_secs(60), typed).await;
    assert_kind(refused, ErrorKind::Unsupported, "a PUT link fixing the content type, unsigned");
    let request = storage
        .presigned_request("uploads/one.txt", Duration::from_secs(60), UrlOptions::put())
        .await
        .expect("presigned put");
    assert_eq!(request.method, Method::Put);
    let response = send(fx, "PUT", &request.url, request.headers.clone(), Bytes::from_static(b"uploaded")).await;
    assert!((200..300).contains(&response.status), "upload accepted: {}", response.status);
    assert_eq!(storage.read("uploads/one.txt").await.expect("read"), "uploaded");
    let again = send(fx, "PUT", &request.url, request.headers.clone(), Bytes::from_static(b"replaced")).await;
    assert!(!(200..300).contains(&again.status), "the unique policy makes upload urls create-only: {}", again.status);
    assert_eq!(storage.read("uploads/one.txt").await.expect("read"), "uploaded", "nothing was replaced");
    let refused = send(fx, "GET", &request.url, vec![], Bytes::new()).await;
    assert_eq!(refused.status, 403, "a PUT url does not allow GET");
}

/// Expiries beyond the backend's limit, and unsafe download names, are refused.
pub async fn temporary_url_expiry_limits(fx: Fixture) {
    let storage = fx.storage();
    storage.save("limits.txt", "x").await.expect("save");
    let caps = fx.backend.capabilities();
    if !caps.presign_read {
        let refused = storage.temporary_url("limits.txt", Duration::from_secs(60), UrlOptions::get()).await;
        assert_kind(refused, ErrorKind::Unsupported, "temporary url without presigning");
        return;
    }
    assert_kind(
        storage.temporary_url("limits.txt", Duration::ZERO, UrlOptions::get()).await,
        ErrorKind::InvalidArgument,
        "zero expiry",
    );
    if let Some(max) = caps.presign_max_expiry {
        let err = storage
            .temporary_url("limits.txt", max + Duration::from_secs(1), UrlOptions::get())
            .await
            .expect_err("past the backend's maximum");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains(&max.as_secs().to_string()), "the error names the maximum: {err}");
        storage.temporary_url("limits.txt", max, UrlOptions::get()).await.expect("the maximum itself");
    }
    assert_kind(
        storage
            .temporary_url("limits.txt", Duration::from_secs(60), UrlOptions::get().with_download_name("a\nb"))
            .await,
        ErrorKind::InvalidArgument,
        "a download name with a newline",
    );
}

// ----- model -------------------------------------------------------------------------------------------------------

/// Random operation sequences give the same results as a model of the storage.
pub async fn model_based_sequences(fx: Fixture) {
    crate::model::run(fx).await;
}

// ----- the suites with modules of their own ------------------------------------------------------------------------

/// The direct-upload table over HTTP (`uploads.rs`): forms enforce size, type, checksum, key and expiry while the
/// file streams in, and a refused upload stores nothing.
pub async fn direct_uploads(fx: Fixture) {
    crate::uploads::direct_uploads(&fx.storage(), "forms").await;
}

/// Signed PUTs with an exact size and MD5 (`uploads.rs`).
pub async fn upload_urls(fx: Fixture) {
    crate::uploads::upload_urls(&fx.storage(), "puts").await;
}

/// The same random operation sequences on this backend and on the memory backend, declaring this one's
/// capabilities, are observably the same.
pub async fn differential(fx: Fixture) {
    let declaring = crate::FaultLayer::none().with_capabilities(fx.backend.capabilities());
    let reference = storage_memory::MemoryBackend::new();
    let reference = crate::Fixture::from_arc(storage_core::Layer::layer(&declaring, std::sync::Arc::new(reference)));
    crate::model::differential(fx, reference).await;
}

/// A mirror storage over this backend and another fresh one, against the model of its members (`mirror.rs`).
pub async fn mirror_model(fx: Fixture) {
    let mirror = fx.another().await;
    crate::mirror::mirror_model(fx, mirror).await;
}

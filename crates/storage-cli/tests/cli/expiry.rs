//! One expiry rule on every backend: links, PUT links and forms last at most 7 days unless a disk or memory storage
//! raises its `max_expires`; the command refuses durations that overflow or wrap as wrong usage, never panicking.

use std::path::Path;
use std::time::Duration;

use storage_core::signing::{SigningKey, UrlSigner};
use storage_core::{ErrorKind, Method, PresignRequest, Storage, UploadPolicy, UrlOptions};

use crate::backends::{self, Kind};
use crate::{ok, stderr, storage};

const DAY: Duration = Duration::from_secs(86_400);

fn signer() -> UrlSigner {
    UrlSigner::new("http://127.0.0.1:8000/", SigningKey::generate())
}

/// A disk storage that signs links (a plain `FsBackend` has none to refuse), in `dir`.
fn signed_fs(dir: &Path, signer: UrlSigner) -> Storage {
    storage_fs::FsBackend::new(dir).unwrap().with_url_signer(signer).storage()
}

/// Every way to issue something that expires, for `expires`: the results, named.
async fn issue_all(storage: &Storage, expires: Duration) -> Vec<(&'static str, storage_core::Result<()>)> {
    // Overwriting, so the form is one every backend can make (S3 has no create-only form).
    let policy = UploadPolicy::exact("limits.txt").allowing_overwrite().expires_in(expires);
    vec![
        ("get link", storage.temporary_url("limits.txt", expires, UrlOptions::get()).await.map(drop)),
        ("put link", storage.temporary_url("limits.txt", expires, UrlOptions::put()).await.map(drop)),
        ("upload url", storage.upload_url(&policy).await.map(drop)),
        // S3's forms cannot be create-only (`Unsupported`, checked first): the expiry is what this asks about.
        ("upload form", storage.upload_form(&policy.clone().allowing_overwrite()).await.map(drop)),
    ]
}

async fn assert_refused(storage: &Storage, expires: Duration, max: Duration) {
    for (what, result) in issue_all(storage, expires).await {
        let err = result.expect_err(what);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{what}: {err}");
        let message = err.to_string();
        assert!(message.contains(&max.as_secs().to_string()) && message.contains("limits.txt"), "{what}: {message}");
    }
}

async fn assert_accepted(storage: &Storage, expires: Duration) {
    for (what, result) in issue_all(storage, expires).await {
        result.unwrap_or_else(|err| panic!("{what} for {} s: {err}", expires.as_secs()));
    }
}

#[tokio::test]
async fn eight_days_is_refused_by_memory_fs_and_s3_by_default() {
    backends::create_bucket().await;
    let dir = tempfile::tempdir().unwrap();
    let (s3, _) = backends::fresh(Kind::S3).await;
    let storages = [storage_memory::MemoryBackend::new().storage(), signed_fs(dir.path(), signer()), s3];
    for storage in &storages {
        assert_refused(storage, 8 * DAY, 7 * DAY).await;
        assert_accepted(storage, 7 * DAY).await;
    }
    // The backends themselves refuse too, for a caller that goes around `Storage`.
    for storage in &storages[..2] {
        let request = PresignRequest::new(Method::Get, "limits.txt", 8 * DAY);
        let err = storage.backend().presign(&request).await.expect_err("a backend's own presign");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
}

#[tokio::test]
async fn max_expires_raises_the_limit_of_memory_and_fs() {
    let dir = tempfile::tempdir().unwrap();
    let raised = || signer().with_max_expiry(30 * DAY);
    let storages = [storage_memory::MemoryBackend::with_signer(raised()).storage(), signed_fs(dir.path(), raised())];
    for storage in &storages {
        assert_accepted(storage, 30 * DAY).await;
        assert_refused(storage, 31 * DAY, 30 * DAY).await;
    }
}

#[tokio::test]
async fn max_expires_in_storage_toml_raises_fs_and_memory_and_is_refused_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let config: storage_config::Config = toml::from_str(
        "[storages.disk]\nbackend = 'fs'\nlocation = 'media'\ncreate = true\nmax_expires = '30d'\n\n\
         [storages.ram]\nbackend = 'memory'\nmax_expires = '30d'\n\n\
         [storages.plain]\nbackend = 'memory'\n\n\
         [storages.long]\nbackend = 'memory'\nprivate = true\nexpires = '8d'\n\n\
         [storages.long_raised]\nbackend = 'memory'\nprivate = true\nexpires = '8d'\nmax_expires = '8d'\n",
    )
    .unwrap();
    let build = |name: &str| config.storage(name).unwrap().unwrap().build(name, dir.path());
    for name in ["disk", "ram"] {
        let storage = build(name).unwrap().storage;
        assert_accepted(&storage, 30 * DAY).await;
        assert_refused(&storage, 31 * DAY, 30 * DAY).await;
    }
    assert_refused(&build("plain").unwrap().storage, 8 * DAY, 7 * DAY).await;
    let err = build("long").expect_err("a private storage whose links would outlive the maximum");
    assert!(err.to_string().contains("`expires` is 691200 s, longer than its links may last (604800 s)"), "{err}");
    let long_raised = build("long_raised").unwrap().storage;
    long_raised.url("a.txt").await.expect("an 8-day link where max_expires allows it");
    // Refused as the file is read, naming the storage and the key.
    let refused = |text: &str| toml::from_str::<storage_config::Config>(text).expect_err(text).message().to_owned();
    let err = refused("[storages.bucket]\nbackend = 's3'\nbucket = 'b'\nmax_expires = '30d'\n");
    assert!(err.contains("storage `bucket`: `max_expires` is for fs and memory storages"), "{err}");
    let err = refused("[storages.wrapped]\nbackend = 'memory'\nmax_expires = '213503982334602d'\n");
    assert!(err.contains("storage `wrapped`: `max_expires`") && err.contains("too long"), "{err}");
}

#[test]
fn expiries_that_overflow_wrap_or_exceed_the_maximum_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let refused = [
        ("18446744073709551615s", "longer than"), // once a panic: overflow when adding duration to instant
        ("213503982334602d", "too long"),         // once a link valid for about 17 hours
        ("3650d", "longer than"),                 // once accepted on a disk storage
        ("8d", "longer than"),
        ("0s", "at least one second"),
        ("-5m", "not a duration"),
    ];
    for (expires, says) in refused {
        let flag = format!("--expires={expires}");
        for command in [["url", "a.txt", flag.as_str()], ["upload-url", "a.txt", flag.as_str()]] {
            let output = storage(dir.path(), &command);
            let message = stderr(&output);
            assert_eq!(output.status.code(), Some(2), "{command:?}: {message}");
            assert!(
                message.contains(says) && !message.contains("panicked"),
                "{command:?} should say {says:?}: {message}"
            );
        }
    }
    // A download link is only made for a file that exists.
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    ok(storage(dir.path(), &["put", "a.txt"]));
    ok(storage(dir.path(), &["url", "a.txt", "--expires", "7d"]));
    std::fs::write(
        dir.path().join("storage.toml"),
        "[storages.default]\nbackend = 'fs'\nlocation = 'media'\ncreate = true\nmax_expires = '30d'\n",
    )
    .unwrap();
    let raised =
        |expires: &str| storage(dir.path(), &["--config", "storage.toml", "url", "a.txt", "--expires", expires]);
    ok(storage(dir.path(), &["--config", "storage.toml", "put", "a.txt"]));
    ok(raised("30d"));
    assert_eq!(raised("31d").status.code(), Some(2), "{}", stderr(&raised("31d")));
}

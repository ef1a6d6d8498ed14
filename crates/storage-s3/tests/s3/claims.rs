//! Name claims a killed process left (the placeholder mode of create-only multipart saves): a real saver is killed
//! with SIGKILL mid-upload; its live claim still holds the name, its dead claim (past its deadline) is taken over by
//! the same save again, and of concurrent savers meeting one dead claim exactly one gets the name.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use storage_core::{Content, ErrorKind, OverwritePolicy, Storage, UrlOptions};
use storage_s3::{CreateOnlyMultipart, S3Config};

use crate::support::{backend_with, config};

/// Set in the child process: the location it saves into, until it is killed.
const CHILD_LOCATION: &str = "STORAGE_S3_TEST_CLAIMS_LOCATION";
const MIB: usize = 1 << 20;
/// The claim lifetime of the save to `dead.bin`: short, so its claim dies within seconds.
const SHORT_LIFETIME: Duration = Duration::from_secs(1);

/// A backend in the placeholder mode, with saves above 5 MiB in 5 MiB parts.
fn placeholder_config(location: &str) -> S3Config {
    config()
        .with_location(location)
        .with_multipart(5 * MIB, 5 * MIB)
        .with_create_only_multipart(CreateOnlyMultipart::Placeholder)
}

/// A unique-name save of `chunks` MiB (endless if `None`), one MiB every `pause`.
async fn streamed_save(
    storage: &Storage,
    key: &str,
    chunks: Option<usize>,
    pause: Duration,
) -> storage_core::Result<String> {
    let stream = futures::stream::iter(0..chunks.unwrap_or(usize::MAX)).then(move |i| async move {
        tokio::time::sleep(pause).await;
        Ok(Bytes::from(vec![(i % 251) as u8; MIB]))
    });
    storage.save(key, Content::from_stream(stream, None)).await
}

/// In a normal run: a streamed save in the placeholder mode lands whole and leaves no placeholder. In the child of
/// `kill_a_saver_mid_upload`: two endless saves, `live.bin` with the default claim lifetime (an hour) and `dead.bin`
/// with a short one, until the parent kills the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_save_lands_whole() {
    if let Ok(location) = std::env::var(CHILD_LOCATION) {
        let live = backend_with(placeholder_config(&location)).await.storage();
        let dead = backend_with(placeholder_config(&location).with_claim_lifetime(SHORT_LIFETIME)).await.storage();
        let pause = Duration::from_millis(20);
        let _ = futures::join!(
            streamed_save(&live, "live.bin", None, pause),
            streamed_save(&dead, "dead.bin", None, pause)
        );
        unreachable!("the parent kills this process");
    }
    let backend = backend_with(placeholder_config(&config().location)).await;
    let stored = streamed_save(&backend.storage(), "big.bin", Some(12), Duration::ZERO).await.unwrap();
    assert_eq!(stored, "big.bin");
    let written = backend.storage().read("big.bin").await.unwrap();
    assert!(written.chunks(MIB).enumerate().all(|(i, chunk)| chunk.iter().all(|b| *b == (i % 251) as u8)));
    assert_eq!(written.len(), 12 * MIB);
    assert!(backend.remove_placeholders(Duration::ZERO).await.unwrap().is_empty(), "the claim was replaced");
}

/// Kills the child on drop, so a failed assertion leaves no saver running.
struct Saver(Child);

impl Drop for Saver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the child saver on a fresh location, wait until both its placeholders hold their names, and SIGKILL it
/// mid-upload. The location and each key's claim deadline (seconds since 1970), read from its placeholder.
async fn kill_a_saver_mid_upload() -> (String, BTreeMap<&'static str, u64>) {
    let location = config().location;
    let mut saver = Saver(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "claims::a_placeholder_save_lands_whole", "--nocapture", "--test-threads", "1"])
            .env(CHILD_LOCATION, &location)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let storage = backend_with(config().with_location(&location)).await.storage();
    let mut deadlines = BTreeMap::new();
    for key in ["live.bin", "dead.bin"] {
        let running = || assert!(saver.0.try_wait().unwrap().is_none(), "the child saver exited early");
        deadlines.insert(key, claim_deadline(&storage, key, running).await);
    }
    saver.0.kill().unwrap(); // SIGKILL: no chance to release the names
    saver.0.wait().unwrap();
    (location, deadlines)
}

/// Wait until a placeholder claims `key`, checking `still` meanwhile; its deadline (seconds since 1970). A signed
/// link reaches the placeholder itself (no read path of the storage shows it), with its metadata.
async fn claim_deadline(storage: &Storage, key: &str, mut still: impl FnMut()) -> u64 {
    let link = storage.temporary_url(key, Duration::from_secs(600), UrlOptions::get()).await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let waiting = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < waiting, "no placeholder claimed `{key}` within 2 minutes");
        still();
        let answer = client.get(&link).send().await.unwrap();
        if let Some(deadline) = answer.headers().get("x-amz-meta-storage-claim-deadline") {
            return deadline.to_str().unwrap().parse().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until the clock is past `deadline` (seconds since 1970): a condition on the clock, not a guessed delay.
async fn wait_past(deadline: u64) {
    let now = || SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    while now() <= deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A save killed mid-upload (SIGKILL, placeholder mode) leaves its claim. While the claim is live, the name is
/// taken; once its deadline has passed, the same save again gets the name it asked for, without `storage gc`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_killed_mid_upload_leaves_a_claim_that_dies_and_the_same_save_then_gets_the_name() {
    let (location, deadlines) = kill_a_saver_mid_upload().await;
    let storage = backend_with(placeholder_config(&location)).await.storage();
    assert!(!storage.exists("dead.bin").await.unwrap(), "a claim is never visible");

    let data = storage_conformance::test_bytes(11, 12 * MIB);
    let live = storage.save("live.bin", data.clone()).await.unwrap();
    assert_ne!(live, "live.bin", "a live claim (an hour) still holds its name");
    assert_eq!(
        storage
            .clone()
            .with_overwrite(OverwritePolicy::Fail)
            .save("live.bin", b"small".as_slice())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists,
        "for small saves too"
    );

    wait_past(deadlines["dead.bin"]).await;
    assert_eq!(storage.save("dead.bin", data.clone()).await.unwrap(), "dead.bin", "the dead claim is taken over");
    assert!(storage.read("dead.bin").await.unwrap() == data, "the whole new object");
    let listed: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(storage.list("")).await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|entry| entry.key.as_str()).collect();
    assert_eq!(keys, ["dead.bin", live.as_str()], "the live claim stays hidden");
}

/// Concurrent savers meeting the same dead claim, some small (one PutObject) and some large (a claim, then a
/// multipart upload), under the `Fail` policy: exactly one gets the name, the others are told it is taken, and the
/// name holds the winner's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_savers_meeting_the_same_dead_claim_exactly_one_gets_the_name() {
    let (location, deadlines) = kill_a_saver_mid_upload().await;
    let storage = backend_with(placeholder_config(&location)).await.storage().with_overwrite(OverwritePolicy::Fail);
    wait_past(deadlines["dead.bin"]).await;

    let contents: Vec<Bytes> = (0..6)
        .map(|saver| storage_conformance::test_bytes(20 + saver, if saver % 2 == 0 { 1000 } else { 6 * MIB }).into())
        .collect();
    let saves = contents.iter().map(|content| {
        let storage = storage.clone();
        let content = content.clone();
        async move { storage.save("dead.bin", content).await }
    });
    let results = futures::future::join_all(saves).await;
    let winners: Vec<usize> = results.iter().enumerate().filter(|(_, result)| result.is_ok()).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "exactly one saver gets the name: {results:?}");
    for result in &results {
        if let Err(err) = result {
            assert_eq!(err.kind(), ErrorKind::AlreadyExists, "the others are told it is taken: {err}");
        }
    }
    assert!(storage.read("dead.bin").await.unwrap() == contents[winners[0]], "the winner's bytes");
}

/// A save that runs past its claim lifetime fails instead of completing (completing then could replace the object
/// of a writer that took the dead claim over), and the next save of the name takes its dead claim over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_past_its_claim_lifetime_fails_and_its_dead_claim_is_taken_over() {
    let location = config().location;
    let storage = backend_with(placeholder_config(&location).with_claim_lifetime(SHORT_LIFETIME)).await.storage();
    let (feed, chunks) = futures::channel::mpsc::unbounded::<std::io::Result<Bytes>>();
    let saving = tokio::spawn({
        let storage = storage.clone();
        async move { storage.save("slow.bin", Content::from_stream(chunks, None)).await }
    });
    for chunk in storage_conformance::test_bytes(31, 6 * MIB).chunks(MIB) {
        feed.unbounded_send(Ok(Bytes::copy_from_slice(chunk))).unwrap();
    }
    // Past the threshold, the claim is written: wait past its deadline before the stream ends.
    wait_past(claim_deadline(&storage, "slow.bin", || assert!(!saving.is_finished(), "the save ended early")).await)
        .await;
    drop(feed);
    let err = saving.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(err.to_string().contains("claim_lifetime") && !err.is_retryable(), "{err}");
    assert!(!storage.exists("slow.bin").await.unwrap(), "nothing was completed");
    assert_eq!(storage.save("slow.bin", b"next".as_slice()).await.unwrap(), "slow.bin", "the dead claim is taken over");
    assert_eq!(storage.read("slow.bin").await.unwrap().as_ref(), b"next");
}

/// A claim's metadata is the backend's own: a save or an upload form that names it (and could so hide its object as
/// a placeholder, or make it look dead so that the next create-only write replaces it) is refused, and nothing is
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_cannot_disguise_itself_as_a_claim() {
    let storage = backend_with(config()).await.storage();
    for name in ["storage-placeholder", "storage-claim-deadline"] {
        let attributes = storage_core::Attributes::default().with_metadata(name, "1");
        let options = storage_core::SaveOptions::default().with_attributes(attributes.clone());
        let err = storage.save_with("disguised.bin", b"x".as_slice(), options).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name}: {err}");
        let policy =
            storage_core::UploadPolicy::exact("disguised.bin").allowing_overwrite().with_attributes(attributes);
        assert_eq!(storage.upload_form(&policy).await.unwrap_err().kind(), ErrorKind::InvalidArgument, "{name}");
    }
    assert!(backend_with(config()).await.remove_placeholders(Duration::ZERO).await.unwrap().is_empty());
    assert!(!storage.exists("disguised.bin").await.unwrap());
}

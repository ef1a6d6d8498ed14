//! Copies stay on the server: a create-only copy or rename of a large object sends almost nothing through the client,
//! counted by a recording service in front of RGW.

use storage_core::{ErrorKind, OverwritePolicy};
use storage_s3::CreateOnlyMultipart;

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
/// ignore `If-None-Match` on completion (Ceph 16; the mode is set here, detection is tested below). While the upload runs, nothing of this crate shows it: `exists`,
/// `metadata`, `open` and `list` answer as if the name were free, and the placeholder still keeps the name taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_is_never_visible_while_a_slow_multipart_save_runs() {
    let recording = recording::start(&server()["STORAGE_S3_ENDPOINT"]).await;
    let config = config()
        .with_endpoint(&recording.endpoint)
        .with_multipart(5 << 20, 5 << 20)
        .with_create_only_multipart(CreateOnlyMultipart::Placeholder);
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
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !claimed() {
            assert!(std::time::Instant::now() < deadline, "no placeholder was written within 2 minutes");
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

/// The CompleteMultipartUpload requests the service saw.
fn completions(recording: &recording::Recording) -> Vec<recording::Recorded> {
    recording.requests().into_iter().filter(|r| r.method == "POST" && r.uri.contains("uploadId=")).collect()
}

fn carries(request: &recording::Recorded, name: &str, value: &str) -> bool {
    request.headers.iter().any(|(n, v)| n == name && v == value)
}

/// Whether the server honours `If-None-Match: *` on CompleteMultipartUpload is detected, not assumed: the detected
/// mode is what a conditional completion over an existing object actually does on this server, and the probe leaves
/// nothing behind (no object, no open upload).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_detected_completion_mode_is_what_the_server_does() {
    let recording = recording::start(&server()["STORAGE_S3_ENDPOINT"]).await;
    let detecting = backend_with(config().with_endpoint(&recording.endpoint)).await;
    let detected = detecting.completes_conditionally().await;
    assert_eq!(detecting.completes_conditionally().await, detected, "asked once, remembered");

    let forced = config().with_multipart(5 << 20, 5 << 20).with_create_only_multipart(CreateOnlyMultipart::Conditional);
    let storage = backend_with(forced).await.storage().with_overwrite(OverwritePolicy::Fail);
    storage.save("taken.bin", b"first".as_slice()).await.unwrap();
    let over = storage.save("taken.bin", storage_conformance::test_bytes(3, 12 << 20)).await;
    let refused = over.as_ref().is_err_and(|err| err.kind() == ErrorKind::AlreadyExists);
    assert_eq!(detected, refused, "detected {detected}, but a conditional completion over an object gave {over:?}");

    let requests = recording.requests();
    let completion = completions(&recording);
    assert_eq!(completion.len(), 1, "one probe completion: {requests:#?}");
    assert!(carries(&completion[0], "if-none-match", "*"), "the probe completes conditionally");
    if !detected {
        assert!(
            requests.iter().all(|r| !(r.method == "DELETE" && r.uri.contains("uploadId="))),
            "completed, not aborted"
        );
    }
    assert!(detecting.remove_placeholders(std::time::Duration::ZERO).await.unwrap().is_empty(), "nothing left");
}

/// Where the server honours the header (as AWS does; the recording service answers 412 as AWS would, since Ceph 16
/// does not), a unique-name save above the multipart threshold writes no placeholder: a refused completion aborts
/// the upload, and the storage saves the same content under the next name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_conditional_completion_takes_the_next_name_and_leaves_no_upload() {
    let recording = recording::start(&server()["STORAGE_S3_ENDPOINT"]).await;
    let config = config()
        .with_endpoint(&recording.endpoint)
        .with_multipart(5 << 20, 5 << 20)
        .with_create_only_multipart(CreateOnlyMultipart::Conditional);
    let storage = backend_with(config).await.storage();
    storage.save("doc.bin", b"original".as_slice()).await.unwrap();
    let data = storage_conformance::test_bytes(5, 12 << 20);

    recording.answer_next("POST", "uploadId=", 412, "PreconditionFailed");
    let saved = storage.save("doc.bin", data.clone()).await.unwrap();
    assert_ne!(saved, "doc.bin", "a refused completion moves to the next name");
    assert_eq!(storage.read("doc.bin").await.unwrap().as_ref(), b"original", "the taken name keeps its object");
    assert!(storage.read(&saved).await.unwrap() == data, "the next name holds the whole content");
    let requests = recording.requests();
    let refused = requests.iter().find(|r| r.uri.contains("(answered 412)")).expect("the injected refusal");
    assert!(carries(refused, "if-none-match", "*"), "the completion was conditional");
    let upload_id = refused.uri.split("uploadId=").nth(1).unwrap().split(' ').next().unwrap();
    assert!(
        requests.iter().any(|r| r.method == "DELETE" && r.uri.contains(&format!("uploadId={upload_id}"))),
        "the refused upload is aborted: {requests:#?}"
    );
    assert!(requests.iter().all(|r| r.headers.iter().all(|(n, _)| !n.contains("placeholder"))), "no placeholder");

    // A completion that succeeded but whose answer was lost: the retry's 412 comes from this very upload's object.
    recording.lose_answer_of_next("POST", "uploadId=", 412, "PreconditionFailed");
    let failing = storage.clone().with_overwrite(OverwritePolicy::Fail);
    assert_eq!(failing.save("fresh.bin", data.clone()).await.unwrap(), "fresh.bin", "recognised as ours");
    assert!(storage.read("fresh.bin").await.unwrap() == data);

    // Detection sees the same refusal and chooses conditional completion.
    let detecting = backend_with(self::config().with_endpoint(&recording.endpoint)).await;
    recording.answer_next("POST", "uploadId=", 412, "PreconditionFailed");
    assert!(detecting.completes_conditionally().await, "a server that refuses is detected as honouring the header");
}

/// Copies above the multipart copy threshold (5 GiB by default; 8 MiB here) go in parts on the server
/// (UploadPartCopy), in every mode: overwrite, create-only with a placeholder, create-only completed conditionally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_copies_go_in_parts_on_the_server_in_every_mode() {
    let recording = recording::start(&server()["STORAGE_S3_ENDPOINT"]).await;
    let location = config().location;
    let attributes =
        storage_core::Attributes::default().with_content_type("application/x-test").with_metadata("owner", "7");
    let data = storage_conformance::test_bytes(9, 20 << 20);
    for mode in [CreateOnlyMultipart::Placeholder, CreateOnlyMultipart::Conditional] {
        let config = config()
            .with_location(format!("{location}/{mode:?}"))
            .with_endpoint(&recording.endpoint)
            .with_multipart_copy(8 << 20, 5 << 20)
            .with_create_only_multipart(mode);
        let storage = backend_with(config).await.storage();
        let options = storage_core::SaveOptions::default().with_attributes(attributes.clone());
        storage.save_with("big.bin", data.clone(), options).await.unwrap();
        let before = recording.requests().len();

        let unique = storage.copy("big.bin", "copy.bin").await.unwrap();
        let overwriting = storage.clone().with_overwrite(OverwritePolicy::Overwrite);
        overwriting.copy("big.bin", "over.bin").await.unwrap();
        overwriting.copy("big.bin", "over.bin").await.unwrap();

        let during: Vec<_> = recording.requests().split_off(before);
        let through_client: usize = during.iter().map(|r| r.bytes_up + r.bytes_down).sum();
        assert!(through_client < 1 << 20, "{mode:?}: {through_client} bytes through the client");
        let part_copies =
            during.iter().filter(|r| r.headers.iter().any(|(n, _)| n == "x-amz-copy-source-range")).count();
        assert_eq!(part_copies, 3 * 4, "{mode:?}: 20 MiB in 5 MiB parts, three copies");
        let placeholders = during.iter().filter(|r| r.headers.iter().any(|(n, _)| n.contains("placeholder"))).count();
        assert_eq!(placeholders, usize::from(mode == CreateOnlyMultipart::Placeholder), "{mode:?}");
        for name in [unique.as_str(), "over.bin"] {
            assert!(storage.read(name).await.unwrap() == data, "{mode:?}: `{name}` holds the object");
            assert_eq!(storage.metadata(name).await.unwrap().attributes, attributes, "{mode:?}: `{name}`");
        }
        let failing = storage.clone().with_overwrite(OverwritePolicy::Fail);
        if mode == CreateOnlyMultipart::Placeholder {
            let taken = failing.copy("big.bin", "copy.bin").await.unwrap_err();
            assert_eq!(taken.kind(), ErrorKind::AlreadyExists, "{mode:?}");
        }
    }
}

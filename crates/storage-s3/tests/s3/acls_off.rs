//! A bucket with ACLs disabled (every new AWS bucket): with `acls = false`, no request carries an ACL, the whole
//! suite passes, and private files still work through signed URLs.

use std::time::Duration;

use storage_conformance::CASES;
use storage_core::{Acl, ErrorKind, SaveOptions};

use crate::recording;
use crate::support::{backend_with, config, config_without_acls, fixture_of, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_acls_off_no_request_of_the_whole_suite_carries_an_acl() {
    let recording = recording::start(&server()["STORAGE_S3_ENDPOINT"]).await;
    for case in CASES {
        let endpoint = recording.endpoint.clone();
        let fixture = move || {
            let config = config_without_acls().with_endpoint(&endpoint);
            async move { fixture_of(backend_with(config).await) }
        };
        storage_conformance::run_in(case, fixture).await;
    }
    let requests = recording.requests();
    assert!(requests.len() > 500, "the suite went through the recording service ({} requests)", requests.len());
    let with_acl: Vec<_> = requests
        .iter()
        .filter(|r| {
            let query = r.uri.split_once('?').map_or("", |(_, query)| query);
            let asks_acl =
                query.split('&').any(|pair| pair == "acl" || pair.starts_with("acl=") || pair.contains("x-amz-acl"));
            asks_acl || r.headers.iter().any(|(name, _)| name == "x-amz-acl")
        })
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect();
    assert!(with_acl.is_empty(), "requests that carried an ACL: {with_acl:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_storage_on_a_bucket_without_acls_signs_every_url() {
    let backend = backend_with(config_without_acls()).await;
    assert!(!storage_core::Backend::capabilities(&backend).acl);
    let storage = backend.storage().private(Duration::from_secs(60));
    let name = storage.save("invoices/march.pdf", b"%PDF private").await.expect("a private save needs no ACL");
    let url = storage.url(&name).await.expect("a signed URL");
    assert!(url.contains("X-Amz-Signature"), "{url}");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let fetched = http.get(&url).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(&fetched.bytes().await.unwrap()[..], b"%PDF private");
    // Asking for an ACL is refused before any request, with what to do.
    let refused = storage.save_with("open.pdf", b"x", SaveOptions::default().with_acl(Acl::PublicRead)).await;
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::Unsupported);
    let refused = storage.set_acl(&name, Acl::PublicRead).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unsupported, "{refused}");
}

/// The bucket policy `storage s3 policy --public-prefix` prints, applied to a fresh bucket: anyone reads under the
/// prefix, nobody else reads anything, and a public storage on that prefix hands out plain URLs that work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_prefix_policy_opens_that_prefix_and_nothing_else() {
    let bucket =
        format!("policy-{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let in_bucket = |location: &str| {
        let mut config = config_without_acls().with_location(location);
        config.bucket = bucket.clone();
        config
    };
    let root = backend_with(in_bucket("")).await;
    let policy = storage_s3::public_prefix_policy(&bucket, "media/open/").unwrap();
    root.put_bucket_policy(&policy).await.expect("PutBucketPolicy");

    let storage = root.storage();
    storage.save("media/open/poster.png", b"public").await.unwrap();
    storage.save("media/secret/contract.pdf", b"private").await.unwrap();
    storage.save("media/openly-not.txt", b"private too").await.unwrap();
    let stranger = reqwest::Client::builder().no_proxy().build().unwrap();
    let anonymous = |key: &str| {
        let url = format!("{}/{bucket}/{key}", server()["STORAGE_S3_ENDPOINT"]);
        let stranger = stranger.clone();
        async move { stranger.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(anonymous("media/open/poster.png").await, 200, "under the prefix");
    assert_eq!(anonymous("media/secret/contract.pdf").await, 403, "outside the prefix");
    assert_eq!(anonymous("media/openly-not.txt").await, 403, "a key that only starts like the prefix");

    // A public storage on that prefix, with ACLs off: its plain URLs work for anyone.
    let public = backend_with(in_bucket("media/open")).await.storage();
    let name = public.save("flyer.pdf", b"%PDF flyer").await.unwrap();
    let url = public.url(&name).await.unwrap();
    assert!(!url.contains("Signature"), "a plain URL: {url}");
    let fetched = stranger.get(&url).send().await.unwrap();
    assert_eq!(fetched.status(), 200, "{url}");
    assert_eq!(&fetched.bytes().await.unwrap()[..], b"%PDF flyer");
}

/// One set of client settings for every request: with a proxy configured, object_store's requests and the backend's
/// own hand-signed ones (ACLs, multipart creation, tags) all go through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_carries_every_request_of_the_backend() {
    let proxy = recording::start("http://unused.invalid").await;
    let mut client = storage_s3::ClientSettings::default();
    client.proxy = Some(proxy.endpoint.clone());
    let config = config().with_client(client).with_tag("team", "media").with_multipart(5 << 20, 5 << 20);
    let backend = backend_with(config).await;
    let storage = backend.storage();
    let name = storage.save("proxied.bin", storage_conformance::test_bytes(1, 6 << 20)).await.unwrap();
    storage.set_acl(&name, Acl::PublicRead).await.unwrap();
    assert_eq!(storage.acl(&name).await.unwrap(), Acl::PublicRead);
    assert_eq!(backend.tags(&name).await.unwrap(), vec![("team".to_owned(), "media".to_owned())]);
    let seen: Vec<String> = proxy.requests().iter().map(|r| format!("{} {}", r.method, r.uri)).collect();
    for expected in ["?uploads", "?acl", "?tagging", "partNumber="] {
        assert!(seen.iter().any(|r| r.contains(expected)), "no `{expected}` request through the proxy: {seen:?}");
    }
}

/// The backend's own signed requests (here the ACL ones) are retried as object_store retries its requests: a 503 from
/// the server, then success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_request_answered_503_is_retried_and_succeeds() {
    let recording = recording::start(&server()["STORAGE_S3_ENDPOINT"]).await;
    let storage = backend_with(config().with_endpoint(&recording.endpoint)).await.storage();
    let name = storage.save("flaky.txt", b"x").await.unwrap();
    recording.fail_next("?acl", 2);
    storage.set_acl(&name, Acl::PublicRead).await.expect("retried past two 503s");
    recording.fail_next("?acl", 1);
    assert_eq!(storage.acl(&name).await.unwrap(), Acl::PublicRead);
    let acl_requests: Vec<String> = recording
        .requests()
        .into_iter()
        .filter(|r| r.uri.contains("?acl"))
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect();
    assert_eq!(acl_requests.iter().filter(|r| r.ends_with("(answered 503)")).count(), 3, "{acl_requests:?}");
    assert_eq!(acl_requests.len(), 5, "each failed request was sent again: {acl_requests:?}");
}

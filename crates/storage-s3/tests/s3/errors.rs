//! Error responses to the requests object_store sends map by their status and S3 error code, which the backend reads
//! from the response itself (object_store keeps them only as text): a recording service in front of RGW answers
//! chosen requests with chosen errors.

use std::time::Duration;

use futures::TryStreamExt;
use storage_core::{Acl, ErrorKind, RetryLayer, backoff};

use crate::recording;
use crate::support::{backend_with, config, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_responses_to_object_store_requests_map_by_status_and_code() {
    let recording = recording::start(&server()["STORAGE_S3_ENDPOINT"]).await;
    let storage = backend_with(config().with_endpoint(&recording.endpoint)).await.storage();
    storage.save("kept.txt", "kept").await.unwrap();

    // A bucket that refuses ACLs answers a PutObject with an ACL so: a configuration error naming the fix.
    recording.answer_next("PUT", "/refused.txt", 400, "AccessControlListNotSupported");
    let refused = storage.save("refused.txt", "x").await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Configuration, "{refused}");
    assert!(refused.to_string().contains("acls = false") && refused.to_string().contains("refused.txt"), "{refused}");

    // A request the server refuses as malformed: permanent, naming the code and the status.
    recording.answer_next("GET", "/kept.txt", 400, "InvalidArgument");
    let invalid = storage.read("kept.txt").await.unwrap_err();
    assert_eq!(invalid.kind(), ErrorKind::Backend, "{invalid}");
    assert!(!invalid.is_retryable() && invalid.to_string().contains("InvalidArgument (400 Bad Request)"), "{invalid}");

    // A listing refused by a policy: object_store maps no status of a listing, the code says what happened.
    recording.answer_next("GET", "list-type=", 403, "AccessDenied");
    let denied = storage.list("").try_collect::<Vec<_>>().await.unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");
    assert!(denied.to_string().contains("AccessDenied"), "{denied}");

    assert_eq!(storage.read("kept.txt").await.unwrap().as_ref(), b"kept", "nothing else was touched");
}

/// A 503 that outlasts the backend's own retries comes back permanent, from object_store's requests and from the
/// hand-signed ones alike, so a `RetryLayer` above adds no attempt of its own: stacked retries add up instead of
/// multiplying (once, each of the layer's 3 attempts started the backend's 3 over: 9 requests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_that_outlasts_the_s3_retries_is_not_retried_again_above() {
    let recording = recording::start(&server()["STORAGE_S3_ENDPOINT"]).await;
    let quick = Duration::from_millis(1);
    let policy = backoff::OBJECT_STORE.with_max_retries(2).with_initial_backoff(quick).with_max_backoff(quick);
    let backend = backend_with(config().with_endpoint(&recording.endpoint).with_retry_policy(policy)).await;
    let storage = backend.storage().layer(RetryLayer::new(3, quick, quick, Duration::from_secs(60)));
    storage.save("kept.txt", "kept").await.unwrap();
    let failed = |part: &str| {
        recording.requests().iter().filter(|r| r.uri.contains(part) && r.uri.ends_with("(answered 503)")).count()
    };

    // object_store's request (a PutObject).
    recording.fail_next("/failing.txt", 100);
    let err = storage.save("failing.txt", "x").await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(failed("/failing.txt"), 3, "the backend's 3 attempts, none more from the layer above");

    // A hand-signed request (a PutObjectAcl).
    recording.fail_next("/kept.txt?acl", 100);
    let err = storage.set_acl("kept.txt", Acl::Private).await.unwrap_err();
    assert!(!err.is_retryable() && err.to_string().contains("503"), "{err}");
    assert_eq!(failed("/kept.txt?acl"), 3, "the backend's 3 attempts, none more from the layer above");
}

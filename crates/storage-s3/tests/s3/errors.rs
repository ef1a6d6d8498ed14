//! Error responses to the requests object_store sends map by their status and S3 error code, which the backend reads
//! from the response itself (object_store keeps them only as text): a recording service in front of RGW answers
//! chosen requests with chosen errors.

use futures::TryStreamExt;
use storage_core::ErrorKind;

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

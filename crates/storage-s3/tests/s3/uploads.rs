//! Direct uploads to RGW by POST policy: the same table of cases as disk and memory storages, enforced by the
//! server, with ACLs and without.

use storage_core::{Backend, ErrorKind, UploadPolicy};

use crate::recording;
use crate::support::{backend_with, config, config_without_acls, server};

/// Without ACLs (the registry's `direct_uploads` and `upload_urls` run the table with them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_uploads_are_enforced_by_the_post_policy() {
    let without_acls = backend_with(config_without_acls()).await.storage();
    storage_conformance::direct_uploads(&without_acls, "forms").await;
}

/// S3 has no conditional POST: a create-only form, for an exact key or a prefix, is `Unsupported` with the way out
/// in its message, from the storage and from the backend itself, and no request claims the name (no placeholder is
/// written): after the refusal the name is free, and an overwriting form for it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_only_form_is_unsupported_on_s3_and_claims_nothing() {
    let recording = recording::start(&server()["STORAGE_S3_ENDPOINT"]).await;
    let backend = backend_with(config().with_endpoint(&recording.endpoint)).await;
    let storage = backend.storage();
    assert!(!storage.capabilities().upload_form_with_create_only);
    let before = recording.requests().len();
    for policy in [UploadPolicy::exact("inbox/photo.png"), UploadPolicy::prefix("inbox/")] {
        for refused in [storage.upload_form(&policy).await, backend.upload_form(&policy).await] {
            let err = refused.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported, "{policy:?}: {err}");
            let message = err.to_string();
            assert!(message.contains("fresh random segment") && message.contains("allowing_overwrite"), "{message}");
        }
    }
    let sent = recording.requests().split_off(before);
    assert!(sent.is_empty(), "a refused form sends nothing, so it writes no placeholder: {sent:#?}");
    assert_eq!(storage.save("inbox/photo.png", b"mine".as_slice()).await.unwrap(), "inbox/photo.png", "name free");
    let overwriting = UploadPolicy::exact("inbox/photo.png").allowing_overwrite();
    assert!(storage.upload_form(&overwriting).await.is_ok(), "the way out works");
    assert!(backend.remove_placeholders(std::time::Duration::ZERO).await.unwrap().is_empty(), "no placeholder");
}

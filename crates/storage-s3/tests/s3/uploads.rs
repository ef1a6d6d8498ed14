//! Direct uploads to RGW by POST policy: the same table of cases as disk and memory storages, enforced by the
//! server, with ACLs and without.

use crate::support::{backend_with, config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_uploads_are_enforced_by_the_post_policy() {
    let storage = backend_with(config()).await.storage();
    storage_conformance::direct_uploads(&storage, "forms").await;
    storage_conformance::upload_urls(&storage, "puts").await;
    let without_acls = backend_with(config().with_acls(false)).await.storage();
    storage_conformance::direct_uploads(&without_acls, "forms").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_only_prefix_upload_is_unsupported_on_s3() {
    let storage = backend_with(config()).await.storage();
    let err = storage.upload_form(&storage_core::UploadPolicy::prefix("inbox/")).await.unwrap_err();
    assert_eq!(err.kind(), storage_core::ErrorKind::Unsupported);
    assert!(err.to_string().contains("give an exact key, or allow overwriting"), "{err}");
}

//! The storage's upload policies as GCS V4 POST policies and signed PUTs: what the policy document holds (the
//! conditions GCS enforces), what is refused as `Unsupported`, and that the signature covers the document. The
//! signature itself is held to Google's vectors in vectors.rs.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use storage_core::{ErrorKind, Storage, UploadPolicy, UrlOptions};
use storage_gcs::{GcsBackend, GcsConfig, GcsCredentials, UrlStyle};

use crate::DUMMY_KEY as KEY;

fn storage(credentials: GcsCredentials) -> Storage {
    let config = GcsConfig::new("media-bucket")
        .with_prefix("site/")
        .with_endpoint("https://storage.googleapis.com")
        .with_credentials(credentials);
    GcsBackend::new(config).unwrap().storage()
}

fn signing() -> Storage {
    storage(GcsCredentials::ServiceAccountKey(KEY.to_owned()))
}

fn policy_document(form: &storage_core::UploadForm) -> Value {
    let encoded = form.field("policy").expect("a policy field");
    serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap()
}

#[tokio::test]
async fn a_prefix_form_with_a_size_range_holds_both_conditions_and_the_storage_prefix() {
    let policy = UploadPolicy::prefix("uploads/alice/")
        .allowing_overwrite()
        .with_size(1..=10 << 20)
        .with_content_type("image/png")
        .expires_in(Duration::from_secs(60));
    let form = signing().upload_form(&policy).await.unwrap();
    assert_eq!(form.url, "https://storage.googleapis.com/media-bucket/");
    assert_eq!(form.field("key"), Some("site/uploads/alice/${filename}"));
    assert_eq!(form.field("content-type"), Some("image/png"));
    let conditions = policy_document(&form)["conditions"].as_array().unwrap().clone();
    for expected in [
        json!(["content-length-range", 1, 10 << 20]),
        json!(["starts-with", "$key", "site/uploads/alice/"]),
        json!({ "content-type": "image/png" }),
        json!({ "bucket": "media-bucket" }),
        json!({ "success_action_status": "204" }),
        json!({ "x-goog-algorithm": "GOOG4-RSA-SHA256" }),
    ] {
        assert!(conditions.contains(&expected), "{expected} in {conditions:?}");
    }
    let signature = form.field("x-goog-signature").unwrap();
    assert_eq!(signature.len(), 512, "an RSA-2048 signature in hex");
}

#[tokio::test]
async fn forms_refuse_what_gcs_would_not_enforce() {
    let storage = signing();
    let exact = || UploadPolicy::exact("a.png").allowing_overwrite();
    let refused = [
        ("create-only", UploadPolicy::exact("a.png")),
        ("a type prefix", exact().with_content_type_prefix("image/")),
        ("a checksum", exact().with_checksum(storage_core::Checksum::Md5([0; 16]))),
    ];
    for (what, policy) in refused {
        let err = storage.upload_form(&policy).await.expect_err(what);
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{what}: {err}");
        assert!(err.to_string().contains("gcs"), "{what}: {err}");
    }
}

#[tokio::test]
async fn a_create_only_upload_url_signs_the_generation_precondition_and_the_body_headers() {
    let policy = UploadPolicy::exact("report.pdf").with_size(1234..=1234).with_content_type("application/pdf");
    let signed = signing().upload_url(&policy).await.unwrap();
    assert!(signed.url.starts_with("https://storage.googleapis.com/media-bucket/site/report.pdf?"), "{}", signed.url);
    let header = |name: &str| signed.headers.iter().find(|(header, _)| header == name).map(|(_, v)| v.as_str());
    assert_eq!(header("x-goog-if-generation-match"), Some("0"), "GCS refuses a taken name: 412");
    assert_eq!(header("content-type"), Some("application/pdf"));
    assert_eq!(header("content-length"), Some("1234"));
    let signed_headers = url::Url::parse(&signed.url)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "X-Goog-SignedHeaders")
        .map(|(_, value)| value.into_owned());
    assert_eq!(signed_headers.as_deref(), Some("content-length;content-type;host;x-goog-if-generation-match"));
}

#[tokio::test]
async fn a_read_link_signs_the_response_overrides() {
    let options = UrlOptions::get().with_download_name("Q1 report.pdf").with_response_content_type("application/pdf");
    let url = signing().temporary_url("reports/q1.pdf", Duration::from_secs(60), options).await.unwrap();
    let pairs: Vec<(String, String)> =
        url::Url::parse(&url).unwrap().query_pairs().map(|(name, value)| (name.into(), value.into())).collect();
    let names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.contains(&"X-Goog-Signature") && names.contains(&"X-Goog-Expires"), "{url}");
    let value = |wanted: &str| pairs.iter().find(|(name, _)| name == wanted).map(|(_, value)| value.as_str());
    assert_eq!(value("response-content-type"), Some("application/pdf"));
    assert!(value("response-content-disposition").is_some_and(|value| value.contains("Q1 report.pdf")), "{url}");
    assert_eq!(value("X-Goog-Expires"), Some("60"));
    assert!(url.starts_with("https://storage.googleapis.com/media-bucket/site/reports/q1.pdf?"), "{url}");
}

#[tokio::test]
async fn without_a_key_signed_urls_and_forms_are_unsupported() {
    let storage = storage(GcsCredentials::BearerToken("token".into()));
    let policy = UploadPolicy::exact("a.png").allowing_overwrite();
    assert_eq!(storage.upload_form(&policy).await.unwrap_err().kind(), ErrorKind::Unsupported);
    assert_eq!(storage.upload_url(&policy).await.unwrap_err().kind(), ErrorKind::Unsupported);
    let shown = format!("{storage:?}");
    assert!(!shown.contains("token\""), "the bearer token never shows: {shown}");
}

fn styled(style: UrlStyle) -> Storage {
    let config = GcsConfig::new("media-bucket")
        .with_prefix("site/")
        .with_credentials(GcsCredentials::ServiceAccountKey(KEY.to_owned()))
        .with_url_style(style);
    GcsBackend::new(config).unwrap().storage()
}

#[tokio::test]
async fn links_and_forms_follow_the_configured_url_style() {
    let bound = UrlStyle::bucket_bound_hostname("https://cdn.example.com").unwrap();
    let policy = UploadPolicy::exact("a.png").allowing_overwrite().with_content_type("image/png");
    for (style, link, form) in [
        (
            UrlStyle::Path,
            "https://storage.googleapis.com/media-bucket/site/a.png?",
            "https://storage.googleapis.com/media-bucket/",
        ),
        (
            UrlStyle::VirtualHosted,
            "https://media-bucket.storage.googleapis.com/site/a.png?",
            "https://media-bucket.storage.googleapis.com/",
        ),
        (bound, "https://cdn.example.com/site/a.png?", "https://cdn.example.com/"),
    ] {
        let storage = styled(style.clone());
        let url = storage.temporary_url("a.png", Duration::from_secs(60), UrlOptions::get()).await.unwrap();
        assert!(url.starts_with(link), "{style:?}: {url}");
        assert_eq!(storage.upload_form(&policy).await.unwrap().url, form, "{style:?}");
    }
}

#[test]
fn a_bucket_that_cannot_be_a_virtual_host_is_refused_when_the_backend_is_built() {
    for bucket in ["Media", "media/bucket", "evil.tld@media", "media bucket", ""] {
        let config = GcsConfig::new(bucket).with_url_style(UrlStyle::VirtualHosted);
        let err = GcsBackend::new(config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration, "{bucket:?}: {err}");
        assert!(err.to_string().contains("cannot be a virtual host"), "{bucket:?}: {err}");
    }
}

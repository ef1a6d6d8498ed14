//! The GCS data path on fake-gcs-server (xtask/scripts/fake-gcs.sh; CI starts it): object_store's GCS client reads,
//! heads, ranges, lists and deletes through `GcsBackend`. fake-gcs answers object_store's XML writes (PUT, copy,
//! multipart) with 400, so the fixture seeds objects through the emulator's JSON upload instead, and every case that
//! needs a write of GCS itself is listed in `BLOCKED` with the gap that blocks it, the same table as docs/gcs.md's
//! (`the_docs_gap_table_is_the_skip_list`). Nothing is skipped silently: every registered case is in one list.

use std::sync::Arc;

use futures::stream::{BoxStream, TryStreamExt};
use storage_conformance::{CASES, Fixture};
use storage_core::{
    Acl, Attributes, Backend, ByteRange, Capabilities, Content, Error, GetResult, ListEntry, ListOptions, Metadata,
    PresignRequest, PresignedRequest, PutOptions, PutResult, Result, UploadForm, UploadPolicy, WriteMode, async_trait,
};
use storage_gcs::{GcsBackend, GcsConfig, GcsCredentials, ServiceAccountKey};

/// The conformance cases that run on fake-gcs-server.
const SUPPORTED: &[&str] = &[
    "round_trip_empty",
    "round_trip_one_byte",
    "round_trip_binary",
    "read_ranges",
    "special_names_round_trip",
    "nested_paths",
    "invalid_names_refused",
    "missing_objects",
    "list_prefix_and_delimiter",
    "listing_is_in_byte_order_not_in_directory_order",
    "list_pagination",
    "listdir_like_django",
    "delete_is_idempotent",
    "available_name_truncation",
    "content_type_lists_refused_at_every_entry",
    "acl_round_trip",
    "overwrite_without_an_acl_is_private_every_time",
    "set_attributes_keeps_bytes_and_acl",
    "public_urls",
    "plain_urls_of_files_never_made_public_are_refused",
    "temporary_url_expiry_limits",
];

/// The gap that blocks a write through object_store: fake-gcs v1.54 answers its XML PUT, copy and multipart with
/// 400.
const XML_WRITES: &str = "fake-gcs answers object_store's XML API writes (PUT, copy, multipart) with 400";
/// The gap that blocks a create-only write.
const NO_PRECONDITIONS: &str =
    "fake-gcs answers the XML PUT with x-goog-if-generation-match with 400 and ignores ifGenerationMatch=0 on uploads";
/// The gap that blocks the signed URL and form cases.
const NO_SIGNATURES: &str = "fake-gcs verifies no V4 signature and answers signed XML PUT and POST uploads with 400";

/// The conformance cases fake-gcs-server cannot run, each with the emulator gap that blocks it. docs/gcs.md lists
/// the same rows.
const BLOCKED: &[(&str, &str)] = &[
    ("round_trip_large", XML_WRITES),
    ("round_trip_streamed", XML_WRITES),
    ("round_trip_from_file", XML_WRITES),
    ("overwrite_policy_overwrite", XML_WRITES),
    ("overwrite_policy_unique", NO_PRECONDITIONS),
    ("overwrite_policy_fail", NO_PRECONDITIONS),
    ("unique_concurrent_saves", NO_PRECONDITIONS),
    ("unique_streamed_collision", NO_PRECONDITIONS),
    ("metadata_round_trip", XML_WRITES),
    ("content_type_guessed", XML_WRITES),
    ("attributes_layered_per_name", XML_WRITES),
    ("copy_keeps_content_and_metadata", XML_WRITES),
    ("copy_applies_policy", XML_WRITES),
    ("repeated_copies_and_a_rename_over_a_copy_leave_no_stray_objects", XML_WRITES),
    ("rename_moves", XML_WRITES),
    ("upload_forms_or_unsupported", NO_SIGNATURES),
    ("direct_uploads", NO_SIGNATURES),
    ("upload_urls", NO_SIGNATURES),
    ("temporary_url_get", NO_SIGNATURES),
    ("temporary_url_put", NO_SIGNATURES),
    ("model_based_sequences", XML_WRITES),
    ("differential", XML_WRITES),
    ("mirror_model", XML_WRITES),
];

// The vectors' dummy key signs here too: the backend then declares signed URLs and forms, as with a real key.
use crate::DUMMY_KEY;

/// The running emulator's endpoint: from `STORAGE_GCS_ENDPOINT` (CI and `fake-gcs.sh start` set it), else started
/// through xtask/scripts/fake-gcs.sh. Panics (never skips) when there is none.
fn endpoint() -> &'static str {
    static ENDPOINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("STORAGE_GCS_ENDPOINT") {
            return endpoint;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../xtask/scripts/fake-gcs.sh");
        let output = std::process::Command::new("bash").args([script, "start"]).output().expect("run fake-gcs.sh");
        assert!(
            output.status.success(),
            "the GCS data-path tests need fake-gcs-server and could not start it (run xtask/scripts/fake-gcs.sh \
             start to see why):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().find_map(|line| line.strip_prefix("export STORAGE_GCS_ENDPOINT="));
        line.expect("fake-gcs.sh prints the endpoint").to_owned()
    })
}

/// A GCS backend on a fresh bucket of the emulator, whose writes are seeded through the JSON API.
#[derive(Debug)]
struct Seeded {
    gcs: GcsBackend,
    http: reqwest::Client,
    bucket: String,
}

impl Seeded {
    async fn new() -> Self {
        let http = reqwest::Client::new();
        let bucket = format!("conformance-{:016x}", fastrand::u64(..));
        let created = http
            .post(format!("{}/storage/v1/b", endpoint()))
            .body(serde_json::json!({ "name": bucket }).to_string())
            .header("content-type", "application/json")
            .send()
            .await
            .expect("create a bucket on fake-gcs");
        assert!(created.status().is_success(), "creating bucket {bucket}: {}", created.status());
        let key = ServiceAccountKey::from_json(DUMMY_KEY).expect("the dummy key");
        let config = GcsConfig::new(&bucket)
            .with_endpoint(endpoint())
            .with_credentials(GcsCredentials::BearerToken("fake-gcs accepts any token".to_owned()))
            .with_signing_key(key);
        Self { gcs: GcsBackend::new(config).expect("a GCS backend"), http, bucket }
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl Backend for Seeded {
    fn name(&self) -> &str {
        self.gcs.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.gcs.capabilities()
    }

    /// The bytes, uploaded through the JSON API. A create-only save checks the name first: not atomic, which the
    /// cases run here (one writer per name) never notice, and the cases that test it are in `BLOCKED`.
    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        if options.mode == WriteMode::CreateOnly && self.gcs.head(key).await.is_ok() {
            return Err(Error::already_exists(self.name(), key));
        }
        let stream = content.into_stream().await.map_err(|err| Error::from_io(self.name(), Some(key), err))?;
        let chunks: Vec<bytes::Bytes> =
            stream.try_collect().await.map_err(|err| Error::from_io(self.name(), Some(key), err))?;
        let content_type = options.attributes.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
        let url = url::Url::parse_with_params(
            &format!("{}/upload/storage/v1/b/{}/o", endpoint(), self.bucket),
            [("uploadType", "media"), ("name", key)],
        )
        .expect("an upload URL");
        let uploaded = self
            .http
            .post(url)
            .header("content-type", content_type)
            .body(chunks.concat())
            .send()
            .await
            .expect("upload to fake-gcs");
        assert!(uploaded.status().is_success(), "seeding {key}: {}", uploaded.status());
        Ok(PutResult::default())
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        self.gcs.get(key, range).await
    }

    async fn head(&self, key: &str) -> Result<Metadata> {
        self.gcs.head(key).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.gcs.delete(key).await
    }

    async fn delete_if_unchanged(&self, key: &str, etag: &str) -> Result<storage_core::ConditionalDelete> {
        self.gcs.delete_if_unchanged(key, etag).await
    }

    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        self.gcs.list(options)
    }

    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.gcs.copy(from, to, mode).await
    }

    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.gcs.rename(from, to, mode).await
    }

    fn public_url(&self, key: &str) -> Result<String> {
        self.gcs.public_url(key)
    }

    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        self.gcs.presign(request).await
    }

    async fn upload_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        self.gcs.upload_form(policy).await
    }

    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        self.gcs.set_acl(key, acl).await
    }

    async fn acl(&self, key: &str) -> Result<Acl> {
        self.gcs.acl(key).await
    }

    async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
        self.gcs.set_attributes(key, attributes).await
    }
}

async fn fixture() -> Fixture {
    Fixture::from_arc(Arc::new(Seeded::new().await)).with_http(storage_conformance::ReqwestClient::default())
}

#[test]
fn the_supported_conformance_cases_pass_on_fake_gcs() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut failed = Vec::new();
    for name in SUPPORTED {
        let case = CASES.iter().find(|case| case.name == *name).unwrap_or_else(|| panic!("no case {name}"));
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(storage_conformance::run_in(case, fixture))
        }));
        if ran.is_err() {
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "conformance cases failed on fake-gcs: {failed:?}");
}

#[test]
fn every_case_runs_or_is_listed_with_its_gap() {
    let mut listed: Vec<&str> = SUPPORTED.iter().copied().chain(BLOCKED.iter().map(|(name, _)| *name)).collect();
    listed.sort_unstable();
    let mut registered: Vec<&str> = CASES.iter().map(|case| case.name).collect();
    registered.sort_unstable();
    assert_eq!(listed, registered, "each conformance case is either run on fake-gcs or listed in BLOCKED, once");
}

#[test]
fn the_docs_gap_table_is_the_skip_list() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/gcs.md")).unwrap();
    let table =
        docs.split_once("<!-- gcs-gaps:start -->").and_then(|(_, rest)| rest.split_once("<!-- gcs-gaps:end -->"));
    let table = table.expect("docs/gcs.md has the gap table between its markers").0;
    let rows: Vec<(String, String)> = table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|row| {
            let (case, gap) = row.split_once("` | ").expect("| `case` | gap |");
            (case.to_owned(), gap.trim_end_matches(" |").to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> =
        BLOCKED.iter().map(|(case, gap)| ((*case).to_owned(), (*gap).to_owned())).collect();
    assert_eq!(rows, expected, "docs/gcs.md's gap table must list BLOCKED, in order, with the same gaps");
}

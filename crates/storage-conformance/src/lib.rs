//! The behaviour suite every backend runs: one registry of cases, one `#[test]` per case per backend.
//!
//! A case's `Storage`, over its fresh backend: `let storage = fixture.storage();`.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
//!
//! A backend crate runs the whole suite in one line, from a factory that returns a fresh, isolated [`Fixture`]:
//!
//! ```text
//! storage_conformance::conformance_tests!(|| async { Fixture::new(MyBackend::new()) });
//! ```
//!
//! A case whose capability the backend lacks does not pass silently: it checks that the storage answers
//! [`storage_core::ErrorKind::Unsupported`].

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use storage_core::signing::{SigningKey, UrlSigner};
use storage_core::{Backend, Capabilities, Storage};

pub mod cases;
mod fault;
mod mirror;
mod model;
mod uploads;

pub use fault::{FaultKind, FaultLayer, under_faults};
pub use mirror::{Scenario, Step, mirror_model, mirror_model_with_cases, mirror_scenarios, mirror_stress};
pub use model::differential;
pub use uploads::{direct_uploads, upload_urls};

/// A request to a URL a backend issued, as a plain HTTP client would send it (no credentials).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// `GET`, `PUT`, `HEAD`, ….
    pub method: &'static str,
    /// The URL as the backend issued it.
    pub url: String,
    /// Headers to send.
    pub headers: Vec<(String, String)>,
    /// The body to send.
    pub body: Bytes,
}

/// The answer to an [`HttpRequest`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Bytes,
}

impl HttpResponse {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends requests to the URLs a backend hands out: a real HTTP client for remote and disk backends, an in-process
/// call for the memory backend.
pub trait HttpClient: Send + Sync + 'static {
    /// Send `request` as a client without credentials would.
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, HttpResponse>;
}

/// A real HTTP client without credentials (a stranger, or a browser following a link), for backends whose URLs a
/// server answers.
#[derive(Debug, Clone)]
pub struct ReqwestClient(reqwest::Client);

impl Default for ReqwestClient {
    fn default() -> Self {
        Self(reqwest::Client::builder().no_proxy().build().expect("an HTTP client"))
    }
}

impl HttpClient for ReqwestClient {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        Box::pin(async move {
            let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("an HTTP method");
            let mut builder = self.0.request(method, &request.url).body(request.body);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            let response =
                builder.send().await.unwrap_or_else(|err| panic!("{} {}: {err}", request.method, request.url));
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_owned()))
                .collect();
            let body = response.bytes().await.unwrap_or_default();
            HttpResponse { status, headers, body }
        })
    }
}

/// The local Ceph RGW's settings (`STORAGE_S3_*`): from the environment when `cargo xtask s3 start` or CI set
/// them, else from starting one through `xtask/scripts/rgw.sh`. Panics (never skips) when no server can be had.
pub fn local_rgw() -> &'static BTreeMap<String, String> {
    static SERVER: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    SERVER.get_or_init(|| {
        let from_env: BTreeMap<String, String> =
            std::env::vars().filter(|(k, _)| k.starts_with("STORAGE_S3_")).collect();
        if from_env.contains_key("STORAGE_S3_ENDPOINT") {
            return from_env;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../xtask/scripts/rgw.sh");
        let output = std::process::Command::new("bash").args([script, "start"]).output().expect("run rgw.sh");
        assert!(
            output.status.success(),
            "the S3 tests need a Ceph RGW and could not start one (run `cargo xtask s3 start` to see why):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        export_lines(&output.stdout)
    })
}

/// The local Azurite's settings (`AZURITE_BLOB_STORAGE_URL` and `STORAGE_AZURE_*`): from the environment when
/// `cargo xtask azure start` or CI set them, else from an Azurite started here through `xtask/scripts/azurite.sh`
/// (which installs it with npm when missing). Under CI (`CI=true`) a missing Azurite fails the test at once: CI
/// starts it, so its absence is a broken run, never a reason to start another or to skip.
pub fn local_azurite() -> &'static BTreeMap<String, String> {
    static SERVER: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    SERVER.get_or_init(|| {
        let from_env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("STORAGE_AZURE_") || k == "AZURITE_BLOB_STORAGE_URL")
            .collect();
        if from_env.contains_key("AZURITE_BLOB_STORAGE_URL") {
            return from_env;
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the Azure tests need Azurite and CI=true, but AZURITE_BLOB_STORAGE_URL is not set: `cargo xtask ci` \
             starts it (`cargo xtask azure start` prints its settings)"
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../xtask/scripts/azurite.sh");
        let output = std::process::Command::new("bash").args([script, "start"]).output().expect("run azurite.sh");
        assert!(
            output.status.success(),
            "the Azure tests need Azurite and could not start it (run `cargo xtask azure start` to see why):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        export_lines(&output.stdout)
    })
}

/// The `export NAME=value` lines a server script prints, as a map.
fn export_lines(stdout: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in KiB, for the benchmarks' memory goals.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// How far apart this process's clock and the one checking a link's expiry may be read: SigV4 dates are whole seconds,
/// and the disk and memory signers round the expiry up to the next second.
const EXPIRY_CLOCK_SLACK: Duration = Duration::from_secs(2);

/// Watches a signed link expire, by condition rather than by sleeping a guessed time: asks `status` for the link's
/// HTTP status until it answers 403, and checks each answer against the validity window this side can prove.
///
/// `issued` runs from a time read just before the link was requested to one read just after it came back (the link's
/// clock started somewhere in between); `expires_in` is its lifetime. The link must answer 200
/// at first (so the caller gives it a lifetime with a margin that holds on a loaded machine, ten seconds or more),
/// must never answer 200 once it has surely expired, must never answer 403 before it could have expired, and must
/// answer 403 within a minute of expiring.
pub async fn watch_link_expire<F, Fut>(issued: Range<SystemTime>, expires_in: Duration, mut status: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = u16>,
{
    let (earliest_expiry, latest_expiry) = (issued.start + expires_in, issued.end + expires_in);
    let deadline = std::time::Instant::now() + expires_in + Duration::from_secs(60);
    let mut answers = 0;
    loop {
        let sent = SystemTime::now();
        let code = status().await;
        let answered = SystemTime::now();
        let since_issued = answered.duration_since(issued.start).unwrap_or_default();
        match code {
            200 if sent < latest_expiry + EXPIRY_CLOCK_SLACK => {}
            200 => panic!("the link still works {since_issued:?} after it was issued, for {expires_in:?}"),
            403 if answers == 0 => panic!(
                "the link was refused at its first use, {since_issued:?} after it was issued for {expires_in:?} \
                 (a fresh link must work; if the machine stalled that long, give it a longer lifetime)"
            ),
            403 if answered + EXPIRY_CLOCK_SLACK < earliest_expiry => {
                panic!("the link was refused {since_issued:?} after it was issued, before its {expires_in:?} ran out")
            }
            403 => return,
            other => panic!("a signed link answered {other}, not 200 or 403"),
        }
        answers += 1;
        assert!(std::time::Instant::now() < deadline, "the link still works {since_issued:?} after it was issued");
        // Not a guess at how long anything takes: the pace of the polling, until the condition holds.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Test content: the same `(seed, len)` always gives the same bytes, and different seeds differ (xorshift).
pub fn test_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A listener on a free loopback port, and a signer whose links point at it (under `/files/`), for
/// [`serve_links`].
pub async fn loopback_signer() -> (tokio::net::TcpListener, UrlSigner) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let port = listener.local_addr().expect("local address").port();
    (listener, UrlSigner::new(format!("http://127.0.0.1:{port}/files/"), SigningKey::generate()))
}

/// Serves `storage`'s signed links and upload forms with storage-http's `SignedUrlService` on `listener`, as a
/// deployment of a disk or memory storage does, until the returned task is dropped.
pub fn serve_links(listener: tokio::net::TcpListener, storage: Storage, signer: UrlSigner) -> ServerTask {
    let app = axum::Router::new().fallback_service(storage_http::SignedUrlService::new(storage, signer));
    ServerTask(tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    }))
}

/// A server task, stopped when dropped.
#[derive(Debug)]
pub struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A fresh, isolated backend for one case (a random prefix on a shared bucket is fine), and how to fetch its URLs.
#[derive(Clone)]
pub struct Fixture {
    /// The backend under test, fresh and isolated for this case.
    pub backend: Arc<dyn Backend>,
    /// Required when the backend can issue public or temporary URLs: the cases fetch them for real.
    pub http: Option<Arc<dyn HttpClient>>,
    /// Whatever must live as long as the case: a temporary directory, a server task.
    keep_alive: Vec<Arc<dyn std::any::Any + Send + Sync>>,
    /// Makes another fixture like this one, for the cases that need two backends (set by [`run_case`]).
    factory: Option<Factory>,
    /// Random sequences per model-based case, if not the default.
    model_cases: Option<u32>,
}

type Factory = Arc<dyn Fn() -> BoxFuture<'static, Fixture> + Send + Sync>;

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture").field("backend", &self.backend).field("http", &self.http.is_some()).finish()
    }
}

impl Fixture {
    /// A fixture over `backend`, without an HTTP client.
    pub fn new(backend: impl Backend) -> Self {
        Self::from_arc(Arc::new(backend))
    }

    /// A fixture over a backend already shared, such as a storage's.
    pub fn from_arc(backend: Arc<dyn Backend>) -> Self {
        Self { backend, http: None, keep_alive: Vec::new(), factory: None, model_cases: None }
    }

    /// Keep `resource` alive until the case ends (dropped with the last clone of the fixture).
    pub fn keep_alive(mut self, resource: impl std::any::Any + Send + Sync) -> Self {
        self.keep_alive.push(Arc::new(resource));
        self
    }

    /// Fetch the backend's URLs with `http`.
    pub fn with_http(mut self, http: impl HttpClient) -> Self {
        self.http = Some(Arc::new(http));
        self
    }

    /// A storage over the fixture's backend with the default policy.
    pub fn storage(&self) -> Storage {
        Storage::from_arc(self.backend.clone())
    }

    /// Try `cases` random sequences in each model-based case (the model, the differential test, the mirror's
    /// model) instead of 48: fewer for a backend a network away. `STORAGE_MODEL_CASES` overrides both.
    pub fn with_model_cases(mut self, cases: u32) -> Self {
        self.model_cases = Some(cases);
        self
    }

    /// The random sequences each model-based case tries.
    pub(crate) fn model_cases(&self) -> u32 {
        let from_env = std::env::var("STORAGE_MODEL_CASES").ok().and_then(|cases| cases.parse().ok());
        from_env.or(self.model_cases).unwrap_or(48)
    }

    /// Another fresh, isolated fixture of the same backend, from the factory the suite was run with (the mirror's
    /// second member).
    pub async fn another(&self) -> Fixture {
        let factory = self.factory.as_ref().expect("a fixture made by `run_case` knows its factory");
        factory().await
    }

    /// The HTTP client, which a backend with URL capabilities must provide.
    pub fn http(&self) -> &dyn HttpClient {
        self.http
            .as_deref()
            .expect("this backend issues URLs: give the fixture an HTTP client with `Fixture::with_http`")
    }
}

type CaseFn = fn(Fixture) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// One conformance case.
#[derive(Clone, Copy)]
pub struct Case {
    /// The case's name, also its test's name.
    pub name: &'static str,
    /// The capabilities the case needs (fields of [`Capabilities`]); on a backend that lacks one, the case must check
    /// that the storage answers `Unsupported`, and [`run_case`] fails it if it checked none.
    pub needs: &'static [&'static str],
    /// Those of `needs` a backend lacks.
    lacking: fn(&Capabilities) -> Vec<&'static str>,
    /// Runs the case on a fixture.
    pub run: CaseFn,
}

impl Case {
    /// The capabilities of [`Case::needs`] that `capabilities` lacks.
    pub fn lacking(&self, capabilities: &Capabilities) -> Vec<&'static str> {
        (self.lacking)(capabilities)
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case").field("name", &self.name).field("needs", &self.needs).finish()
    }
}

/// Calls `$callback! { [$args] case: [capability, ...], case, ... }` with the list of every case and the
/// capabilities it needs. This list is the registry: both [`CASES`] and the tests [`conformance_tests!`] emits are
/// generated from it, so they cannot drift, and a backend runs every suite (the direct uploads, the differential
/// test against the memory backend, the mirror's model) with one macro call.
#[macro_export]
#[doc(hidden)]
macro_rules! with_case_list {
    ([$($callback:tt)*] $($args:tt)*) => {
        $($callback)*! { [$($args)*]
            round_trip_empty,
            round_trip_one_byte,
            round_trip_binary,
            round_trip_large,
            round_trip_streamed,
            round_trip_from_file,
            read_ranges,
            special_names_round_trip,
            nested_paths,
            invalid_names_refused,
            missing_objects,
            overwrite_policy_overwrite,
            overwrite_policy_unique,
            overwrite_policy_fail: [write_with_create_only],
            unique_concurrent_saves,
            unique_streamed_collision,
            list_prefix_and_delimiter,
            listing_is_in_byte_order_not_in_directory_order,
            list_pagination,
            listdir_like_django,
            delete_is_idempotent,
            metadata_round_trip: [write_with_attributes, write_with_user_metadata],
            content_type_guessed: [write_with_attributes],
            attributes_layered_per_name: [write_with_attributes, write_with_user_metadata],
            copy_keeps_content_and_metadata,
            copy_applies_policy,
            repeated_copies_and_a_rename_over_a_copy_leave_no_stray_objects,
            rename_moves,
            available_name_truncation,
            acl_round_trip: [acl],
            overwrite_without_an_acl_is_private_every_time: [acl],
            set_attributes_keeps_bytes_and_acl: [set_attributes],
            content_type_lists_refused_at_every_entry,
            upload_forms_or_unsupported: [upload_form],
            direct_uploads: [upload_form],
            upload_urls: [presign_write, presign_write_with_headers],
            public_urls: [public_url],
            plain_urls_of_files_never_made_public_are_refused: [public_url],
            temporary_url_get: [presign_read],
            temporary_url_put: [presign_write, presign_write_with_headers],
            temporary_url_expiry_limits: [presign_read],
            model_based_sequences,
            differential,
            mirror_model,
        }
    };
}

macro_rules! build_registry {
    ([] $($case:ident $(: [$($need:ident),* $(,)?])?),* $(,)?) => {
        /// Every case, in registry order.
        pub const CASES: &[Case] = &[$(Case {
            name: stringify!($case),
            needs: &[$($(stringify!($need)),*)?],
            lacking: |_capabilities| {
                #[allow(unused_mut, reason = "a case that needs nothing lacks nothing")]
                let mut lacking = Vec::new();
                $($(if !_capabilities.$need { lacking.push(stringify!($need)); })*)?
                lacking
            },
            run: |fx| Box::pin(cases::$case(fx)),
        }),*];
    };
}
with_case_list!([build_registry]);

/// Emit one `#[test]` per registered case, each over a fresh fixture from `$factory`
/// (an expression of a type `Fn() -> impl Future<Output = Fixture>`, both `Send + 'static`).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::with_case_list!([$crate::__emit_conformance_tests] $factory);
    };
}

#[macro_export]
#[doc(hidden)]
macro_rules! __emit_conformance_tests {
    ([$factory:expr] $($case:ident $(: [$($need:ident),* $(,)?])?),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run_case(stringify!($case), $factory);
            }
        )*
    };
}

/// How long one case may take before it fails (a hung backend must not hang CI).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(300);

tokio::task_local! {
    /// Set when the running case saw the storage answer `Unsupported` where it checked for it.
    static CHECKED_UNSUPPORTED: Arc<AtomicBool>;
}

/// Note that the running case checked an `Unsupported` answer (see [`Case::needs`]).
pub(crate) fn checked_unsupported() {
    let _outside_a_case = CHECKED_UNSUPPORTED.try_with(|checked| checked.store(true, Ordering::Relaxed));
}

/// Run the registered case `name` on a fresh fixture, on its own multi-threaded runtime. On a backend that lacks a
/// capability the case needs, the case must have checked that the storage answers `Unsupported`.
pub fn run_case<F, Fut>(name: &str, factory: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Fixture> + Send + 'static,
{
    let case =
        CASES.iter().find(|case| case.name == name).unwrap_or_else(|| panic!("no conformance case named {name}"));
    run(case, factory);
}

fn run<F, Fut>(case: &Case, factory: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Fixture> + Send + 'static,
{
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
    runtime.block_on(run_in(case, factory));
}

/// [`run_case`] for a case in hand, in the runtime it is awaited in (a test that runs every case of [`CASES`] over a
/// backend of its own).
pub async fn run_in<F, Fut>(case: &Case, factory: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Fixture> + Send + 'static,
{
    let name = case.name;
    let mut fixture = factory().await;
    let lacking = case.lacking(&fixture.backend.capabilities());
    fixture.factory = Some(Arc::new(move || Box::pin(factory())));
    let checked = Arc::new(AtomicBool::new(false));
    let run = tokio::time::timeout(CASE_TIMEOUT, (case.run)(fixture));
    CHECKED_UNSUPPORTED
        .scope(checked.clone(), run)
        .await
        .unwrap_or_else(|_| panic!("conformance case {name} took longer than {CASE_TIMEOUT:?}"));
    assert!(
        lacking.is_empty() || checked.load(Ordering::Relaxed),
        "conformance case {name}: the backend lacks {lacking:?}, which the case needs, and the case checked no \
         `Unsupported` answer: it must check the negative, never pass silently"
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use storage_core::{Capabilities, ErrorKind, Layer as _};

    use super::{CASES, Case, FaultLayer, Fixture, cases, run};

    async fn without_capabilities() -> Fixture {
        let declaring = FaultLayer::none().with_capabilities(Capabilities::none());
        Fixture::from_arc(declaring.layer(Arc::new(storage_memory::MemoryBackend::new())))
    }

    /// On a backend without a capability a case needs, a case that checks no `Unsupported` answer fails instead of
    /// passing silently; one that checks it passes.
    #[test]
    fn a_case_that_checks_nothing_for_a_missing_capability_fails() {
        let needing_acls = |run| Case {
            name: "needs_acls",
            needs: &["acl"],
            lacking: |capabilities| if capabilities.acl { vec![] } else { vec!["acl"] },
            run,
        };
        let silent = needing_acls(|_| Box::pin(async {}));
        let failure = std::panic::catch_unwind(|| run(&silent, without_capabilities)).expect_err("a silent pass fails");
        let message = failure.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("lacks [\"acl\"]") && message.contains("checked no `Unsupported`"), "{message}");
        let checking = needing_acls(|fx| {
            Box::pin(async move {
                cases::assert_kind(fx.storage().acl("a.txt").await, ErrorKind::Unsupported, "acl");
            })
        });
        run(&checking, without_capabilities);
    }

    /// Every `pub async fn` in the cases module is registered, and every registered case exists (the compiler
    /// checks the second half; this checks the first).
    #[test]
    fn registry_lists_every_case() {
        let source = include_str!("cases.rs");
        let written: Vec<&str> = source
            .lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .map(|rest| rest.split('(').next().unwrap_or_default())
            .collect();
        let registered: Vec<&str> = CASES.iter().map(|case| case.name).collect();
        let mut missing: Vec<&&str> = written.iter().filter(|name| !registered.contains(name)).collect();
        missing.sort();
        assert!(missing.is_empty(), "cases written but not in `with_case_list!`: {missing:?}");
        assert_eq!(written.len(), registered.len(), "a case is registered twice");
    }
}

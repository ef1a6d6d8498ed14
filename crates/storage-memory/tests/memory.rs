//! The memory backend: the whole conformance suite (with the model tests), its test-helper API, and the layers.

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use storage_conformance::{Fixture, HttpClient, HttpRequest, HttpResponse, ReqwestClient};
use storage_core::signing::{SigningKey, UrlSigner};
use storage_core::{Method, UrlOptions};
use storage_memory::MemoryBackend;

/// A memory backend whose links and forms storage-http's `SignedUrlService` serves on loopback, as a deployment of a
/// memory storage does (the example app). `fetch`, the in-process double apps' tests use, has its own tests below.
async fn fixture() -> Fixture {
    let (listener, signer) = storage_conformance::loopback_signer().await;
    let memory = MemoryBackend::with_signer(signer.clone());
    let server = storage_conformance::serve_links(listener, memory.storage(), signer);
    Fixture::new(memory).with_http(ReqwestClient::default()).keep_alive(server)
}

storage_conformance::conformance_tests!(fixture);

/// Sends "HTTP" requests straight to the backend's own request handler.
struct InProcess(MemoryBackend);

impl HttpClient for InProcess {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        let headers: Vec<(&str, &str)> = request.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let response = self.0.fetch(request.method, &request.url, &headers, request.body.clone());
        Box::pin(
            async move { HttpResponse { status: response.status, headers: response.headers, body: response.body } },
        )
    }
}

async fn in_process() -> Fixture {
    let memory = MemoryBackend::new();
    Fixture::new(memory.clone()).with_http(InProcess(memory))
}

/// `fetch`, the in-process double of the HTTP service, answers the suite's cases of links as storage-http does.
/// (The direct-upload cases post forms with an HTTP client of their own, so they need the served fixture.)
#[test]
fn fetch_answers_the_cases_of_links_as_storage_http_does() {
    for case in [
        "public_urls",
        "plain_urls_of_files_never_made_public_are_refused",
        "overwrite_without_an_acl_is_private_every_time",
        "temporary_url_get",
        "temporary_url_put",
        "temporary_url_expiry_limits",
    ] {
        storage_conformance::run_case(case, in_process);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A range past the end is refused by the backend, which names itself (the kind's constructor takes no backend).
#[tokio::test]
async fn a_range_the_backend_refuses_names_the_backend() {
    let storage = MemoryBackend::new().storage();
    storage.save("a.txt", "abc").await.unwrap();
    let err = storage.open_range("a.txt", 10..20).await.err().unwrap();
    assert_eq!((err.kind(), err.backend_name()), (storage_core::ErrorKind::InvalidArgument, Some("memory")), "{err}");
}

#[test]
fn assertions_pass_on_what_is_there() {
    runtime().block_on(async {
        let memory = MemoryBackend::new();
        let storage = memory.storage();
        storage.save("a.txt", "alpha").await.unwrap();
        memory.assert_exists("a.txt");
        memory.assert_exists_with("a.txt", "alpha");
        memory.assert_missing("b.txt");
        memory.assert_count(1);
        assert_eq!(memory.keys(), ["a.txt"]);
    });
}

#[test]
fn assertions_fail_with_a_useful_message() {
    let memory = MemoryBackend::new();
    runtime().block_on(memory.storage().save("present.txt", "x")).unwrap();
    let message = |f: &dyn Fn()| {
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("the assertion fails");
        payload.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    assert!(message(&|| memory.assert_exists("absent.txt")).contains("absent.txt"));
    assert!(message(&|| memory.assert_exists_with("present.txt", "y")).contains("differ"));
    assert!(message(&|| memory.assert_missing("present.txt")).contains("present.txt"));
    assert!(message(&|| memory.assert_count(2)).contains("expected 2 objects"));
}

#[test]
fn issued_urls_are_recorded_and_verifiable() {
    runtime().block_on(async {
        let memory = MemoryBackend::new();
        let storage = memory.storage().private(Duration::from_secs(60));
        let name = storage.save("secret.pdf", "s").await.unwrap();
        let url = storage.url(&name).await.unwrap();
        let issued = memory.issued_urls();
        assert_eq!(issued.len(), 1);
        assert_eq!(
            (issued[0].method, issued[0].key.as_str(), issued[0].expires_in),
            (Method::Get, "secret.pdf", Duration::from_secs(60))
        );
        assert_eq!(issued[0].url, url);
        let granted = memory.verify(Method::Get, &url).expect("valid");
        assert_eq!(granted.key, "secret.pdf");
        assert!(memory.verify(Method::Put, &url).is_err());
    });
}

#[test]
fn fetch_refuses_a_type_list_and_serves_types_as_storage_http_does() {
    runtime().block_on(async {
        let memory = MemoryBackend::new();
        let storage = memory.storage();
        let put = storage.temporary_url("a.txt", Duration::from_secs(60), UrlOptions::put()).await.unwrap();
        for list in ["text/plain, text/html", "image/png,text/html"] {
            let answer = memory.fetch("PUT", &put, &[("content-type", list)], Bytes::from("<script>"));
            assert_eq!(answer.status, 400, "{list}");
            memory.assert_missing("a.txt");
        }
        let page = storage.save("page.html", "<script>").await.unwrap();
        let url = storage.temporary_url(&page, Duration::from_secs(60), UrlOptions::get()).await.unwrap();
        let answer = memory.fetch("GET", &url, &[], Bytes::new());
        assert_eq!(answer.header("content-type"), Some("text/html"));
        assert!(answer.header("content-security-policy").is_some_and(|csp| csp.starts_with("sandbox")), "sandboxed");
        // Below the policy: a stored type that does not parse is downloaded, never shown.
        let attributes = storage_core::Attributes::default().with_content_type("image/png,text/html");
        let options = storage_core::PutOptions::new(storage_core::WriteMode::Overwrite, attributes, None);
        storage.backend().put("legacy.png", "<script>".into(), options).await.unwrap();
        let url = storage.temporary_url("legacy.png", Duration::from_secs(60), UrlOptions::get()).await.unwrap();
        let answer = memory.fetch("GET", &url, &[], Bytes::new());
        assert_eq!(answer.header("content-type"), Some("application/octet-stream"));
        assert_eq!(answer.header("content-disposition"), Some("attachment"));
    });
}

#[test]
fn urls_from_another_memory_backend_are_refused() {
    runtime().block_on(async {
        let issuer = MemoryBackend::new();
        let other = MemoryBackend::new();
        issuer.storage().save("x.txt", "x").await.unwrap();
        other.storage().save("x.txt", "x").await.unwrap();
        let url = issuer.storage().temporary_url("x.txt", Duration::from_secs(60), UrlOptions::get()).await.unwrap();
        assert_eq!(other.fetch("GET", &url, &[], Bytes::new()).status, 403, "different signing keys");
    });
}

#[test]
fn a_rotated_key_still_verifies_old_urls() {
    runtime().block_on(async {
        let old = SigningKey::new("old", vec![7u8; 32]).unwrap();
        let new = SigningKey::new("new", vec![9u8; 32]).unwrap();
        let before = MemoryBackend::with_signer(UrlSigner::new("http://files.test/", old.clone()));
        before.storage().save("kept.txt", "kept").await.unwrap();
        let url = before.storage().temporary_url("kept.txt", Duration::from_secs(60), UrlOptions::get()).await.unwrap();

        let rotated =
            MemoryBackend::with_signer(UrlSigner::new("http://files.test/", new.clone()).with_previous_key(old));
        rotated.storage().save("kept.txt", "kept").await.unwrap();
        assert_eq!(rotated.fetch("GET", &url, &[], Bytes::new()).status, 200, "the retired key is still accepted");
        let retired = MemoryBackend::with_signer(UrlSigner::new("http://files.test/", new));
        retired.storage().save("kept.txt", "kept").await.unwrap();
        assert_eq!(retired.fetch("GET", &url, &[], Bytes::new()).status, 403, "a dropped key is not");
    });
}

/// The suite over a backend that declares only create-only writes, so every case takes its "capability missing"
/// branch and must see `Unsupported`, and the storage's own fallbacks (copy through a create-only put) run.
mod limited {
    use storage_conformance::{FaultLayer, Fixture};
    use storage_core::{Capabilities, Layer};
    use storage_memory::MemoryBackend;

    async fn fixture() -> Fixture {
        // A backend with only create-only writes: the storage must copy through a create-only put.
        let mut capabilities = Capabilities::none();
        capabilities.write_with_create_only = true;
        let limited = FaultLayer::none().with_capabilities(capabilities);
        Fixture::from_arc(limited.layer(std::sync::Arc::new(MemoryBackend::new())))
    }

    storage_conformance::conformance_tests!(fixture);
}

/// What `Storage` asks of its backend, recorded: the architecture's invariants on names and claims.
mod recorded {
    use std::sync::{Arc, Mutex};

    use storage_core::{
        Acl, Attributes, Backend, ByteRange, Capabilities, Content, ErrorKind, GetResult, ListEntry, ListOptions,
        Metadata, PresignRequest, PresignedRequest, PutOptions, PutResult, Result, Storage, WriteMode, async_trait,
    };
    use storage_memory::MemoryBackend;

    #[derive(Debug, Default)]
    struct Recording {
        inner: MemoryBackend,
        calls: Mutex<Vec<String>>,
    }

    impl Recording {
        fn record(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }
    }

    #[async_trait]
    #[deny(clippy::missing_trait_methods)]
    impl Backend for Recording {
        fn name(&self) -> &str {
            self.inner.name()
        }
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities()
        }
        async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
            let result = self.inner.put(key, content, options.clone()).await;
            let outcome = result.as_ref().map_or_else(|err| format!("{:?}", err.kind()), |_| "ok".into());
            self.record(format!("put {key:?} {:?} {outcome}", options.mode));
            result
        }
        async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
            self.record(format!("get {key:?}"));
            self.inner.get(key, range).await
        }
        async fn head(&self, key: &str) -> Result<Metadata> {
            self.record(format!("head {key:?}"));
            self.inner.head(key).await
        }
        async fn delete(&self, key: &str) -> Result<()> {
            self.record(format!("delete {key:?}"));
            self.inner.delete(key).await
        }
        async fn delete_if_unchanged(&self, key: &str, etag: &str) -> Result<storage_core::ConditionalDelete> {
            self.record(format!("delete_if_unchanged {key:?}"));
            self.inner.delete_if_unchanged(key, etag).await
        }
        fn list(&self, options: ListOptions) -> futures::stream::BoxStream<'static, Result<ListEntry>> {
            self.record(format!("list {:?}", options.prefix));
            self.inner.list(options)
        }
        async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
            self.record(format!("copy {from:?} {to:?} {mode:?}"));
            self.inner.copy(from, to, mode).await
        }
        async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
            self.record(format!("rename {from:?} {to:?} {mode:?}"));
            self.inner.rename(from, to, mode).await
        }
        fn public_url(&self, key: &str) -> Result<String> {
            self.inner.public_url(key)
        }
        async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
            self.record(format!("presign {:?}", request.key));
            self.inner.presign(request).await
        }
        async fn upload_form(&self, policy: &storage_core::UploadPolicy) -> Result<storage_core::UploadForm> {
            self.record(format!("upload_form {:?}", policy.key_field()));
            self.inner.upload_form(policy).await
        }
        async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
            self.record(format!("set_acl {key:?}"));
            self.inner.set_acl(key, acl).await
        }
        async fn acl(&self, key: &str) -> Result<Acl> {
            self.record(format!("acl {key:?}"));
            self.inner.acl(key).await
        }
        async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
            self.record(format!("set_attributes {key:?}"));
            self.inner.set_attributes(key, attributes).await
        }
    }

    /// Names reach the backend exactly as given, `Storage` alone derives the alternative name, and a taken name is
    /// found by a create-only put failing, never by asking first.
    #[test]
    fn storage_alone_names_and_claims_with_create_only_puts_never_exists() {
        let backend = Arc::new(Recording::default());
        let storage = Storage::from_arc(backend.clone());
        let name = "dir/a b#%+?&é.tar.gz";
        let stored = super::runtime().block_on(async {
            assert_eq!(storage.save(name, "first").await.unwrap(), name, "the name is not rewritten");
            storage.save(name, "second").await.unwrap()
        });
        let calls = backend.calls.lock().unwrap().clone();
        assert!(stored.starts_with("dir/a b#%+?&é_") && stored.ends_with(".tar.gz"), "{stored}");
        assert_eq!(
            calls,
            [
                format!("put {name:?} CreateOnly ok"),
                format!("put {name:?} CreateOnly {:?}", ErrorKind::AlreadyExists),
                format!("put {stored:?} CreateOnly ok"),
            ],
            "create-only claims, and no head, list or exists before them"
        );
    }
}

/// Eight writers and live backfills at once through a mirror of two memory backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mirror_of_two_memory_backends_survives_writers_during_a_backfill() {
    storage_conformance::mirror_stress(fixture().await, fixture().await).await;
}

/// The whole suite again over retryable faults and retries: it must pass unchanged.
mod under_faults {
    use storage_conformance::Fixture;

    async fn fixture() -> Fixture {
        storage_conformance::under_faults(super::fixture().await)
    }

    storage_conformance::conformance_tests!(fixture);
}

/// The mirror model with a primary that fails a fifth of its calls (retried), against the same model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_over_a_faulty_primary_with_retries_matches_the_model() {
    let primary = storage_conformance::under_faults(fixture().await);
    storage_conformance::mirror_model(primary, fixture().await).await;
}

/// The layers of storage-core, each on its own, over the memory backend (the suites run under faults and retries).
mod layers {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use bytes::Bytes;
    use futures::TryStreamExt as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::SystemTime;
    use storage_conformance::FaultLayer;

    use futures::StreamExt as _;
    use storage_core::layer::{Ran, Run};
    use storage_core::link::{LinkRequest, LinkServer};
    use storage_core::signing::{SigningKey, UrlSigner};
    use storage_core::{
        Acl, Around, Attributes, Backend, BackendOp, Call, ConcurrencyLimitLayer, Content, ErrorKind, Layer,
        ListOptions, Method, MetricsLayer, PresignRequest, PutOptions, RetryLayer, TimeoutLayer, TracingLayer,
        UploadPolicy, Wrapped, WriteMode,
    };
    use storage_memory::MemoryBackend;

    /// A `metrics` recorder that keeps counters by name and labels.
    #[derive(Default, Clone)]
    struct Counters(Arc<Mutex<BTreeMap<String, u64>>>);

    struct Count(Arc<Mutex<BTreeMap<String, u64>>>, String);

    impl metrics::CounterFn for Count {
        fn increment(&self, value: u64) {
            *self.0.lock().unwrap().entry(self.1.clone()).or_default() += value;
        }
        fn absolute(&self, value: u64) {
            self.0.lock().unwrap().insert(self.1.clone(), value);
        }
    }

    impl metrics::Recorder for Counters {
        fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
            let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            metrics::Counter::from_arc(Arc::new(Count(self.0.clone(), name)))
        }
        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[test]
    fn metrics_count_operations_errors_and_bytes_by_backend_and_operation() {
        let counters = Counters::default();
        metrics::with_local_recorder(&counters, || {
            super::runtime().block_on(async {
                let storage = MemoryBackend::new().storage().layer(MetricsLayer);
                storage.save("a.txt", "12345").await.unwrap();
                assert_eq!(storage.read("a.txt").await.unwrap(), "12345");
                assert_eq!(storage.read("missing.txt").await.unwrap_err().kind(), ErrorKind::NotFound);
            })
        });
        let seen = counters.0.lock().unwrap().clone();
        let count = |name: &str| seen.get(name).copied().unwrap_or_else(|| panic!("no `{name}` in {seen:#?}"));
        assert_eq!(count("storage_operations_total{backend=memory,operation=put,outcome=ok}"), 1);
        assert_eq!(count("storage_operations_total{backend=memory,operation=get,outcome=ok}"), 1);
        assert_eq!(count("storage_operations_total{backend=memory,operation=get,outcome=error}"), 1);
        assert_eq!(count("storage_errors_total{backend=memory,operation=get,kind=NotFound}"), 1);
        assert_eq!(count("storage_bytes_total{backend=memory,operation=put}"), 5);
        assert_eq!(count("storage_bytes_total{backend=memory,operation=get}"), 5);
    }

    /// On a paused clock, so no test waits for real time: an operation slower than the limit fails with a retryable
    /// error that says which limit it hit.
    #[tokio::test(start_paused = true)]
    async fn a_slow_operation_times_out_with_a_clear_retryable_error() {
        let slow = FaultLayer::none().delaying(Duration::from_secs(60));
        let storage = MemoryBackend::new()
            .storage()
            .layer(slow)
            .layer(TimeoutLayer::new(Duration::from_secs(5), Duration::from_secs(5)));
        let err = storage.save("late.txt", "x").await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        let message = err.to_string();
        assert!(message.contains("late.txt") && message.contains("5s") && message.contains("timeout"), "{message}");
    }

    /// A streamed save's content: `chunks` chunks of `b"0123456789"`, one every `every`, then its end or, under
    /// `Stall::Forever`, a wait that never ends; `read` counts the chunks handed out.
    fn paced(chunks: usize, every: Duration, read: Arc<AtomicUsize>, stall: Stall) -> Content {
        let sent = futures::stream::iter(0..chunks).then(move |_| {
            let read = read.clone();
            async move {
                tokio::time::sleep(every).await;
                read.fetch_add(1, Ordering::SeqCst);
                Ok(Bytes::from_static(b"0123456789"))
            }
        });
        let after = futures::stream::once(async move {
            if stall == Stall::Forever {
                std::future::pending::<()>().await;
            }
        })
        .filter_map(|()| async { None });
        Content::from_stream(sent.chain(after), None)
    }

    /// Whether a paced content ends after its chunks or stops sending.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Stall {
        Never,
        Forever,
    }

    fn half_minute_limits() -> TimeoutLayer {
        TimeoutLayer::new(Duration::from_secs(30), Duration::from_secs(30))
    }

    /// A slow but steady upload (a chunk every 10 s for 120 s) under a 30 s request limit is not cut: the time spent
    /// waiting for the client's chunks is not the backend's.
    #[tokio::test(start_paused = true)]
    async fn a_slow_but_steady_streamed_save_outlasts_the_request_limit() {
        let storage = MemoryBackend::new().storage().layer(half_minute_limits());
        let read = Arc::new(AtomicUsize::new(0));
        let content = paced(12, Duration::from_secs(10), read.clone(), Stall::Never);
        storage.save("steady.bin", content).await.expect("a steady upload is never cut");
        assert_eq!(storage.read("steady.bin").await.unwrap(), b"0123456789".repeat(12));
    }

    /// A streamed save whose client stops sending fails once the idle limit passes, permanently (a retry would read
    /// the same stalled stream), naming the operation, the key, the backend and the limit.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_streamed_save_fails_at_the_idle_limit_naming_the_key() {
        let storage = MemoryBackend::new().storage().layer(half_minute_limits());
        let content = paced(2, Duration::from_secs(10), Arc::default(), Stall::Forever);
        let err = storage.save("stalled.bin", content).await.unwrap_err();
        let message = err.to_string();
        assert_eq!((err.kind(), err.key(), err.status()), (ErrorKind::Backend, Some("stalled.bin"), Some(408)));
        assert!(!err.is_retryable(), "{err:?}");
        for part in ["save `stalled.bin` on the memory backend", "30s", "between chunks", "stalled"] {
            assert!(message.contains(part), "{part:?} in {message}");
        }
        assert!(storage.read("stalled.bin").await.is_err(), "nothing is stored");
    }

    /// A backend that stops answering after it read a slow save's whole content (60 s of client time, twice the
    /// request limit) still times out, on the request limit.
    #[tokio::test(start_paused = true)]
    async fn a_backend_that_hangs_after_a_slow_stream_still_times_out() {
        let storage = MemoryBackend::new().storage().layer(HangsAfterRunning).layer(half_minute_limits());
        let read = Arc::new(AtomicUsize::new(0));
        let content = paced(6, Duration::from_secs(10), read.clone(), Stall::Never);
        let err = storage.save("hung.bin", content).await.unwrap_err();
        assert_eq!(read.load(Ordering::SeqCst), 6, "the whole content was read before the backend hung: {err}");
        assert!(err.is_retryable(), "{err:?}");
        assert!(err.to_string().contains("the operation took longer than the 30s"), "{err}");
    }

    /// A backend that runs each call and then never answers.
    #[derive(Debug, Clone, Copy)]
    struct HangsAfterRunning;

    impl Around for HangsAfterRunning {
        type Held = ();
        fn call<'a, T: Send + 'a>(&'a self, _: &'a Call, run: Run<'a, T>) -> Ran<'a, T, ()> {
            Box::pin(async move {
                let _ = run.await;
                std::future::pending().await
            })
        }
    }

    impl Layer for HangsAfterRunning {
        fn layer(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
            Arc::new(Wrapped::new(inner, *self))
        }
    }

    /// A signed PUT link over a storage with a timeout layer: a slow but steady body is stored (201); one that stalls
    /// past the idle limit is answered 408 with the reason, not a bare 500.
    #[tokio::test(start_paused = true)]
    async fn a_signed_put_link_takes_a_steady_body_and_answers_a_stalled_one_408() {
        let signer = UrlSigner::new("http://files.test/", SigningKey::new("k", vec![7u8; 32]).unwrap());
        let storage = MemoryBackend::new().storage().layer(half_minute_limits());
        let links = LinkServer::new(storage.clone(), signer.clone());
        let put = |key: &str| {
            let url = signer.sign(&PresignRequest::new(Method::Put, key, Duration::from_secs(3600)), SystemTime::now());
            url.unwrap().strip_prefix("http://files.test/").unwrap().to_owned()
        };
        let answer = |url: String, stall: Stall| {
            let links = links.clone();
            async move {
                let (path, query) = url.split_once('?').unwrap();
                let body = paced(12, Duration::from_secs(10), Arc::default(), stall);
                let body = body.into_stream().await.unwrap();
                links.answer(&LinkRequest::new("PUT", path, Some(query)), body).await
            }
        };
        assert_eq!(answer(put("steady.bin"), Stall::Never).await.status, 201);
        assert_eq!(storage.read("steady.bin").await.unwrap().len(), 120);
        let stalled = answer(put("stalled.bin"), Stall::Forever).await;
        assert_eq!(stalled.status, 408);
        let body = stalled.body.into_bytes().await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("stalled"), "{body:?}");
    }

    /// Six operations of 1 s each through a limit of two take 3 s of (paused, virtual) time: never more than two at once.
    #[tokio::test(start_paused = true)]
    async fn a_concurrency_limit_runs_at_most_that_many_at_once() {
        let memory = MemoryBackend::new();
        memory.storage().save("a.txt", "x").await.unwrap();
        let storage = memory
            .storage()
            .layer(FaultLayer::none().delaying(Duration::from_secs(1)))
            .layer(ConcurrencyLimitLayer::new(2));
        let started = tokio::time::Instant::now();
        futures::future::join_all((0..6).map(|_| storage.exists("a.txt"))).await;
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    /// A retryable failure that outlasts the retry layer's attempts comes out permanent, so a retry above it (another
    /// layer, a migration's) does not start the whole policy over.
    #[tokio::test(start_paused = true)]
    async fn a_failure_that_outlasts_the_retries_comes_out_permanent() {
        let failing = FaultLayer::retryable(7, 1.0);
        let faulty = MemoryBackend::new().storage().layer(failing.clone());
        assert!(faulty.read("a.txt").await.unwrap_err().is_retryable());
        let retry = RetryLayer::new(3, Duration::from_millis(1), Duration::from_millis(1), Duration::from_secs(60));
        let err = faulty.layer(retry).read("a.txt").await.unwrap_err();
        assert_eq!((err.kind(), failing.injected()), (ErrorKind::Backend, 1 + 3));
        assert!(!err.is_retryable(), "{err:?}");
    }

    /// A streamed save and a file save count their bytes as a save of bytes does (they once counted 0).
    #[test]
    fn metrics_count_the_bytes_of_streamed_and_file_saves() {
        let counters = Counters::default();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"eleven byte").unwrap();
        metrics::with_local_recorder(&counters, || {
            super::runtime().block_on(async {
                let storage = MemoryBackend::new().storage().layer(MetricsLayer);
                let chunks = [Ok(Bytes::from_static(b"abc")), Ok(Bytes::from_static(b"defg"))];
                let streamed = Content::from_stream(futures::stream::iter(chunks), None);
                storage.save("streamed.bin", streamed).await.unwrap();
                storage.save("file.bin", Content::from_path(file.path())).await.unwrap();
            })
        });
        let seen = counters.0.lock().unwrap().clone();
        assert_eq!(seen.get("storage_bytes_total{backend=memory,operation=put}"), Some(&(7 + 11)), "{seen:#?}");
    }

    /// Presigning takes a place under the concurrency limit as every other operation does: while an open read holds
    /// the only place, a presign waits, and it runs once the read is dropped.
    #[tokio::test]
    async fn presign_waits_for_a_place_under_the_concurrency_limit() {
        let memory = MemoryBackend::new();
        memory.storage().save("a.txt", "x").await.unwrap();
        let limited = ConcurrencyLimitLayer::new(1).layer(Arc::new(memory));
        let reading = limited.get("a.txt", None).await.unwrap();
        let request = PresignRequest::new(Method::Get, "a.txt", Duration::from_secs(60));
        let mut presign = std::pin::pin!(limited.presign(&request));
        assert!(futures::poll!(presign.as_mut()).is_pending(), "a presign waits while a read holds the only place");
        drop(reading);
        presign.await.expect("the presign runs once the read is dropped");
    }

    /// The `operation` of every span opened.
    #[derive(Default, Clone)]
    struct SpanOperations(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanOperations {
        fn on_new_span(
            &self,
            attributes: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            struct Operation(Option<String>);
            impl tracing::field::Visit for Operation {
                fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                    if field.name() == "operation" {
                        self.0 = Some(value.to_owned());
                    }
                }
                fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
            }
            let mut operation = Operation(None);
            attributes.record(&mut operation);
            self.0.lock().unwrap().extend(operation.0);
        }
    }

    /// The tracing layer opens exactly one span per operation, for every operation of the backend (`list` and
    /// `public_url` once had none).
    #[test]
    fn tracing_opens_one_span_per_operation_for_every_operation() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let spans = SpanOperations::default();
        let subscriber = tracing_subscriber::registry().with(spans.clone());
        tracing::subscriber::with_default(subscriber, || {
            super::runtime().block_on(async {
                let traced = TracingLayer.layer(Arc::new(MemoryBackend::new()));
                let put = |content: &'static str| (Content::from(content), PutOptions::default());
                let (content, options) = put("x");
                traced.put("a.txt", content, options).await.unwrap();
                let read = traced.get("a.txt", None).await.unwrap();
                assert_eq!(read.stream.try_collect::<Vec<Bytes>>().await.unwrap().concat(), b"x");
                traced.head("a.txt").await.unwrap();
                traced.copy("a.txt", "b.txt", WriteMode::Overwrite).await.unwrap();
                traced.rename("b.txt", "c.txt", WriteMode::Overwrite).await.unwrap();
                assert_eq!(traced.list(ListOptions::new("")).try_collect::<Vec<_>>().await.unwrap().len(), 2);
                traced.public_url("a.txt").unwrap();
                for method in [Method::Get, Method::Put] {
                    traced.presign(&PresignRequest::new(method, "a.txt", Duration::from_secs(60))).await.unwrap();
                }
                traced.upload_form(&UploadPolicy::exact("up.txt")).await.unwrap();
                traced.set_acl("a.txt", Acl::PublicRead).await.unwrap();
                traced.acl("a.txt").await.unwrap();
                traced.set_attributes("a.txt", Attributes::default()).await.unwrap();
                traced.delete("a.txt").await.unwrap();
            })
        });
        let mut opened = spans.0.lock().unwrap().clone();
        opened.sort();
        let mut every: Vec<String> = BackendOp::ALL.iter().map(|op| op.name().to_owned()).collect();
        every.sort();
        assert_eq!(opened, every, "one span per operation");
    }

    /// A read stream cut mid-way ends in an error that names the key and can be retried, never in short data.
    #[tokio::test]
    async fn a_cut_stream_ends_in_a_retryable_error() {
        let memory = MemoryBackend::new();
        memory.storage().save("big.bin", vec![7u8; 1 << 20]).await.unwrap();
        let cutting = FaultLayer::none().cutting_streams(1.0);
        let storage = memory.storage().layer(cutting.clone());
        let err = storage.read("big.bin").await.unwrap_err();
        assert!(
            err.is_retryable() && err.to_string().contains("big.bin") && err.to_string().contains("injected"),
            "{err}"
        );
        assert_eq!(cutting.injected(), 1);
    }
}

/// A PUT link signed for `key` with the size and MD5 of `signed_for`, and the headers its client must send.
async fn put_link(storage: &storage_core::Storage, key: &str, signed_for: &[u8]) -> (String, Vec<(String, String)>) {
    use md5::Digest as _;
    let md5: [u8; 16] = md5::Md5::digest(signed_for).into();
    let policy = storage_core::UploadPolicy::exact(key)
        .with_exact_size(signed_for.len() as u64)
        .with_checksum(storage_core::Checksum::Md5(md5));
    let put = storage.upload_url(&policy).await.unwrap();
    (put.url, put.headers)
}

/// A signed PUT is answered 201 Created, as storage-http's `SignedUrlService` answers it, and stores the body.
#[test]
fn a_signed_put_is_answered_201_and_stores_the_body() {
    runtime().block_on(async {
        let memory = MemoryBackend::new();
        let (url, headers) = put_link(&memory.storage(), "upload.txt", b"hello").await;
        let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        let answer = memory.fetch("PUT", &url, &headers, Bytes::from("hello"));
        assert_eq!(answer.status, 201, "{answer:?}");
        memory.assert_exists_with("upload.txt", "hello");
    });
}

/// The size and MD5 a PUT link was signed with are enforced as the body arrives: a longer, shorter or other body
/// is refused with the service's status and reason, and nothing is stored.
#[test]
fn a_signed_put_of_another_size_or_md5_is_refused_and_stores_nothing() {
    runtime().block_on(async {
        let memory = MemoryBackend::new();
        let (url, _) = put_link(&memory.storage(), "upload.txt", b"hello").await;
        let cases: [(&str, u16, &str); 3] = [
            ("hello, world", 413, "larger than the policy allows"),
            ("hell", 400, "smaller than the policy allows"),
            ("HELLO", 400, "checksum differs from the signed one"),
        ];
        for (body, status, why) in cases {
            let answer = memory.fetch("PUT", &url, &[], Bytes::from(body));
            assert_eq!(answer.status, status, "{body:?}: {answer:?}");
            assert!(String::from_utf8_lossy(&answer.body).contains(why), "{body:?}: {answer:?}");
            memory.assert_missing("upload.txt");
        }
    });
}

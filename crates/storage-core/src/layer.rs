//! Layers: wrappers that give any backend tracing, retries, timeouts, a limit on operations in flight and metrics,
//! and are backends themselves, so they stack: `storage.layer(RetryLayer::default()).layer(TracingLayer)`.
//!
//! All but retries are written once. Each is an [`Around`]: a hook given every operation as a [`Call`] (a
//! [`BackendOp`], the backend and the key) together with the future that runs it and the stream it opens, and
//! [`Wrapped`] is the one backend that forwards every method of [`Backend`] through a hook, under
//! `#[deny(clippy::missing_trait_methods)]`, so a method added to the trait can never silently take its default
//! under a layer. [`RetryLayer`] keeps its own methods: what a retry must check first depends on the operation.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use tracing::Instrument;

use crate::backend::{Backend, Capabilities, GetResult, ListOptions, Method, PresignRequest, PresignedRequest};
use crate::backend::{ConditionalDelete, PutOptions, PutResult, WriteMode};
use crate::backoff::{OBJECT_STORE, RetryPolicy};
use crate::checksum::{md5_of, stream_md5};
use crate::content::Content;
use crate::error::{Error, ErrorKind, Result, Retry};
use crate::types::{Acl, Attributes, ByteRange, ListEntry, Metadata};
use crate::upload::{UploadForm, UploadPolicy};

/// Something that wraps a backend in another backend. [`crate::Storage::layer`] adds one to a storage.
pub trait Layer {
    /// `inner`, wrapped.
    fn layer(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend>;
}

// ----- the hook ------------------------------------------------------------------------------------------------------

/// One operation of [`Backend`], as layers name it in spans, metrics and messages: a variant per method that does
/// something (`name` and `capabilities` only describe the backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendOp {
    /// [`Backend::put`].
    Put,
    /// [`Backend::get`].
    Get,
    /// [`Backend::head`].
    Head,
    /// [`Backend::delete`].
    Delete,
    /// [`Backend::list`].
    List,
    /// [`Backend::copy`].
    Copy,
    /// [`Backend::rename`].
    Rename,
    /// [`Backend::public_url`].
    PublicUrl,
    /// [`Backend::presign`], for the method the URL allows.
    Presign(Method),
    /// [`Backend::upload_form`].
    UploadForm,
    /// [`Backend::set_acl`].
    SetAcl,
    /// [`Backend::acl`].
    Acl,
    /// [`Backend::set_attributes`].
    SetAttributes,
}

impl BackendOp {
    /// Every operation, presigning once per method.
    pub const ALL: [BackendOp; 14] = [
        BackendOp::Put,
        BackendOp::Get,
        BackendOp::Head,
        BackendOp::Delete,
        BackendOp::List,
        BackendOp::Copy,
        BackendOp::Rename,
        BackendOp::PublicUrl,
        BackendOp::Presign(Method::Get),
        BackendOp::Presign(Method::Put),
        BackendOp::UploadForm,
        BackendOp::SetAcl,
        BackendOp::Acl,
        BackendOp::SetAttributes,
    ];

    /// The name spans, metrics and messages use: `put`, `presign_get`, `set_acl`, ….
    pub fn name(self) -> &'static str {
        match self {
            BackendOp::Put => "put",
            BackendOp::Get => "get",
            BackendOp::Head => "head",
            BackendOp::Delete => "delete",
            BackendOp::List => "list",
            BackendOp::Copy => "copy",
            BackendOp::Rename => "rename",
            BackendOp::PublicUrl => "public_url",
            BackendOp::Presign(Method::Get) => "presign_get",
            BackendOp::Presign(Method::Put) => "presign_put",
            BackendOp::UploadForm => "upload_form",
            BackendOp::SetAcl => "set_acl",
            BackendOp::Acl => "acl",
            BackendOp::SetAttributes => "set_attributes",
        }
    }

    /// Whether it changes what is stored, so a failure may come after it took effect.
    pub fn writes(self) -> bool {
        matches!(
            self,
            BackendOp::Put
                | BackendOp::Delete
                | BackendOp::Copy
                | BackendOp::Rename
                | BackendOp::SetAcl
                | BackendOp::SetAttributes
        )
    }

    /// Whether it is local work (building or signing a URL or a form), which sends no request.
    pub fn is_local(self) -> bool {
        matches!(self, BackendOp::PublicUrl | BackendOp::Presign(_) | BackendOp::UploadForm)
    }
}

impl fmt::Display for BackendOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One call of a backend method, as an [`Around`] sees it: the operation, the backend's name, the key it concerns
/// (a listing's prefix, an upload form's key field), and the bytes it moved.
#[derive(Debug, Clone)]
pub struct Call {
    op: BackendOp,
    backend: String,
    key: Option<String>,
    bytes: Arc<AtomicU64>,
    waits: Arc<Mutex<StreamWaits>>,
}

/// How long a call has waited on a stream it was handed (a save's content): the client's time, not the backend's.
#[derive(Debug, Default)]
struct StreamWaits {
    /// The waits that ended.
    ended: Duration,
    /// When the wait going on began.
    since: Option<tokio::time::Instant>,
}

impl Call {
    fn new(op: BackendOp, backend: &str, key: Option<&str>) -> Self {
        let (bytes, waits) = (Arc::default(), Arc::default());
        Self { op, backend: backend.to_owned(), key: key.map(str::to_owned), bytes, waits }
    }

    /// `next` (a poll of a save's content), counted as time spent waiting on the client, also when it is dropped
    /// unfinished (its idle limit ran out).
    async fn waiting<T>(&self, next: impl Future<Output = T>) -> T {
        struct Waiting<'a>(&'a Mutex<StreamWaits>);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                let mut waits = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(since) = waits.since.take() {
                    waits.ended += since.elapsed();
                }
            }
        }
        self.waits.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).since = Some(tokio::time::Instant::now());
        let _waiting = Waiting(&self.waits);
        next.await
    }

    /// The time spent waiting on the client so far, the wait going on included.
    fn waited(&self) -> Duration {
        let waits = self.waits.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        waits.ended + waits.since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// The operation.
    pub fn op(&self) -> BackendOp {
        self.op
    }

    /// The name of the backend called.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The key the call concerns, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// For a save or a read, the bytes it moved once it ran: a save's bytes or file, or as much of its stream as the
    /// backend read; a read's range, when its stream opened. `None` for every other operation.
    pub fn bytes(&self) -> Option<u64> {
        matches!(self.op, BackendOp::Put | BackendOp::Get).then(|| self.bytes.load(Ordering::Relaxed))
    }

    /// `content`, counted into [`Call::bytes`]: bytes and a file by their size, known without reading; a stream as
    /// the backend reads it.
    async fn counting(&self, content: Content) -> Content {
        if content.as_bytes().is_some() || content.as_path().is_some() {
            if let Ok(Some(size)) = content.size().await {
                self.bytes.store(size, Ordering::Relaxed);
            }
            return content;
        }
        let bytes = self.bytes.clone();
        content.inspect_chunks(move |chunk| {
            bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        })
    }
}

/// An operation's future, as an [`Around`] is given it.
pub type Run<'a, T> = BoxFuture<'a, Result<T>>;

/// What [`Around::call`] answers: the operation's result, with what the call holds.
pub type Ran<'a, T, H> = BoxFuture<'a, Result<(T, H)>>;

/// A stream an operation opened: a read's bytes (failing with `std::io::Error`) or a listing's entries ([`Error`]).
pub type Opened<T, E> = BoxStream<'static, std::result::Result<T, E>>;

/// The error of an [`Opened`] stream: made from an [`Error`], and displayed.
pub trait StreamError: From<Error> + fmt::Display + Send + 'static {}

impl<E: From<Error> + fmt::Display + Send + 'static> StreamError for E {}

/// A hook around every operation of a backend; [`Wrapped`] calls it for each method. Tracing, timeouts, the
/// concurrency limit, metrics and storage-conformance's `FaultLayer` are each one implementation.
pub trait Around: fmt::Debug + Send + Sync + 'static {
    /// What an operation holds while it runs and, for one that opens a stream (a read, a listing), until that
    /// stream is dropped: a concurrency permit, a span. `()` for a hook that holds nothing.
    type Held: Send + 'static;

    /// Run one operation: `run` is the inner backend's call. Answers its result with what the call holds.
    fn call<'a, T: Send + 'a>(&'a self, call: &'a Call, run: Run<'a, T>) -> Ran<'a, T, Self::Held>;

    /// The stream an operation opened (a read's bytes, a listing's entries), given what its call held. By default
    /// it holds `held` until it is dropped.
    fn stream<T: Send + 'static, E: StreamError>(
        &self,
        call: Call,
        held: Self::Held,
        stream: Opened<T, E>,
    ) -> Opened<T, E> {
        let _ = call;
        hold(held, stream)
    }

    /// An operation that is local and does not wait (`public_url`). By default it just runs.
    fn local<T>(&self, call: &Call, run: impl FnOnce() -> Result<T>) -> Result<T> {
        let _ = call;
        run()
    }

    /// The capabilities the wrapped backend declares. By default, the inner backend's.
    fn capabilities(&self, inner: Capabilities) -> Capabilities {
        inner
    }

    /// The content of a save, before the inner backend reads it. By default, unchanged.
    fn content<'a>(&'a self, call: &'a Call, content: Content) -> BoxFuture<'a, Result<Content>> {
        let _ = call;
        Box::pin(async move { Ok(content) })
    }
}

/// `stream`, keeping `held` until it is dropped.
fn hold<T: Send + 'static, H: Send + 'static>(held: H, stream: BoxStream<'static, T>) -> BoxStream<'static, T> {
    stream
        .map(move |item| {
            let _held = &held;
            item
        })
        .boxed()
}

/// A backend with an [`Around`] on every method: the one forwarding implementation every hook layer shares.
#[derive(Debug)]
pub struct Wrapped<A> {
    inner: Arc<dyn Backend>,
    around: Arc<A>,
}

impl<A: Around> Wrapped<A> {
    /// `inner`, with `around` on each of its operations.
    pub fn new(inner: Arc<dyn Backend>, around: A) -> Self {
        Self { inner, around: Arc::new(around) }
    }

    fn call(&self, op: BackendOp, key: Option<&str>) -> Call {
        Call::new(op, self.inner.name(), key)
    }

    async fn run<T: Send>(&self, call: &Call, run: impl Future<Output = Result<T>> + Send) -> Result<T> {
        self.around.call(call, Box::pin(run)).await.map(|(value, _held)| value)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<A: Around> Backend for Wrapped<A> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.around.capabilities(self.inner.capabilities())
    }
    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        let call = self.call(BackendOp::Put, Some(key));
        let content = call.counting(content).await;
        self.run(&call, async {
            let content = self.around.content(&call, content).await?;
            self.inner.put(key, content, options).await
        })
        .await
    }
    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        let call = self.call(BackendOp::Get, Some(key));
        let opened = self
            .around
            .call(
                &call,
                Box::pin(async {
                    let result = self.inner.get(key, range).await?;
                    call.bytes.store(result.range.end - result.range.start, Ordering::Relaxed);
                    Ok(result)
                }),
            )
            .await;
        let (mut result, held) = opened?;
        result.stream = self.around.stream(call, held, result.stream);
        Ok(result)
    }
    async fn head(&self, key: &str) -> Result<Metadata> {
        self.run(&self.call(BackendOp::Head, Some(key)), self.inner.head(key)).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.run(&self.call(BackendOp::Delete, Some(key)), self.inner.delete(key)).await
    }
    async fn delete_if_unchanged(&self, key: &str, etag: &str) -> Result<ConditionalDelete> {
        self.run(&self.call(BackendOp::Delete, Some(key)), self.inner.delete_if_unchanged(key, etag)).await
    }
    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let call = self.call(BackendOp::List, Some(&options.prefix));
        let (inner, around) = (self.inner.clone(), self.around.clone());
        // Opened when first polled, as every listing is: a permit is taken then, not when the stream is made.
        futures::stream::once(async move {
            let opened = around.call(&call, Box::pin(async { Ok(inner.list(options)) })).await;
            match opened {
                Ok((entries, held)) => around.stream(call, held, entries),
                Err(err) => futures::stream::once(async move { Err(err) }).boxed(),
            }
        })
        .flatten()
        .boxed()
    }
    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.run(&self.call(BackendOp::Copy, Some(to)), self.inner.copy(from, to, mode)).await
    }
    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.run(&self.call(BackendOp::Rename, Some(to)), self.inner.rename(from, to, mode)).await
    }
    fn public_url(&self, key: &str) -> Result<String> {
        self.around.local(&self.call(BackendOp::PublicUrl, Some(key)), || self.inner.public_url(key))
    }
    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        // The key and the method only: the signed URL is a secret until it expires.
        let call = self.call(BackendOp::Presign(request.method), Some(&request.key));
        self.run(&call, self.inner.presign(request)).await
    }
    async fn upload_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        self.run(&self.call(BackendOp::UploadForm, Some(&policy.key_field())), self.inner.upload_form(policy)).await
    }
    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        self.run(&self.call(BackendOp::SetAcl, Some(key)), self.inner.set_acl(key, acl)).await
    }
    async fn acl(&self, key: &str) -> Result<Acl> {
        self.run(&self.call(BackendOp::Acl, Some(key)), self.inner.acl(key)).await
    }
    async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
        let call = self.call(BackendOp::SetAttributes, Some(key));
        self.run(&call, self.inner.set_attributes(key, attributes)).await
    }
}

// ----- tracing -------------------------------------------------------------------------------------------------------

/// One `tracing` span per operation (target `storage`), with the backend, the operation, the key, the bytes moved,
/// the outcome and the error kind, and one event when it ends (`debug`, or `warn` for a failure). A read or a listing
/// keeps its span while its stream is read, and a failure in the stream is recorded on it. Never a secret: a
/// temporary URL is recorded as its method and key, never its query.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingLayer;

impl Layer for TracingLayer {
    fn layer(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(Wrapped::new(inner, *self))
    }
}

impl TracingLayer {
    fn span(call: &Call) -> tracing::Span {
        tracing::info_span!(
            target: "storage",
            "storage",
            backend = call.backend(),
            operation = call.op().name(),
            key = call.key(),
            bytes = tracing::field::Empty,
            outcome = tracing::field::Empty,
            error = tracing::field::Empty,
        )
    }

    /// Record the outcome on the current span (the call's) and say it ended.
    fn finish<T>(call: &Call, result: &Result<T>, started: Instant) {
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let span = tracing::Span::current();
        if let Some(bytes) = call.bytes() {
            span.record("bytes", bytes);
        }
        match result {
            Ok(_) => {
                span.record("outcome", "ok");
                tracing::debug!(target: "storage", elapsed_ms, "done");
            }
            Err(err) => {
                span.record("outcome", "error");
                span.record("error", tracing::field::display(err.kind()));
                tracing::warn!(target: "storage", elapsed_ms, error = %err, "failed");
            }
        }
    }
}

impl Around for TracingLayer {
    type Held = tracing::Span;

    fn call<'a, T: Send + 'a>(&'a self, call: &'a Call, run: Run<'a, T>) -> Ran<'a, T, tracing::Span> {
        let span = Self::span(call);
        let held = span.clone();
        let started = Instant::now();
        let traced = async move {
            let result = run.await;
            Self::finish(call, &result, started);
            result.map(|value| (value, held))
        };
        Box::pin(traced.instrument(span))
    }

    fn stream<T: Send + 'static, E: StreamError>(
        &self,
        call: Call,
        held: tracing::Span,
        stream: Opened<T, E>,
    ) -> Opened<T, E> {
        let _ = call;
        stream
            .inspect(move |item| {
                if let Err(err) = item {
                    held.record("outcome", "error");
                    held.in_scope(|| tracing::warn!(target: "storage", error = %err, "failed while streaming"));
                }
            })
            .boxed()
    }

    fn local<T>(&self, call: &Call, run: impl FnOnce() -> Result<T>) -> Result<T> {
        let started = Instant::now();
        Self::span(call).in_scope(|| {
            let result = run();
            Self::finish(call, &result, started);
            result
        })
    }
}

// ----- retries -------------------------------------------------------------------------------------------------------

/// Retries failures marked retryable ([`Error::is_retryable`]: a 5xx, a 429, a timeout, a dropped connection) with
/// exponential backoff and jitter ([`crate::backoff::Backoff`]), within a number of attempts and a total time
/// budget. A save's content is replayed from a spool (memory up to a limit, then a temporary file), so memory stays
/// bounded.
///
/// A write whose failed attempt may still have taken effect is never answered wrongly. Before a create-only save or
/// copy, one `head` notes whether the name is taken; when a retry then finds it taken, it is a collision if it was
/// taken before, and the write's own landing if it was free and the object there is what was sent (MD5). Before a
/// rename, one `head` notes the source; a retry that finds the source gone counts the move done only if the target
/// now holds that object. These checks cost one request per create-only write, only under this layer.
#[derive(Debug, Clone, Copy)]
pub struct RetryLayer {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the first retry; later waits grow up to twice the last one, with jitter.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// No retry starts after this long since the first attempt.
    pub budget: Duration,
}

impl Default for RetryLayer {
    /// object_store's policy for its own requests, [`crate::backoff::OBJECT_STORE`].
    fn default() -> Self {
        Self {
            max_attempts: OBJECT_STORE.max_retries + 1,
            initial_backoff: OBJECT_STORE.initial_backoff,
            max_backoff: OBJECT_STORE.max_backoff,
            budget: OBJECT_STORE.retry_timeout,
        }
    }
}

impl RetryLayer {
    /// At most `max_attempts` attempts, waiting from `initial_backoff` up to `max_backoff`, within `budget`.
    pub fn new(max_attempts: u32, initial_backoff: Duration, max_backoff: Duration, budget: Duration) -> Self {
        Self { max_attempts: max_attempts.max(1), initial_backoff, max_backoff, budget }
    }

    /// This layer's limits as the shared retry policy (object_store's growth of the waits).
    fn policy(&self) -> RetryPolicy {
        OBJECT_STORE
            .with_max_retries(self.max_attempts.saturating_sub(1))
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
            .with_retry_timeout(self.budget)
    }
}

impl Layer for RetryLayer {
    fn layer(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(Retried { inner, policy: self.policy() })
    }
}

#[derive(Debug)]
struct Retried {
    inner: Arc<dyn Backend>,
    policy: RetryPolicy,
}

impl Retried {
    /// Run `attempt` until it succeeds, fails for good, or the policy is spent; `attempt` is told whether an
    /// earlier attempt failed (and so may have taken effect).
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut(bool) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let backend = self.inner.name();
        crate::backoff::retry(&self.policy, |earlier| {
            let attempt = attempt(earlier > 0);
            async move {
                attempt.await.inspect_err(|err| {
                    if err.is_retryable() {
                        tracing::debug!(target: "storage", backend, attempt = earlier + 1, error = %err, "retryable failure");
                    }
                })
            }
        })
        .await
    }
}

impl Retried {
    /// For a create-only write: whether `key` is taken before the first attempt, so a retry can tell a collision from
    /// its own earlier attempt having landed. No request for an overwrite.
    async fn taken_before(&self, key: &str, mode: WriteMode) -> Result<bool> {
        if mode == WriteMode::Overwrite {
            return Ok(false);
        }
        match self.retrying(|_| self.inner.head(key)).await {
            Ok(_) => Ok(true),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }
}

/// The MD5 of an object: its ETag when that is one, else read.
async fn stored_md5(backend: &dyn Backend, key: &str) -> Result<[u8; 16]> {
    md5_of(backend, &backend.head(key).await?.meta).await
}

async fn content_md5(content: Content, backend: &str, key: &str) -> Result<[u8; 16]> {
    let stream = content.into_stream().await.map_err(|err| Error::from_io(backend, Some(key), err))?;
    stream_md5(stream, backend, key).await
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Backend for Retried {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        let taken_before = self.taken_before(key, options.mode).await?;
        let (first, rewind) = content.tee();
        let mut first = Some(first);
        let replay = tokio::sync::OnceCell::new();
        let rewind = std::sync::Mutex::new(Some(rewind));
        let name = self.inner.name();
        self.retrying(|retry| {
            let (options, first, replay, rewind) = (options.clone(), first.take(), &replay, &rewind);
            async move {
                let content = match first {
                    Some(first) => first,
                    None => {
                        let rewound = || async {
                            let rewind = rewind.lock().expect("the rewind").take().expect("rewound once");
                            rewind.rewind().await.map_err(|err| Error::from_io(name, Some(key), err))
                        };
                        replay.get_or_try_init(rewound).await?.content()
                    }
                };
                match self.inner.put(key, content, options.clone()).await {
                    // Free before the first attempt: taken now by that attempt if it holds what was sent.
                    Err(err) if retry && !taken_before && err.kind() == ErrorKind::AlreadyExists => {
                        let sent = replay.get().expect("a retry replays").content();
                        if content_md5(sent, name, key).await? == stored_md5(self.inner.as_ref(), key).await? {
                            Ok(PutResult::default())
                        } else {
                            Err(err)
                        }
                    }
                    other => other,
                }
            }
        })
        .await
    }
    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        self.retrying(|_| self.inner.get(key, range)).await
    }
    async fn head(&self, key: &str) -> Result<Metadata> {
        self.retrying(|_| self.inner.head(key)).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.retrying(|_| self.inner.delete(key)).await
    }
    async fn delete_if_unchanged(&self, key: &str, etag: &str) -> Result<ConditionalDelete> {
        self.retrying(|_| self.inner.delete_if_unchanged(key, etag)).await
    }
    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        // A listing is retried as a whole only if it fails before yielding an entry.
        let (inner, policy) = (self.inner.clone(), self.policy);
        futures::stream::once(async move {
            let retried = Retried { inner: inner.clone(), policy };
            let first = retried
                .retrying(|_| {
                    let mut stream = inner.list(options.clone());
                    async move {
                        match stream.next().await {
                            Some(Err(err)) => Err(err),
                            first => Ok((first, stream)),
                        }
                    }
                })
                .await;
            match first {
                // An ended stream is not polled again.
                Ok((None, _)) => futures::stream::empty().boxed(),
                Ok((Some(first), rest)) => futures::stream::once(async move { first }).chain(rest).boxed(),
                Err(err) => futures::stream::once(async move { Err(err) }).boxed(),
            }
        })
        .flatten()
        .boxed()
    }
    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        let taken_before = self.taken_before(to, mode).await?;
        self.retrying(|retry| async move {
            match self.inner.copy(from, to, mode).await {
                Err(err) if retry && !taken_before && err.kind() == ErrorKind::AlreadyExists => {
                    let inner = self.inner.as_ref();
                    if stored_md5(inner, from).await? == stored_md5(inner, to).await? { Ok(()) } else { Err(err) }
                }
                other => other,
            }
        })
        .await
    }
    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        let source = match self.retrying(|_| self.inner.head(from)).await {
            Ok(source) => Some(source.meta),
            Err(err) if err.kind() == ErrorKind::NotFound => None,
            Err(err) => return Err(err),
        };
        // Where a move gives the object a new tag, its bytes' MD5 identifies it instead.
        let source_md5 = match &source {
            Some(source) if !self.inner.capabilities().copy_keeps_etag => {
                Some(self.retrying(|_| md5_of(self.inner.as_ref(), source)).await?)
            }
            _ => None,
        };
        let taken_before = self.taken_before(to, mode).await?;
        self.retrying(|retry| {
            let source = source.clone();
            async move {
                match self.inner.rename(from, to, mode).await {
                    // The failed attempt moved it: the target holds the source's object (same size, and same tag or
                    // same MD5).
                    Err(err) if retry && err.kind() == ErrorKind::NotFound => match (source, self.inner.head(to).await)
                    {
                        (Some(source), Ok(now)) if now.meta.size == source.size && now.meta.etag == source.etag => {
                            Ok(())
                        }
                        (Some(source), Ok(now))
                            if now.meta.size == source.size
                                && source_md5.is_some()
                                && source_md5 == Some(md5_of(self.inner.as_ref(), &now.meta).await?) =>
                        {
                            Ok(())
                        }
                        // A failed look is retried as a whole; anything else is the source truly missing.
                        (_, Err(look)) if look.kind() != ErrorKind::NotFound => Err(look),
                        _ => Err(err),
                    },
                    Err(err) if retry && !taken_before && err.kind() == ErrorKind::AlreadyExists => {
                        match (source, self.inner.head(from).await) {
                            (Some(_), Err(gone)) if gone.kind() == ErrorKind::NotFound => Ok(()),
                            (_, Err(look)) if look.kind() != ErrorKind::NotFound => Err(look),
                            _ => Err(err),
                        }
                    }
                    other => other,
                }
            }
        })
        .await
    }
    fn public_url(&self, key: &str) -> Result<String> {
        self.inner.public_url(key)
    }
    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        self.retrying(|_| self.inner.presign(request)).await
    }
    async fn upload_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        self.retrying(|_| self.inner.upload_form(policy)).await
    }
    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        self.retrying(|_| self.inner.set_acl(key, acl)).await
    }
    async fn acl(&self, key: &str) -> Result<Acl> {
        self.retrying(|_| self.inner.acl(key)).await
    }
    async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
        self.retrying(|_| self.inner.set_attributes(key, attributes.clone())).await
    }
}

// ----- timeouts ------------------------------------------------------------------------------------------------------

/// Fails an operation whose backend works longer than `request`, and a stream that waits longer than `idle` for its
/// next item: a read's bytes or a listing's page (a retryable error that says which limit it hit, so a
/// [`RetryLayer`] above tries again), or a streamed save's content. A save's content is paced by its client, so the
/// time spent waiting for its chunks is not counted against `request`: a slow but steady upload goes on however long
/// it takes, a client that stalls longer than `idle` fails the save (permanently, with HTTP's 408 as its status),
/// and a backend that stops answering still fails within `request` of its own time.
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    /// The longest one operation's backend may work (a read: until its stream starts; a save: not counting the
    /// time spent waiting for its content).
    pub request: Duration,
    /// The longest a stream may wait for its next item: a read's bytes, a listing's page, a save's content chunk.
    pub idle: Duration,
}

impl TimeoutLayer {
    /// Operations within `request`, streams never idle longer than `idle`.
    pub fn new(request: Duration, idle: Duration) -> Self {
        Self { request, idle }
    }
}

impl Layer for TimeoutLayer {
    fn layer(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(Wrapped::new(inner, *self))
    }
}

fn timed_out(call: &Call, limit: Duration, what: &str) -> Error {
    let operation = call.op();
    Error::backend(
        call.backend(),
        call.key(),
        format!(
            "{operation}: {what} took longer than the {limit:?} the timeout layer allows; retry, or raise the limit"
        ),
    )
    .with_retry(Retry::Temporary)
    .with_source("timed out")
}

/// A save's content that sent nothing for `idle`: the client's fault, so no retry (a retry would read the same
/// stalled stream) and HTTP's 408 Request Timeout as its status, which a server of uploads answers.
fn content_stalled(call: &Call, idle: Duration) -> Error {
    let operation = call.op();
    Error::backend(
        call.backend(),
        call.key(),
        format!(
            "{operation}: the content sent no bytes for longer than the {idle:?} the timeout layer allows between \
             chunks; the client stalled: send the content steadily, or raise the idle limit"
        ),
    )
    .with_status(408)
    .with_source("timed out")
}

/// `stream`, failing with `stalled` once it waits longer than `idle` for its next item; each wait is counted on `call`
/// as time spent on the client.
fn idle_limited<T: Send + 'static, E: StreamError>(
    call: Call,
    idle: Duration,
    stream: Opened<T, E>,
    stalled: impl Fn(&Call) -> Error + Send + Sync + 'static,
) -> Opened<T, E> {
    let limited = Arc::new((call, stalled));
    futures::stream::unfold(Some(stream), move |stream| {
        let limited = limited.clone();
        async move {
            let (call, stalled) = &*limited;
            let mut stream = stream?;
            match tokio::time::timeout(idle, call.waiting(stream.next())).await {
                Ok(Some(item)) => Some((item, Some(stream))),
                Ok(None) => None,
                Err(_) => Some((Err(E::from(stalled(call))), None)),
            }
        }
    })
    .boxed()
}

impl Around for TimeoutLayer {
    type Held = ();

    fn call<'a, T: Send + 'a>(&'a self, call: &'a Call, mut run: Run<'a, T>) -> Ran<'a, T, ()> {
        let started = tokio::time::Instant::now();
        Box::pin(async move {
            // The limit counts the backend's time only: each wait for a save's content moves the deadline on.
            let deadline = || started + self.request + call.waited();
            loop {
                match tokio::time::timeout_at(deadline(), &mut run).await {
                    Ok(result) => return result.map(|value| (value, ())),
                    Err(_) if deadline() > tokio::time::Instant::now() => continue,
                    Err(_) => return Err(timed_out(call, self.request, "the operation")),
                }
            }
        })
    }

    fn stream<T: Send + 'static, E: StreamError>(&self, call: Call, (): (), stream: Opened<T, E>) -> Opened<T, E> {
        let (idle, is_list) = (self.idle, call.op() == BackendOp::List);
        let what = if is_list { "the next page" } else { "waiting for the next bytes" };
        idle_limited(call, idle, stream, move |call| timed_out(call, idle, what))
    }

    fn content<'a>(&'a self, call: &'a Call, content: Content) -> BoxFuture<'a, Result<Content>> {
        let idle = self.idle;
        let content = content
            .map_stream(|stream| idle_limited(call.clone(), idle, stream, move |call| content_stalled(call, idle)));
        Box::pin(async move { Ok(content) })
    }
}

// ----- concurrency limit ---------------------------------------------------------------------------------------------

/// At most `limit` operations in flight at once, signing included; a read or a listing holds its place until its
/// stream is dropped. Building a plain URL waits for nothing and takes no place.
#[derive(Clone)]
pub struct ConcurrencyLimitLayer {
    permits: Arc<tokio::sync::Semaphore>,
}

impl fmt::Debug for ConcurrencyLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimitLayer").field("available", &self.permits.available_permits()).finish()
    }
}

impl ConcurrencyLimitLayer {
    /// At most `limit` operations at once, shared by every backend this layer wraps.
    pub fn new(limit: usize) -> Self {
        Self { permits: Arc::new(tokio::sync::Semaphore::new(limit.max(1))) }
    }
}

impl Layer for ConcurrencyLimitLayer {
    fn layer(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(Wrapped::new(inner, self.clone()))
    }
}

impl Around for ConcurrencyLimitLayer {
    type Held = tokio::sync::OwnedSemaphorePermit;

    fn call<'a, T: Send + 'a>(&'a self, call: &'a Call, run: Run<'a, T>) -> Ran<'a, T, Self::Held> {
        let _ = call;
        Box::pin(async move {
            let permit = self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
            run.await.map(|value| (value, permit))
        })
    }
}

// ----- metrics -------------------------------------------------------------------------------------------------------

/// Counts and times every operation through the `metrics` facade (install any recorder: Prometheus, StatsD, …),
/// labelled by `backend` and `operation`:
/// - `storage_operations_total` (with `outcome` = `ok` or `error`);
/// - `storage_errors_total` (with `kind`, the [`ErrorKind`]);
/// - `storage_bytes_total`: bytes saved (bytes, a file or a stream, as far as the backend read it) and read (the
///   range a read opened);
/// - `storage_operation_duration_seconds`: a histogram of how long each took (a read or a listing: until its stream
///   opened).
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsLayer;

impl Layer for MetricsLayer {
    fn layer(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(Wrapped::new(inner, *self))
    }
}

impl MetricsLayer {
    fn record(call: &Call, error: Option<&Error>, started: Instant) {
        let (backend, operation) = (call.backend().to_owned(), call.op().name());
        let outcome = if error.is_none() { "ok" } else { "error" };
        metrics::counter!("storage_operations_total", "backend" => backend.clone(), "operation" => operation, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("storage_operation_duration_seconds", "backend" => backend.clone(), "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        match (error, call.bytes()) {
            (Some(err), _) => {
                let kind = err.kind().to_string();
                metrics::counter!("storage_errors_total", "backend" => backend, "operation" => operation, "kind" => kind)
                    .increment(1);
            }
            (None, Some(bytes)) => {
                metrics::counter!("storage_bytes_total", "backend" => backend, "operation" => operation)
                    .increment(bytes);
            }
            (None, None) => {}
        }
    }
}

impl Around for MetricsLayer {
    type Held = ();

    fn call<'a, T: Send + 'a>(&'a self, call: &'a Call, run: Run<'a, T>) -> Ran<'a, T, ()> {
        let started = Instant::now();
        Box::pin(async move {
            let result = run.await;
            Self::record(call, result.as_ref().err(), started);
            result.map(|value| (value, ()))
        })
    }

    fn local<T>(&self, call: &Call, run: impl FnOnce() -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let result = run();
        Self::record(call, result.as_ref().err(), started);
        result
    }
}

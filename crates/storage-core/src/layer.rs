//! Layers: wrappers that give any backend tracing, retries, timeouts and a limit on operations in flight, and are
//! backends themselves, so they stack: `storage.layer(RetryLayer::default()).layer(TracingLayer)`.
//!
//! Every wrapper forwards every method of [`Backend`] explicitly (`#[deny(clippy::missing_trait_methods)]`), so a
//! method added to the trait can never silently take its default under a layer.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use tracing::Instrument;

use crate::backend::{Backend, Capabilities, GetResult, ListOptions, PresignRequest, PresignedRequest, PutOptions};
use crate::backend::{PutResult, WriteMode};
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

// ----- tracing -------------------------------------------------------------------------------------------------------

/// One `tracing` span per operation (target `storage`), with the backend, the operation, the key, the bytes moved,
/// the outcome and the error kind, and one event when it ends (`debug`, or `warn` for a failure). Never a secret: a
/// temporary URL is recorded as its method and key, never its query.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingLayer;

impl Layer for TracingLayer {
    fn layer(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(Traced { inner })
    }
}

#[derive(Debug)]
struct Traced {
    inner: Arc<dyn Backend>,
}

impl Traced {
    async fn traced<T>(
        &self,
        operation: &'static str,
        key: &str,
        bytes: Option<u64>,
        run: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let span = tracing::info_span!(
            target: "storage",
            "storage",
            backend = self.inner.name(),
            operation,
            key,
            bytes,
            outcome = tracing::field::Empty,
            error = tracing::field::Empty,
        );
        let started = Instant::now();
        async move {
            let result = run.await;
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            let span = tracing::Span::current();
            match &result {
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
            result
        }
        .instrument(span)
        .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Backend for Traced {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        // Known without reading: the length of bytes in memory, or of a file (a stream's length is not known).
        let path = content.as_path().map(std::path::Path::to_owned);
        let size = match path {
            Some(path) => tokio::fs::metadata(path).await.ok().map(|meta| meta.len()),
            None => content.as_bytes().map(|bytes| bytes.len() as u64),
        };
        self.traced("put", key, size, self.inner.put(key, content, options)).await
    }
    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        self.traced("get", key, None, async {
            let result = self.inner.get(key, range).await?;
            tracing::Span::current().record("bytes", result.range.end - result.range.start);
            Ok(result)
        })
        .await
    }
    async fn head(&self, key: &str) -> Result<Metadata> {
        self.traced("head", key, None, self.inner.head(key)).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.traced("delete", key, None, self.inner.delete(key)).await
    }
    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        tracing::debug!(target: "storage", backend = self.inner.name(), operation = "list", prefix = %options.prefix);
        self.inner.list(options)
    }
    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.traced("copy", to, None, self.inner.copy(from, to, mode)).await
    }
    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.traced("rename", to, None, self.inner.rename(from, to, mode)).await
    }
    fn public_url(&self, key: &str) -> Result<String> {
        self.inner.public_url(key)
    }
    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        // The span names the method and the key; the signed URL is a secret until it expires.
        self.traced(presign_operation(request), &request.key, None, self.inner.presign(request)).await
    }
    async fn upload_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        self.traced("upload_form", &policy.key_field(), None, self.inner.upload_form(policy)).await
    }
    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        self.traced("set_acl", key, None, self.inner.set_acl(key, acl)).await
    }
    async fn acl(&self, key: &str) -> Result<Acl> {
        self.traced("acl", key, None, self.inner.acl(key)).await
    }
    async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
        self.traced("set_attributes", key, None, self.inner.set_attributes(key, attributes)).await
    }
}

fn presign_operation(request: &PresignRequest) -> &'static str {
    match request.method {
        crate::Method::Get => "presign_get",
        crate::Method::Put => "presign_put",
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
        let taken_before = self.taken_before(to, mode).await?;
        self.retrying(|retry| {
            let source = source.clone();
            async move {
                match self.inner.rename(from, to, mode).await {
                    // The failed attempt moved it: the target holds the source's object (same size and tag).
                    Err(err) if retry && err.kind() == ErrorKind::NotFound => match (source, self.inner.head(to).await)
                    {
                        (Some(source), Ok(now)) if now.meta.size == source.size && now.meta.etag == source.etag => {
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

/// Fails an operation that takes longer than `request`, and a read whose stream waits longer than `idle` for its
/// next bytes, with a retryable error that says which limit it hit (so a [`RetryLayer`] above tries again).
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    /// The longest one operation may take (a read: until its stream starts).
    pub request: Duration,
    /// The longest a read's stream may wait for its next bytes.
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
        Arc::new(TimedOut { inner, limits: *self })
    }
}

#[derive(Debug)]
struct TimedOut {
    inner: Arc<dyn Backend>,
    limits: TimeoutLayer,
}

impl TimedOut {
    async fn within<T>(&self, operation: &str, key: Option<&str>, run: impl Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.limits.request, run).await {
            Ok(result) => result,
            Err(_) => Err(timed_out(self.inner.name(), key, operation, self.limits.request, "the operation")),
        }
    }
}

fn timed_out(backend: &str, key: Option<&str>, operation: &str, limit: Duration, what: &str) -> Error {
    Error::backend(
        backend,
        key,
        format!(
            "{operation}: {what} took longer than the {limit:?} the timeout layer allows; retry, or raise the limit"
        ),
    )
    .with_retry(Retry::Temporary)
    .with_source("timed out")
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Backend for TimedOut {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        self.within("put", Some(key), self.inner.put(key, content, options)).await
    }
    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        let mut result = self.within("get", Some(key), self.inner.get(key, range)).await?;
        let (idle, backend, owned_key) = (self.limits.idle, self.inner.name().to_owned(), key.to_owned());
        let stream = result.stream;
        result.stream = futures::stream::unfold(Some(stream), move |stream| {
            let (backend, key) = (backend.clone(), owned_key.clone());
            async move {
                let mut stream = stream?;
                match tokio::time::timeout(idle, stream.next()).await {
                    Ok(Some(item)) => Some((item, Some(stream))),
                    Ok(None) => None,
                    Err(_) => {
                        let err = timed_out(&backend, Some(&key), "get", idle, "waiting for the next bytes");
                        Some((Err(std::io::Error::other(err)), None))
                    }
                }
            }
        })
        .boxed();
        Ok(result)
    }
    async fn head(&self, key: &str) -> Result<Metadata> {
        self.within("head", Some(key), self.inner.head(key)).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.within("delete", Some(key), self.inner.delete(key)).await
    }
    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let (idle, backend, prefix) = (self.limits.idle, self.inner.name().to_owned(), options.prefix.clone());
        let stream = self.inner.list(options);
        futures::stream::unfold(Some(stream), move |stream| {
            let (backend, prefix) = (backend.clone(), prefix.clone());
            async move {
                let mut stream = stream?;
                match tokio::time::timeout(idle, stream.next()).await {
                    Ok(Some(item)) => Some((item, Some(stream))),
                    Ok(None) => None,
                    Err(_) => Some((Err(timed_out(&backend, Some(&prefix), "list", idle, "the next page")), None)),
                }
            }
        })
        .boxed()
    }
    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.within("copy", Some(to), self.inner.copy(from, to, mode)).await
    }
    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.within("rename", Some(to), self.inner.rename(from, to, mode)).await
    }
    fn public_url(&self, key: &str) -> Result<String> {
        self.inner.public_url(key)
    }
    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        self.within("presign", Some(&request.key), self.inner.presign(request)).await
    }
    async fn upload_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        self.within("upload_form", None, self.inner.upload_form(policy)).await
    }
    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        self.within("set_acl", Some(key), self.inner.set_acl(key, acl)).await
    }
    async fn acl(&self, key: &str) -> Result<Acl> {
        self.within("acl", Some(key), self.inner.acl(key)).await
    }
    async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
        self.within("set_attributes", Some(key), self.inner.set_attributes(key, attributes)).await
    }
}

// ----- concurrency limit ---------------------------------------------------------------------------------------------

/// At most `limit` operations in flight at once; a read holds its place until its stream ends or is dropped.
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
        Arc::new(Limited { inner, permits: self.permits.clone() })
    }
}

#[derive(Debug)]
struct Limited {
    inner: Arc<dyn Backend>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl Limited {
    async fn permit(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.permits.clone().acquire_owned().await.expect("the semaphore is never closed")
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Backend for Limited {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        let _permit = self.permit().await;
        self.inner.put(key, content, options).await
    }
    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        let permit = self.permit().await;
        let mut result = self.inner.get(key, range).await?;
        // The place is held by the stream: released when it ends or is dropped.
        let stream = result.stream;
        result.stream = stream
            .map(move |item| {
                let _held = &permit;
                item
            })
            .boxed();
        Ok(result)
    }
    async fn head(&self, key: &str) -> Result<Metadata> {
        let _permit = self.permit().await;
        self.inner.head(key).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        let _permit = self.permit().await;
        self.inner.delete(key).await
    }
    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let (inner, permits) = (self.inner.clone(), self.permits.clone());
        futures::stream::once(async move {
            let permit = permits.acquire_owned().await.expect("the semaphore is never closed");
            inner.list(options).map(move |item| {
                let _held = &permit;
                item
            })
        })
        .flatten()
        .boxed()
    }
    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        let _permit = self.permit().await;
        self.inner.copy(from, to, mode).await
    }
    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        let _permit = self.permit().await;
        self.inner.rename(from, to, mode).await
    }
    fn public_url(&self, key: &str) -> Result<String> {
        self.inner.public_url(key)
    }
    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        self.inner.presign(request).await
    }
    async fn upload_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        let _permit = self.permit().await;
        self.inner.upload_form(policy).await
    }
    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        let _permit = self.permit().await;
        self.inner.set_acl(key, acl).await
    }
    async fn acl(&self, key: &str) -> Result<Acl> {
        let _permit = self.permit().await;
        self.inner.acl(key).await
    }
    async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
        let _permit = self.permit().await;
        self.inner.set_attributes(key, attributes).await
    }
}

// ----- metrics -------------------------------------------------------------------------------------------------------

/// Counts and times every operation through the `metrics` facade (install any recorder: Prometheus, StatsD, …),
/// labelled by `backend` and `operation`:
/// - `storage_operations_total` (with `outcome` = `ok` or `error`);
/// - `storage_errors_total` (with `kind`, the [`ErrorKind`]);
/// - `storage_bytes_total`: bytes saved and read (as far as known when the operation starts or opens);
/// - `storage_operation_duration_seconds`: a histogram of how long each took (a read: until its stream opened).
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsLayer;

impl Layer for MetricsLayer {
    fn layer(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(Measured { inner })
    }
}

#[derive(Debug)]
struct Measured {
    inner: Arc<dyn Backend>,
}

impl Measured {
    async fn measured<T>(&self, operation: &'static str, run: impl Future<Output = Result<T>>) -> Result<T> {
        let started = Instant::now();
        let result = run.await;
        let backend = self.inner.name().to_owned();
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("storage_operations_total", "backend" => backend.clone(), "operation" => operation, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("storage_operation_duration_seconds", "backend" => backend.clone(), "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        if let Err(err) = &result {
            let kind = err.kind().to_string();
            metrics::counter!("storage_errors_total", "backend" => backend, "operation" => operation, "kind" => kind)
                .increment(1);
        }
        result
    }

    fn bytes(&self, operation: &'static str, bytes: u64) {
        let backend = self.inner.name().to_owned();
        metrics::counter!("storage_bytes_total", "backend" => backend, "operation" => operation).increment(bytes);
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Backend for Measured {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        let size = content.as_bytes().map(|bytes| bytes.len() as u64);
        let result = self.measured("put", self.inner.put(key, content, options)).await?;
        self.bytes("put", size.unwrap_or(0));
        Ok(result)
    }
    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        let result = self.measured("get", self.inner.get(key, range)).await?;
        self.bytes("get", result.range.end - result.range.start);
        Ok(result)
    }
    async fn head(&self, key: &str) -> Result<Metadata> {
        self.measured("head", self.inner.head(key)).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.measured("delete", self.inner.delete(key)).await
    }
    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let backend = self.inner.name().to_owned();
        metrics::counter!("storage_operations_total", "backend" => backend, "operation" => "list", "outcome" => "started")
            .increment(1);
        self.inner.list(options)
    }
    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.measured("copy", self.inner.copy(from, to, mode)).await
    }
    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.measured("rename", self.inner.rename(from, to, mode)).await
    }
    fn public_url(&self, key: &str) -> Result<String> {
        self.inner.public_url(key)
    }
    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        self.measured(presign_operation(request), self.inner.presign(request)).await
    }
    async fn upload_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        self.measured("upload_form", self.inner.upload_form(policy)).await
    }
    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        self.measured("set_acl", self.inner.set_acl(key, acl)).await
    }
    async fn acl(&self, key: &str) -> Result<Acl> {
        self.measured("acl", self.inner.acl(key)).await
    }
    async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
        self.measured("set_attributes", self.inner.set_attributes(key, attributes)).await
    }
}

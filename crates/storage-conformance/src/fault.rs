//! `FaultLayer`: a seeded, reproducible way to make any backend misbehave as networks and disks do, for tests: calls
//! that fail (retryably or for good) before or after they took effect, streams cut mid-way, writes that arrive
//! damaged, delays, and capabilities a backend pretends to lack.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::StreamExt;
use storage_core::layer::{Around, BackendOp, Call, Layer, Opened, Ran, Run, StreamError, Wrapped};
use storage_core::{Backend, Capabilities, Content, Error, Result, Retry};

/// Whether an injected failure is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// As a 503 or a dropped connection: [`storage_core::Error::is_retryable`] is true.
    Retryable,
    /// As a refused request: retrying will not help.
    Fatal,
}

/// What to break, how often, reproducibly from a seed. Clones share their counters and random sequence.
#[derive(Debug, Clone)]
pub struct FaultLayer {
    state: Arc<FaultState>,
}

#[derive(Debug)]
struct FaultState {
    rng: Mutex<fastrand::Rng>,
    /// The share of calls that fail, 0.0 to 1.0.
    share: f64,
    kind: FaultKind,
    /// Whether a failing write may fail after it took effect (a put that succeeds but reports failure).
    after: bool,
    /// The share of read streams cut after their first chunk.
    cut_streams: f64,
    /// Writes of this key arrive with their first byte flipped.
    corrupt_key: Option<String>,
    /// Each call first waits up to this long.
    delay: Option<Duration>,
    /// What the wrapped backend declares, if not its own.
    capabilities: Option<Capabilities>,
    injected: AtomicU64,
    corrupted: AtomicU64,
}

impl FaultLayer {
    fn with_state(seed: u64, share: f64, kind: FaultKind) -> Self {
        Self {
            state: Arc::new(FaultState {
                rng: Mutex::new(fastrand::Rng::with_seed(seed)),
                share: share.clamp(0.0, 1.0),
                kind,
                after: false,
                cut_streams: 0.0,
                corrupt_key: None,
                delay: None,
                capabilities: None,
                injected: AtomicU64::new(0),
                corrupted: AtomicU64::new(0),
            }),
        }
    }

    /// No faults: a base for [`FaultLayer::corrupting`] or [`FaultLayer::with_capabilities`].
    pub fn none() -> Self {
        Self::with_state(0, 0.0, FaultKind::Fatal)
    }

    /// `share` of calls fail with a retryable error, writes before or after they took effect.
    pub fn retryable(seed: u64, share: f64) -> Self {
        Self::with_state(seed, share, FaultKind::Retryable).failing_after(true)
    }

    /// `share` of calls fail with an error retrying cannot fix, before they take effect.
    pub fn fatal(seed: u64, share: f64) -> Self {
        Self::with_state(seed, share, FaultKind::Fatal)
    }

    fn edit(self, change: impl FnOnce(&mut FaultState)) -> Self {
        let mut state = Arc::try_unwrap(self.state).expect("configure a fault layer before sharing it");
        change(&mut state);
        Self { state: Arc::new(state) }
    }

    /// Whether failing writes may fail after they took effect.
    pub fn failing_after(self, after: bool) -> Self {
        self.edit(|state| state.after = after)
    }

    /// Cut `share` of read streams after their first chunk, with a retryable error.
    pub fn cutting_streams(self, share: f64) -> Self {
        self.edit(|state| state.cut_streams = share.clamp(0.0, 1.0))
    }

    /// Store every write of `key` with its first byte flipped (a copy damaged in transit).
    pub fn corrupting(self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.edit(|state| state.corrupt_key = Some(key))
    }

    /// Wait `delay` before each call.
    pub fn delaying(self, delay: Duration) -> Self {
        self.edit(|state| state.delay = Some(delay))
    }

    /// Declare these capabilities instead of the backend's (a backend that lacks some).
    pub fn with_capabilities(self, capabilities: Capabilities) -> Self {
        self.edit(|state| state.capabilities = Some(capabilities))
    }

    /// Failures injected so far.
    pub fn injected(&self) -> u64 {
        self.state.injected.load(Ordering::Relaxed)
    }

    /// Writes damaged so far.
    pub fn corrupted(&self) -> u64 {
        self.state.corrupted.load(Ordering::Relaxed)
    }
}

impl Layer for FaultLayer {
    fn layer(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(Wrapped::new(inner, self.clone()))
    }
}

/// When a failing call fails.
enum Fault {
    None,
    Before,
    After,
}

impl FaultLayer {
    fn roll(&self, share: f64) -> bool {
        share > 0.0 && self.state.rng.lock().expect("the fault dice").f64() < share
    }

    /// Whether (and when) this call fails, after the configured delay.
    async fn decide(&self, op: BackendOp) -> Fault {
        if let Some(delay) = self.state.delay {
            tokio::time::sleep(delay).await;
        }
        if !self.roll(self.state.share) {
            return Fault::None;
        }
        self.state.injected.fetch_add(1, Ordering::Relaxed);
        if op.writes() && self.state.after && self.roll(0.5) { Fault::After } else { Fault::Before }
    }

    fn error(&self, call: &Call) -> Error {
        let (kind, retry) = match self.state.kind {
            FaultKind::Retryable => ("retryable", Retry::Temporary),
            FaultKind::Fatal => ("fatal", Retry::Permanent),
        };
        let message = format!("{}: an injected {kind} fault", call.op());
        Error::backend(call.backend(), call.key(), message).with_retry(retry).with_source("injected")
    }
}

impl Around for FaultLayer {
    type Held = ();

    fn call<'a, T: Send + 'a>(&'a self, call: &'a Call, run: Run<'a, T>) -> Ran<'a, T, ()> {
        Box::pin(async move {
            // Signing and building URLs is local work: it does not fail the way a network does.
            if call.op().is_local() {
                return run.await.map(|value| (value, ()));
            }
            match self.decide(call.op()).await {
                Fault::None => run.await.map(|value| (value, ())),
                Fault::Before => Err(self.error(call)),
                Fault::After => {
                    run.await?;
                    Err(self.error(call))
                }
            }
        })
    }

    fn stream<T: Send + 'static, E: StreamError>(&self, call: Call, (): (), stream: Opened<T, E>) -> Opened<T, E> {
        if call.op() != BackendOp::Get || !self.roll(self.state.cut_streams) {
            return stream;
        }
        self.state.injected.fetch_add(1, Ordering::Relaxed);
        // A cut stream is a dropped connection: worth another try, whatever the layer's kind of faults.
        let message = format!("{}: an injected cut of the stream", call.op());
        let cut =
            Error::backend(call.backend(), call.key(), message).with_retry(Retry::Temporary).with_source("injected");
        let cut = E::from(cut);
        stream.take(1).chain(futures::stream::once(async move { Err(cut) })).boxed()
    }

    fn capabilities(&self, inner: Capabilities) -> Capabilities {
        self.state.capabilities.unwrap_or(inner)
    }

    fn content<'a>(&'a self, call: &'a Call, content: Content) -> BoxFuture<'a, Result<Content>> {
        Box::pin(async move {
            if self.state.corrupt_key.as_deref() != call.key() {
                return Ok(content);
            }
            self.state.corrupted.fetch_add(1, Ordering::Relaxed);
            let mut data =
                content.into_bytes().await.map_err(|err| Error::from_io(call.backend(), call.key(), err))?.to_vec();
            if let Some(first) = data.first_mut() {
                *first ^= 1;
            }
            Ok(Content::from(data))
        })
    }
}

/// `fixture` with its backend behind retryable faults (a fifth of calls fail, writes before or after they took
/// effect) and a [`storage_core::RetryLayer`] that retries quickly: the suite must pass unchanged over it. Seeded by
/// `STORAGE_FAULT_SEED` (default 1), so a failure replays.
pub fn under_faults(fixture: crate::Fixture) -> crate::Fixture {
    let seed = std::env::var("STORAGE_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let faulty = FaultLayer::retryable(seed, 0.2).layer(fixture.backend.clone());
    let retry =
        storage_core::RetryLayer::new(30, Duration::from_millis(1), Duration::from_millis(20), Duration::from_secs(60));
    crate::Fixture { backend: retry.layer(faulty), ..fixture }
}

//! The one retry policy and backoff of the workspace: [`RetryLayer`](crate::RetryLayer), `storage-migrate`'s
//! per-object retries and storage-s3's hand-signed requests all wait by [`Backoff`], and storage-s3 hands
//! [`OBJECT_STORE`] to object_store, so every request of a storage is retried alike.

use std::time::{Duration, Instant};

use crate::error::Result;

/// How often and how long to retry one operation.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: none).
    pub max_retries: u32,
    /// The wait before the first retry.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// Each wait is drawn between `initial_backoff` and `base` times the previous wait.
    pub base: f64,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
}

/// object_store 0.14's own policy (`RetryConfig::default()`, whose `BackoffConfig::default()` it holds): up to 10
/// retries, waiting 100 ms first, then a random time up to twice the last wait (decorrelated jitter), never more than
/// 15 s, none starting after 3 minutes.
pub const OBJECT_STORE: RetryPolicy = RetryPolicy {
    max_retries: 10,
    initial_backoff: Duration::from_millis(100),
    max_backoff: Duration::from_secs(15),
    base: 2.0,
    retry_timeout: Duration::from_secs(180),
};

impl Default for RetryPolicy {
    /// [`OBJECT_STORE`].
    fn default() -> Self {
        OBJECT_STORE
    }
}

impl RetryPolicy {
    /// This policy with at most `max_retries` retries.
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }
    /// This policy waiting `initial_backoff` before the first retry.
    pub fn with_initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = initial_backoff;
        self
    }
    /// This policy waiting at most `max_backoff` between two attempts.
    pub fn with_max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }
    /// This policy starting no retry later than `retry_timeout` after the first attempt.
    pub fn with_retry_timeout(mut self, retry_timeout: Duration) -> Self {
        self.retry_timeout = retry_timeout;
        self
    }
}

/// The waits between the attempts of one operation, as object_store draws them: the first is the policy's initial
/// backoff, each later one random between that and `base` times the previous (so clients that failed together do
/// not retry together), capped at the maximum.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    started: Instant,
    retries: u32,
    next: Duration,
}

impl Backoff {
    /// The backoff of an operation whose first attempt starts now.
    pub fn new(policy: &RetryPolicy) -> Self {
        Self { policy: *policy, started: Instant::now(), retries: 0, next: policy.initial_backoff }
    }

    /// The wait before the next retry, or `None` when the policy is spent: every retry made, or the next one would
    /// start after the retry timeout.
    pub fn next_wait(&mut self) -> Option<Duration> {
        let wait = self.next;
        if self.retries >= self.policy.max_retries || self.started.elapsed() + wait > self.policy.retry_timeout {
            return None;
        }
        self.retries += 1;
        // In seconds, as object_store draws it; a base that overflows or is not a number gives the maximum.
        let low = self.policy.initial_backoff.as_secs_f64();
        let high = (wait.as_secs_f64() * self.policy.base).max(low);
        let drawn = (low + (high - low) * fastrand::f64()).min(self.policy.max_backoff.as_secs_f64());
        self.next = Duration::try_from_secs_f64(drawn).unwrap_or(self.policy.max_backoff);
        Some(wait)
    }

    /// The retries made so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }
}

/// Run `attempt` until `retryable` says its outcome is final or `policy` is spent, waiting by [`Backoff`] between
/// attempts; the last outcome. `attempt` is given the number of attempts made before it.
pub async fn retry_while<T, F, Fut>(policy: &RetryPolicy, retryable: impl Fn(&T) -> bool, mut attempt: F) -> T
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = T>,
{
    let mut backoff = Backoff::new(policy);
    loop {
        let outcome = attempt(backoff.retries()).await;
        if !retryable(&outcome) {
            return outcome;
        }
        match backoff.next_wait() {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return outcome,
        }
    }
}

/// [`retry_while`] for errors marked retryable ([`crate::Error::is_retryable`]: a 5xx, a 429, a timeout, a dropped
/// connection); any other error, and success, are final. An error returned after the policy is spent is marked
/// permanent ([`crate::Error::retries_spent`]), so a retry above this one does not start the whole policy over.
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, attempt: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    retry_while(policy, |outcome: &Result<T>| outcome.as_ref().is_err_and(|err| err.is_retryable()), attempt)
        .await
        .map_err(crate::Error::retries_spent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_start_at_the_initial_backoff_stay_within_the_bounds_and_stop_after_the_last_retry() {
        // object_store's base, one below 1, and bases that overflow or are not a number.
        for base in [2.0, 0.5, f64::INFINITY, f64::NAN] {
            let policy = RetryPolicy { base, ..OBJECT_STORE.with_max_retries(50) };
            let mut backoff = Backoff::new(&policy);
            let waits: Vec<Duration> = std::iter::from_fn(|| backoff.next_wait()).take(60).collect();
            assert_eq!(waits.len(), 50, "every retry and no more (base {base})");
            assert_eq!(waits[0], policy.initial_backoff);
            for pair in waits.windows(2) {
                assert!(pair[1] >= policy.initial_backoff && pair[1] <= policy.max_backoff, "{pair:?} (base {base})");
                if base >= 1.0 {
                    assert!(pair[1] <= pair[0].mul_f64(base.min(1e6)), "{pair:?} (base {base})");
                }
            }
        }
    }

    #[test]
    fn no_retry_starts_after_the_retry_timeout() {
        let mut backoff = Backoff::new(&OBJECT_STORE.with_retry_timeout(Duration::from_millis(50)));
        assert_eq!(backoff.next_wait(), None, "a 100 ms wait would end past a 50 ms timeout");
        assert_eq!(backoff.retries(), 0);
    }

    #[tokio::test]
    async fn only_retryable_errors_are_retried_and_at_most_max_retries_times() {
        use crate::error::{Error, Retry};
        let policy = OBJECT_STORE.with_max_retries(3).with_initial_backoff(Duration::ZERO);
        for (kind, expected_attempts) in [(Retry::Temporary, 4), (Retry::Permanent, 1)] {
            let mut attempts = 0;
            let outcome: Result<()> = retry(&policy, |_| {
                attempts += 1;
                std::future::ready(Err(Error::backend("test", None, "failed").with_retry(kind).with_source("cause")))
            })
            .await;
            assert!(!outcome.unwrap_err().is_retryable(), "whatever was given up on is permanent");
            assert_eq!(attempts, expected_attempts, "{kind:?}");
        }
    }
}

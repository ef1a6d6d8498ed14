//! Durations and expiries: the one parser for `30s`, `10m`, `2h`, `7d`, and the one rule every temporary URL, PUT
//! link and upload form obeys (at least a second, at most the backend's maximum, never past the end of time).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// The longest expiry of every backend unless raised: SigV4's limit, which S3 keeps whatever is set. Disk and memory
/// storages can raise theirs with `UrlSigner::with_max_expiry` (`max_expires` in `storage.toml`).
pub const DEFAULT_MAX_EXPIRY: Duration = Duration::from_secs(7 * 86_400);

/// `30s`, `10m`, `2h`, `7d`, or plain seconds: at least one second, and no more seconds than a `u64` holds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(storage_core::parse_duration("2h").unwrap(), Duration::from_secs(7200));
/// assert!(storage_core::parse_duration("0s").is_err());
/// assert!(storage_core::parse_duration("213503982334602d").is_err()); // more seconds than a u64 holds
/// ```
pub fn parse_duration(text: &str) -> Result<Duration> {
    match parse_age(text)? {
        Duration::ZERO => Err(duration_error(text, "a duration is at least one second")),
        duration => Ok(duration),
    }
}

/// An age threshold such as `storage gc --older-than`: what [`parse_duration`] reads, and also zero (`0s`: any age).
pub fn parse_age(text: &str) -> Result<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    if number.is_empty() {
        return Err(duration_error(
            text,
            "not a duration; write a positive number with s, m, h or d, as 30s, 10m, 2h or 7d",
        ));
    }
    let seconds_per_unit: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(duration_error(text, &format!("unknown unit `{unit}`; use s, m, h or d"))),
    };
    // Digits only: `parse` fails only when the number does not fit, and so does the product.
    match number.parse::<u64>().ok().and_then(|number| number.checked_mul(seconds_per_unit)) {
        None => Err(duration_error(text, &format!("too long; the longest is {} s", u64::MAX))),
        Some(seconds) => Ok(Duration::from_secs(seconds)),
    }
}

fn duration_error(text: &str, what: &str) -> Error {
    Error::invalid_argument(None, format!("duration `{}`: {what}", text.trim()))
}

/// The one expiry rule: `expires` is at least a second and at most `max` (None: [`DEFAULT_MAX_EXPIRY`]), which
/// `issuer` (a backend, a signer) allows. `key` is the object the link or form is for.
pub fn check_expiry(key: &str, issuer: &str, expires: Duration, max: Option<Duration>) -> Result<()> {
    if expires.is_zero() {
        return Err(Error::invalid_argument(Some(key), "a temporary URL must be valid for at least one second"));
    }
    let max = max.unwrap_or(DEFAULT_MAX_EXPIRY);
    if expires > max {
        return Err(Error::invalid_argument(
            Some(key),
            format!(
                "an expiry of {} s is longer than the {issuer} allows ({} s); choose a shorter one, or raise \
                 `max_expires` of a disk or memory storage",
                expires.as_secs(),
                max.as_secs()
            ),
        ));
    }
    Ok(())
}

/// The Unix second at which something issued at `now` for `expires` stops working, rounded up; `InvalidArgument`
/// for `key` when that moment is past what the system clock can represent.
pub(crate) fn deadline(key: &str, now: SystemTime, expires: Duration) -> Result<u64> {
    now.checked_add(expires)
        .and_then(|end| end.checked_add(Duration::from_millis(999)))
        .and_then(|end| end.duration_since(UNIX_EPOCH).ok())
        .map(|since_epoch| since_epoch.as_secs())
        .ok_or_else(|| {
            Error::invalid_argument(
                Some(key),
                format!(
                    "an expiry of {} s ends past what the clock can represent; choose a shorter one",
                    expires.as_secs()
                ),
            )
        })
}

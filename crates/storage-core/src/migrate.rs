//! Copying every object under a prefix from one storage to another: streaming, concurrent, resumable, verified.
//!
//! Names are kept exactly (no naming policy applies: this is a move, not an upload), with every attribute and the
//! ACL. An object the target already holds with the same size and MD5 is skipped, so a run after an interruption
//! resumes. Writes are atomic on every backend, so an interrupted run leaves no partial object behind.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};

use crate::backend::{Backend, GetResult, PutOptions, WriteMode};
use crate::content::Content;
use crate::error::{Error, ErrorKind, Result};
use crate::storage::Storage;
use crate::types::ObjectMeta;

/// How to migrate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MigrateOptions {
    /// Only keys starting with this string.
    pub prefix: String,
    /// Transfers in flight at once.
    pub concurrency: usize,
    /// Read every copied object back and compare its MD5 with what was sent.
    pub verify: bool,
    /// Decide and report, but write and delete nothing.
    pub dry_run: bool,
    /// Delete each source object once its copy is verified (implies `verify`).
    pub delete_source: bool,
    /// Attempts after the first failure of one object, with exponential backoff.
    pub retries: u32,
    /// The first wait before a retry; it doubles with each attempt.
    pub retry_backoff: Duration,
    /// Set to stop starting transfers (Ctrl-C); those in flight finish, and the report says so.
    pub stop: Arc<AtomicBool>,
}

/// 16 transfers in flight keeps an S3 connection pool busy without flooding a disk.
pub const DEFAULT_CONCURRENCY: usize = 16;

impl Default for MigrateOptions {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            concurrency: DEFAULT_CONCURRENCY,
            verify: false,
            dry_run: false,
            delete_source: false,
            retries: 3,
            retry_backoff: Duration::from_millis(200),
            stop: Arc::default(),
        }
    }
}

impl MigrateOptions {
    /// Only the objects whose keys start with `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// At most `concurrency` transfers in flight.
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }
    /// Read every copy back and compare MD5s.
    pub fn with_verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }
    /// Report what would be copied, and write nothing.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
    /// Delete each source object once its copy is verified (turns verification on).
    pub fn with_delete_source(mut self, delete_source: bool) -> Self {
        self.delete_source = delete_source;
        self
    }
    /// Retry a failed object `retries` times, waiting `backoff` first and twice as long each time after.
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.retries = retries;
        self.retry_backoff = backoff;
        self
    }
    /// Stop starting new transfers once `stop` is set (the ones in flight finish).
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = stop;
        self
    }
}

/// Where a migration is, for a progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Objects found under the prefix so far.
    pub objects_total: u64,
    /// Objects copied, skipped or failed.
    pub objects_done: u64,
    /// Bytes of the objects found.
    pub bytes_total: u64,
    /// Bytes of the objects done.
    pub bytes_done: u64,
}

/// One object that could not be migrated, after its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFailure {
    /// The object that failed.
    pub key: String,
    /// Why, after the last retry.
    pub reason: String,
}

/// What a migration did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct MigrationReport {
    /// Objects copied (in a dry run: that would be copied).
    pub copied: u64,
    /// Objects the target already held with the same size and MD5.
    pub skipped: u64,
    /// Objects whose copy in the target was read back and matched (copied and skipped ones).
    pub verified: u64,
    /// Source objects deleted after verification.
    pub deleted: u64,
    /// The objects that failed, with reasons.
    pub failed: Vec<MigrationFailure>,
    /// Bytes copied (in a dry run: that would be copied).
    pub bytes_copied: u64,
    /// How long the migration took.
    pub elapsed: Duration,
    /// Whether nothing was written (`with_dry_run`).
    pub dry_run: bool,
    /// Stopped before every object was looked at; run again to resume.
    pub interrupted: bool,
}

impl MigrationReport {
    /// Nothing failed and nothing was left out.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && !self.interrupted
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let copied = if self.dry_run { "would copy" } else { "copied" };
        write!(
            f,
            "{copied} {} objects ({} bytes), skipped {} already there, verified {}, deleted {}, failed {} in {:.1} s",
            self.copied,
            self.bytes_copied,
            self.skipped,
            self.verified,
            self.deleted,
            self.failed.len(),
            self.elapsed.as_secs_f64()
        )?;
        if self.interrupted {
            write!(f, "; interrupted: run again to resume")?;
        }
        for failure in &self.failed {
            write!(f, "\nfailed `{}`: {}", failure.key, failure.reason)?;
        }
        Ok(())
    }
}

enum Outcome {
    Copied { bytes: u64, verified: bool, deleted: bool },
    Skipped { verified: bool, deleted: bool },
    Failed(MigrationFailure),
    NotStarted,
}

/// Copy every object under `options.prefix` from `from` to `to`; see the module documentation. Fails only when a
/// listing fails; a failed object is reported in [`MigrationReport::failed`] and never stops the others.
pub async fn migrate(
    from: &Storage,
    to: &Storage,
    options: &MigrateOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<MigrationReport> {
    let started = Instant::now();
    let sources: Vec<ObjectMeta> = from.list(&options.prefix).try_collect().await?;
    let targets: HashMap<String, ObjectMeta> =
        to.list(&options.prefix).map_ok(|meta| (meta.key.clone(), meta)).try_collect().await?;
    let totals = Progress {
        objects_total: sources.len() as u64,
        bytes_total: sources.iter().map(|meta| meta.size).sum(),
        ..Progress::default()
    };
    progress(totals);
    let (objects_done, bytes_done) = (AtomicU64::new(0), AtomicU64::new(0));
    let verify = options.verify || options.delete_source;
    let (source, target) = (from.backend().as_ref(), to.backend().as_ref());

    let outcomes: Vec<Outcome> = futures::stream::iter(sources)
        .map(|meta| {
            let existing = targets.get(&meta.key);
            let (objects_done, bytes_done) = (&objects_done, &bytes_done);
            async move {
                if options.stop.load(Ordering::Relaxed) {
                    return Outcome::NotStarted;
                }
                let outcome = migrate_one(source, target, &meta, existing, options, verify).await;
                let done = Progress {
                    objects_done: objects_done.fetch_add(1, Ordering::Relaxed) + 1,
                    bytes_done: bytes_done.fetch_add(meta.size, Ordering::Relaxed) + meta.size,
                    ..totals
                };
                progress(done);
                outcome
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;

    let mut report = MigrationReport { dry_run: options.dry_run, ..MigrationReport::default() };
    for outcome in outcomes {
        match outcome {
            Outcome::Copied { bytes, verified, deleted } => {
                report.copied += 1;
                report.bytes_copied += bytes;
                report.verified += u64::from(verified);
                report.deleted += u64::from(deleted);
            }
            Outcome::Skipped { verified, deleted } => {
                report.skipped += 1;
                report.verified += u64::from(verified);
                report.deleted += u64::from(deleted);
            }
            Outcome::Failed(failure) => report.failed.push(failure),
            Outcome::NotStarted => report.interrupted = true,
        }
    }
    report.failed.sort_by(|a, b| a.key.cmp(&b.key));
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn migrate_one(
    source: &dyn Backend,
    target: &dyn Backend,
    meta: &ObjectMeta,
    existing: Option<&ObjectMeta>,
    options: &MigrateOptions,
    verify: bool,
) -> Outcome {
    let key = meta.key.as_str();
    let failed = |err: Error| Outcome::Failed(MigrationFailure { key: key.to_owned(), reason: err.to_string() });
    if let Some(existing) = existing.filter(|existing| existing.size == meta.size) {
        // Same size: compare content, not names. Either side's MD5 is read from its ETag when that is one.
        // With verification the target is read back; otherwise its ETag serves when it is an MD5.
        let same = || async {
            let theirs = if verify { read_md5(target, key).await? } else { md5_of(target, existing).await? };
            Ok(md5_of(source, meta).await? == theirs)
        };
        match retrying(options, same).await {
            Ok(true) => {
                let deleted = options.delete_source && !options.dry_run;
                if deleted && let Err(err) = source.delete(key).await {
                    return failed(err);
                }
                return Outcome::Skipped { verified: verify, deleted };
            }
            Ok(false) => {}
            Err(err) => return failed(err),
        }
    }
    if options.dry_run {
        return Outcome::Copied { bytes: meta.size, verified: false, deleted: false };
    }
    let copied = retrying(options, || async {
        let sent = copy_object(source, target, key, WriteMode::Overwrite, None).await?;
        if verify {
            let stored = read_md5(target, key).await?;
            if stored != sent {
                return Err(Error::backend(
                    target.name(),
                    Some(key),
                    "the copy read back differs from the source (MD5 mismatch); it will be copied again on the next run",
                    true,
                    "checksum mismatch",
                ));
            }
        }
        Ok(())
    })
    .await;
    if let Err(err) = copied {
        return failed(err);
    }
    let deleted = options.delete_source;
    if deleted && let Err(err) = source.delete(key).await {
        return failed(err);
    }
    Outcome::Copied { bytes: meta.size, verified: verify, deleted }
}

/// Run `attempt` until it succeeds, at most `1 + options.retries` times, waiting longer after each failure. Errors
/// that cannot change on a retry (a missing source, a refused permission, a bad name) are returned at once.
async fn retrying<F, Fut, T>(options: &MigrateOptions, attempt: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut backoff = options.retry_backoff;
    let mut tries = 0;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(err)
                if tries < options.retries
                    && !matches!(
                        err.kind(),
                        ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::InvalidName
                    ) =>
            {
                tries += 1;
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Stream `key` from `source` to `target` with its attributes and, where both keep ACLs, its ACL; the MD5 of the
/// bytes sent. `opened` is a read of the whole object already made, so it need not be made again. Shared by
/// migrations and the mirror backend's copies.
pub(crate) async fn copy_object(
    source: &dyn Backend,
    target: &dyn Backend,
    key: &str,
    mode: WriteMode,
    opened: Option<GetResult>,
) -> Result<[u8; 16]> {
    let object = match opened {
        Some(object) => object,
        None => source.get(key, None).await?,
    };
    let acl = if source.capabilities().acl && target.capabilities().acl { Some(source.acl(key).await?) } else { None };
    let hasher = Arc::new(Mutex::new(Md5::new()));
    let hashing = hasher.clone();
    let stream = object.stream.inspect_ok(move |chunk| hashing.lock().expect("md5").update(chunk));
    let content = Content::from_stream(stream, Some(object.metadata.size()));
    target.put(key, content, PutOptions::new(mode, object.metadata.attributes, acl)).await?;
    let digest = hasher.lock().expect("md5").clone().finalize();
    Ok(digest.into())
}

/// The MD5 of an object: its ETag when that is a plain MD5 (S3 single-part uploads, the memory backend), else read.
async fn md5_of(backend: &dyn Backend, meta: &ObjectMeta) -> Result<[u8; 16]> {
    match meta.etag.as_deref().and_then(md5_from_etag) {
        Some(md5) => Ok(md5),
        None => read_md5(backend, &meta.key).await,
    }
}

async fn read_md5(backend: &dyn Backend, key: &str) -> Result<[u8; 16]> {
    let mut stream = backend.get(key, None).await?.stream;
    let mut hasher = Md5::new();
    while let Some(chunk) = stream.try_next().await.map_err(|err| Error::from_io(backend.name(), Some(key), err))? {
        hasher.update(&chunk);
    }
    Ok(hasher.finalize().into())
}

/// `"9e107d9d372bb6826bd81d3542a419d6"` → its 16 bytes. Multipart ETags (`"...-3"`) and others are not MD5s.
fn md5_from_etag(etag: &str) -> Option<[u8; 16]> {
    let hex = etag.trim_matches('"');
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::md5_from_etag;

    #[test]
    fn only_plain_md5_etags_count() {
        assert_eq!(md5_from_etag("\"9e107d9d372bb6826bd81d3542a419d6\"").unwrap()[0], 0x9e);
        assert_eq!(md5_from_etag("\"9e107d9d372bb6826bd81d3542a419d6-3\""), None);
        assert_eq!(md5_from_etag("\"1a2b-5f-20\""), None);
        assert_eq!(md5_from_etag("\"zz107d9d372bb6826bd81d3542a419d6\""), None);
    }
}

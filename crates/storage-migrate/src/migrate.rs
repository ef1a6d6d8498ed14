//! Copying every object under a prefix from one storage to another: streaming, concurrent, resumable, verified.
//!
//! Names are kept exactly (no naming policy applies: this is a move, not an upload), with every attribute and the
//! ACL. An object the target already holds with the same bytes, attributes and ACL is skipped, so a run after an
//! interruption resumes; one that differs only in attributes or ACL is fixed in place where the target can. Writes
//! are atomic on every backend, so an interrupted run leaves no partial object behind.
//!
//! While an app writes to both sides through a [`crate::MirrorBackend`], run it in live mode
//! ([`MigrateOptions::with_live`]): it then only adds what the target lacks, never replaces an object there, and
//! takes back a copy whose source changed while it was made, so it cannot undo a write or a delete of the app.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt, TryStreamExt};
use storage_core::backoff::{self, RetryPolicy};
use storage_core::checksum::{md5_of, read_md5};
use storage_core::{
    Acl, Attributes, Backend, Capabilities, ConditionalDelete, Error, ErrorKind, ListEntry, ListOptions, ObjectMeta,
    Result, Retry, Storage, WriteMode,
};

use crate::checkpoint::{Checkpoints, Completion, DEFAULT_CHECKPOINT_PREFIX, Recorder};

use crate::copy::{Backfilled, backfill_one, copy_object, same_version};
use crate::locks::KeyLocks;
use crate::shard::Shard;

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
    /// Delete each source object once its copy is verified (implies `verify`). The cutover never overwrites a
    /// target that differs from the source: both are kept and reported in [`MigrationReport::differing`]. With
    /// `live`, it copies nothing either: a name the target lacks was deleted by the app, and its source is kept.
    pub delete_source: bool,
    /// Attempts after the first failure of one object, with [`storage_core::backoff`]'s growing waits.
    pub retries: u32,
    /// The first wait before a retry; later waits grow up to twice the last one, with jitter, and no retry starts
    /// later than object_store's retry timeout after the first attempt.
    pub retry_backoff: Duration,
    /// Set to stop starting transfers (Ctrl-C); those in flight finish, and the report says so.
    pub stop: Arc<AtomicBool>,
    /// Backfill a live mirror: only copy what the target lacks, create-only, and leave differing objects alone.
    pub live: bool,
    /// Record progress in the target as this job and shard, and resume from the last record.
    pub checkpoints: Option<Checkpoints>,
    /// Only the objects whose names fall in this shard ([`Shard::ALL`] by default).
    pub shard: Shard,
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
            live: false,
            checkpoints: None,
            shard: Shard::ALL,
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
    /// Delete each source object once its copy is verified (turns verification on); see
    /// [`MigrateOptions::delete_source`] for what it keeps.
    pub fn with_delete_source(mut self, delete_source: bool) -> Self {
        self.delete_source = delete_source;
        self
    }
    /// Retry a failed object `retries` times, waiting `backoff` first and up to twice as long each time after.
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.retries = retries;
        self.retry_backoff = backoff;
        self
    }
    /// Backfill while an app writes to both sides through a [`crate::MirrorBackend`]: copy only the objects the
    /// target lacks, create-only so a newer write through the mirror wins, and take a copy back when its source
    /// changed or went away while it was made. Objects the target holds with other content are left alone and
    /// counted in [`MigrationReport::kept`]: through a mirror, the target's are the newer ones.
    pub fn with_live(mut self, live: bool) -> Self {
        self.live = live;
        self
    }
    /// Record progress in the target under `checkpoints`' job and shard, and resume from its last record.
    pub fn with_checkpoints(mut self, checkpoints: Checkpoints) -> Self {
        self.checkpoints = Some(checkpoints);
        self
    }
    /// The prefix no migration copies, lists as data, verifies or deletes: where checkpoints go.
    pub fn reserved_prefix(&self) -> &str {
        self.checkpoints.as_ref().map_or(DEFAULT_CHECKPOINT_PREFIX, |checkpoints| checkpoints.prefix.as_str())
    }
    /// Only the objects whose names fall in `shard`, by rclone's `--hash-filter` function: N processes, each given
    /// one of `0/N` to `N-1/N`, migrate every object exactly once between them. Every other option applies per shard.
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }
    /// Stop starting new transfers once `stop` is set (the ones in flight finish).
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = stop;
        self
    }
}

/// Where a migration is, for a progress bar; only [`migrate()`] makes one, so fields can be added later:
///
/// ```compile_fail
/// let progress = storage_migrate::Progress { objects_total: 1, objects_done: 0, bytes_total: 1, bytes_done: 0 };
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
pub struct MigrationFailure {
    /// The object that failed.
    pub key: String,
    /// Why, after the last retry.
    pub reason: String,
    /// The failure was a `NotFound`: maybe the source's object went away after the listing.
    source_gone: bool,
}

impl MigrationFailure {
    fn new(key: &str, err: &Error) -> Self {
        Self { key: key.to_owned(), reason: err.to_string(), source_gone: err.kind() == ErrorKind::NotFound }
    }
}

/// What a migration did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct MigrationReport {
    /// Objects copied (in a dry run: that would be copied).
    pub copied: u64,
    /// Objects the target already held with the same bytes, attributes and ACL.
    pub skipped: u64,
    /// Objects whose bytes the target held but whose attributes or ACL differed, fixed without copying the bytes.
    pub updated: u64,
    /// Live mode: objects the target held with other content, left alone as the newer ones.
    pub kept: u64,
    /// Live mode: copies taken back because their source changed or went away while they were made; the next run
    /// copies what the source holds then.
    pub withdrawn: u64,
    /// Objects deleted from the source after it was listed, so there was nothing to copy.
    pub gone: u64,
    /// Objects whose copy in the target was read back and matched (copied and skipped ones).
    pub verified: u64,
    /// Source objects deleted after verification.
    pub deleted: u64,
    /// Source objects `delete_source` kept because they changed after they were copied (or have no tag to compare).
    pub changed: Vec<String>,
    /// Source objects `delete_source` kept because the target holds other content, or (live) none: the app's write or
    /// delete after the copy, which the cutover never undoes.
    pub differing: Vec<String>,
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
    /// In a dry run: the names that would be copied, sorted (empty otherwise).
    pub would_copy: Vec<String>,
}

impl MigrationReport {
    /// Add another run's counts to this one's (a backfill from several mirrors).
    pub(crate) fn absorb(&mut self, other: MigrationReport) {
        self.copied += other.copied;
        self.skipped += other.skipped;
        self.updated += other.updated;
        self.kept += other.kept;
        self.withdrawn += other.withdrawn;
        self.gone += other.gone;
        self.verified += other.verified;
        self.deleted += other.deleted;
        self.changed.extend(other.changed);
        self.differing.extend(other.differing);
        self.failed.extend(other.failed);
        self.bytes_copied += other.bytes_copied;
        self.elapsed += other.elapsed;
        self.dry_run = other.dry_run;
        self.interrupted |= other.interrupted;
        self.would_copy.extend(other.would_copy);
    }

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
            "{copied} {} objects ({} bytes), skipped {} already there, updated {} in place, verified {}, deleted {}, failed {} in {:.1} s",
            self.copied,
            self.bytes_copied,
            self.skipped,
            self.updated,
            self.verified,
            self.deleted,
            self.failed.len(),
            self.elapsed.as_secs_f64()
        )?;
        if self.gone > 0 {
            write!(f, "; {} deleted from the source meanwhile", self.gone)?;
        }
        if self.kept > 0 || self.withdrawn > 0 {
            write!(
                f,
                "; kept {} newer on the target, took back {} whose source changed (the next run copies them)",
                self.kept, self.withdrawn
            )?;
        }
        if self.interrupted {
            write!(f, "; interrupted: run again to resume")?;
        }
        for failure in &self.failed {
            write!(f, "\nfailed `{}`: {}", failure.key, failure.reason)?;
        }
        for key in &self.differing {
            write!(
                f,
                "\nkept `{key}` in the source: the target holds other content or none (the app's write or delete \
                 after the copy); compare them, then delete it by hand"
            )?;
        }
        for key in &self.changed {
            write!(f, "\nkept `{key}` in the source: it changed after its copy; run again to copy the new version")?;
        }
        Ok(())
    }
}

/// What `delete_source` did with a source object whose copy was verified.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Deletion {
    NotAsked,
    Deleted,
    /// Kept: it changed after it was copied.
    Kept,
}

enum Outcome {
    Copied {
        bytes: u64,
        verified: bool,
        deleted: Deletion,
    },
    Skipped {
        verified: bool,
        deleted: Deletion,
    },
    Updated {
        verified: bool,
        deleted: Deletion,
    },
    Kept,
    /// `delete_source` kept both sides: the target holds other content, or (live) none.
    Differs,
    Withdrawn,
    Gone,
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
    migrate_with(from, to, options, progress, None).await
}

/// Copy the objects named by `names` (a list, an inventory) from `from` to `to`, as [`migrate()`] does, without
/// listing either side: each name in the shard and under the prefix is looked up on both (a name the source lacks
/// is counted in [`MigrationReport::gone`]). Fails when `names` yields an error (a bad line), with the objects
/// before it migrated; memory stays bounded by the concurrency, whatever the number of names.
pub async fn migrate_names(
    from: &Storage,
    to: &Storage,
    names: impl Stream<Item = Result<String>> + Send,
    options: &MigrateOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<MigrationReport> {
    let started = Instant::now();
    let (source, target) = (from.backend().as_ref(), to.backend().as_ref());
    let counter = Counter::default();
    let shard = options.shard;
    let reserved = options.reserved_prefix();
    // A listed record is never data, as in the listing: copied, it would make the target's job look finished.
    let candidates = names
        .try_filter(|key| {
            std::future::ready(key.starts_with(&options.prefix) && !key.starts_with(reserved) && shard.contains(key))
        })
        .map_ok(|key| {
            let counter = &counter;
            async move {
                let candidate = look_up(source, target, key).await;
                if let Candidate::Found { meta, .. } = &candidate {
                    counter.found(meta.size);
                }
                Ok(candidate)
            }
        })
        .try_buffered(options.concurrency.max(1));
    let mut recorder = start_recording(to, options).await?;
    if recorder.as_ref().is_some_and(Recorder::finished) {
        return Ok(MigrationReport::finished_before(options, started));
    }
    run(source, target, candidates, options, progress, None, &counter, started, recorder.as_mut()).await
}

/// [`migrate()`], with a live backfill's copies taking turns per key with a mirror storage's deletes.
pub(crate) async fn migrate_with(
    from: &Storage,
    to: &Storage,
    options: &MigrateOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
    locks: Option<&KeyLocks>,
) -> Result<MigrationReport> {
    let started = Instant::now();
    let mut recorder = start_recording(to, options).await?;
    if recorder.as_ref().is_some_and(Recorder::finished) {
        // This shard finished in an earlier run: nothing is listed again.
        return Ok(MigrationReport::finished_before(options, started));
    }
    let offset = recorder.as_ref().and_then(|recorder| recorder.done_through.clone());
    let shard = options.shard;
    let in_shard = |meta: &ObjectMeta| std::future::ready(shard.contains(&meta.key));
    let sources: Vec<ObjectMeta> =
        data_listing(from, options, offset.clone()).try_filter(in_shard).try_collect().await?;
    let mut targets: HashMap<String, ObjectMeta> = data_listing(to, options, offset)
        .try_filter(in_shard)
        .map_ok(|meta| (meta.key.clone(), meta))
        .try_collect()
        .await?;
    let counter = Counter::default();
    for meta in &sources {
        counter.found(meta.size);
    }
    progress(counter.progress());
    let candidates = futures::stream::iter(sources).map(|meta| {
        let existing = targets.remove(&meta.key);
        Ok(Candidate::Found { meta, existing })
    });
    let (source, target) = (from.backend().as_ref(), to.backend().as_ref());
    run(source, target, candidates, options, progress, locks, &counter, started, recorder.as_mut()).await
}
/// This shard's recorder, when the options name a job.
async fn start_recording<'a>(to: &'a Storage, options: &'a MigrateOptions) -> Result<Option<Recorder<'a>>> {
    match &options.checkpoints {
        Some(checkpoints) if options.dry_run => Recorder::read(to, checkpoints, options.shard).await.map(Some),
        Some(checkpoints) => Recorder::start(to, checkpoints, options.shard).await.map(Some),
        None => Ok(None),
    }
}

/// One name to migrate, looked up.
enum Candidate {
    /// The source holds it (and the target, if `existing`).
    Found { meta: ObjectMeta, existing: Option<ObjectMeta> },
    /// Named, but not in the source.
    Gone,
    /// Looking it up failed.
    Failed(MigrationFailure),
}

/// Look `key` up on both sides, each a `head`, as a listing would have found it.
async fn look_up(source: &dyn Backend, target: &dyn Backend, key: String) -> Candidate {
    let meta = match source.head(&key).await {
        Ok(found) => found.meta,
        Err(err) if err.kind() == ErrorKind::NotFound => return Candidate::Gone,
        Err(err) => return Candidate::Failed(MigrationFailure::new(&key, &err)),
    };
    match target.head(&key).await {
        Ok(found) => Candidate::Found { meta, existing: Some(found.meta) },
        Err(err) if err.kind() == ErrorKind::NotFound => Candidate::Found { meta, existing: None },
        Err(err) => Candidate::Failed(MigrationFailure::new(&key, &err)),
    }
}

/// Objects and bytes found and done, for [`Progress`].
#[derive(Default)]
struct Counter {
    objects_total: AtomicU64,
    bytes_total: AtomicU64,
    objects_done: AtomicU64,
    bytes_done: AtomicU64,
}

impl Counter {
    fn found(&self, size: u64) {
        self.objects_total.fetch_add(1, Ordering::Relaxed);
        self.bytes_total.fetch_add(size, Ordering::Relaxed);
    }
    fn done(&self, size: u64) {
        self.objects_done.fetch_add(1, Ordering::Relaxed);
        self.bytes_done.fetch_add(size, Ordering::Relaxed);
    }
    fn progress(&self) -> Progress {
        Progress {
            objects_total: self.objects_total.load(Ordering::Relaxed),
            objects_done: self.objects_done.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
        }
    }
}

/// Migrate every candidate, `options.concurrency` at once, and add up what happened.
#[allow(clippy::too_many_arguments)] // one private driver shared by the listing and the names
async fn run(
    source: &dyn Backend,
    target: &dyn Backend,
    candidates: impl Stream<Item = Result<Candidate>> + Send,
    options: &MigrateOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
    locks: Option<&KeyLocks>,
    counter: &Counter,
    started: Instant,
    mut recorder: Option<&mut Recorder<'_>>,
) -> Result<MigrationReport> {
    let verify = options.verify || options.delete_source;
    let outcomes = candidates
        .enumerate()
        .map(|(index, candidate)| candidate.map(|candidate| (index, candidate)))
        .map_ok(|(index, candidate)| async move {
            let (meta, existing) = match candidate {
                Candidate::Found { meta, existing } => (meta, existing),
                Candidate::Gone => return Ok((index, String::new(), Outcome::Gone)),
                Candidate::Failed(failure) => return Ok((index, String::new(), Outcome::Failed(failure))),
            };
            if options.stop.load(Ordering::Relaxed) {
                return Ok((index, meta.key, Outcome::NotStarted));
            }
            let outcome = match migrate_one(source, target, &meta, existing.as_ref(), options, verify, locks).await {
                // The listed object was deleted (and maybe written anew) since the listing: nothing to copy;
                // a new object is the next run's.
                Outcome::Failed(failure) if failure.source_gone => match source.head(&meta.key).await {
                    Ok(now) if same_version(&now.meta, &meta) => Outcome::Failed(failure),
                    Err(err) if err.kind() != ErrorKind::NotFound => Outcome::Failed(failure),
                    _ => Outcome::Gone,
                },
                outcome => outcome,
            };
            counter.done(meta.size);
            progress(counter.progress());
            Ok((index, meta.key, outcome))
        })
        .try_buffer_unordered(options.concurrency.max(1));

    let mut report = MigrationReport { dry_run: options.dry_run, ..MigrationReport::default() };
    let mut watermark = Watermark::default();
    futures::pin_mut!(outcomes);
    while let Some((index, key, outcome)) = outcomes.try_next().await? {
        let looked_at = !matches!(outcome, Outcome::NotStarted);
        // A failed or unstarted object stops the record's watermark there, so the next run looks at it again.
        let through = match outcome {
            Outcome::Failed(_) | Outcome::NotStarted => watermark.stop(index),
            _ => watermark.done(index, &key),
        };
        if let Some(recorder) = recorder.as_deref_mut().filter(|_| !matches!(outcome, Outcome::Failed(_))) {
            recorder.settled(&key);
        }
        report.count(key, outcome);
        if let Some(recorder) = recorder.as_deref_mut().filter(|_| looked_at && !options.dry_run) {
            recorder.advance(through);
            if recorder.due() {
                recorder.save(&report, Completion::Partial).await?;
            }
        }
    }
    report.failed.sort_by(|a, b| a.key.cmp(&b.key));
    report.would_copy.sort();
    report.changed.sort();
    report.differing.sort();
    if let Some(recorder) = recorder.filter(|_| !options.dry_run) {
        let completion = if report.is_complete() { Completion::Complete } else { Completion::Partial };
        recorder.save(&report, completion).await?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The objects under the options' prefix from `offset` on, without the reserved prefix of checkpoints.
fn data_listing(
    storage: &Storage,
    options: &MigrateOptions,
    offset: Option<String>,
) -> impl futures::Stream<Item = Result<ObjectMeta>> + use<> {
    let reserved = options.reserved_prefix().to_owned();
    storage.list_entries(ListOptions::new(options.prefix.clone()).with_offset(offset)).try_filter_map(move |entry| {
        let meta = match entry {
            ListEntry::Object(meta) if !meta.key.starts_with(&reserved) => Some(meta),
            _ => None,
        };
        std::future::ready(Ok(meta))
    })
}

/// The last key in listing order through which every object is done, as objects finish in any order; it never
/// passes an object that failed or was not started.
#[derive(Default)]
struct Watermark {
    /// Every index below this one is done.
    next: usize,
    /// Done indices above `next` (and below `stopped`), with their keys.
    ahead: std::collections::BTreeMap<usize, String>,
    /// The first index that failed or was not started: the watermark stays below it.
    stopped: Option<usize>,
}

impl Watermark {
    /// The object at `index` failed or was not started: the watermark never passes it, and what is done beyond
    /// it is no longer kept. The key through which all are done, when that moved.
    fn stop(&mut self, index: usize) -> Option<String> {
        let stopped = self.stopped.map_or(index, |stopped| stopped.min(index));
        self.stopped = Some(stopped);
        self.ahead.retain(|&ahead, _| ahead < stopped);
        None
    }

    /// The object at `index` (named `key`) is done: the key through which all are, when that moved to a named one.
    fn done(&mut self, index: usize, key: &str) -> Option<String> {
        if self.stopped.is_some_and(|stopped| index > stopped) {
            return None;
        }
        self.ahead.insert(index, key.to_owned());
        let mut through = None;
        while let Some(key) = self.ahead.remove(&self.next) {
            self.next += 1;
            through = Some(key).filter(|key| !key.is_empty()).or(through);
        }
        through
    }
}

impl MigrationReport {
    /// The report of a shard whose record says an earlier run finished it.
    fn finished_before(options: &MigrateOptions, started: Instant) -> Self {
        MigrationReport { dry_run: options.dry_run, elapsed: started.elapsed(), ..MigrationReport::default() }
    }

    /// Count one object's `outcome`; `key` is kept for a dry run's [`MigrationReport::would_copy`] and for
    /// [`MigrationReport::changed`].
    fn count(&mut self, key: String, outcome: Outcome) {
        let mut deletion = |deleted: Deletion, key: &str| match deleted {
            Deletion::Deleted => self.deleted += 1,
            Deletion::Kept => self.changed.push(key.to_owned()),
            Deletion::NotAsked => {}
        };
        match outcome {
            Outcome::Copied { bytes, verified, deleted } => {
                deletion(deleted, &key);
                if self.dry_run {
                    self.would_copy.push(key);
                }
                self.copied += 1;
                self.bytes_copied += bytes;
                self.verified += u64::from(verified);
            }
            Outcome::Skipped { verified, deleted } => {
                deletion(deleted, &key);
                self.skipped += 1;
                self.verified += u64::from(verified);
            }
            Outcome::Updated { verified, deleted } => {
                deletion(deleted, &key);
                self.updated += 1;
                self.verified += u64::from(verified);
            }
            Outcome::Kept => self.kept += 1,
            Outcome::Differs => {
                self.kept += 1;
                self.differing.push(key);
            }
            Outcome::Withdrawn => self.withdrawn += 1,
            Outcome::Gone => self.gone += 1,
            Outcome::Failed(failure) => self.failed.push(failure),
            Outcome::NotStarted => self.interrupted = true,
        }
    }
}

async fn migrate_one(
    source: &dyn Backend,
    target: &dyn Backend,
    meta: &ObjectMeta,
    existing: Option<&ObjectMeta>,
    options: &MigrateOptions,
    verify: bool,
    locks: Option<&KeyLocks>,
) -> Outcome {
    let key = meta.key.as_str();
    let failed = |err: Error| Outcome::Failed(MigrationFailure::new(key, &err));
    // Deletes the source when asked; only objects whose copy in the target was verified in this run reach it, and
    // only while the source still holds the version listed (and so copied): a newer write is kept and reported.
    let delete_source = || async move {
        if !options.delete_source || options.dry_run {
            return Ok(Deletion::NotAsked);
        }
        let Some(etag) = meta.etag.as_deref() else { return Ok(Deletion::Kept) };
        Ok(match source.delete_if_unchanged(key, etag).await? {
            ConditionalDelete::Deleted => Deletion::Deleted,
            ConditionalDelete::Changed => Deletion::Kept,
        })
    };
    if let Some(existing) = existing {
        match retrying(options, || difference(source, target, meta, existing, verify)).await {
            // One side lost the object since the listing: decide again below as if the target lacked it.
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return failed(err),
            Ok(Difference::None) => {
                return match delete_source().await {
                    Ok(deleted) => Outcome::Skipped { verified: verify, deleted },
                    Err(err) => failed(err),
                };
            }
            // The cutover never overwrites the target: what differs there is the app's newer write.
            Ok(_) if options.delete_source => return Outcome::Differs,
            Ok(_) if options.live => return Outcome::Kept,
            Ok(Difference::Bytes) => {}
            Ok(Difference::Metadata { .. }) if options.dry_run => {
                return Outcome::Updated { verified: false, deleted: Deletion::NotAsked };
            }
            Ok(Difference::Metadata { attributes, acl }) => {
                match retrying(options, || fix_metadata(target, key, attributes.clone(), acl)).await {
                    Ok(true) => {
                        return match delete_source().await {
                            Ok(deleted) => Outcome::Updated { verified: verify, deleted },
                            Err(err) => failed(err),
                        };
                    }
                    Ok(false) => {} // the target cannot change attributes in place: the bytes are copied again
                    Err(err) => return failed(err),
                }
            }
        }
    }
    // A live cutover runs once the app uses the target: what the target lacks, the app deleted.
    if options.live && options.delete_source {
        return Outcome::Differs;
    }
    if options.dry_run {
        return Outcome::Copied { bytes: meta.size, verified: false, deleted: Deletion::NotAsked };
    }
    let copied = retrying(options, || async {
        let sent = if options.live {
            match backfill_one(source, target, key, None, locks).await? {
                Backfilled::Copied(sent) => sent,
                Backfilled::Present => return Ok(Backfilled::Present),
                Backfilled::Withdrawn => return Ok(Backfilled::Withdrawn),
            }
        } else {
            copy_object(source, key, target, key, WriteMode::Overwrite, None).await?
        };
        if verify {
            let stored = read_md5(target, key).await?;
            // Live, a write through the mirror may have replaced the copy since: then the target must hold what
            // the source holds now.
            if stored != sent && !(options.live && read_md5(source, key).await.ok() == Some(stored)) {
                return Err(Error::backend(
                    target.name(),
                    Some(key),
                    "the copy read back differs from the source (MD5 mismatch); it will be copied again on the next run",
                )
                .with_retry(Retry::Temporary)
                .with_source("checksum mismatch"));
            }
        }
        Ok(Backfilled::Copied(sent))
    })
    .await;
    match copied {
        Ok(Backfilled::Copied(_)) => {}
        Ok(Backfilled::Present) => return Outcome::Skipped { verified: false, deleted: Deletion::NotAsked },
        Ok(Backfilled::Withdrawn) => return Outcome::Withdrawn,
        Err(err) => return failed(err),
    }
    match delete_source().await {
        Ok(deleted) => Outcome::Copied { bytes: meta.size, verified: verify, deleted },
        Err(err) => failed(err),
    }
}

/// How the target's object differs from the source's.
enum Difference {
    None,
    Bytes,
    /// Same bytes; the attributes to set (if they differ) and the ACL to set (if it differs).
    Metadata {
        attributes: Option<Attributes>,
        acl: Option<Acl>,
    },
}

/// Compare bytes (by MD5, the target's read back when verifying), then attributes and ACL, as far as the target
/// keeps them.
async fn difference(
    source: &dyn Backend,
    target: &dyn Backend,
    meta: &ObjectMeta,
    existing: &ObjectMeta,
    verify: bool,
) -> Result<Difference> {
    if existing.size != meta.size {
        return Ok(Difference::Bytes);
    }
    // Either side's MD5 is read from its ETag when that is one (fs keeps it with the file); with verification the
    // target is read back.
    let theirs = if verify { read_md5(target, &meta.key).await? } else { md5_of(target, existing).await? };
    if md5_of(source, meta).await? != theirs {
        return Ok(Difference::Bytes);
    }
    let caps = target.capabilities();
    let kept = |attributes: Attributes| kept_attributes(&meta.key, attributes, caps);
    let wanted = kept(source.head(&meta.key).await?.attributes);
    let attributes = (kept(target.head(&meta.key).await?.attributes) != wanted).then_some(wanted);
    let acl = if caps.acl && source.capabilities().acl {
        let wanted = source.acl(&meta.key).await?;
        (target.acl(&meta.key).await? != wanted).then_some(wanted)
    } else {
        None
    };
    Ok(match (attributes, acl) {
        (None, None) => Difference::None,
        (attributes, acl) => Difference::Metadata { attributes, acl },
    })
}

/// The part of `attributes` a backend with `caps` stores, so what it cannot keep never counts as a difference; no
/// content type (or S3's `binary/octet-stream`, what it reports for none) counts as the one guessed from the name,
/// which is what a disk reports for a file stored without one.
fn kept_attributes(key: &str, mut attributes: Attributes, caps: Capabilities) -> Attributes {
    attributes.content_type.take_if(|content_type| content_type == "binary/octet-stream");
    attributes.content_type.get_or_insert_with(|| storage_core::guess_content_type(key));
    if !caps.write_with_attributes {
        let metadata = std::mem::take(&mut attributes.metadata);
        attributes = Attributes::default();
        attributes.metadata = metadata;
    }
    if !caps.write_with_user_metadata {
        attributes.metadata.clear();
    }
    attributes
}

/// Give the target's object the source's attributes and ACL without copying its bytes; `false` when the target
/// cannot change attributes in place (the bytes are copied again instead).
async fn fix_metadata(
    target: &dyn Backend,
    key: &str,
    attributes: Option<Attributes>,
    acl: Option<Acl>,
) -> Result<bool> {
    if let Some(attributes) = attributes {
        if !target.capabilities().set_attributes {
            return Ok(false);
        }
        target.set_attributes(key, attributes).await?;
    }
    if let Some(acl) = acl {
        target.set_acl(key, acl).await?;
    }
    Ok(true)
}

/// Run `attempt` until it succeeds, at most `1 + options.retries` times, by the shared backoff. Only errors marked
/// retryable are tried again (a 5xx, a dropped connection, a copy that read back wrong); the others (a missing
/// source, a refused permission, a bad name, a refused request) are returned at once.
async fn retrying<F, Fut, T>(options: &MigrateOptions, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let policy = RetryPolicy::default().with_max_retries(options.retries).with_initial_backoff(options.retry_backoff);
    backoff::retry(&policy, |_| attempt()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A retryable failure that outlasts the migration's retries comes back permanent: no retry above starts over.
    #[tokio::test]
    async fn a_failure_that_outlasts_the_retries_comes_back_permanent() {
        let options = MigrateOptions::default().with_retries(2, Duration::from_millis(1));
        let tries = AtomicU64::new(0);
        let result: Result<()> = retrying(&options, || async {
            tries.fetch_add(1, Ordering::Relaxed);
            Err(Error::backend("s3", Some("a.txt"), "the server answered 503").with_retry(Retry::Temporary))
        })
        .await;
        assert_eq!(tries.load(Ordering::Relaxed), 3);
        assert!(!result.unwrap_err().is_retryable());
    }
}

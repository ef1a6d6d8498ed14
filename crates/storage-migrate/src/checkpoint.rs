//! Checkpoints: a run given a job records its progress in the target storage, under a reserved prefix
//! (`.storage/migrate/<job>/<index>-of-<count>/`), as small JSON records written create-only and numbered in order.
//!
//! A record holds the last key below which every object is done (listings are in byte order, so a run started
//! again lists from there and neither lists nor reads what is done) and the counts so far. Each record takes the
//! next number create-only: two runs of one shard at once race for a number and the loser stops with an error, so
//! neither overwrites the other's record. [`job_status`] merges every shard's latest record into one report.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use storage_core::{Backend, Content, Error, ErrorKind, ListOptions, PutOptions, Result, Storage, WriteMode};

use crate::migrate::MigrationReport;
use crate::shard::Shard;

/// Where checkpoints go unless told otherwise. The fs backend reserves `.storage/` for itself: a disk target needs
/// another prefix ([`Checkpoints::with_prefix`], `--checkpoint-prefix`).
pub const DEFAULT_CHECKPOINT_PREFIX: &str = ".storage/migrate/";

/// A record is written after this many objects are done (and at the end), unless told otherwise.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 10_000;

/// The longest record read back: a record holds counts and failed names, far below this.
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// Which job and shard a run records its progress for, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checkpoints {
    /// The job's name: letters, digits, `.`, `_` and `-`.
    pub job: String,
    /// The reserved prefix the records go under (ends with `/`).
    pub prefix: String,
    /// A record is written after this many objects are done.
    pub every: u64,
}

impl Checkpoints {
    /// Checkpoints for `job`, checked: a name of letters, digits, `.`, `_` and `-`.
    pub fn new(job: &str) -> Result<Self> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if job.is_empty() || job.len() > 128 || !job.chars().all(allowed) || job.starts_with('.') {
            return Err(Error::invalid_argument(
                None,
                format!("job name `{job}` is not 1 to 128 letters, digits, `.`, `_` or `-` (not starting with `.`)"),
            ));
        }
        Ok(Self { job: job.to_owned(), prefix: DEFAULT_CHECKPOINT_PREFIX.to_owned(), every: DEFAULT_CHECKPOINT_EVERY })
    }
    /// Records under `prefix` instead of [`DEFAULT_CHECKPOINT_PREFIX`] (a `/` is added when missing).
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = reserved_prefix(prefix);
        self
    }
    /// A record after every `every` objects done.
    pub fn with_every(mut self, every: u64) -> Self {
        self.every = every.max(1);
        self
    }
    /// The folder of `shard`'s records.
    fn folder(&self, shard: Shard) -> String {
        format!("{}{}/{}-of-{}/", self.prefix, self.job, shard.index(), shard.count())
    }
}

/// `prefix` as a folder: with one trailing `/`.
pub(crate) fn reserved_prefix(prefix: &str) -> String {
    format!("{}/", prefix.trim_end_matches('/'))
}

/// Counts of a shard's runs so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counts {
    /// Objects copied.
    pub copied: u64,
    /// Objects the target held already.
    pub skipped: u64,
    /// Objects whose attributes or ACL were fixed in place.
    pub updated: u64,
    /// Source objects deleted after their copy was verified.
    pub deleted: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Objects that failed, by name, with the reason.
    pub failed: BTreeMap<String, String>,
    /// Source objects `--delete-source` kept because they changed after they were copied.
    pub changed: Vec<String>,
}

impl Counts {
    /// The counts of one run's report.
    fn of(report: &MigrationReport) -> Self {
        Counts {
            copied: report.copied,
            skipped: report.skipped,
            updated: report.updated,
            deleted: report.deleted,
            bytes_copied: report.bytes_copied,
            failed: report.failed.iter().map(|failure| (failure.key.clone(), failure.reason.clone())).collect(),
            changed: report.changed.clone(),
        }
    }

    fn add(&mut self, other: &Counts) {
        self.copied += other.copied;
        self.skipped += other.skipped;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.bytes_copied += other.bytes_copied;
        self.failed.extend(other.failed.iter().map(|(key, reason)| (key.clone(), reason.clone())));
        self.changed.extend(other.changed.iter().cloned());
    }
}

/// One checkpoint record, as stored (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The job.
    pub job: String,
    /// This shard's index.
    pub shard: u64,
    /// The number of shards.
    pub shards: u64,
    /// This record's number; the next one takes `sequence + 1`.
    pub sequence: u64,
    /// Every source object whose key sorts at or below this one is done.
    pub done_through: Option<String>,
    /// Every object of the shard was looked at, and none failed.
    pub complete: bool,
    /// When the record was written, in seconds since 1970.
    pub written_at: u64,
    /// The counts of every run of this shard so far.
    pub counts: Counts,
}

/// A shard's run, as it records its progress.
pub(crate) struct Recorder<'a> {
    target: &'a dyn Backend,
    checkpoints: &'a Checkpoints,
    shard: Shard,
    /// The latest record says an earlier run finished the shard.
    finished: bool,
    /// The counts of the runs before this one.
    before: Counts,
    sequence: u64,
    pub(crate) done_through: Option<String>,
    since_last: u64,
}

impl<'a> Recorder<'a> {
    /// Read this shard's latest record and claim the next number at once, so a second run of the shard already
    /// under way is found now rather than after it copied. The record read, if any.
    pub(crate) async fn start(target: &'a Storage, checkpoints: &'a Checkpoints, shard: Shard) -> Result<Self> {
        let mut recorder = Self::read(target, checkpoints, shard).await?;
        if !recorder.finished {
            recorder.save(&MigrationReport::default(), Completion::Partial).await?;
        }
        Ok(recorder)
    }

    /// Read this shard's latest record without claiming a number: a dry run writes nothing.
    pub(crate) async fn read(target: &'a Storage, checkpoints: &'a Checkpoints, shard: Shard) -> Result<Self> {
        let target = target.backend().as_ref();
        let latest = latest_record(target, &checkpoints.folder(shard)).await?;
        Ok(Recorder {
            target,
            checkpoints,
            shard,
            finished: latest.as_ref().is_some_and(|record| record.complete),
            before: latest.as_ref().map(|record| record.counts.clone()).unwrap_or_default(),
            sequence: latest.as_ref().map_or(0, |record| record.sequence + 1),
            done_through: latest.as_ref().and_then(|record| record.done_through.clone()),
            since_last: 0,
        })
    }

    /// An earlier run finished this shard.
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    /// One more object done; `done_through` is the key below which all are.
    pub(crate) fn advance(&mut self, done_through: Option<String>) {
        self.since_last += 1;
        if done_through.is_some() {
            self.done_through = done_through;
        }
    }

    /// This run looked at `key` without failing: an earlier run's failure of it is over.
    pub(crate) fn settled(&mut self, key: &str) {
        self.before.failed.remove(key);
    }

    /// Whether a record is due.
    pub(crate) fn due(&self) -> bool {
        self.since_last >= self.checkpoints.every
    }

    /// Write the next record: the runs before plus `report`, this run's so far.
    pub(crate) async fn save(&mut self, report: &MigrationReport, completion: Completion) -> Result<()> {
        if completion == Completion::Complete {
            // Every object was looked at without a failure: the earlier runs' failures are all over.
            self.before.failed.clear();
        }
        let mut counts = self.before.clone();
        counts.add(&Counts::of(report));
        let (shard, shards) = (self.shard.index(), self.shard.count());
        let record = Record {
            job: self.checkpoints.job.clone(),
            shard,
            shards,
            sequence: self.sequence,
            done_through: self.done_through.clone(),
            complete: completion == Completion::Complete,
            written_at: SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
            counts,
        };
        let json = serde_json::to_vec(&record).map_err(|err| {
            Error::backend(self.target.name(), None, "could not encode a checkpoint").with_source(err)
        })?;
        let key = format!("{}{:020}.json", self.checkpoints.folder(self.shard), self.sequence);
        let options = PutOptions::new(WriteMode::CreateOnly, Default::default(), None);
        match self.target.put(&key, Content::from(json), options).await {
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                return Err(Error::invalid_argument(
                    Some(&key),
                    format!(
                        "another run of job `{}` shard {shard}/{shards} wrote checkpoint {} first: two runs of one \
                         shard cannot share a job; stop one, or give this one another --job",
                        record.job, self.sequence
                    ),
                )
                .on_backend(self.target.name()));
            }
            written => written?,
        };
        self.sequence += 1;
        self.since_last = 0;
        Ok(())
    }
}

/// Whether a record says the shard is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completion {
    Partial,
    Complete,
}

/// The record with the highest number under `folder`, read and parsed.
async fn latest_record(target: &dyn Backend, folder: &str) -> Result<Option<Record>> {
    let keys: Vec<String> = target
        .list(ListOptions::new(folder))
        .map_ok(|entry| entry.key().to_owned())
        .try_filter(|key| std::future::ready(is_record_name(key)))
        .try_collect()
        .await?;
    match keys.iter().max() {
        Some(key) => read_record(target, key).await.map(Some),
        None => Ok(None),
    }
}

fn is_record_name(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .and_then(|name| name.strip_suffix(".json"))
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

async fn read_record(target: &dyn Backend, key: &str) -> Result<Record> {
    let object = target.get(key, None).await?;
    if object.metadata.size() > MAX_RECORD_BYTES {
        return Err(Error::backend(
            target.name(),
            Some(key),
            "a checkpoint record is larger than 64 MiB; it is not one this tool wrote",
        ));
    }
    let bytes = object
        .stream
        .try_fold(Vec::new(), |mut bytes, chunk| {
            bytes.extend_from_slice(&chunk);
            std::future::ready(Ok(bytes))
        })
        .await
        .map_err(|err| Error::from_io(target.name(), Some(key), err))?;
    let record = parse_record(&bytes).map_err(|err| {
        Error::backend(
            target.name(),
            Some(key),
            "a checkpoint record is not valid; delete the job's records to start it anew",
        )
        .with_source(err)
    })?;
    // A record is the one its name says: a copy planted under another job's or shard's folder is refused.
    let folder = format!("/{}/{}-of-{}/", record.job, record.shard, record.shards);
    if !key.contains(&folder) {
        return Err(Error::backend(
            target.name(),
            Some(key),
            format!(
                "the checkpoint record says job `{}` shard {}/{}, not the folder it is in; delete it",
                record.job, record.shard, record.shards
            ),
        ));
    }
    Ok(record)
}

/// A record from its JSON, checked: a job name as [`Checkpoints::new`] takes, and a shard below the number of
/// shards. Records sit in the target, where anyone who can write to it can plant one: nothing else is trusted.
pub fn parse_record(bytes: &[u8]) -> Result<Record> {
    let invalid = |reason: String| Error::invalid_argument(None, format!("not a checkpoint record: {reason}"));
    let record: Record = serde_json::from_slice(bytes).map_err(|err| invalid(err.to_string()))?;
    Checkpoints::new(&record.job).map_err(|err| invalid(err.to_string()))?;
    if record.shard >= record.shards {
        return Err(invalid(format!("shard {} of {} does not exist", record.shard, record.shards)));
    }
    Ok(record)
}

/// One shard's state in a [`JobStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ShardStatus {
    /// The shard's index.
    pub shard: u64,
    /// Its latest record.
    pub record: Record,
    /// Not complete, and its latest record is older than the staleness limit: its run probably died.
    pub stale: bool,
}

/// Every shard's latest record of one job, merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct JobStatus {
    /// The job.
    pub job: String,
    /// The number of shards, as the records say.
    pub shards: u64,
    /// The shards with records.
    pub shard_records: Vec<ShardStatus>,
    /// The shards with no record.
    pub missing: Vec<u64>,
    /// The counts of every shard, summed.
    pub totals: Counts,
    /// Every shard recorded complete, none missing.
    pub complete: bool,
}

/// The status of `job` from the records under `prefix` in `target`: shards whose latest record is incomplete and
/// older than `stale_after` are stale.
pub async fn job_status(target: &Storage, job: &str, prefix: &str, stale_after: Duration) -> Result<JobStatus> {
    let checkpoints = Checkpoints::new(job)?.with_prefix(prefix);
    let target = target.backend().as_ref();
    let folder = format!("{}{}/", checkpoints.prefix, checkpoints.job);
    let mut latest: BTreeMap<String, String> = BTreeMap::new();
    let mut keys = target.list(ListOptions::new(&folder));
    while let Some(entry) = keys.try_next().await? {
        let key = entry.key();
        let Some((shard, _)) = key[folder.len()..].split_once('/') else { continue };
        if is_record_name(key) {
            let newest = latest.entry(shard.to_owned()).or_default();
            if key > newest.as_str() {
                *newest = key.to_owned();
            }
        }
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut status = JobStatus { job: job.to_owned(), ..JobStatus::default() };
    for key in latest.values() {
        let record = read_record(target, key).await?;
        status.shards = status.shards.max(record.shards);
        let stale = !record.complete && now.saturating_sub(record.written_at) > stale_after.as_secs();
        status.totals.add(&record.counts);
        status.shard_records.push(ShardStatus { shard: record.shard, record, stale });
    }
    status.shard_records.sort_by_key(|shard| shard.shard);
    status.missing =
        (0..status.shards).filter(|index| !status.shard_records.iter().any(|s| s.shard == *index)).collect();
    status.complete = status.shards > 0
        && status.missing.is_empty()
        && status.shard_records.iter().all(|shard| shard.record.complete);
    Ok(status)
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.complete { "complete" } else { "not complete" };
        writeln!(f, "job {}: {state}, {} shards", self.job, self.shards)?;
        for shard in &self.shard_records {
            let record = &shard.record;
            let state = match (record.complete, shard.stale) {
                (true, _) => "complete",
                (false, true) => "stale (no record for a while: its run probably died; start it again)",
                (false, false) => "running",
            };
            writeln!(
                f,
                "shard {}/{}: {state}; copied {}, skipped {}, failed {}, {} bytes",
                shard.shard,
                record.shards,
                record.counts.copied,
                record.counts.skipped,
                record.counts.failed.len(),
                record.counts.bytes_copied
            )?;
        }
        for index in &self.missing {
            writeln!(f, "shard {index}/{}: missing (never started)", self.shards)?;
        }
        let totals = &self.totals;
        write!(
            f,
            "total: copied {}, skipped {}, updated {}, deleted {}, failed {}, {} bytes",
            totals.copied,
            totals.skipped,
            totals.updated,
            totals.deleted,
            totals.failed.len(),
            totals.bytes_copied
        )?;
        for (key, reason) in &totals.failed {
            write!(f, "\nfailed `{key}`: {reason}")?;
        }
        for key in &totals.changed {
            write!(f, "\nkept `{key}`: it changed after its copy, so --delete-source left it")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn record(job: String, shard: u64, shards: u64, done_through: Option<String>) -> Record {
        Record {
            job,
            shard,
            shards,
            sequence: 3,
            done_through,
            complete: false,
            written_at: 1,
            counts: Counts::default(),
        }
    }

    proptest! {
        /// Any bytes: parsed or refused, never a panic.
        #[test]
        fn fuzz_parse_record_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_record(&bytes);
        }

        /// Well-formed records with any job, shard and last name: accepted exactly when the job is a valid name and
        /// the shard exists, and then read back as written.
        #[test]
        fn fuzz_parse_record_accepts_only_valid_records(
            job in "[a-z./ -]{0,12}",
            shard in 0u64..8,
            shards in 0u64..8,
            done_through in proptest::option::of(".{0,40}"),
        ) {
            let written = record(job.clone(), shard, shards, done_through);
            let parsed = parse_record(&serde_json::to_vec(&written).unwrap());
            let valid = Checkpoints::new(&job).is_ok() && shard < shards;
            prop_assert_eq!(parsed.is_ok(), valid);
            if let Ok(parsed) = parsed {
                prop_assert_eq!(parsed, written);
            }
        }
    }

    #[test]
    fn a_record_with_an_unknown_field_is_refused() {
        let mut json = serde_json::to_value(record("job".into(), 0, 1, None)).unwrap();
        json["extra"] = serde_json::json!(1);
        assert!(parse_record(&serde_json::to_vec(&json).unwrap()).is_err());
    }
}

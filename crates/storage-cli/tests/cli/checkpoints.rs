//! Checkpointed migrations (`--job`): a stopped run resumes from its last record without listing what is done, two
//! runs of one shard cannot both record, `migrate status` merges the shards' records, and the cutover
//! (`--delete-source`) keeps a source that changed after its copy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::TryStreamExt;
use storage_core::layer::{Around, Call, Ran, Run, Wrapped};
use storage_core::{BackendOp, ConditionalDelete, Layer, Storage};
use storage_migrate::{Checkpoints, MigrateOptions, migrate};

use crate::backends::{self, Kind, write_tree};

/// The checkpoint prefix for disk targets, whose `.storage/` is the fs backend's own.
const DISK_PREFIX: &str = "_jobs/";

async fn keys(storage: &Storage, prefix: &str) -> Vec<String> {
    storage.list(prefix).map_ok(|meta| meta.key).try_collect().await.unwrap()
}

/// A run stopped after 60 of 200 files resumes from its last record: the second run lists only the files after it
/// (its progress total says how many it was given), and the two together copy each file once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_job_resumes_from_its_checkpoint_without_listing_what_is_done() {
    let (source, _d) = backends::fresh(Kind::Memory).await;
    write_tree(&source, 4..204).await;
    let (target, _d2) = backends::fresh(Kind::Fs).await;
    let checkpoints = Checkpoints::new("resume").unwrap().with_prefix(DISK_PREFIX).with_every(10);
    let options = MigrateOptions::default().with_concurrency(4).with_checkpoints(checkpoints.clone());
    let stop = options.stop.clone();
    let first = migrate(&source, &target, &options, &|progress| {
        if progress.objects_done >= 60 {
            stop.store(true, Ordering::Relaxed);
        }
    })
    .await
    .unwrap();
    assert!(first.interrupted, "{first}");

    let given = AtomicU64::new(0);
    let options = MigrateOptions::default().with_checkpoints(checkpoints.clone());
    let second = migrate(&source, &target, &options, &|progress| {
        given.store(progress.objects_total, Ordering::Relaxed);
    })
    .await
    .unwrap();
    assert!(second.is_complete(), "{second}");
    let listed = given.load(Ordering::Relaxed);
    assert!(listed <= 200 - 50, "the resumed run listed only what follows the record, not {listed} of 200");
    assert_eq!(first.copied + second.copied, 200, "each file copied once: {first} / {second}");
    assert_eq!(keys(&target, "").await.iter().filter(|key| !key.starts_with(DISK_PREFIX)).count(), 200);

    // The records are never data: a third run copies nothing, and a migration out of the target skips them.
    let third = migrate(&source, &target, &options, &|_| {}).await.unwrap();
    assert_eq!((third.copied, third.skipped), (0, 0), "a complete shard is not listed again: {third}");
    let (elsewhere, _d3) = backends::fresh(Kind::Memory).await;
    let out = MigrateOptions::default().with_checkpoints(Checkpoints::new("out").unwrap().with_prefix(DISK_PREFIX));
    let moved = migrate(&target, &elsewhere, &out, &|_| {}).await.unwrap();
    assert_eq!(moved.copied, 200, "{moved}");
    assert!(keys(&elsewhere, DISK_PREFIX).await.iter().all(|key| key.starts_with("_jobs/out/")), "no record copied");

    let status =
        storage_migrate::job_status(&target, "resume", DISK_PREFIX, std::time::Duration::from_secs(600)).await.unwrap();
    assert!(status.complete, "{status}");
    assert_eq!((status.totals.copied, status.missing.len()), (200, 0), "{status}");
}

/// Two runs of one job and shard at once on RGW: the records are create-only, so one run loses the race for a
/// record's number and stops with an error that says why; the other completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_of_one_shard_at_once_stop_one_with_a_clear_error() {
    backends::create_bucket().await;
    let (source, _d) = backends::fresh(Kind::Memory).await;
    write_tree(&source, 4..124).await;
    let (target, _) = backends::fresh(Kind::S3).await;
    let options = MigrateOptions::default()
        .with_concurrency(4)
        .with_checkpoints(Checkpoints::new("twice").unwrap().with_every(1));
    let (a, b) =
        tokio::join!(migrate(&source, &target, &options, &|_| {}), migrate(&source, &target, &options, &|_| {}));
    let errors: Vec<_> = [&a, &b].into_iter().filter_map(|run| run.as_ref().err()).collect();
    assert_eq!(errors.len(), 1, "exactly one run stops: {a:?} / {b:?}");
    let message = errors[0].to_string();
    assert!(message.contains("another run of job `twice` shard 0/1"), "{message}");
    let status = storage_migrate::job_status(&target, "twice", ".storage/migrate", std::time::Duration::from_secs(600))
        .await
        .unwrap();
    assert!(status.complete, "the winner recorded the shard complete: {status}");
}

/// Writes new content to a key just before its delete runs: the app's write landing between a cutover's copy and
/// its delete, on the real backend through a second handle.
#[derive(Debug)]
struct WriteBeforeDelete {
    writer: Storage,
    key: String,
}

impl Around for WriteBeforeDelete {
    type Held = ();
    fn call<'a, T: Send + 'a>(&'a self, call: &'a Call, run: Run<'a, T>) -> Ran<'a, T, ()> {
        Box::pin(async move {
            if call.op() == BackendOp::Delete && call.key() == Some(self.key.as_str()) {
                let options =
                    storage_core::SaveOptions::default().with_overwrite(storage_core::OverwritePolicy::Overwrite);
                self.writer.save_with(&self.key, &b"written by the app after the copy"[..], options).await?;
            }
            run.await.map(|value| (value, ()))
        })
    }
}

impl Layer for WriteBeforeDelete {
    fn layer(&self, inner: Arc<dyn storage_core::Backend>) -> Arc<dyn storage_core::Backend> {
        Arc::new(Wrapped::new(inner, WriteBeforeDelete { writer: self.writer.clone(), key: self.key.clone() }))
    }
}

/// `--delete-source` deletes a source only while it is the version copied: a write landing between the copy and
/// the delete is kept and reported, on RGW (which ignores `If-Match` on DELETE, so the metadata is re-read) and on
/// disk (compared under the file's lock); every other source is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_changed_after_its_copy_is_kept_and_reported_on_rgw_and_disk() {
    backends::create_bucket().await;
    for kind in [Kind::S3, Kind::Fs] {
        let (source, _d) = backends::fresh(kind).await;
        write_tree(&source, 4..24).await;
        let changed = backends::tree_file(9).name;
        let racing = source.clone().layer(WriteBeforeDelete { writer: source.clone(), key: changed.clone() });
        let (target, _d2) = backends::fresh(Kind::Memory).await;
        let options = MigrateOptions::default().with_delete_source(true);
        let report = migrate(&racing, &target, &options, &|_| {}).await.unwrap();
        assert_eq!(report.changed, vec![changed.clone()], "{kind:?}: {report}");
        assert_eq!((report.copied, report.deleted), (20, 19), "{kind:?}: {report}");
        assert!(report.to_string().contains(&format!("kept `{changed}` in the source")), "{report}");
        assert_eq!(keys(&source, "").await, vec![changed.clone()], "{kind:?}: only the changed source is left");
        assert_eq!(source.read(&changed).await.unwrap(), &b"written by the app after the copy"[..]);
    }
}

/// The conditional delete itself, on every backend: a stale tag keeps the object, the current tag deletes it. RGW
/// (Ceph 16) ignores `If-Match` on DELETE, so the probe says so and the backend re-reads instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_unchanged_keeps_a_changed_object_on_every_backend() {
    backends::create_bucket().await;
    for kind in backends::KINDS {
        let (storage, _d) = backends::fresh(kind).await;
        let backend = storage.backend();
        storage.save("cutover/a.txt", &b"first"[..]).await.unwrap();
        let first = storage.metadata("cutover/a.txt").await.unwrap().meta.etag.unwrap();
        let options = storage_core::SaveOptions::default().with_overwrite(storage_core::OverwritePolicy::Overwrite);
        storage.save_with("cutover/a.txt", &b"second"[..], options).await.unwrap();
        let kept = backend.delete_if_unchanged("cutover/a.txt", &first).await.unwrap();
        assert_eq!(kept, ConditionalDelete::Changed, "{kind:?}");
        assert_eq!(storage.read("cutover/a.txt").await.unwrap(), &b"second"[..], "{kind:?}");
        let second = storage.metadata("cutover/a.txt").await.unwrap().meta.etag.unwrap();
        assert_eq!(backend.delete_if_unchanged("cutover/a.txt", &second).await.unwrap(), ConditionalDelete::Deleted);
        assert!(!storage.exists("cutover/a.txt").await.unwrap(), "{kind:?}");
    }
    let rgw = storage_s3::S3Backend::new(backends::s3_config(&backends::unique_prefix())).unwrap();
    assert!(!rgw.deletes_conditionally().await, "Ceph 16 deletes whatever If-Match says (see docs/guides)");
}

/// The guide's cutover after the app moved to the target: the app rewrote `x.txt` and deleted `gone.txt` there.
/// `--live --delete-source` keeps the app's write, does not copy `gone.txt` back, and keeps both sources (reported);
/// `--delete-source` alone never overwrites the app's `x.txt` either (it copies what the target lacks, as a one-shot
/// move). Identical files' sources are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cutover_keeps_the_apps_writes_and_deletes_on_the_target() {
    for live in [true, false] {
        let (source, _d) = backends::fresh(Kind::Fs).await;
        for name in ["x.txt", "gone.txt", "same.txt"] {
            source.save(name, &b"OLD"[..]).await.unwrap();
        }
        let (target, _d2) = backends::fresh(Kind::Memory).await;
        assert_eq!(migrate(&source, &target, &MigrateOptions::default(), &|_| {}).await.unwrap().copied, 3);
        let overwrite = storage_core::SaveOptions::default().with_overwrite(storage_core::OverwritePolicy::Overwrite);
        target.save_with("x.txt", &b"NEW"[..], overwrite).await.unwrap();
        target.delete("gone.txt").await.unwrap();

        let options = MigrateOptions::default().with_live(live).with_delete_source(true);
        let report = migrate(&source, &target, &options, &|_| {}).await.unwrap();
        assert_eq!(target.read("x.txt").await.unwrap(), &b"NEW"[..], "live {live}: {report}");
        assert_eq!(source.read("x.txt").await.unwrap(), &b"OLD"[..], "live {live}: the source is kept: {report}");
        assert!(report.differing.contains(&"x.txt".to_owned()), "live {live}: reported: {report}");
        assert!(report.to_string().contains("kept `x.txt` in the source"), "{report}");
        assert!(!source.exists("same.txt").await.unwrap(), "live {live}: an identical copy's source is deleted");
        // Without `--live` the cutover is also a one-shot move: what the target lacks is copied, then deleted.
        assert_eq!(report.deleted, if live { 1 } else { 2 }, "live {live}: {report}");
        if live {
            assert!(!target.exists("gone.txt").await.unwrap(), "the app's delete is not undone: {report}");
            assert_eq!(report.differing, vec!["gone.txt".to_owned(), "x.txt".to_owned()], "{report}");
            assert!(source.exists("gone.txt").await.unwrap(), "{report}");
        }
    }
}

/// A list naming a checkpoint record (`.storage/migrate/<job>/…json`) does not copy it: the names path skips the
/// reserved prefix as the listing does, so a later `--job` run of that job on the target is not fooled into
/// thinking it finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_checkpoint_record_is_not_copied() {
    let (source, _d) = backends::fresh(Kind::Memory).await;
    let (empty, _d2) = backends::fresh(Kind::Memory).await;
    let job = MigrateOptions::default().with_checkpoints(Checkpoints::new("next").unwrap());
    migrate(&empty, &source, &job, &|_| {}).await.unwrap();
    let records = keys(&source, ".storage/migrate/next/").await;
    assert!(!records.is_empty(), "the finished job left a record in the source");
    source.save("a.txt", &b"data"[..]).await.unwrap();

    let (target, _d3) = backends::fresh(Kind::Memory).await;
    let names = futures::stream::iter(records.into_iter().map(Ok));
    let plain = MigrateOptions::default();
    let listed = storage_migrate::migrate_names(&source, &target, names, &plain, &|_| {}).await.unwrap();
    assert_eq!(listed.copied, 0, "{listed}");
    assert!(keys(&target, ".storage/").await.is_empty(), "no record copied: {listed}");
    let resumed = migrate(&source, &target, &job, &|_| {}).await.unwrap();
    assert_eq!(resumed.copied, 1, "the job's own run copies the data: {resumed}");
}

/// Refuses every write of one key, as a target that keeps failing on it would.
#[derive(Debug)]
struct RefusePut {
    key: String,
}

impl Around for RefusePut {
    type Held = ();
    fn call<'a, T: Send + 'a>(&'a self, call: &'a Call, run: Run<'a, T>) -> Ran<'a, T, ()> {
        Box::pin(async move {
            if call.op() == BackendOp::Put && call.key() == Some(self.key.as_str()) {
                return Err(storage_core::Error::backend("memory", call.key(), "refused by the test"));
            }
            run.await.map(|value| (value, ()))
        })
    }
}

impl Layer for RefusePut {
    fn layer(&self, inner: Arc<dyn storage_core::Backend>) -> Arc<dyn storage_core::Backend> {
        Arc::new(Wrapped::new(inner, RefusePut { key: self.key.clone() }))
    }
}

/// A `--job` run in which one file fails is not recorded complete and does not record past that file, so running
/// the same command again (or a Kubernetes retry of the shard) copies it; `status` then reports the job complete
/// with no failure left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_file_is_retried_by_the_next_run_of_the_job() {
    let (source, _d) = backends::fresh(Kind::Memory).await;
    write_tree(&source, 4..44).await;
    let failing = backends::tree_file(9).name;
    let (target, _d2) = backends::fresh(Kind::Memory).await;
    let refusing = target.clone().layer(RefusePut { key: failing.clone() });
    let options = MigrateOptions::default()
        .with_concurrency(4)
        .with_retries(0, std::time::Duration::from_millis(1))
        .with_checkpoints(Checkpoints::new("retry").unwrap().with_every(1));
    let first = migrate(&source, &refusing, &options, &|_| {}).await.unwrap();
    assert_eq!(first.failed.len(), 1, "{first}");
    let stale = std::time::Duration::from_secs(600);
    let status = storage_migrate::job_status(&target, "retry", ".storage/migrate", stale).await.unwrap();
    assert!(!status.complete && status.totals.failed.contains_key(&failing), "{status}");

    let second = migrate(&source, &target, &options, &|_| {}).await.unwrap();
    assert!(second.is_complete(), "{second}");
    assert_eq!(second.copied, 1, "the rerun copies the failed file: {second}");
    assert!(target.exists(&failing).await.unwrap());
    let status = storage_migrate::job_status(&target, "retry", ".storage/migrate", stale).await.unwrap();
    assert!(status.complete, "{status}");
    assert!(status.totals.failed.is_empty(), "{status}");
    assert_eq!(status.totals.copied, 40, "{status}");
}

/// `--dry-run --job` writes nothing to the target, not even the job's first record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_of_a_job_writes_no_record() {
    let (source, _d) = backends::fresh(Kind::Memory).await;
    write_tree(&source, 4..14).await;
    let (target, _d2) = backends::fresh(Kind::Memory).await;
    let options =
        MigrateOptions::default().with_dry_run(true).with_checkpoints(Checkpoints::new("dry").unwrap().with_every(1));
    let report = migrate(&source, &target, &options, &|_| {}).await.unwrap();
    assert_eq!(report.copied, 10, "{report}");
    assert!(keys(&target, "").await.is_empty(), "a dry run wrote to the target");
}

//! Migrations between backends: the library (`storage_migrate::migrate`) and the `storage migrate` command.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use storage_core::{Content, PutOptions, Storage, WriteMode};
use storage_migrate::{MigrateOptions, MigrationReport, migrate};

use storage_conformance::FaultLayer;

use crate::backends::{self, Kind, tree_file, write_tree};

async fn run(from: &Storage, to: &Storage, options: MigrateOptions) -> MigrationReport {
    migrate(from, to, &options, &|_| {}).await.unwrap()
}

/// Every object of `expected` is in `actual` with the same bytes, attributes and ACL, and nothing else is.
async fn assert_same_objects(expected: &Storage, actual: &Storage) {
    let keys = |storage: &Storage| {
        let list = storage.list("");
        async move { list.map_ok(|meta| meta.key).try_collect::<Vec<_>>().await.unwrap() }
    };
    let expected_keys = keys(expected).await;
    assert_eq!(expected_keys, keys(actual).await, "the same names");
    let compare = |key: String| async move {
        assert!(expected.read(&key).await.unwrap() == actual.read(&key).await.unwrap(), "the bytes of `{key}`");
        let (a, b) = (expected.metadata(&key).await.unwrap(), actual.metadata(&key).await.unwrap());
        assert_eq!(a.attributes, b.attributes, "the attributes of `{key}`");
        assert_eq!(expected.acl(&key).await.unwrap(), actual.acl(&key).await.unwrap(), "the ACL of `{key}`");
    };
    futures::stream::iter(expected_keys).for_each_concurrent(16, compare).await;
}

const TREE_SIZE: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_fs_rgw_memory_fs_keeps_every_byte_and_field() {
    backends::create_bucket().await;
    let (original, _dir) = backends::fresh(Kind::Fs).await;
    write_tree(&original, 0..TREE_SIZE).await;
    let (s3, _) = backends::fresh(Kind::S3).await;
    let (memory, _) = backends::fresh(Kind::Memory).await;
    let (back, _dir2) = backends::fresh(Kind::Fs).await;

    let verified = MigrateOptions::default().with_verify(true);
    for (from, to) in [(&original, &s3), (&s3, &memory), (&memory, &back)] {
        let started = Instant::now();
        let report = run(from, to, verified.clone()).await;
        eprintln!("{} -> {}: {report} ({:?})", from.backend().name(), to.backend().name(), started.elapsed());
        assert!(report.is_complete(), "{report}");
        assert_eq!((report.copied, report.skipped, report.verified), (TREE_SIZE as u64, 0, TREE_SIZE as u64));
    }
    // Every byte and field survived three backends; the middle ones were checked by the verified copies.
    assert_same_objects(&original, &back).await;

    let again = run(&original, &s3, MigrateOptions::default()).await;
    assert_eq!((again.copied, again.skipped, again.bytes_copied), (0, TREE_SIZE as u64, 0), "nothing to redo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_name_and_size_with_other_content_is_copied_not_skipped() {
    for kind in [Kind::Fs, Kind::S3] {
        if kind == Kind::S3 {
            backends::create_bucket().await;
        }
        let (source, _d) = backends::fresh(Kind::Memory).await;
        let (target, _d2) = backends::fresh(kind).await;
        write_tree(&source, 10..30).await;
        write_tree(&target, 10..30).await;
        let changed = tree_file(12);
        let mut other = changed.data.clone();
        other[0] ^= 0xff;
        target
            .save_with(
                &changed.name,
                other,
                storage_core::SaveOptions::default().with_overwrite(storage_core::OverwritePolicy::Overwrite),
            )
            .await
            .unwrap();

        let report = run(&source, &target, MigrateOptions::default()).await;
        assert_eq!((report.copied, report.skipped), (1, 19), "{kind:?}: {report}");
        assert!(target.read(&changed.name).await.unwrap() == changed.data);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_catches_a_copy_that_differs_and_retries_it_first() {
    let (source, _d) = backends::fresh(Kind::Fs).await;
    write_tree(&source, 10..40).await;
    let bad = tree_file(17).name;
    // A target that stores that one file with its first byte flipped: a copy damaged in transit.
    let corrupting = FaultLayer::none().corrupting(bad.clone());
    let target = storage_memory::MemoryBackend::new().storage().layer(corrupting.clone());

    let unverified = run(&source, &target, MigrateOptions::default()).await;
    assert_eq!((unverified.copied, unverified.failed.len()), (30, 0), "without --verify the damage goes unseen");

    let options = MigrateOptions::default().with_verify(true).with_retries(3, Duration::from_millis(1));
    let puts_before = corrupting.corrupted();
    let report = run(&source, &target, options).await;
    assert_eq!(report.skipped, 29, "{report}");
    assert_eq!(report.failed.len(), 1, "{report}");
    assert_eq!(report.failed[0].key, bad);
    assert!(report.failed[0].reason.contains("differs from the source"), "{}", report.failed[0].reason);
    assert_eq!(corrupting.corrupted() - puts_before, 4, "tried once and retried three times");
    assert!(report.to_string().contains(&format!("failed `{bad}`")), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_changes_nothing_and_delete_source_waits_for_verification() {
    let (source, _d) = backends::fresh(Kind::Fs).await;
    let (target, _d2) = backends::fresh(Kind::Memory).await;
    write_tree(&source, 10..60).await;
    let dry = run(&source, &target, MigrateOptions::default().with_dry_run(true)).await;
    assert_eq!((dry.copied, dry.dry_run), (50, true));
    assert!(dry.bytes_copied > 0);
    assert_eq!(target.list("").try_collect::<Vec<_>>().await.unwrap().len(), 0, "a dry run writes nothing");

    let snapshot = storage_memory::MemoryBackend::new().storage();
    run(&source, &snapshot, MigrateOptions::default()).await;
    let moved = run(&source, &target, MigrateOptions::default().with_delete_source(true)).await;
    assert_eq!((moved.copied, moved.verified, moved.deleted), (50, 50, 50), "{moved}");
    assert!(source.list("").try_collect::<Vec<_>>().await.unwrap().is_empty(), "the source is empty");
    assert_same_objects(&snapshot, &target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_migrate_command_resumes_and_ends_verified() {
    backends::create_bucket().await;
    let dir = tempfile::tempdir().unwrap();
    let source = storage_fs::FsBackend::new(dir.path().join("tree")).unwrap().storage();
    let files = 400;
    write_tree(&source, 0..files).await;
    let location = backends::unique_prefix();
    let target = storage_s3::S3Backend::new(backends::s3_config(&location)).unwrap().storage();
    let rgw = storage_conformance::local_rgw();
    let url = format!(
        "s3://{}/{location}?endpoint={}&region={}",
        rgw["STORAGE_S3_BUCKET"], rgw["STORAGE_S3_ENDPOINT"], rgw["STORAGE_S3_REGION"]
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", rgw["STORAGE_S3_ACCESS_KEY_ID"].as_str()),
        ("AWS_SECRET_ACCESS_KEY", rgw["STORAGE_S3_SECRET_ACCESS_KEY"].as_str()),
    ];
    let command = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_storage"));
        command.current_dir(dir.path()).envs(env).args(["migrate", "./tree", &url, "--json"]);
        command
    };

    let mut child = command().args(["--concurrency", "2"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let present: Vec<_> = target.list("").try_collect().await.unwrap();
        if present.len() >= 40 {
            break;
        }
        assert!(Instant::now() < deadline, "the migration did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let present: Vec<_> = target.list("").try_collect().await.unwrap();
    assert!(present.len() < files, "killed mid-way ({} of {files} copied)", present.len());
    for meta in &present {
        let expected = source.read(&meta.key).await.unwrap();
        assert!(target.read(&meta.key).await.unwrap() == expected, "`{}` is whole, never partial", meta.key);
    }

    // A kill does not stop what the gateway already received: an upload whose body was sent can still complete after
    // the listing above. So the resume skips at least what was listed, and copies only the rest.
    let output = command().arg("--verify").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (copied, skipped) = (report["copied"].as_u64().unwrap(), report["skipped"].as_u64().unwrap());
    assert!(skipped >= present.len() as u64, "everything listed whole is skipped: {report}");
    assert_eq!(copied + skipped, files as u64, "every file is copied or skipped, once: {report}");
    assert_eq!(report["verified"], files, "{report}");
    assert_eq!(report["failed"].as_array().unwrap().len(), 0, "{report}");
    let last = command().output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&last.stdout).unwrap();
    assert_eq!((report["copied"].as_u64(), report["skipped"].as_u64()), (Some(0), Some(files as u64)));
}

/// A file whose bytes match but whose content type, other attributes or ACL differ is not skipped: it is fixed, in
/// place where the target can change attributes (memory, fs), by copying again where it cannot (S3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_bytes_with_other_attributes_or_acl_is_fixed_not_skipped() {
    backends::create_bucket().await;
    for kind in backends::KINDS {
        let (source, _d1) = backends::fresh(Kind::Memory).await;
        let (target, _d2) = backends::fresh(kind).await;
        let file = tree_file(4); // public-read, with user metadata
        write_tree(&source, 4..5).await;
        run(&source, &target, MigrateOptions::default()).await;
        // The target's copy drifts: another type and no metadata, then private.
        let drifted = storage_core::Attributes::default().with_content_type("text/html");
        let options = PutOptions::new(WriteMode::Overwrite, drifted, Some(storage_core::Acl::Private));
        target.backend().put(&file.name, Content::from(file.data.clone()), options).await.unwrap();

        let report = run(&source, &target, MigrateOptions::default()).await;
        assert!(report.is_complete() && report.skipped == 0, "{kind:?}: {report}");
        let in_place = target.capabilities().set_attributes;
        assert_eq!((report.updated, report.copied), if in_place { (1, 0) } else { (0, 1) }, "{kind:?}: {report}");
        assert_same_objects(&source, &target).await;
        let again = run(&source, &target, MigrateOptions::default()).await;
        assert_eq!((again.skipped, again.updated, again.copied), (1, 0, 0), "{kind:?}: then nothing differs: {again}");
    }
}

/// A migration into a target that refuses a share of its calls for good reports each failed file, copies the rest,
/// and a second run (the target healthy again) completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fatal_faults_are_reported_per_file_and_a_second_run_completes() {
    let (source, _d) = backends::fresh(Kind::Fs).await;
    write_tree(&source, 10..110).await;
    let target = storage_memory::MemoryBackend::new().storage();
    let faults = FaultLayer::fatal(7, 0.3);
    let report = run(&source, &target.clone().layer(faults.clone()), MigrateOptions::default()).await;
    assert!(faults.injected() > 0 && !report.failed.is_empty(), "{report}");
    assert_eq!(report.copied + report.failed.len() as u64, 100, "{report}");
    assert!(report.failed.iter().all(|f| f.reason.contains("injected fatal fault")), "{report}");
    let again = run(&source, &target, MigrateOptions::default().with_verify(true)).await;
    assert!(again.is_complete(), "{again}");
    assert_eq!(again.copied, report.failed.len() as u64, "only what failed is copied again: {again}");
    assert_same_objects(&source, &target).await;
}

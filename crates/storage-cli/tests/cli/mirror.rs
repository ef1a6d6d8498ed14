//! The mirror storage on every pair of backends: writes everywhere, fallback reads, read-through, failures reported.

use futures::TryStreamExt;
use storage_core::{Acl, ErrorKind, SaveOptions, Storage};
use storage_migrate::{MigrateOptions, MirrorBackend};

use crate::backends::{self, KINDS, Kind, tree_file, write_tree};

/// Fallback, read-through, writes and deletes on one (primary, mirror) pair.
async fn check_mirror(primary_kind: Kind, mirror_kind: Kind) {
    let (primary, _d1) = backends::fresh(primary_kind).await;
    let (mirror, _d2) = backends::fresh(mirror_kind).await;
    let pair = format!("{primary_kind:?} primary, {mirror_kind:?} mirror");
    write_tree(&mirror, 20..23).await; // only on the mirror: what a backfill has not reached yet
    let (old, older, ranged) = (tree_file(20), tree_file(21), tree_file(22));

    let mirrored = MirrorBackend::of(&primary, &[&mirror]).storage();
    assert!(mirrored.read(&old.name).await.unwrap() == old.data, "{pair}: fallback read");
    assert_eq!(mirrored.metadata(&old.name).await.unwrap().attributes, old.attributes, "{pair}: fallback head");
    assert!(!primary.exists(&old.name).await.unwrap(), "{pair}: without read-through the primary is left alone");

    let reading_through = MirrorBackend::of(&primary, &[&mirror]).with_read_through(true).storage();
    assert!(reading_through.read(&older.name).await.unwrap() == older.data, "{pair}: read-through read");
    assert!(primary.read(&older.name).await.unwrap() == older.data, "{pair}: copied to the primary");
    assert_eq!(primary.metadata(&older.name).await.unwrap().attributes, older.attributes, "{pair}");
    if primary.capabilities().acl {
        assert_eq!(primary.acl(&older.name).await.unwrap(), older.acl, "{pair}: the ACL came along");
    }

    // A ranged read through returns the range, and still brings the whole object to the primary.
    let reader = reading_through.open_range(&ranged.name, 2..10).await.unwrap();
    let part: Vec<u8> = reader.stream.map_ok(|chunk| chunk.to_vec()).try_concat().await.unwrap();
    assert_eq!(part, ranged.data[2..10], "{pair}: the range");
    assert!(primary.read(&ranged.name).await.unwrap() == ranged.data, "{pair}: the whole object copied back");

    let name = mirrored.save("new/upload.txt", b"written through the mirror storage").await.unwrap();
    for storage in [&primary, &mirror] {
        assert!(&storage.read(&name).await.unwrap()[..] == b"written through the mirror storage", "{pair}: on both");
    }
    let second = mirrored.save("new/upload.txt", b"second").await.unwrap();
    assert_ne!(second, name, "{pair}: the primary decides unique names");
    mirrored.delete(&name).await.unwrap();
    assert!(!primary.exists(&name).await.unwrap() && !mirror.exists(&name).await.unwrap(), "{pair}: deleted on both");
    let missing = mirrored.read("nowhere.txt").await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{pair}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_on_every_backend_pair() {
    backends::create_bucket().await;
    for primary in KINDS {
        for mirror in KINDS {
            check_mirror(primary, mirror).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_mirror_is_reported_and_only_an_overwrite_stays_on_the_primary() {
    let (primary, _d) = backends::fresh(Kind::Memory).await;
    let dir = tempfile::tempdir().unwrap();
    let mirror = storage_fs::FsBackend::new(dir.path()).unwrap().storage();
    let mirrored = MirrorBackend::of(&primary, &[&mirror]).storage();
    // The mirror's disk goes away: a file where its directory should be.
    std::fs::remove_dir_all(dir.path()).unwrap();
    std::fs::write(dir.path(), b"not a directory").unwrap();

    // A unique save claims its name everywhere or nowhere.
    let err =
        mirrored.save_with("report.pdf", b"%PDF", SaveOptions::default().with_acl(Acl::Private)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Mirror, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("`report.pdf`") && message.contains("fs mirror") && message.contains("nothing was stored"),
        "{message}"
    );
    assert!(!primary.exists("report.pdf").await.unwrap(), "the claim on the primary was undone");

    // An overwrite is kept by the primary, and the message says how to repair the mirror.
    let overwriting = mirrored.with_overwrite(storage_core::OverwritePolicy::Overwrite);
    let err = overwriting.save("report.pdf", b"%PDF").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Mirror, "{err}");
    assert!(err.to_string().contains("migrate"), "{err}");
    assert!(primary.exists("report.pdf").await.unwrap(), "the primary kept the overwrite");
}

/// The zero-downtime move: reads keep working through the mirror storage while a backfill runs, and after the flip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_keep_working_during_a_backfill_and_after_the_flip() {
    backends::create_bucket().await;
    let (old, _d) = backends::fresh(Kind::Fs).await;
    let (new, _) = backends::fresh(Kind::S3).await;
    let files = 10..310;
    write_tree(&old, files.clone()).await;
    // The app now reads through the new backend first, falling back to the old one.
    let app: Storage = MirrorBackend::of(&new, &[&old]).storage();

    let backfill = async {
        let report = storage_migrate::migrate(&old, &new, &MigrateOptions::default().with_verify(true), &|_| {}).await;
        assert!(report.unwrap().is_complete());
    };
    let reads = async {
        let mut rounds = 0;
        loop {
            for i in files.clone().step_by(7) {
                let file = tree_file(i);
                assert!(app.read(&file.name).await.unwrap() == file.data, "`{}` during the backfill", file.name);
            }
            rounds += 1;
            if new.list("").try_collect::<Vec<_>>().await.unwrap().len() == files.len() {
                return rounds;
            }
        }
    };
    let ((), rounds) = tokio::join!(backfill, reads);
    assert!(rounds >= 1);
    // The old backend can go: everything is on the new one.
    let flipped = new.clone();
    for i in files {
        let file = tree_file(i);
        assert!(flipped.read(&file.name).await.unwrap() == file.data);
    }
}

fn fixture(storage: &Storage) -> storage_conformance::Fixture {
    storage_conformance::Fixture::from_arc(storage.backend().clone())
}

/// The mirror storage on every pair of backends against the model of its members: the shrunk cases found before,
/// then random sequences of saves, deletes, copies, renames, reads, listings and live backfills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_matches_the_model_of_its_members_on_every_pair() {
    backends::create_bucket().await;
    for primary_kind in KINDS {
        for mirror_kind in KINDS {
            let (primary, _d1) = backends::fresh(primary_kind).await;
            let (mirror, _d2) = backends::fresh(mirror_kind).await;
            // RGW answers in milliseconds, memory and disk in microseconds: fewer random cases where it is a member.
            let cases = if primary_kind == Kind::S3 || mirror_kind == Kind::S3 { 8 } else { 48 };
            storage_conformance::mirror_model_with_cases(fixture(&primary), fixture(&mirror), cases).await;
        }
    }
}

/// Eight writers and live backfills at once, after the flip: the new backend (memory, or RGW) is the primary and the
/// old disk the mirror.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_during_a_live_backfill_lose_and_resurrect_nothing() {
    backends::create_bucket().await;
    for primary_kind in [Kind::Memory, Kind::S3] {
        let (primary, _d1) = backends::fresh(primary_kind).await;
        let (mirror, _d2) = backends::fresh(Kind::Fs).await;
        storage_conformance::mirror_stress(fixture(&primary), fixture(&mirror)).await;
    }
}

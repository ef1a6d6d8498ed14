//! `cargo xtask bench …`: build the benchmark programs in release mode, run them, and print each goal as met or
//! missed. Timing goals live here, never in tests.

use std::collections::BTreeMap;
use std::process::Command;

use crate::{cargo, workspace_root};

/// One measured goal.
struct Goal {
    what: String,
    measured: String,
    goal: String,
    met: bool,
}

pub fn run(target: Option<&str>) -> Result<(), String> {
    match target {
        Some("fs") => report(&fs()?),
        Some("s3") => report(&s3()?),
        Some("migrate") => report(&migrate()?),
        None => {
            let mut goals = fs()?;
            goals.extend(s3()?);
            goals.extend(migrate()?);
            report(&goals)
        }
        Some(other) => Err(format!("unknown benchmark `{other}`; available: fs, s3, migrate")),
    }
}

/// Run a release example and parse its `phase key=value ...` line.
fn example(package: &str, name: &str, phase: &str) -> Result<BTreeMap<String, f64>, String> {
    example_with(package, name, phase, &[])
}

fn example_with(
    package: &str,
    name: &str,
    phase: &str,
    env: &[(String, String)],
) -> Result<BTreeMap<String, f64>, String> {
    let status = cargo()
        .args(["build", "--release", "--quiet", "--package", package, "--example", name])
        .status()
        .map_err(|err| format!("cargo build: {err}"))?;
    if !status.success() {
        return Err(format!("building the {name} example of {package} failed"));
    }
    let binary = workspace_root().join("target/release/examples").join(name);
    let output = Command::new(&binary)
        .arg(phase)
        .env("BENCH_DIR", workspace_root().join("target/bench"))
        .envs(env.iter().cloned())
        .output()
        .map_err(|err| format!("{}: {err}", binary.display()))?;
    if !output.status.success() {
        return Err(format!("{name} {phase} failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let line = String::from_utf8_lossy(&output.stdout);
    let values = line
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(key, value)| Some((key.to_owned(), value.parse().ok()?)))
        .collect();
    Ok(values)
}

fn fs() -> Result<Vec<Goal>, String> {
    eprintln!("xtask: bench fs (10,000 x 4 KiB saves, 5 interleaved rounds; then a 1 GiB save and read)");
    let small = example("storage-fs", "fs_bench", "small")?;
    let large = example("storage-fs", "fs_bench", "large")?;
    let raw = value(&small, "raw_ms")?;
    let mut goals = Vec::new();
    for (policy, key) in [("unique (default)", "unique_ms"), ("overwrite", "overwrite_ms")] {
        let api = value(&small, key)?;
        let ratio = raw / api;
        goals.push(Goal {
            what: format!("fs small saves, {policy}: speed vs std::fs::write + rename"),
            measured: format!("{ratio:.2}x ({api:.0} ms vs {raw:.0} ms)"),
            goal: ">= 0.80x".into(),
            met: ratio >= 0.8,
        });
    }
    goals.push(peak_rss_goal("fs", &large)?);
    Ok(goals)
}

fn s3() -> Result<Vec<Goal>, String> {
    eprintln!("xtask: bench s3 (against the local Ceph RGW: small saves, presigning, a 1 GiB save and read)");
    let settings = crate::s3::start()?;
    let run = |phase| example_with("storage-s3", "s3_bench", phase, &settings);
    let (small, presign, large) = (run("small")?, run("presign")?, run("large")?);
    let (api, raw) = (value(&small, "api_ms")?, value(&small, "raw_ms")?);
    let (api_urls, raw_urls) = (value(&presign, "api_per_s")?, value(&presign, "raw_per_s")?);
    Ok(vec![
        Goal {
            what: "s3 2,000 x 4 KiB saves, 32 in flight: time vs raw object_store".into(),
            measured: format!("{:.2}x ({api:.0} ms vs {raw:.0} ms)", api / raw),
            goal: "<= 1.10x".into(),
            met: api / raw <= 1.10,
        },
        Goal {
            what: "s3 presigned GET URLs per second vs object_store signed_url".into(),
            measured: format!("{:.2}x ({api_urls:.0}/s vs {raw_urls:.0}/s)", api_urls / raw_urls),
            goal: ">= 3x".into(),
            met: api_urls / raw_urls >= 3.0,
        },
        peak_rss_goal("s3", &large)?,
    ])
}

/// Files in the migration benchmark's tree.
const MIGRATE_FILES: usize = 10_000;

/// `storage migrate --verify` against `rclone copy` (which checks each upload's MD5), fs → the local RGW, each into
/// a fresh prefix: at each tool's default concurrency, then both at 16.
fn migrate() -> Result<Vec<Goal>, String> {
    eprintln!("xtask: bench migrate ({MIGRATE_FILES} mixed files, fs -> local RGW, storage migrate vs rclone copy)");
    let settings = crate::s3::start()?;
    let setting = |name: &str| {
        settings.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).ok_or(format!("{name} unset"))
    };
    let (endpoint, region, bucket) =
        (setting("STORAGE_S3_ENDPOINT")?, setting("STORAGE_S3_REGION")?, setting("STORAGE_S3_BUCKET")?);
    let (access_key, secret_key) = (setting("STORAGE_S3_ACCESS_KEY_ID")?, setting("STORAGE_S3_SECRET_ACCESS_KEY")?);
    let rclone = Command::new("bash")
        .arg(workspace_root().join("xtask/scripts/rclone.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|err| format!("rclone.sh: {err}"))?;
    if !rclone.status.success() {
        return Err("rclone could not be installed".into());
    }
    let rclone = String::from_utf8_lossy(&rclone.stdout).trim().to_owned();
    let status = cargo()
        .args(["build", "--release", "--quiet", "--package", "storage-cli", "--bin", "storage"])
        .status()
        .map_err(|err| format!("cargo build: {err}"))?;
    if !status.success() {
        return Err("building the storage command failed".into());
    }
    let storage = workspace_root().join("target/release/storage");
    let tree = workspace_root().join("target/bench/migrate-tree");
    let bytes = write_migrate_tree(&tree)?;
    // Ours keeps its signing key in the tree's reserved `.storage/`; rclone must not copy it.
    Command::new(&storage).arg("--storage").arg(&tree).args(["ls"]).output().map_err(|err| err.to_string())?;

    let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let timed = |label: &str, command: &mut Command| -> Result<f64, String> {
        let started = std::time::Instant::now();
        let output = command.output().map_err(|err| format!("{label}: {err}"))?;
        if !output.status.success() {
            return Err(format!("{label} failed: {}", String::from_utf8_lossy(&output.stderr)));
        }
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("xtask:   {label}: {seconds:.1} s");
        Ok(seconds)
    };
    let ours = |concurrency: Option<usize>| {
        let prefix =
            format!("bench-migrate/{run_id}/storage-{}", concurrency.map_or("default".into(), |c| c.to_string()));
        let target = format!("s3://{bucket}/{prefix}?endpoint={endpoint}&region={region}");
        let mut command = Command::new(&storage);
        command.arg("migrate").arg(&tree).arg(&target).arg("--verify");
        if let Some(concurrency) = concurrency {
            command.arg("--concurrency").arg(concurrency.to_string());
        }
        command.env("AWS_ACCESS_KEY_ID", &access_key).env("AWS_SECRET_ACCESS_KEY", &secret_key);
        timed(&format!("storage migrate --verify, {}", in_flight(concurrency)), &mut command)
    };
    // rclone's read-back verification is `rclone check --download` after the copy (the copy itself only compares
    // the upload's ETag with its MD5), so "verification on" times both.
    let theirs = |concurrency: Option<usize>| {
        let prefix =
            format!("bench-migrate/{run_id}/rclone-{}", concurrency.map_or("default".into(), |c| c.to_string()));
        let rclone_command = |action: &str| {
            let mut command = Command::new(&rclone);
            command.arg(action).arg(&tree).arg(format!("bench:{bucket}/{prefix}")).args(["--exclude", "/.storage/**"]);
            if action == "check" {
                command.arg("--download");
            }
            if let Some(concurrency) = concurrency {
                command.args(["--transfers", &concurrency.to_string(), "--checkers", &concurrency.to_string()]);
            }
            // rclone 1.60 cannot load AWS_CA_BUNDLE into its transport, and the endpoint is plain HTTP anyway.
            command.env_remove("AWS_CA_BUNDLE").envs([
                ("RCLONE_CONFIG_BENCH_TYPE", "s3"),
                ("RCLONE_CONFIG_BENCH_PROVIDER", "Ceph"),
                ("RCLONE_CONFIG_BENCH_ENDPOINT", endpoint.as_str()),
                ("RCLONE_CONFIG_BENCH_REGION", region.as_str()),
                ("RCLONE_CONFIG_BENCH_ACCESS_KEY_ID", access_key.as_str()),
                ("RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY", secret_key.as_str()),
                ("RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE", "true"),
            ]);
            command
        };
        let copy = timed(&format!("rclone copy, {}", in_flight(concurrency)), &mut rclone_command("copy"))?;
        let check =
            timed(&format!("rclone check --download, {}", in_flight(concurrency)), &mut rclone_command("check"))?;
        Ok::<_, String>(copy + check)
    };
    let equal = 16;
    // In ABBA order, so a gateway that slows as it fills up favours neither tool.
    let theirs_default = theirs(None)?;
    let ours_default = ours(None)?;
    let ours_equal = ours(Some(equal))?;
    let theirs_equal = theirs(Some(equal))?;
    let megabytes = bytes as f64 / 1e6;
    Ok(vec![
        Goal {
            what: format!(
                "migrate {MIGRATE_FILES} files ({megabytes:.0} MB) fs -> RGW, verified, defaults (16 vs rclone's 4 \
                 transfers): speed vs rclone copy + check --download"
            ),
            measured: format!("{:.2}x ({ours_default:.1} s vs {theirs_default:.1} s)", theirs_default / ours_default),
            goal: ">= 1.5x".into(),
            met: theirs_default / ours_default >= 1.5,
        },
        Goal {
            what: format!("migrate, verified, both at {equal} in flight: speed vs rclone copy + check --download"),
            measured: format!("{:.2}x ({ours_equal:.1} s vs {theirs_equal:.1} s)", theirs_equal / ours_equal),
            goal: ">= 1.0x".into(),
            met: theirs_equal / ours_equal >= 1.0,
        },
    ])
}

fn in_flight(concurrency: Option<usize>) -> String {
    concurrency.map_or("default concurrency".into(), |n| format!("{n} in flight"))
}

/// The benchmark's tree, written once: mostly small files, some of 512 KiB and a few of 8 MiB. Its total size.
fn write_migrate_tree(root: &std::path::Path) -> Result<u64, String> {
    let size_of = |i: usize| match i % 1000 {
        0 => 8 << 20,
        1..=9 => 512 << 10,
        _ => (i * 7919) % 32_768,
    };
    let total = (0..MIGRATE_FILES).map(size_of).sum::<usize>() as u64;
    let done = root.with_extension("complete");
    if done.exists() {
        return Ok(total);
    }
    let _ = std::fs::remove_dir_all(root);
    for i in 0..MIGRATE_FILES {
        let dir = root.join(format!("dir{:02}", i % 50));
        std::fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
        let extension = ["txt", "json", "png", "pdf", "bin"][i % 5];
        let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let data: Vec<u8> = (0..size_of(i))
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        std::fs::write(dir.join(format!("file {i}.{extension}")), data).map_err(|err| err.to_string())?;
    }
    std::fs::write(&done, b"").map_err(|err| err.to_string())?;
    Ok(total)
}

/// A value the benchmark reported.
fn value(map: &BTreeMap<String, f64>, key: &str) -> Result<f64, String> {
    map.get(key).copied().ok_or(format!("the benchmark did not report {key}"))
}

/// The bounded-memory goal of a 1 GiB save and read.
fn peak_rss_goal(backend: &str, large: &BTreeMap<String, f64>) -> Result<Goal, String> {
    let peak_mib = value(large, "peak_rss_kib")? / 1024.0;
    Ok(Goal {
        what: format!("{backend} 1 GiB streamed save + read: peak RSS"),
        measured: format!(
            "{peak_mib:.1} MiB (save {:.1} s, read {:.1} s)",
            value(large, "save_ms")? / 1000.0,
            value(large, "read_ms")? / 1000.0
        ),
        goal: "<= 64 MiB".into(),
        met: peak_mib <= 64.0,
    })
}

#[allow(clippy::print_stdout, reason = "the report is the command's output")]
fn report(goals: &[Goal]) -> Result<(), String> {
    println!("| measurement | result | goal | met |");
    println!("|---|---|---|---|");
    for goal in goals {
        println!("| {} | {} | {} | {} |", goal.what, goal.measured, goal.goal, if goal.met { "yes" } else { "MISSED" });
    }
    Ok(())
}

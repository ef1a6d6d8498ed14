//! `cargo xtask bench …`: build the benchmark programs in release mode, run them, and print each goal as met or
//! missed. Timing goals live here, never in tests.

use std::collections::BTreeMap;
use std::process::Command;

use crate::{cargo, workspace_root};

/// One measured goal, or a measurement given for context (no goal of its own).
pub(crate) struct Goal {
    what: String,
    measured: String,
    goal: String,
    met: Option<bool>,
}

impl Goal {
    pub(crate) fn new(what: impl Into<String>, measured: String, goal: &str, met: bool) -> Self {
        Goal { what: what.into(), measured, goal: goal.into(), met: Some(met) }
    }

    pub(crate) fn context(what: impl Into<String>, measured: String) -> Self {
        Goal { what: what.into(), measured, goal: "-".into(), met: None }
    }
}

pub fn run(target: Option<&str>) -> Result<(), String> {
    match target {
        Some("fs") => report(&fs()?),
        Some("s3") => report(&s3()?),
        Some("migrate") => report(&migrate()?),
        Some("serve") => report(&crate::bench_serve::bench()?),
        Some("django") => {
            let goals = crate::bench_django::bench()?;
            report(&goals)?;
            write_docs(&goals, DJANGO_SECTION)
        }
        None => {
            let mut goals = fs()?;
            goals.extend(s3()?);
            goals.extend(migrate()?);
            goals.extend(crate::bench_serve::bench()?);
            report(&goals)?;
            write_docs(&goals, ALL_SECTION)
        }
        Some(other) => Err(format!("unknown benchmark `{other}`; available: fs, s3, migrate, serve, django")),
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
    measure(&format!("{name} {phase}"), Command::new(&binary).arg(phase).envs(env.iter().cloned()))
}

/// Run one benchmark phase and parse the `key=value` pairs it prints.
pub(crate) fn measure(label: &str, command: &mut Command) -> Result<BTreeMap<String, f64>, String> {
    eprintln!("xtask:   {label}");
    let output = command
        .env("BENCH_DIR", workspace_root().join("target/bench"))
        .output()
        .map_err(|err| format!("{label}: {err}"))?;
    if !output.status.success() {
        return Err(format!("{label} failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let line = String::from_utf8_lossy(&output.stdout);
    let values = line
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(key, value)| Some((key.to_owned(), value.parse().ok()?)))
        .collect();
    Ok(values)
}

/// Run a helper script that installs a peer when it is missing and prints the path of what to run.
pub(crate) fn peer(script: &str) -> Result<String, String> {
    let output = Command::new("bash")
        .arg(workspace_root().join("xtask/scripts").join(script))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|err| format!("{script}: {err}"))?;
    if !output.status.success() {
        return Err(format!("{script} could not install its peer (see the messages above)"));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
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
            met: Some(ratio >= 0.8),
        });
    }
    goals.push(peak_rss_goal("fs", &large)?);
    Ok(goals)
}

/// This project, raw object_store and django-storages + boto3 on the same gateway (bluestore, so the gigabytes
/// fit): small saves, presigning, a 1 GiB save and read, listing, and unique names under contention.
fn s3() -> Result<Vec<Goal>, String> {
    eprintln!("xtask: bench s3 (the local Ceph RGW on bluestore: this project, object_store, django-storages)");
    let mut settings = crate::s3::start_with(Some("bluestore"))?;
    let token = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    settings.push(("BENCH_TOKEN".into(), token.to_string()));
    let python = peer("python-peer.sh")?;
    let ours = |phase| example_with("storage-s3", "s3_bench", phase, &settings);
    let django = |phase| {
        let script = workspace_root().join("xtask/scripts/django_bench.py");
        measure(
            &format!("django_bench.py {phase}"),
            Command::new(&python).arg(script).arg(phase).envs(settings.clone()),
        )
    };
    let log = RequestLog::new()?;

    let (small, django_small) = (ours("small")?, django("small")?);
    let (presign, boto3) = (ours("presign")?, django("presign")?);
    let large = ours("large")?;
    let (list, django_list) = (ours("list")?, django("list")?);
    let contention = ours("contention")?;
    let copy = ours("copy")?;
    let our_requests = log.requests(&format!("bench-contention/{token}-ours/"))?;
    let django_contention = django("contention")?;
    let django_requests = log.requests(&format!("bench-contention/{token}-django/"))?;

    let mut goals = Vec::new();
    let (unique, overwrite) = (value(&small, "api_ms")?, value(&small, "api_overwrite_ms")?);
    let (raw_create, raw_put, django_ms) =
        (value(&small, "raw_create_ms")?, value(&small, "raw_ms")?, value(&django_small, "django_ms")?);
    let small_goal = |what: &str, ours: f64, theirs: f64| {
        Goal::new(
            format!("s3 2,000 x 4 KiB saves, 32 in flight, {what}: time"),
            ratio_ms(ours, theirs),
            "<= 1.10x",
            ours / theirs <= 1.10,
        )
    };
    goals.push(small_goal("unique names (create-only) vs object_store create-only put", unique, raw_create));
    goals.push(small_goal("overwriting vs object_store put", overwrite, raw_put));
    goals.push(small_goal("defaults (unique names) vs object_store's default put", unique, raw_put));
    goals.push(Goal::new(
        "s3 2,000 x 4 KiB saves: speed vs django-storages 1.14.6 + boto3, 32 threads, Storage.save",
        format!("{:.1}x ({unique:.0} ms vs {django_ms:.0} ms)", django_ms / unique),
        ">= 5x",
        django_ms / unique >= 5.0,
    ));

    let (api_urls, raw_urls, boto3_urls) =
        (value(&presign, "api_per_s")?, value(&presign, "raw_per_s")?, value(&boto3, "boto3_per_s")?);
    goals.push(Goal::new(
        "s3 presigned GET URLs per second on one core vs object_store signed_url",
        format!("{:.1}x ({api_urls:.0}/s vs {raw_urls:.0}/s)", api_urls / raw_urls),
        ">= 3x",
        api_urls / raw_urls >= 3.0,
    ));
    goals.push(Goal::new(
        "s3 presigned GET URLs per second on one core vs boto3 generate_presigned_url",
        format!("{:.0}x ({api_urls:.0}/s vs {boto3_urls:.0}/s)", api_urls / boto3_urls),
        ">= 50x",
        api_urls / boto3_urls >= 50.0,
    ));
    goals.push(Goal::context(
        "s3 one presigned URL vs its hashing floor (SHA-256 of the canonical request + one HMAC-SHA256)",
        format!(
            "{:.0} ns vs {:.0} ns; deriving the key, cached per day, would add {:.0} ns",
            value(&presign, "api_ns")?,
            value(&presign, "floor_ns")?,
            value(&presign, "derive_ns")?
        ),
    ));

    let mib_per_s = |ms: f64| 1024.0 / (ms / 1000.0);
    for (what, ours, theirs) in [
        ("save", value(&large, "save_ms")?, value(&large, "raw_save_ms")?),
        ("read", value(&large, "read_ms")?, value(&large, "raw_read_ms")?),
    ] {
        goals.push(Goal::new(
            format!("s3 1 GiB streamed {what}: throughput vs object_store"),
            format!("{:.2}x ({:.0} MiB/s vs {:.0} MiB/s)", theirs / ours, mib_per_s(ours), mib_per_s(theirs)),
            ">= 0.9x",
            theirs / ours >= 0.9,
        ));
    }
    goals.push(peak_rss_goal("s3", &large)?);

    for (what, key) in
        [("list 20,000 objects", "list_ms"), ("listdir of their directory (19,000 files, 10 dirs)", "listdir_ms")]
    {
        let (ours, raw, django) =
            (value(&list, key)?, value(&list, &format!("raw_{key}"))?, value(&django_list, &format!("django_{key}"))?);
        goals.push(Goal::context(
            format!("s3 {what}: time vs object_store and django-storages"),
            format!(
                "{ours:.0} ms; {:.2}x object_store ({raw:.0} ms); django {:.1}x slower ({django:.0} ms)",
                ours / raw,
                django / ours
            ),
        ));
    }

    let (copy_ms, raw_copy_ms, through) =
        (value(&copy, "ms")?, value(&copy, "raw_ms")?, value(&copy, "through_client_bytes")?);
    goals.push(Goal::new(
        "s3 create-only copy of a 256 MiB object (the default unique-name copy): time vs object_store's copy",
        format!("{}; {:.0} KiB through the client", ratio_ms(copy_ms, raw_copy_ms), through / 1024.0),
        "<= 1.25x, < 1 MiB",
        copy_ms / raw_copy_ms <= 1.25 && through < f64::from(1 << 20),
    ));

    let saves = value(&contention, "saves")? * value(&contention, "rounds")?;
    let (our_per_save, django_per_save) = (our_requests as f64 / saves, django_requests as f64 / saves);
    goals.push(Goal::new(
        "s3 64 concurrent saves to one name, unique names: requests per save (counted by the gateway)",
        format!("{our_per_save:.2} (django-storages' exists-then-save: {django_per_save:.2})"),
        "<= 2",
        our_per_save <= 2.0,
    ));
    let (our_ms, their_ms) = (value(&contention, "ms")?, value(&django_contention, "django_ms")?);
    goals.push(Goal::context(
        "s3 64 concurrent saves to one name: time, and distinct files kept, vs django-storages",
        format!(
            "{:.1}x faster ({our_ms:.0} ms vs {their_ms:.0} ms); kept {:.0} of 64 vs {:.0} of 64",
            their_ms / our_ms,
            value(&contention, "kept")?,
            value(&django_contention, "django_kept")?
        ),
    ));
    Ok(goals)
}

fn ratio_ms(ours: f64, theirs: f64) -> String {
    format!("{:.2}x ({ours:.0} ms vs {theirs:.0} ms)", ours / theirs)
}

/// The gateway's log, which records every request it serves (a `beast:` line with the request line): requests are
/// counted where they arrive, the same way for every client.
struct RequestLog {
    path: std::path::PathBuf,
    start: u64,
}

impl RequestLog {
    fn new() -> Result<Self, String> {
        let path = crate::s3::dir().join("log/client.rgw.log");
        let start = std::fs::metadata(&path).map_err(|err| format!("{}: {err}", path.display()))?.len();
        Ok(RequestLog { path, start })
    }

    /// Requests since the log was opened whose object key starts with `prefix`, once the log has stopped growing.
    fn requests(&self, prefix: &str) -> Result<usize, String> {
        let mut last = None;
        for _ in 0..40 {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let log = std::fs::read(&self.path).map_err(|err| format!("{}: {err}", self.path.display()))?;
            let text = String::from_utf8_lossy(&log[usize::try_from(self.start).unwrap_or(0).min(log.len())..]);
            let count = text
                .lines()
                .filter(|line| line.contains(" beast: "))
                .filter_map(|line| line.split('"').nth(1))
                .filter(|request| {
                    request.split(' ').nth(1).is_some_and(|target| target.contains(&format!("/{prefix}")))
                })
                .count();
            if last == Some(count) {
                return Ok(count);
            }
            last = Some(count);
        }
        Err("the gateway's log kept growing for 20 s".into())
    }
}

/// Files in the migration benchmark's tree.
const MIGRATE_FILES: usize = 10_000;

/// `storage migrate --verify` against `rclone copy` (which checks each upload's MD5), fs → the local RGW, each into
/// a fresh prefix: at each tool's default concurrency, then both at 16.
fn migrate() -> Result<Vec<Goal>, String> {
    eprintln!("xtask: bench migrate ({MIGRATE_FILES} mixed files, fs -> local RGW, storage migrate vs rclone copy)");
    let Gateway { endpoint, region, bucket, access_key, secret_key } = Gateway::start()?;
    let rclone = peer("rclone.sh")?;
    let storage = storage_command()?;
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
    // s5cmd has no read-back check: its verification is downloading the prefix again (the comparison with the tree
    // afterwards is not timed, which favours it).
    let s5cmd = std::path::Path::new(&peer("python-peer.sh")?).with_file_name("s5cmd");
    let s5cmd_run = |workers: usize| {
        let prefix = format!("bench-migrate/{run_id}/s5cmd-{workers}");
        let readback = workspace_root().join("target/bench/s5cmd-readback");
        let _ = std::fs::remove_dir_all(&readback);
        let s5cmd_command = |from: String, to: String| {
            let mut command = Command::new(&s5cmd);
            command
                .args(["--numworkers", &workers.to_string(), "--endpoint-url", &endpoint, "cp"])
                .args(["--exclude", ".storage/*"])
                .arg(from)
                .arg(to)
                .env_remove("AWS_CA_BUNDLE")
                .envs([
                    ("AWS_ACCESS_KEY_ID", access_key.as_str()),
                    ("AWS_SECRET_ACCESS_KEY", secret_key.as_str()),
                    ("AWS_REGION", region.as_str()),
                ]);
            command
        };
        let up = format!("s3://{bucket}/{prefix}/");
        let copy = timed(
            &format!("s5cmd cp, {workers} workers"),
            &mut s5cmd_command(format!("{}/*", tree.display()), up.clone()),
        )?;
        let read = timed(
            &format!("s5cmd cp back (read-back), {workers} workers"),
            &mut s5cmd_command(format!("{up}*"), format!("{}/", readback.display())),
        )?;
        let same = Command::new("diff").args(["-rq", "--exclude=.storage"]).arg(&tree).arg(&readback).status();
        if !same.is_ok_and(|status| status.success()) {
            return Err("s5cmd's read-back differs from the tree".to_owned());
        }
        let _ = std::fs::remove_dir_all(&readback);
        Ok::<_, String>(copy + read)
    };
    let equal = 16;
    // In ABBA order, so a gateway that slows as it fills up favours neither tool.
    let theirs_default = theirs(None)?;
    let s5cmd_equal = s5cmd_run(equal)?;
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
            met: Some(theirs_default / ours_default >= 1.5),
        },
        Goal {
            what: format!("migrate, verified, both at {equal} in flight: speed vs rclone copy + check --download"),
            measured: format!("{:.2}x ({ours_equal:.1} s vs {theirs_equal:.1} s)", theirs_equal / ours_equal),
            goal: ">= 1.0x".into(),
            met: Some(theirs_equal / ours_equal >= 1.0),
        },
        Goal {
            what: format!("migrate, verified, both at {equal} in flight: speed vs s5cmd cp + cp back (read-back)"),
            measured: format!("{:.2}x ({ours_equal:.1} s vs {s5cmd_equal:.1} s)", s5cmd_equal / ours_equal),
            goal: ">= 1.0x".into(),
            met: Some(s5cmd_equal / ours_equal >= 1.0),
        },
    ])
}

/// The local RGW on bluestore (the migrate tree outgrows the tests' in-memory store), and how to reach it.
struct Gateway {
    endpoint: String,
    region: String,
    bucket: String,
    access_key: String,
    secret_key: String,
}

impl Gateway {
    fn start() -> Result<Self, String> {
        let settings = crate::s3::start_with(Some("bluestore"))?;
        let setting = |name: &str| {
            settings.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).ok_or(format!("{name} unset"))
        };
        let gateway = Gateway {
            endpoint: setting("STORAGE_S3_ENDPOINT")?,
            region: setting("STORAGE_S3_REGION")?,
            bucket: setting("STORAGE_S3_BUCKET")?,
            access_key: setting("STORAGE_S3_ACCESS_KEY_ID")?,
            secret_key: setting("STORAGE_S3_SECRET_ACCESS_KEY")?,
        };
        gateway.create_bucket()?;
        Ok(gateway)
    }

    /// A gateway just restarted on bluestore holds no bucket yet (the tests' fixtures make theirs): CreateBucket,
    /// signed by curl's own SigV4; an existing bucket of ours answers 409, which is as good.
    fn create_bucket(&self) -> Result<(), String> {
        let output = Command::new("curl")
            // RGW checks the payload hash header, which curl's signer leaves out.
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "PUT",
                "-H",
                "x-amz-content-sha256: UNSIGNED-PAYLOAD",
            ])
            .arg("--aws-sigv4")
            .arg(format!("aws:amz:{}:s3", self.region))
            .arg("--user")
            .arg(format!("{}:{}", self.access_key, self.secret_key))
            .arg(format!("{}/{}", self.endpoint, self.bucket))
            .output()
            .map_err(|err| format!("curl: {err}"))?;
        match String::from_utf8_lossy(&output.stdout).as_ref() {
            "200" | "409" => Ok(()),
            status => Err(format!("creating the bench bucket `{}` answered {status}", self.bucket)),
        }
    }
}

/// `cargo xtask bench migrate --shards 1,2,4`: the migrate tree, fs -> RGW, verified, by N `storage migrate --shard
/// K/N` processes started together, each N into a fresh prefix: the total time, its speed-up over one process, and
/// each shard's time. Context only (no goal): where the speed-up stops growing is where the gateway is the limit.
pub fn shards(counts: &str) -> Result<(), String> {
    let counts: Vec<u64> = counts
        .split(',')
        .map(|count| count.trim().parse().ok().filter(|&count| count > 0))
        .collect::<Option<_>>()
        .ok_or(format!("--shards `{counts}`: give shard counts such as 1,2,4"))?;
    eprintln!("xtask: bench migrate --shards ({MIGRATE_FILES} mixed files, fs -> local RGW, N processes at once)");
    let gateway = Gateway::start()?;
    let storage = storage_command()?;
    let tree = workspace_root().join("target/bench/migrate-tree");
    write_migrate_tree(&tree)?;
    let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut goals = Vec::new();
    let mut first = None;
    for count in counts {
        let target = format!(
            "s3://{}/bench-shards/{run_id}/{count}?endpoint={}&region={}",
            gateway.bucket, gateway.endpoint, gateway.region
        );
        let started = std::time::Instant::now();
        let shards: Vec<_> = (0..count)
            .map(|index| {
                let mut command = Command::new(&storage);
                command.arg("migrate").arg(&tree).arg(&target).args([
                    "--verify",
                    "--shard",
                    &format!("{index}/{count}"),
                ]);
                command.env("AWS_ACCESS_KEY_ID", &gateway.access_key).env("AWS_SECRET_ACCESS_KEY", &gateway.secret_key);
                std::thread::spawn(move || {
                    let output = command.output().map_err(|err| format!("shard {index}/{count}: {err}"))?;
                    if !output.status.success() {
                        return Err(format!("shard {index}/{count}: {}", String::from_utf8_lossy(&output.stderr)));
                    }
                    Ok(started.elapsed().as_secs_f64())
                })
            })
            .collect();
        let times = shards
            .into_iter()
            .map(|shard| shard.join().map_err(|_| "a shard's thread panicked".to_owned())?)
            .collect::<Result<Vec<f64>, String>>()?;
        let total = started.elapsed().as_secs_f64();
        let (first_count, first_total) = *first.get_or_insert((count, total));
        let each: Vec<String> = times.iter().map(|time| format!("{time:.1}")).collect();
        eprintln!("xtask:   {count} shards: {total:.1} s (shards {} s)", each.join(", "));
        goals.push(Goal::context(
            format!("migrate {MIGRATE_FILES} files fs -> RGW, verified, {count} shard processes at once"),
            format!(
                "{total:.1} s total, {:.2}x the speed of {first_count}; shards {} s",
                first_total / total,
                each.join(" / ")
            ),
        ));
    }
    report(&goals)
}

/// The `storage` command, built in release mode.
pub(crate) fn storage_command() -> Result<std::path::PathBuf, String> {
    let status = cargo()
        .args(["build", "--release", "--quiet", "--package", "storage-cli", "--bin", "storage"])
        .status()
        .map_err(|err| format!("cargo build: {err}"))?;
    if !status.success() {
        return Err("building the storage command failed".into());
    }
    Ok(workspace_root().join("target/release/storage"))
}

/// `size` bytes that do not compress, the same for the same `seed`.
pub(crate) fn pseudo_random(seed: u64, size: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
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
        let data = pseudo_random(i as u64 + 1, size_of(i));
        std::fs::write(dir.join(format!("file {i}.{extension}")), data).map_err(|err| err.to_string())?;
    }
    std::fs::write(&done, b"").map_err(|err| err.to_string())?;
    Ok(total)
}

/// A value the benchmark reported.
pub(crate) fn value(map: &BTreeMap<String, f64>, key: &str) -> Result<f64, String> {
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
        met: Some(peak_mib <= 64.0),
    })
}

/// The results as a Markdown table.
fn table(goals: &[Goal]) -> String {
    let mut table = String::from("| measurement | result | goal | met |\n|---|---|---|---|\n");
    for goal in goals {
        let met = match goal.met {
            Some(true) => "yes",
            Some(false) => "MISSED",
            None => "context",
        };
        table.push_str(&format!("| {} | {} | {} | {met} |\n", goal.what, goal.measured, goal.goal));
    }
    table
}

#[allow(clippy::print_stdout, reason = "the report is the command's output")]
fn report(goals: &[Goal]) -> Result<(), String> {
    print!("{}", table(goals));
    Ok(())
}

/// A part of docs/benchmarks.md that a bench command writes: its markers, its heading and the command.
struct DocsSection {
    begin: &'static str,
    end: &'static str,
    heading: &'static str,
    command: &'static str,
    /// The gateway's object store, as the machine paragraph says it.
    gateway: &'static str,
}

const ALL_SECTION: DocsSection = DocsSection {
    begin: "<!-- bench:begin (written by `cargo xtask bench`) -->",
    end: "<!-- bench:end -->",
    heading: "## Latest run",
    command: "cargo xtask bench",
    gateway: "bluestore OSD on a file",
};

const DJANGO_SECTION: DocsSection = DocsSection {
    begin: "<!-- bench-django:begin (written by `cargo xtask bench django`) -->",
    end: "<!-- bench-django:end -->",
    heading: "#### Latest run of `cargo xtask bench django`",
    command: "cargo xtask bench django",
    // The running gateway, whatever its store: restarting it would take it from the tests running beside.
    gateway: "the running gateway's OSD (memstore, in RAM, in CI and here)",
};

/// Replace `part` of docs/benchmarks.md with this run's table, machine and versions.
fn write_docs(goals: &[Goal], part: DocsSection) -> Result<(), String> {
    let path = workspace_root().join("docs/benchmarks.md");
    let page = std::fs::read_to_string(&path).map_err(|err| format!("{}: {err}", path.display()))?;
    let DocsSection { begin: begin_marker, end: end_marker, heading, command, gateway } = part;
    let (Some(begin), Some(end)) = (page.find(begin_marker), page.find(end_marker)) else {
        return Err(format!("{} has lost its `{begin_marker}` ... `{end_marker}` markers", path.display()));
    };
    let section = format!(
        "{begin_marker}\n{heading}: {}\n\n{}\n\nCommand: `{command}`; the rows are in the order it runs them.\n\n{}{end_marker}",
        first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine(gateway),
        table(goals)
    );
    let page = format!("{}{section}{}", &page[..begin], &page[end + end_marker.len()..]);
    std::fs::write(&path, page).map_err(|err| format!("{}: {err}", path.display()))?;
    eprintln!("xtask: wrote the table to {}", path.display());
    Ok(())
}

/// The machine and the versions of everything measured, as a paragraph.
fn machine(gateway: &str) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map_or("unknown CPU", |rest| rest.trim_start_matches(|c: char| c == ':' || c.is_whitespace()));
    let cores = cpuinfo.lines().filter(|line| line.starts_with("processor")).count();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / (1 << 20) as f64);
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).unwrap_or_default();
    let object_store = lock
        .split("[[package]]")
        .find(|package| package.contains("name = \"object_store\""))
        .and_then(|package| package.lines().find_map(|line| line.strip_prefix("version = ")))
        .unwrap_or("?")
        .trim_matches('"');
    let peers = std::fs::read_to_string(workspace_root().join("xtask/scripts/django-peer.txt")).unwrap_or_default();
    let peers: Vec<&str> = peers.lines().filter(|line| !line.starts_with('#') && !line.is_empty()).collect();
    format!(
        "Machine: {cores} cores ({cpu}), {memory_gib:.0} GiB, Linux {}. Versions: {}, object_store {object_store}, {} \
         ({gateway}, on 127.0.0.1), {}, {} with {}. Client and gateway share the cores, so the ratios \
         are the result and the absolute times are context.",
        first_line("uname", &["-r"]),
        first_line("rustc", &["--version"]),
        first_line("radosgw", &["--version"]).split(" (").next().unwrap_or_default(),
        first_line("rclone", &["version"]),
        first_line("python3", &["--version"]),
        peers.join(", ")
    )
}

/// The first line a command prints, or `?`.
fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|output| String::from_utf8_lossy(&output.stdout).lines().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

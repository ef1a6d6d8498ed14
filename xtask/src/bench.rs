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
        None => {
            let mut goals = fs()?;
            goals.extend(s3()?);
            report(&goals)
        }
        Some(other) => Err(format!("unknown benchmark `{other}`; available: fs, s3")),
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
    let small = example("storage-fs", "bench", "small")?;
    let large = example("storage-fs", "bench", "large")?;
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
    let run = |phase| example_with("storage-s3", "bench", phase, &settings);
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

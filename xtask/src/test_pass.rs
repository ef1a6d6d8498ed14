//! CI's test pass: the workspace's test binaries run side by side rather than one after another, as `cargo test`
//! runs them. Most of their time is spent waiting (on a server's timeout, on a link to expire, on the RGW), so two
//! at a time on a 2-core machine take the wall time of the slowest rather than the sum, with the CPU barely shared.
//!
//! `cargo test --no-run --message-format=json` builds them and names each executable with its package; each runs in
//! its package's directory, as `cargo test` runs it, its output printed whole when it ends so none interleaves. The
//! doc tests run through `cargo test --doc` beside them.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cargo;

/// How many test binaries run at once.
const AT_ONCE: usize = 2;

/// One test executable and the directory of its package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBinary {
    executable: PathBuf,
    package_dir: PathBuf,
}

impl TestBinary {
    /// The name a person knows it by: the executable's file name without cargo's hash.
    fn name(&self) -> String {
        let file = self.executable.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        file.rsplit_once('-').map_or(file.clone(), |(name, _hash)| name.to_owned())
    }
}

/// The value of the string field `field` in one line of cargo's JSON messages (paths and names: never escaped).
fn string_field<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let rest = &line[start..];
    Some(&rest[..rest.find('"')?])
}

/// Whether an artifact was built by the test profile (its target's own `"test":true` only says it may be tested).
fn built_for_tests(line: &str) -> bool {
    let Some(start) = line.find("\"profile\":{") else { return false };
    let profile = &line[start..];
    profile[..profile.find('}').unwrap_or(profile.len())].contains("\"test\":true")
}

/// The binaries that take longest, started first so the others fill in beside them.
const SLOWEST_FIRST: &[&str] = &["cli", "s3", "app", "fs", "http", "memory"];

/// The test executables in cargo's `--message-format=json` output.
fn test_binaries(messages: &str) -> Vec<TestBinary> {
    let mut binaries: Vec<TestBinary> = messages
        .lines()
        .filter(|line| line.contains("\"reason\":\"compiler-artifact\"") && built_for_tests(line))
        .filter_map(|line| {
            let executable = PathBuf::from(string_field(line, "executable")?);
            let package_dir = PathBuf::from(string_field(line, "manifest_path")?).parent()?.to_owned();
            Some(TestBinary { executable, package_dir })
        })
        .collect();
    binaries.dedup();
    binaries.sort_by_key(|binary| SLOWEST_FIRST.iter().position(|name| *name == binary.name()).unwrap_or(usize::MAX));
    binaries
}

/// What one job printed and how it ended.
struct Finished {
    name: String,
    wall: Duration,
    output: String,
    passed: bool,
}

/// How many tests passed and failed in all, added up from each binary's `test result:` line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
}

impl Counts {
    /// The counts of every `test result: ok. 3 passed; 0 failed; …` line in `output`.
    fn of(output: &str) -> Counts {
        let count = |summary: &str, what: &str| -> usize {
            summary
                .split(';')
                .find_map(|part| part.trim().strip_suffix(what)?.trim().rsplit(' ').next()?.parse().ok())
                .unwrap_or(0)
        };
        output.lines().filter_map(|line| line.strip_prefix("test result: ")).fold(Counts::default(), |sum, summary| {
            Counts { passed: sum.passed + count(summary, "passed"), failed: sum.failed + count(summary, "failed") }
        })
    }
}

/// Builds the tests with `build_args` (after `cargo test`) and names their binaries.
pub fn build(build_args: &[&str]) -> Result<Vec<TestBinary>, String> {
    eprintln!("xtask: cargo test --no-run (the test binaries)");
    let built = cargo()
        .args(["test", "--no-run", "--message-format=json-render-diagnostics"])
        .args(build_args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cargo test --no-run: {err}"))?;
    if !built.status.success() {
        return Err(format!("building the tests failed ({})", built.status));
    }
    let binaries = test_binaries(&String::from_utf8_lossy(&built.stdout));
    if binaries.is_empty() {
        return Err("cargo test --no-run named no test binary".into());
    }
    Ok(binaries)
}

/// Runs every test binary [`build`] made with `test_args` and the environment `env`, [`AT_ONCE`] at a time, and the
/// doc tests (built with `build_args`) beside them; the counts reach `counts` whether or not they all pass. Fails
/// naming every job that failed.
pub fn run(
    binaries: &[TestBinary],
    build_args: &[&str],
    test_args: &[&str],
    env: &[(String, String)],
    counts: &mut Counts,
) -> Result<(), String> {
    let mut jobs: Vec<(String, Command)> = Vec::new();
    for binary in binaries {
        let mut command = Command::new(&binary.executable);
        command.args(test_args).current_dir(&binary.package_dir).envs(env.iter().cloned());
        jobs.push((binary.name(), command));
    }
    // After the slowest binaries have started: the doc tests compile, and share the CPU with the waiting ones.
    let mut doc = cargo();
    doc.args(["test", "--doc"]).args(build_args).arg("--").args(test_args).envs(env.iter().cloned());
    jobs.insert(SLOWEST_FIRST.len().min(jobs.len()), ("doc tests".to_owned(), doc));
    eprintln!("xtask: running {} test binaries and the doc tests, {AT_ONCE} at a time", binaries.len());
    let started = jobs.len();
    let finished = run_side_by_side(jobs);
    if finished.len() != started {
        // A worker that died took its job with it: that job neither passed nor failed, so the pass fails.
        return Err(format!("only {} of {started} test jobs reported an outcome", finished.len()));
    }
    let mut failed = Vec::new();
    for job in &finished {
        let Counts { passed, failed: failures } = Counts::of(&job.output);
        counts.passed += passed;
        counts.failed += failures;
        if !job.passed {
            failed.push(job.name.clone());
        }
    }
    let mut timings: Vec<&Finished> = finished.iter().collect();
    timings.sort_by_key(|job| std::cmp::Reverse(job.wall));
    let slowest: Vec<String> =
        timings.iter().take(5).map(|job| format!("{} {:.1} s", job.name, job.wall.as_secs_f64())).collect();
    eprintln!("xtask: slowest test jobs: {}", slowest.join(", "));
    if failed.is_empty() { Ok(()) } else { Err(format!("tests failed in: {}", failed.join(", "))) }
}

/// Runs the jobs, [`AT_ONCE`] at a time in the order given, printing each one's output whole as it ends.
fn run_side_by_side(jobs: Vec<(String, Command)>) -> Vec<Finished> {
    let queue = Arc::new(Mutex::new(jobs.into_iter().collect::<std::collections::VecDeque<_>>()));
    let finished = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let (queue, finished) = (queue.clone(), finished.clone());
            std::thread::spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop_front();
                    let Some((name, mut command)) = next else { break };
                    let started = Instant::now();
                    let result = command.stdin(Stdio::null()).output();
                    let (output, passed) = match result {
                        Ok(output) => {
                            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
                            text.push_str(&String::from_utf8_lossy(&output.stderr));
                            (text, output.status.success())
                        }
                        Err(err) => (format!("could not start: {err}\n"), false),
                    };
                    let wall = started.elapsed();
                    let outcome = if passed { "ok" } else { "FAILED" };
                    eprintln!("xtask: ---- {name}: {outcome} in {:.1} s ----\n{output}", wall.as_secs_f64());
                    finished.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(Finished {
                        name,
                        wall,
                        output,
                        passed,
                    });
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    std::mem::take(&mut *finished.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_binaries_are_read_from_cargos_messages_with_their_package() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/storage-fs#0.1.0","manifest_path":"/w/crates/storage-fs/Cargo.toml","target":{"kind":["test"],"name":"fs"},"profile":{"opt_level":"0","test":true},"executable":"/b/debug/deps/fs-0123abcd","fresh":true}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"x","manifest_path":"/w/crates/storage-fs/Cargo.toml","target":{"kind":["lib"],"name":"storage_fs","test":true},"profile":{"opt_level":"0","test":false},"executable":null,"fresh":true}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"y","manifest_path":"/w/crates/storage-cli/Cargo.toml","target":{"kind":["bin"],"name":"storage","test":true},"profile":{"opt_level":"0","test":false},"executable":"/b/debug/storage","fresh":true}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        let binaries = test_binaries(messages);
        assert_eq!(
            binaries,
            [TestBinary {
                executable: PathBuf::from("/b/debug/deps/fs-0123abcd"),
                package_dir: PathBuf::from("/w/crates/storage-fs")
            }]
        );
        assert_eq!(binaries[0].name(), "fs");
    }

    #[test]
    fn counts_add_up_every_binarys_result_line() {
        let output = "test a ... ok\ntest result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 2 filtered out; \
                      finished in 0.01s\n\ntest result: FAILED. 40 passed; 2 failed; 0 ignored; 0 measured\n";
        assert_eq!(Counts::of(output), Counts { passed: 43, failed: 2 });
    }
}

//! `cargo xtask flaky [N] [-- cargo test args]`: runs the test phase N times against one RGW and reports every test
//! that failed at least once, so a flaky test is found here rather than in CI.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use crate::{azure, cargo, run, s3, workspace_root};

const DEFAULT_RUNS: usize = 10;

/// What the command was asked: how many runs, and what to add to `cargo test`.
struct Request {
    runs: usize,
    test_args: Vec<String>,
}

fn parse(args: &[String]) -> Result<Request, String> {
    let (ours, test_args) = match args.iter().position(|arg| arg == "--") {
        Some(at) => (&args[..at], args[at + 1..].to_vec()),
        None => (args, Vec::new()),
    };
    let runs = match ours {
        [] => DEFAULT_RUNS,
        [count] => count.parse().ok().filter(|runs| *runs > 0).ok_or_else(|| format!("`{count}` is not a count"))?,
        _ => return Err("usage: cargo xtask flaky [N] [-- cargo test args]".into()),
    };
    Ok(Request { runs, test_args })
}

/// The tests that failed in one run's output, with the first lines of what each printed.
#[derive(Debug, Default, PartialEq)]
struct RunFailures {
    /// `binary::test` and its message.
    tests: Vec<(String, String)>,
    /// Test binaries that failed without a failed test (a crash, an abort, a build error).
    binaries: Vec<String>,
}

/// Reads `cargo test`'s interleaved stdout and stderr: `Running …` and `Doc-tests …` lines name the binary, `test …
/// FAILED` lines name the failures, `---- name stdout ----` blocks hold their messages.
fn failures(output: &str) -> RunFailures {
    let mut binary = String::from("?");
    let mut failed: Vec<String> = Vec::new();
    let mut messages: BTreeMap<String, String> = BTreeMap::new();
    let mut lines = output.lines().peekable();
    let mut found = RunFailures::default();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(running) = trimmed.strip_prefix("Running ") {
            // `Running tests/cli/main.rs (target/debug/deps/cli-0123abcd)`: the deps name without its hash.
            let path = running.rsplit('(').next().unwrap_or(running).trim_end_matches(')');
            let file = path.rsplit('/').next().unwrap_or(path);
            binary = file.rsplit_once('-').map_or(file, |(name, _hash)| name).to_owned();
        } else if let Some(crate_name) = trimmed.strip_prefix("Doc-tests ") {
            binary = format!("{crate_name} (doc)");
        } else if let Some(test) = line.strip_prefix("test ").and_then(|rest| rest.strip_suffix(" ... FAILED")) {
            failed.push(format!("{binary}::{test}"));
        } else if let Some(test) = line.strip_prefix("---- ").and_then(|rest| rest.strip_suffix(" stdout ----")) {
            let mut message = Vec::new();
            while let Some(next) = lines.peek() {
                if next.starts_with("---- ") || *next == "failures:" || message.len() >= 4 {
                    break;
                }
                if !next.trim().is_empty() && !next.starts_with("note: run with") {
                    message.push(next.trim());
                }
                lines.next();
            }
            messages.insert(format!("{binary}::{test}"), message.join(" / "));
        } else if let Some(target) = trimmed.strip_prefix("error: test failed, to rerun pass ") {
            // Said of every binary with a failure; news only when no test of this binary failed (a crash).
            let prefix = format!("{binary}::");
            if !failed.iter().any(|test| test.starts_with(&prefix)) {
                found.binaries.push(format!("{binary} ({target})"));
            }
        }
    }
    for test in failed {
        let message = messages.remove(&test).unwrap_or_default();
        found.tests.push((test, message));
    }
    found
}

pub fn command(args: &[String]) -> Result<(), String> {
    let request = parse(args)?;
    let mut test = cargo();
    test.args(["test", "--locked", "--no-fail-fast"]);
    if !request.test_args.iter().any(|arg| arg == "-p" || arg.starts_with("--package")) {
        test.arg("--workspace");
    }
    test.args(&request.test_args);
    // Build once, so the runs measure the tests and a build error is reported as one.
    let mut build = cargo();
    build.args(["test", "--locked", "--no-run"]).args(test.get_args().skip(3));
    run("building the tests", &mut build)?;

    let already_running = s3::running();
    let azurite_running = azure::running();
    let settings = [s3::start()?, azure::start()?].concat();
    let logs = workspace_root().join("target/flaky");
    std::fs::create_dir_all(&logs).map_err(|err| format!("{}: {err}", logs.display()))?;
    let mut counts: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut result = Ok(());
    for index in 1..=request.runs {
        let log = logs.join(format!("run-{index}.log"));
        match run_once(&mut test, &settings, &log) {
            Ok((found, seconds)) => {
                let failed = found.tests.len() + found.binaries.len();
                eprintln!(
                    "xtask: flaky run {index}/{}: {failed} failed in {seconds:.0} s ({})",
                    request.runs,
                    log.display()
                );
                for (test, message) in found.tests {
                    counts.entry(test).or_insert((0, message)).0 += 1;
                }
                for binary in found.binaries {
                    let message = "the test binary failed without a failed test: a crash or an abort; see the log";
                    counts.entry(binary).or_insert((0, message.to_owned())).0 += 1;
                }
            }
            Err(err) => {
                result = Err(err);
                break;
            }
        }
    }
    if !already_running {
        s3::stop()?;
    }
    if !azurite_running {
        azure::stop()?;
    }
    result?;
    report(request.runs, &counts)
}

/// One run of the test phase, its output in `log`; what failed, and how long it took.
fn run_once(
    test: &mut std::process::Command,
    settings: &[(String, String)],
    log: &Path,
) -> Result<(RunFailures, f64), String> {
    let file = File::create(log).map_err(|err| format!("{}: {err}", log.display()))?;
    let err_file = file.try_clone().map_err(|err| format!("{}: {err}", log.display()))?;
    let started = Instant::now();
    test.envs(settings.iter().cloned()).stdout(Stdio::from(file)).stderr(Stdio::from(err_file));
    test.status().map_err(|err| format!("cargo test: could not start: {err}"))?;
    let output = std::fs::read_to_string(log).map_err(|err| format!("{}: {err}", log.display()))?;
    Ok((failures(&output), started.elapsed().as_secs_f64()))
}

#[allow(clippy::print_stdout, reason = "the report is the command's output")]
fn report(runs: usize, counts: &BTreeMap<String, (usize, String)>) -> Result<(), String> {
    if counts.is_empty() {
        println!("flaky: {runs} runs of the test phase, no test failed");
        return Ok(());
    }
    println!("flaky: {runs} runs of the test phase, {} tests failed at least once:", counts.len());
    let mut by_count: Vec<_> = counts.iter().collect();
    by_count.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    for (test, (count, message)) in by_count {
        println!("  {count}/{runs}  {test}\n         {message}");
    }
    Err(format!("{} flaky or failing tests", counts.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
     Running tests/cli/main.rs (target/debug/deps/cli-0123abcd)

running 2 tests
test migrate::resumes ... FAILED
test share_works ... ok

failures:

---- migrate::resumes stdout ----

thread 'migrate::resumes' panicked at crates/storage-cli/tests/cli/migrate.rs:221:5:
assertion `left == right` failed: {\"skipped\":96}
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    migrate::resumes

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s

error: test failed, to rerun pass `-p storage-cli --test cli`
     Running unittests src/lib.rs (target/debug/deps/storage_core-99ff)
test naming::ok ... ok
   Doc-tests storage_core
test crates/storage-core/src/lib.rs - (line 5) ... FAILED
";

    #[test]
    fn failures_are_named_by_binary_and_carry_their_message() {
        let found = failures(OUTPUT);
        assert_eq!(found.tests.len(), 2, "{found:?}");
        assert_eq!(found.tests[0].0, "cli::migrate::resumes");
        assert!(found.tests[0].1.contains("migrate.rs:221:5") && found.tests[0].1.contains("skipped"));
        assert_eq!(found.tests[1].0, "storage_core (doc)::crates/storage-core/src/lib.rs - (line 5)");
        assert!(found.binaries.is_empty(), "the binary's failure is its test's: {found:?}");

        let crashed = "     Running tests/fs/main.rs (target/debug/deps/fs-77)\n\nrunning 1 test\n\
                       error: test failed, to rerun pass `-p storage-fs --test fs`\n";
        assert_eq!(failures(crashed).binaries, ["fs (`-p storage-fs --test fs`)"]);
    }

    #[test]
    fn the_count_and_the_test_arguments_are_parsed() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let request = parse(&args(&["3", "--", "-p", "storage-fs"])).unwrap();
        assert_eq!((request.runs, request.test_args), (3, args(&["-p", "storage-fs"])));
        assert_eq!(parse(&[]).unwrap().runs, DEFAULT_RUNS);
        assert!(parse(&args(&["zero"])).is_err() && parse(&args(&["0"])).is_err());
    }
}

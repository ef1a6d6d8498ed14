//! `cargo xtask`: everything `cargo` alone cannot express — the CI sequence, dependency rules, tidy checks.
//!
//! Run `cargo xtask help` for the commands. Checks that need no external tool also run as ordinary `#[test]`s
//! (see `tidy.rs`), so `cargo test` catches them too.

#![allow(clippy::print_stdout, reason = "a command-line tool prints its help to stdout")]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod bench_serve;
mod flaky;
mod fuzz;
mod s3;
mod tidy;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci      format check, clippy and the docs (warnings are errors), every test, dependency rules, cargo-deny
  deps    check that storage-core stays free of object_store and any HTTP client
  s3 start|stop|env
          a throw-away Ceph RADOS Gateway on 127.0.0.1 for the S3 tests (installed from Debian when missing);
          `start` and `env` print its settings as export lines
  fuzz [--minutes N]
          every `fuzz_*` proptest (the parsers an attacker reaches): one bounded pass, or rounds of fresh
          random cases for N minutes; a failing input is kept in proptest-regressions/
  flaky [N] [-- cargo test args]
          run the test phase N times (default 10) against one local RGW and list every test that failed at
          least once, with its count and first message; each run's output is in target/flaky/
  bench [fs|s3|migrate|serve]
          run benchmarks in release mode against their peers (object_store, django-storages + boto3, rclone,
          s5cmd, nginx with wrk; installed when missing) and print each goal as met or missed; with no argument, all of them, and
          the table is written to docs/benchmarks.md
  help    this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("deps") => check_core_dependencies(),
        Some("bench") => bench::run(args.get(1).map(String::as_str)),
        Some("flaky") => flaky::command(&args[1..]),
        Some("fuzz") => fuzz::command(&args[1..]),
        Some("s3") => s3::command(args.get(1).map(String::as_str)),
        Some("help" | "-h" | "--help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn run(what: &str, command: &mut Command) -> Result<(), String> {
    eprintln!("xtask: {what}");
    let status = command.status().map_err(|err| format!("{what}: could not start: {err}"))?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed ({status})")) }
}

fn ci() -> Result<(), String> {
    run("cargo fmt --check", cargo().args(["fmt", "--all", "--check"]))?;
    run("cargo clippy", cargo().args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]))?;
    // Every public item is documented (`missing_docs` in each library crate) and every doc link resolves.
    run("cargo doc", cargo().args(["doc", "--workspace", "--no-deps", "--locked"]).env("RUSTDOCFLAGS", "-D warnings"))?;
    // The S3 tests run against a real RGW: start one (failing loudly if it cannot), and stop it again only if it
    // was not already running.
    let already_running = s3::running();
    let settings = s3::start()?;
    // The fuzz targets run once, in their own bounded pass.
    let skip_fuzz = ["--", "--skip", fuzz::TARGET_PREFIX];
    let tested = run("cargo test", cargo().args(["test", "--workspace", "--locked"]).args(skip_fuzz).envs(settings))
        .and_then(|()| fuzz::bounded());
    if !already_running {
        s3::stop()?;
    }
    tested?;
    // Features off by default still have to build and pass.
    let sha1 = ["--package", "storage-s3", "--features", "cloudfront-sha1", "--locked"];
    run("cargo clippy (cloudfront-sha1)", cargo().arg("clippy").args(sha1).args(["--lib", "--", "-D", "warnings"]))?;
    run("cargo test (cloudfront-sha1)", cargo().arg("test").args(sha1).args(["--lib", "cloudfront"]))?;
    check_core_dependencies()?;
    cargo_deny()
}

/// Crates that must never enter storage-core's normal dependency tree: the core is policy, not transport.
pub const FORBIDDEN_IN_CORE: &[&str] =
    &["object_store", "reqwest", "hyper", "http", "h2", "aws-lc-rs", "ring", "rustls", "axum", "tower"];

/// The names of storage-core's normal (non-dev) dependencies, transitively.
pub fn core_dependencies() -> Result<Vec<String>, String> {
    let output = cargo()
        .args(["tree", "--package", "storage-core", "--edges", "normal", "--prefix", "none", "--format", "{p}"])
        .output()
        .map_err(|err| format!("cargo tree: {err}"))?;
    if !output.status.success() {
        return Err(format!("cargo tree failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    Ok(tree.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect())
}

fn check_core_dependencies() -> Result<(), String> {
    eprintln!("xtask: storage-core dependency rules");
    let found: Vec<String> =
        core_dependencies()?.into_iter().filter(|name| FORBIDDEN_IN_CORE.contains(&name.as_str())).collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("storage-core must not depend on {found:?}; move that code to a backend crate"))
    }
}

/// `cargo deny check` for bans, licenses and sources, installing cargo-deny first on a fresh machine.
fn cargo_deny() -> Result<(), String> {
    let installed = cargo().args(["deny", "--version"]).output().is_ok_and(|output| output.status.success());
    if !installed {
        run(
            "installing cargo-deny (once per machine)",
            cargo().args(["install", "--locked", "cargo-deny", "--version", "0.20.2", "--no-default-features"]),
        )?;
    }
    run("cargo deny", cargo().args(["deny", "--log-level", "error", "check", "bans", "licenses", "sources"]))
}

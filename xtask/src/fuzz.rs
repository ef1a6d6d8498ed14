//! `cargo xtask fuzz [--minutes N]`: every parser an attacker reaches has a `fuzz_*` proptest; this runs them all.
//!
//! Without `--minutes` it is the bounded pass CI runs: `PROPTEST_CASES` cases per target. With it, rounds of many
//! more cases, each from a fresh random seed, until the time is up. proptest writes any failing input, shrunk, to
//! the test's `proptest-regressions/` file, where every later run replays it first: commit that file with the fix.

use std::time::{Duration, Instant};

use crate::{cargo, run};

/// Cases per target in the bounded pass (proptest's own default).
pub const BOUNDED_CASES: u32 = 256;
/// Cases per target in each round of a long run.
const ROUND_CASES: u32 = 20_000;

/// The prefix of every fuzz target's name.
pub const TARGET_PREFIX: &str = "fuzz_";

pub fn command(args: &[String]) -> Result<(), String> {
    match args {
        [] => bounded(),
        [flag, minutes] if flag == "--minutes" => {
            let minutes: u64 = minutes
                .parse()
                .ok()
                .filter(|m| *m > 0)
                .ok_or_else(|| format!("`{minutes}` is not a number of minutes"))?;
            rounds(Duration::from_secs(minutes * 60))
        }
        _ => Err("usage: cargo xtask fuzz [--minutes N]".into()),
    }
}

/// One pass of every target with [`BOUNDED_CASES`] cases: part of `cargo xtask ci`.
pub fn bounded() -> Result<(), String> {
    fuzz_pass(&format!("fuzz: every {TARGET_PREFIX}* target, {BOUNDED_CASES} cases each"), BOUNDED_CASES)
}

fn rounds(budget: Duration) -> Result<(), String> {
    let started = Instant::now();
    let mut build = cargo();
    build.args(["test", "--workspace", "--locked", "--no-run"]).args(crate::TEST_FEATURES);
    run("fuzz: building the test binaries", &mut build)?;
    let mut round = 0;
    while started.elapsed() < budget {
        round += 1;
        let what = format!("fuzz: round {round}, {ROUND_CASES} cases per target");
        if let Err(failed) = fuzz_pass(&what, ROUND_CASES) {
            return Err(format!(
                "{failed}; the shrunk input is in the test's proptest-regressions/ file (see `git status`): commit it \
                 with the fix so every run replays it"
            ));
        }
    }
    eprintln!("xtask: fuzz: {round} rounds in {:.0?}, no failure", started.elapsed());
    Ok(())
}

/// The fuzz targets are unit and integration tests, so the doc tests (compiled anew by every `cargo test`) are left
/// out; the features are the test build's, so nothing is rebuilt.
fn fuzz_pass(what: &str, cases: u32) -> Result<(), String> {
    let targets = ["test", "--workspace", "--locked", "--lib", "--bins", "--tests"];
    let mut pass = cargo();
    pass.args(targets).args(crate::TEST_FEATURES).arg(TARGET_PREFIX).env("PROPTEST_CASES", cases.to_string());
    run(what, &mut pass)
}

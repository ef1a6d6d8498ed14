//! Tidy checks, run as ordinary tests: file headers, whitespace, forbidden markers, docs in step with the code.

#![cfg(test)]

use std::fs;
use std::path::{Path, PathBuf};

use crate::workspace_root;

/// Every file under the workspace with one of `extensions`, skipping build output and VCS data.
fn files(extensions: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "storage-data" {
                    walk(&path, extensions, out);
                }
            } else if extensions.iter().any(|ext| name.ends_with(ext)) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&workspace_root(), extensions, &mut out);
    let ci = workspace_root().join(".ci");
    walk(&ci, extensions, &mut out);
    out.sort();
    out
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

#[test]
fn every_rust_file_says_what_it_is_for() {
    let missing: Vec<PathBuf> = files(&[".rs"]).into_iter().filter(|path| !read(path).starts_with("//!")).collect();
    assert!(missing.is_empty(), "start these files with a `//!` line saying what they are for: {missing:?}");
}

#[test]
fn no_trailing_whitespace() {
    let mut offenders = Vec::new();
    for path in files(&[".rs", ".md", ".toml", ".sh", "run"]) {
        for (number, line) in read(&path).lines().enumerate() {
            if line.ends_with(' ') || line.ends_with('\t') {
                offenders.push(format!("{}:{}", path.display(), number + 1));
            }
        }
    }
    assert!(offenders.is_empty(), "trailing whitespace at {offenders:?}");
}

#[test]
fn no_skipped_tests_or_placeholders() {
    // Spelled in pieces so this file does not match itself.
    let markers =
        [concat!("#[", "ignore"), concat!("todo", "!("), concat!("unimplemented", "!("), concat!("dbg", "!(")];
    let mut offenders = Vec::new();
    for path in files(&[".rs"]) {
        let text = read(&path);
        for marker in markers {
            if text.contains(marker) {
                offenders.push(format!("{} contains `{marker}`", path.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:?}");
}

#[test]
fn architecture_code_map_names_every_crate() {
    let architecture = read(&workspace_root().join("docs/architecture.md"));
    let crates = fs::read_dir(workspace_root().join("crates")).expect("crates/").flatten();
    let missing: Vec<String> = crates
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !architecture.contains(&format!("`crates/{name}`")))
        .collect();
    assert!(missing.is_empty(), "docs/architecture.md has no code-map entry for {missing:?}");
}

/// A newcomer opening any library crate's docs first reads what it is, how to get a `Storage` from it, and where the
/// README's Quickstart is (the workspace's `repository` URL, so moving the repository finds every front page).
#[test]
fn every_library_front_page_says_how_to_get_a_storage_and_links_the_quickstart() {
    let manifest = read(&workspace_root().join("Cargo.toml"));
    let repository = manifest.lines().find_map(|line| line.strip_prefix("repository = ")).expect("a repository URL");
    let quickstart = format!("]({}#quickstart-the-library)", repository.trim_matches('"'));
    let crates = fs::read_dir(workspace_root().join("crates")).expect("crates/").flatten();
    let mut offenders = Vec::new();
    for library in crates.map(|entry| entry.path().join("src/lib.rs")).filter(|path| path.exists()) {
        let front: Vec<String> = read(&library).lines().take(5).map(str::to_owned).collect();
        let says = |what: &str| front.iter().any(|line| line.starts_with("//!") && line.contains(what));
        // The way to a `Storage` is one line naming it with the call in a code span.
        let way_to_storage = front.iter().any(|line| line.contains("`Storage`") && line.contains("("));
        if !way_to_storage || !says(&quickstart) {
            offenders.push(library);
        }
    }
    assert!(
        offenders.is_empty(),
        "start these front pages with what the crate is, a one-line way to get a `Storage` and a link to {quickstart}: {offenders:?}"
    );
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = read(&workspace_root().join("README.md"));
    let ci = read(&workspace_root().join(".ci/run"));
    assert!(readme.contains("cargo xtask ci"), "the README names the test command");
    assert!(ci.contains("cargo xtask ci"), ".ci/run runs the README's test command");
    assert!(ci.contains("set -euo pipefail"), ".ci/run stops at the first failure");
}

#[test]
fn storage_core_has_no_transport_dependencies() {
    let dependencies = crate::core_dependencies().expect("cargo tree");
    assert!(dependencies.iter().any(|name| name == "storage-core"), "the tree was read: {dependencies:?}");
    let forbidden: Vec<&String> =
        dependencies.iter().filter(|name| crate::FORBIDDEN_IN_CORE.contains(&name.as_str())).collect();
    assert!(forbidden.is_empty(), "storage-core depends on {forbidden:?}");
}

#[test]
fn every_invariant_names_a_test() {
    let architecture = read(&workspace_root().join("docs/architecture.md"));
    let invariants =
        architecture.split("## Invariants").nth(1).expect("docs/architecture.md has an Invariants section");
    let sources: String = files(&[".rs"]).iter().map(|path| read(path)).collect();
    let bullets: Vec<&str> = invariants.split("\n- ").skip(1).collect();
    assert!(bullets.len() >= 5, "the invariants were read: {bullets:?}");
    for bullet in bullets {
        let named = bullet.split("Test:").nth(1).unwrap_or_else(|| panic!("this invariant names no test: {bullet}"));
        // Every name in code quotes after `Test:` is a test, a command or a phrase is not.
        for name in named.split('`').skip(1).step_by(2) {
            let test = name.rsplit("::").next().unwrap_or(name);
            let is_name = !test.is_empty() && test.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            assert!(is_name, "the invariant names `{name}` as its test, which is not a test's name: {bullet}");
            assert!(sources.contains(&format!("fn {test}(")), "the invariant names `{test}`, which no file defines");
        }
    }
}

/// Every wrapper of a backend (layers, the mirror, test wrappers) forwards every method explicitly, so a method added
/// to the trait can never silently take its default underneath one. Only the backends themselves may rely on defaults.
#[test]
fn every_wrapper_forwards_every_method() {
    let backends = ["MemoryBackend", "FsBackend", "S3Backend", "ObjectStoreBackend"];
    let mut wrappers = 0;
    for path in files(&[".rs"]) {
        let text = read(&path);
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            let Some(implemented) = line.trim().strip_prefix("impl Backend for ") else { continue };
            let name = implemented.trim_end_matches(" {").trim();
            if backends.contains(&name) {
                continue;
            }
            wrappers += 1;
            let attributes = &lines[at.saturating_sub(3)..at];
            assert!(
                attributes.iter().any(|line| line.contains("#[deny(clippy::missing_trait_methods)]")),
                "{}: `impl Backend for {name}` must be `#[deny(clippy::missing_trait_methods)]`",
                path.display()
            );
        }
    }
    assert!(wrappers >= 6, "the wrappers were found ({wrappers})");
}

#[test]
fn s3_tests_never_skip_without_a_server() {
    // The tests get the gateway from `storage_conformance::local_rgw`, which starts one or panics; a test that read
    // the settings itself could return early when they are missing.
    let reads = [concat!("var(\"", "STORAGE_S3_"), concat!("var_os(\"", "STORAGE_S3_")];
    let offenders: Vec<String> = files(&[".rs"])
        .into_iter()
        .filter(|path| reads.iter().any(|read_env| read(path).contains(read_env)))
        .map(|path| path.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "read the S3 settings through storage_conformance::local_rgw: {offenders:?}");
    let conformance = read(&workspace_root().join("crates/storage-conformance/src/lib.rs"));
    let local_rgw = conformance.split("pub fn local_rgw()").nth(1).expect("local_rgw exists");
    assert!(
        local_rgw.contains("assert!(") && local_rgw.contains("could not start one"),
        "local_rgw fails without a server"
    );
}

/// The doors docs/security.md must cover, by the start of their section titles.
const SECURITY_DOORS: &[&str] = &[
    "Signed GET and HEAD links",
    "Signed PUT links",
    "Form uploads",
    "Plain URLs",
    "`storage serve` and `storage share`",
    "The config file and the environment",
    "The disk layout and the signing key",
    "S3",
    "The example app",
    "Fuzzing",
];

/// Every door of the threat model says what an attacker controls and names the tests that prove its guarantees,
/// and every test it names exists.
#[test]
fn every_security_claim_names_a_test() {
    let security = read(&workspace_root().join("docs/security.md"));
    let sources: String = files(&[".rs"]).iter().map(|path| read(path)).collect();
    let sections: Vec<&str> = security.split("\n## ").skip(1).collect();
    for door in SECURITY_DOORS {
        let section = sections
            .iter()
            .find(|section| section.starts_with(door))
            .unwrap_or_else(|| panic!("docs/security.md has no section `## {door}`"));
        if *door != "Fuzzing" {
            assert!(section.contains("**Attacker controls:**"), "`## {door}` says what an attacker controls");
        }
        let named = tests_named_in(section);
        assert!(!named.is_empty(), "`## {door}` names no test (`Tests:` followed by `test_name`s)");
        for test in named {
            assert!(sources.contains(&format!("fn {test}(")), "docs/security.md names `{test}`, which no file defines");
        }
    }
    let fuzzing = sections.iter().find(|section| section.starts_with("Fuzzing")).expect("a fuzzing section");
    for target in tests_named_in(fuzzing) {
        assert!(
            target.starts_with(crate::fuzz::TARGET_PREFIX),
            "`{target}` runs in `cargo xtask fuzz` only as `fuzz_*`"
        );
    }
}

/// The test names in the `Tests:` lines of a section: each backticked word, the last `::` segment kept.
fn tests_named_in(section: &str) -> Vec<&str> {
    section
        .lines()
        .filter_map(|line| line.split_once("Tests:").map(|(_, named)| named))
        .flat_map(|named| named.split('`').skip(1).step_by(2))
        .map(|name| name.rsplit("::").next().unwrap_or(name))
        .collect()
}

/// The README's Rust blocks compile as doc tests (storage-memory includes the README) and are complete as shown:
/// no line hidden by rustdoc's `# ` prefix, so what a newcomer copies is what was tested.
#[test]
fn readme_rust_blocks_hide_no_lines() {
    let readme = read(&workspace_root().join("README.md"));
    let mut hidden = Vec::new();
    let mut in_rust = false;
    for (number, line) in readme.lines().enumerate() {
        match line.trim_start() {
            fence if fence.starts_with("```") => {
                in_rust = !in_rust && fence.trim_start_matches('`').starts_with("rust")
            }
            code if in_rust && (code.starts_with("# ") || code == "#") => hidden.push(number + 1),
            _ => {}
        }
    }
    assert!(hidden.is_empty(), "README.md hides lines from the reader at {hidden:?}; show the code complete");
}

/// The README's table of commands, `storage NAME` → summary, in its order.
fn readme_commands(readme: &str) -> Vec<(String, String)> {
    readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `storage "))
        .filter_map(|row| row.split_once("` | "))
        .map(|(name, summary)| (name.to_owned(), summary.trim_end_matches('|').trim().to_owned()))
        .collect()
}

/// `storage --help`'s commands and their summary lines, without clap's own `help`.
fn help_commands(help: &str) -> Vec<(String, String)> {
    let commands = help.split("Commands:\n").nth(1).expect("`storage --help` lists commands");
    commands
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.trim().split_once(char::is_whitespace))
        .map(|(name, summary)| (name.to_owned(), summary.trim().to_owned()))
        .filter(|(name, _)| name != "help")
        .collect()
}

#[test]
fn readme_lists_every_command_as_its_help_says() {
    let output = crate::cargo()
        .args(["run", "--quiet", "--package", "storage-cli", "--", "--help"])
        .output()
        .expect("run `storage --help`");
    assert!(output.status.success(), "storage --help: {}", String::from_utf8_lossy(&output.stderr));
    let help = help_commands(&String::from_utf8_lossy(&output.stdout));
    let readme = readme_commands(&read(&workspace_root().join("README.md")));
    assert_eq!(readme, help, "the README's table of commands and `storage --help` differ (README left, help right)");
}

/// The sleeps allowed in test code (`crates/*/tests/` and the conformance crate), per file, with why: each paces a
/// poll that waits for a condition under a deadline, or plays a slow client or stream, whose slowness is what the
/// test is about. A sleep that waits a guessed time for something to happen has no place here.
const SLEEPS_IN_TESTS: &[(&str, usize, &str)] = &[
    ("crates/storage-cli/tests/cli/first_hour.rs", 1, "polls until `share` serves its link"),
    ("crates/storage-cli/tests/cli/main.rs", 1, "polls until `share` serves its link"),
    ("crates/storage-cli/tests/cli/migrate.rs", 1, "polls until the migration has copied 40 files, then kills it"),
    ("crates/storage-conformance/src/fault.rs", 1, "`FaultLayer`'s injected latency, the fault under test"),
    ("crates/storage-conformance/src/lib.rs", 1, "`watch_link_expire` polls a link until it is refused"),
    ("crates/storage-conformance/src/uploads.rs", 1, "posts an expiring form until it is refused"),
    ("crates/storage-example/tests/app/browser.rs", 2, "polls for a page element and for a finished download"),
    ("crates/storage-fs/tests/fs/crash.rs", 2, "a paced stream killed mid-save; polls its temporary file's size"),
    ("crates/storage-http/tests/http.rs", 3, "trickling clients: their slowness is what the server must survive"),
    ("crates/storage-s3/tests/s3/claims.rs", 3, "a paced stream; polls for the claim; polls the clock past a deadline"),
];

/// Tests wait for conditions, never for a guessed time: every `sleep(` in test code is one [`SLEEPS_IN_TESTS`]
/// lists with its reason, so a new one is read by someone before it lands.
#[test]
fn tests_sleep_only_to_pace_a_poll_or_a_slow_client() {
    let root = workspace_root();
    let in_tests = |path: &Path| {
        let relative = path.strip_prefix(&root).unwrap_or(path).to_string_lossy().into_owned();
        let test_code = relative.starts_with("crates/storage-conformance/src/")
            || (relative.starts_with("crates/") && relative.contains("/tests/"));
        test_code.then_some(relative)
    };
    let mut found: Vec<(String, usize)> = files(&[".rs"])
        .iter()
        .filter_map(|path| in_tests(path).map(|relative| (relative, read(path).matches("sleep(").count())))
        .filter(|(_, sleeps)| *sleeps > 0)
        .collect();
    found.sort();
    let allowed: Vec<(String, usize)> =
        SLEEPS_IN_TESTS.iter().map(|(path, sleeps, _)| ((*path).to_owned(), *sleeps)).collect();
    assert!(found.len() >= 5, "the test sources were read: {found:?}");
    assert_eq!(
        found, allowed,
        "sleeps in test code (left) differ from those allowed (right): wait for the condition under a deadline \
         instead, or, for a poll's pace or a slow client, list the file in SLEEPS_IN_TESTS with the reason"
    );
}

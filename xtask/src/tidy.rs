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

/// The names of `package`'s normal dependencies, transitively, with `features` as cargo's flags give them.
fn normal_dependencies(package: &str, features: &[&str]) -> Vec<String> {
    let output = crate::cargo()
        .args(["tree", "--package", package, "--edges", "normal", "--prefix", "none", "--format", "{p}"])
        .args(features)
        .output()
        .expect("run cargo tree");
    assert!(output.status.success(), "cargo tree: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8_lossy(&output.stdout);
    tree.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect()
}

/// An app that keeps its files on disk depends on storage-config with only its `fs` feature and builds no S3 client.
#[test]
fn storage_config_for_disk_alone_builds_no_s3_client() {
    let disk_only = normal_dependencies("storage-config", &["--no-default-features", "--features", "fs"]);
    assert!(disk_only.iter().any(|name| name == "storage-fs"), "the tree was read: {disk_only:?}");
    let s3_client = ["object_store", "storage-s3", "reqwest", "aws-sigv4", "storage-memory"];
    let built: Vec<&String> = disk_only.iter().filter(|name| s3_client.contains(&name.as_str())).collect();
    assert!(built.is_empty(), "storage-config with `fs` alone depends on {built:?}");
    let default = normal_dependencies("storage-config", &[]);
    assert!(default.iter().any(|name| name == "object_store"), "the default features keep S3: {default:?}");
}

#[test]
fn every_invariant_names_a_test() {
    let architecture = read(&workspace_root().join("docs/architecture.md"));
    let invariants =
        architecture.split("## Invariants").nth(1).expect("docs/architecture.md has an Invariants section");
    // Rust tests and the Python package's and the Django example's tests.
    let sources: String = files(&[".rs", ".py"]).iter().map(|path| read(path)).collect();
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
            // `impl Backend for X` and the generic `impl<A: Around> Backend for Wrapped<A>`.
            let line = line.trim();
            let Some((_, implemented)) = line.split_once("Backend for ").filter(|_| line.starts_with("impl")) else {
                continue;
            };
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
    assert!(wrappers >= 4, "the wrappers were found ({wrappers})");
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
    "Migration sources",
    "GCS",
    "Azure",
    "Migration checkpoints",
    "Python and the Django storage",
    "The Django example app",
    "Fuzzing",
];

/// Every door of the threat model says what an attacker controls and names the tests that prove its guarantees,
/// and every test it names exists.
#[test]
fn every_security_claim_names_a_test() {
    let security = read(&workspace_root().join("docs/security.md"));
    // Rust tests and the Python package's and the Django example's tests.
    let sources: String = files(&[".rs", ".py"]).iter().map(|path| read(path)).collect();
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
            let defined = sources.contains(&format!("fn {test}(")) || sources.contains(&format!("def {test}("));
            assert!(defined, "docs/security.md names `{test}`, which no file defines");
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

/// The test names in the `Tests:` lists of a section: each backticked word from `Tests:` to the end of its paragraph
/// or list item (a list may wrap onto the next lines), the last `::` segment kept.
fn tests_named_in(section: &str) -> Vec<&str> {
    let mut named = Vec::new();
    let mut in_list = false;
    for line in section.lines() {
        let ends_list = line.trim().is_empty() || line.starts_with("- ") || line.starts_with('#');
        in_list &= !ends_list;
        let listed = match line.split_once("Tests:") {
            Some((_, after)) => {
                in_list = true;
                after
            }
            None if in_list => line,
            None => continue,
        };
        named.extend(listed.split('`').skip(1).step_by(2).map(|name| name.rsplit("::").next().unwrap_or(name)));
    }
    named
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

/// A token of Rust source, for the checks that read code: an identifier or keyword, a literal, or one punctuation
/// character, with its line. Comments and the insides of strings and chars are never tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Literal,
    Punct(char),
}

/// The tokens of `source`, each with its 1-based line.
fn tokens(source: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let (mut at, mut line, mut out) = (0, 1, Vec::new());
    // Moves past `count` characters, counting the lines they end.
    let skip = |at: &mut usize, line: &mut usize, count: usize| {
        for c in &chars[*at..(*at + count).min(chars.len())] {
            if *c == '\n' {
                *line += 1;
            }
        }
        *at = (*at + count).min(chars.len());
    };
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    while at < chars.len() {
        let rest = &chars[at..];
        let starts = |text: &str| rest.iter().take(text.len()).copied().eq(text.chars());
        let c = rest[0];
        if c.is_whitespace() {
            skip(&mut at, &mut line, 1);
        } else if starts("//") {
            let end = rest.iter().position(|&c| c == '\n').unwrap_or(rest.len());
            skip(&mut at, &mut line, end);
        } else if starts("/*") {
            let (mut depth, mut i) = (0, 0);
            while i < rest.len() {
                if rest[i..].starts_with(&['/', '*']) {
                    depth += 1;
                    i += 2;
                } else if rest[i..].starts_with(&['*', '/']) {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            skip(&mut at, &mut line, i);
        } else if let Some(length) = raw_string_length(rest) {
            out.push((Token::Literal, line));
            skip(&mut at, &mut line, length);
        } else if c == '"' || ((c == 'b' || c == 'c') && rest.get(1) == Some(&'"')) {
            let open = rest.iter().position(|&c| c == '"').unwrap_or(0);
            let mut i = open + 1;
            while i < rest.len() && rest[i] != '"' {
                i += if rest[i] == '\\' { 2 } else { 1 };
            }
            out.push((Token::Literal, line));
            skip(&mut at, &mut line, i + 1);
        } else if c == '\'' || (c == 'b' && rest.get(1) == Some(&'\'')) {
            let quote = if c == 'b' { 1 } else { 0 };
            let body = &rest[quote + 1..];
            let length = match body {
                ['\\', ..] => body.iter().skip(2).position(|&c| c == '\'').map(|end| end + 3),
                [_, '\'', ..] => Some(2),
                _ => None,
            };
            match length {
                Some(length) => {
                    out.push((Token::Literal, line));
                    skip(&mut at, &mut line, quote + 1 + length);
                }
                // A lifetime or a label: the quote and its name are not code the checks read.
                None => {
                    let name = body.iter().take_while(|&&c| is_word(c)).count();
                    skip(&mut at, &mut line, 1 + name);
                }
            }
        } else if c.is_ascii_digit() {
            let length = rest.iter().take_while(|&&c| is_word(c) || c == '.').count();
            out.push((Token::Literal, line));
            skip(&mut at, &mut line, length);
        } else if is_word(c) {
            let start = if starts("r#") { 2 } else { 0 };
            let length = start + rest[start..].iter().take_while(|&&c| is_word(c)).count();
            out.push((Token::Word(rest[start..length].iter().collect()), line));
            skip(&mut at, &mut line, length);
        } else {
            out.push((Token::Punct(c), line));
            skip(&mut at, &mut line, 1);
        }
    }
    out
}

/// The length of the raw string (`r"…"`, `r#"…"#`, `br#"…"#`, `cr"…"`) `text` starts with, if it starts with one.
fn raw_string_length(text: &[char]) -> Option<usize> {
    let prefix = match text {
        ['r', ..] => 1,
        ['b' | 'c', 'r', ..] => 2,
        _ => return None,
    };
    let hashes = text[prefix..].iter().take_while(|&&c| c == '#').count();
    if text.get(prefix + hashes) != Some(&'"') {
        return None;
    }
    let body = prefix + hashes + 1;
    let closing: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
    let end = (body..text.len()).find(|&i| text[i..].starts_with(&closing))?;
    Some(end + closing.len())
}

/// Words before `(` that open a group, not a call.
const NOT_CALLS: &[&str] =
    &["if", "while", "match", "return", "in", "let", "for", "loop", "else", "as", "move", "mut", "ref", "fn", "break"];

/// The functions and methods `source` defines with a `bool` among their parameters: each name, and how many
/// parameters it takes besides `self`.
fn functions_taking_bool(source: &str) -> Vec<(String, usize)> {
    let tokens = tokens(source);
    let mut found = Vec::new();
    for (at, pair) in tokens.windows(2).enumerate() {
        let [(Token::Word(keyword), _), (Token::Word(name), _)] = pair else { continue };
        if keyword != "fn" {
            continue;
        }
        // The parameters: the first parenthesised group after the name (and its generics).
        let Some(open) = tokens[at + 2..].iter().position(|(token, _)| *token == Token::Punct('(')) else { continue };
        let (mut depth, mut parameters, mut takes_bool, mut takes_self, mut empty) = (0, 1, false, false, true);
        let mut previous = None;
        for (token, _) in &tokens[at + 2 + open..] {
            match token {
                Token::Punct('(' | '<' | '[') => depth += 1,
                Token::Punct(')' | '>' | ']') => {
                    depth -= 1;
                    if depth == 0 {
                        // A trailing comma starts no parameter.
                        parameters -= usize::from(previous == Some(&Token::Punct(',')));
                        break;
                    }
                }
                Token::Punct(',') if depth == 1 => parameters += 1,
                Token::Word(word) if word == "bool" => takes_bool = true,
                Token::Word(word) if word == "self" && parameters == 1 => takes_self = true,
                _ => {}
            }
            if depth > 0 && *token != Token::Punct('(') {
                empty = false;
            }
            previous = Some(token);
        }
        if takes_bool && !empty {
            found.push((name.clone(), parameters - usize::from(takes_self)));
        }
    }
    found
}

/// The calls in `source` given a bare `true` or `false` as a whole argument, as (line, called name), where the
/// called function is one of `taking_bool` (the workspace's own, whose signatures it can change), by name and
/// number of arguments. A bool that is a method's only argument is labelled by the method's name
/// (`.with_verify(true)`); macro arguments (`assert_eq!(x, true)`), attributes, tuples, constructors (`Some(true)`),
/// struct fields, `let`s, returns and comparisons are no bool arguments.
fn bool_arguments(source: &str, taking_bool: &[(String, usize)]) -> Vec<(usize, String)> {
    /// An open group: the argument list of a call, or any other group.
    enum Group {
        Call {
            name: String,
            /// Called after `.`.
            method: bool,
            /// The commas at its own depth, and whether the last token was one (a trailing comma).
            commas: usize,
            trailing_comma: bool,
            /// Whether any argument was read.
            empty: bool,
            /// The lines of its bare bool arguments.
            bools: Vec<usize>,
        },
        Other,
    }
    let tokens = tokens(source);
    let mut groups: Vec<Group> = Vec::new();
    let mut found = Vec::new();
    // The depth of `groups` at which an attribute (`#[...]`, `#![...]`) started, while inside one.
    let mut attribute_depth: Option<usize> = None;
    for (index, (token, line)) in tokens.iter().enumerate() {
        let back = |steps: usize| index.checked_sub(steps).map(|i| &tokens[i].0);
        if let Some(Group::Call { empty, trailing_comma, commas, .. }) = groups.last_mut()
            && *token != Token::Punct(')')
        {
            *empty = false;
            *trailing_comma = *token == Token::Punct(',');
            *commas += usize::from(*trailing_comma);
        }
        match token {
            Token::Punct('[') => {
                let opens_attribute = back(1) == Some(&Token::Punct('#'))
                    || (back(1) == Some(&Token::Punct('!')) && back(2) == Some(&Token::Punct('#')));
                if opens_attribute && attribute_depth.is_none() {
                    attribute_depth = Some(groups.len());
                }
                groups.push(Group::Other);
            }
            Token::Punct('(') => {
                let group = match back(1) {
                    // A name that starts with a capital is a type's constructor or an enum variant.
                    Some(Token::Word(name))
                        if attribute_depth.is_none()
                            && !NOT_CALLS.contains(&name.as_str())
                            && !name.starts_with(char::is_uppercase) =>
                    {
                        let method = back(2) == Some(&Token::Punct('.'));
                        let name = name.clone();
                        Group::Call { name, method, commas: 0, trailing_comma: false, empty: true, bools: Vec::new() }
                    }
                    _ => Group::Other,
                };
                groups.push(group);
            }
            Token::Punct('{') => groups.push(Group::Other),
            Token::Punct(')' | ']' | '}') => {
                if let Some(Group::Call { name, method, commas, trailing_comma, empty, bools }) = groups.pop() {
                    let arguments = if empty { 0 } else { commas + 1 - usize::from(trailing_comma) };
                    // A method's only argument is named by the method.
                    let labelled = method && arguments == 1;
                    if !labelled && taking_bool.contains(&(name.clone(), arguments)) {
                        found.extend(bools.into_iter().map(|line| (line, name.clone())));
                    }
                }
                if attribute_depth == Some(groups.len()) {
                    attribute_depth = None;
                }
            }
            Token::Word(word) if word == "true" || word == "false" => {
                let after = tokens.get(index + 1).map(|(token, _)| token);
                let whole_argument =
                    matches!(back(1), Some(Token::Punct('(' | ','))) && matches!(after, Some(Token::Punct(')' | ',')));
                if let Some(Group::Call { bools, .. }) = groups.last_mut()
                    && whole_argument
                {
                    bools.push(*line);
                }
            }
            _ => {}
        }
    }
    found
}

/// `transfer(.., true)` reads as nothing: a bool argument is an enum or a builder method instead.
#[test]
fn no_bool_literal_arguments() {
    let root = workspace_root();
    let sources: Vec<(String, String)> = files(&[".rs"])
        .into_iter()
        .map(|path| (path.strip_prefix(&root).unwrap_or(&path).display().to_string(), read(&path)))
        .collect();
    let taking_bool: Vec<(String, usize)> =
        sources.iter().flat_map(|(_, source)| functions_taking_bool(source)).collect();
    let offenders: Vec<String> = sources
        .iter()
        .flat_map(|(file, source)| {
            bool_arguments(source, &taking_bool)
                .into_iter()
                .map(move |(line, called)| format!("{file}:{line}: `{called}(.., true/false)`"))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "bare bool arguments; pass an enum or call a builder method instead:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn bool_arguments_are_found_in_calls_only() {
    let taking_bool = functions_taking_bool(
        "fn open(path: &Path, attributes: bool) {}\npub(crate) fn multipart_copy<T: X>(a: u8, b: u8, whole: bool)\n\
         fn backend(\n    a: &str,\n    b: HashMap<u8, u8>,\n    retryable: bool,\n    m: String,\n) {}\nfn f(x: bool) {}\n\
         fn with_verify(self, verify: bool) -> Self {}\nfn new(root: Fd, attributes: bool, more: u8) {}\n\
         fn none() {}\nfn store(&mut self, value: u8)",
    );
    let expected = [("open", 2), ("multipart_copy", 3), ("backend", 4), ("f", 1), ("with_verify", 1), ("new", 3)];
    assert_eq!(taking_bool, expected.map(|(name, count)| (name.to_owned(), count)));
    let found =
        |source: &str| bool_arguments(source, &taking_bool).into_iter().map(|(_, name)| name).collect::<Vec<_>>();
    assert_eq!(found("fn g() { open(path, true); }"), ["open"]);
    assert_eq!(found("x.multipart_copy(a, b,\n    false,\n);"), ["multipart_copy"]);
    assert_eq!(found("Error::backend(name, None, true, message)"), ["backend"]);
    assert_eq!(found("let s = \"x\";\nf(\ntrue)"), ["f"]);
    assert_eq!(found("assert!(g(f(true)))"), ["f"], "a call inside a macro is still a call");
    assert_eq!(found("Walker::new(fd, false, options)"), ["new"]);
    assert_eq!(bool_arguments("a();\nb();\nf(false)", &taking_bool)[0].0, 3, "the line is the literal's");
    for not_a_call in [
        "options.with_verify(true); x.unwrap_or(false); AtomicBool::new(false); open(true)",
        "flag.store(true, Ordering::SeqCst); OpenOptions::new().write(true)",
        "assert_eq!(x, true); assert!(false); debug_assert_ne!(y, false, \"msg\");",
        "matches!(x, Some(true)); Some(true); Ok(false); F(true)",
        "F { open: true, f: false }",
        "let f = true; return false;",
        "f(a == true); f(!false); f(x && true); f(|_| true); f(Some(false))",
        "\"f(true)\"; r#\"f(true)\"#; b\"f(false)\"; 'a'; '\\''; '(' ; g::<'a>(x)",
        "// f(true)\n/* f(true) /* nested */ f(false) */",
        "(true, false); [true, false]; vec![true]; if (true) {}",
        "#[arg(long, default_value_t = false)]\n#[cfg_attr(x, f(true))]\nfn g() {}",
        "#![allow(f(true))]",
    ] {
        assert!(found(not_a_call).is_empty(), "{not_a_call}: {:?}", found(not_a_call));
    }
}

/// The sleeps allowed in test code (`crates/*/tests/` and the conformance crate), per file, with why: each paces a
/// poll that waits for a condition under a deadline, or plays a slow client or stream, whose slowness is what the
/// test is about. A sleep that waits a guessed time for something to happen has no place here.
const SLEEPS_IN_TESTS: &[(&str, usize, &str)] = &[
    ("crates/storage-cli/tests/cli/first_hour.rs", 1, "polls until `share` serves its link"),
    (
        "crates/storage-cli/tests/cli/job.rs",
        1,
        "polls until the shard to be killed has written a checkpoint past its start",
    ),
    ("crates/storage-cli/tests/cli/main.rs", 1, "polls until `share` serves its link"),
    ("crates/storage-cli/tests/cli/migrate.rs", 1, "polls until the migration has copied 40 files, then kills it"),
    ("crates/storage-conformance/src/fault.rs", 1, "`FaultLayer`'s injected latency, the fault under test"),
    ("crates/storage-conformance/src/lib.rs", 1, "`watch_link_expire` polls a link until it is refused"),
    ("crates/storage-conformance/src/uploads.rs", 1, "posts an expiring form until it is refused"),
    ("crates/storage-example/tests/app/browser.rs", 2, "polls for a page element and for a finished download"),
    ("crates/storage-fs/tests/fs/crash.rs", 2, "a paced stream killed mid-save; polls its temporary file's size"),
    ("crates/storage-http/tests/http.rs", 3, "trickling clients: their slowness is what the server must survive"),
    ("crates/storage-memory/tests/memory.rs", 1, "a slow client's paced stream, on tokio's paused clock"),
    ("crates/storage-object-store/tests/object_store.rs", 1, "polls until a dead claim's whole-second deadline passed"),
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

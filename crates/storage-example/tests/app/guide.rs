//! The private-files guide cannot rot: its Rust runs as doc tests, and here its configurations are the shipped ones
//! and build, its JSON policies parse, and its commands run (with `--check`).

use std::path::Path;
use std::process::Command;

use storage_example::AppConfig;

const GUIDE: &str = include_str!("../../../../docs/guides/private-files.md");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Every fenced block of the guide: its info string and its text.
fn blocks() -> Vec<(&'static str, String)> {
    let mut blocks = Vec::new();
    let mut lines = GUIDE.lines();
    while let Some(line) = lines.next() {
        if let Some(info) = line.strip_prefix("```") {
            let text: Vec<&str> = lines.by_ref().take_while(|line| !line.starts_with("```")).collect();
            blocks.push((info, text.join("\n") + "\n"));
        }
    }
    blocks
}

fn blocks_of(language: &str) -> Vec<String> {
    blocks().into_iter().filter(|(info, _)| *info == language).map(|(_, text)| text).collect()
}

#[test]
fn every_block_is_of_a_checked_kind() {
    let blocks = blocks();
    assert!(blocks.len() >= 10, "found only {} blocks", blocks.len());
    for (info, text) in blocks {
        // rust blocks are doc tests (`rust,no_run` ones compile); the others are checked below.
        assert!(["rust", "rust,no_run", "toml", "json", "sh"].contains(&info), "an unchecked `{info}` block:\n{text}");
    }
}

/// The variables the guide's `export` lines set, as a reader's shell keeps them for the commands after.
fn guide_exports() -> Vec<(String, String)> {
    blocks_of("sh")
        .iter()
        .flat_map(|text| {
            text.lines().filter_map(|line| line.strip_prefix("export ")).map(str::to_owned).collect::<Vec<_>>()
        })
        .flat_map(|assignments| {
            assignments
                .split_whitespace()
                .map(|assignment| assignment.split_once('=').expect("NAME=value"))
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every configuration of the guide parses and every storage in it builds: a whole app's by the app itself
/// (`--check`), in a process with the environment the guide has the reader set (an S3 storage with its own endpoint
/// needs credentials before it is built), a storage table alone here.
#[test]
fn every_configuration_builds() {
    let configs = blocks_of("toml");
    assert!(configs.len() >= 4);
    for text in configs {
        let config = AppConfig::parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
        assert!(!config.storages.is_empty());
        let dir = tempfile::tempdir().unwrap();
        if !text.contains("[app]") {
            for (name, storage) in &config.storages {
                storage.build(name, dir.path()).unwrap_or_else(|err| panic!("storage `{name}`: {err}\n{text}"));
            }
            continue;
        }
        let file = dir.path().join("app.toml");
        std::fs::write(&file, &text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_storage-example"))
            .arg("--config")
            .arg(&file)
            .arg("--check")
            .current_dir(dir.path())
            .envs(guide_exports())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}\n{text}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn the_shipped_configurations_are_the_guides() {
    let configs = blocks_of("toml");
    for file in ["fs.toml", "s3.toml"] {
        let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join(file)).unwrap();
        assert!(configs.contains(&shipped), "config/{file} differs from the guide's copy");
        let config = AppConfig::parse(&shipped).unwrap();
        assert_eq!(config.link_expiry().unwrap(), std::time::Duration::from_secs(60), "the seed's 60 seconds");
    }
}

#[test]
fn every_policy_is_json_with_statements() {
    let policies = blocks_of("json");
    assert!(policies.len() >= 2);
    for text in policies {
        let policy: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
        let statements = policy["Statement"].as_array().expect("a Statement list");
        for statement in statements {
            for field in ["Effect", "Action", "Resource"] {
                assert!(statement.get(field).is_some(), "a statement without {field}: {statement}");
            }
        }
    }
}

#[test]
fn every_command_runs() {
    let rgw_script = std::fs::read_to_string(Path::new(ROOT).join("xtask/scripts/rgw.sh")).unwrap();
    let xtask: String = ["main.rs", "s3.rs", "bench.rs"]
        .iter()
        .map(|file| std::fs::read_to_string(Path::new(ROOT).join("xtask/src").join(file)).unwrap())
        .collect();
    for line in blocks_of("sh").iter().flat_map(|text| text.lines().map(str::to_owned).collect::<Vec<_>>()) {
        if let Some(args) = line.strip_prefix("cargo run -p storage-example -- ") {
            let data = tempfile::tempdir().unwrap();
            let output = Command::new(env!("CARGO_BIN_EXE_storage-example"))
                .args(args.split_whitespace())
                .arg("--check")
                .current_dir(ROOT)
                .envs(guide_exports())
                .env("STORAGE_PUBLIC_LOCATION", data.path().join("public"))
                .env("STORAGE_PRIVATE_LOCATION", data.path().join("private"))
                .output()
                .unwrap();
            assert!(output.status.success(), "{line}: {}", String::from_utf8_lossy(&output.stderr));
        } else if let Some(command) = line.strip_prefix("cargo xtask ") {
            let words: Vec<&str> = command.split_whitespace().collect();
            assert!(words.iter().all(|word| xtask.contains(&format!("\"{word}\""))), "xtask has no `{command}`");
        } else if let Some(assignments) = line.strip_prefix("export ") {
            // The credentials shown are the local RGW's.
            for assignment in assignments.split_whitespace() {
                let value = assignment.split_once('=').expect("NAME=value").1;
                assert!(rgw_script.contains(value), "{value} is not the local RGW's");
            }
        } else {
            panic!("the guide runs a command no test checks: {line}");
        }
    }
}

//! Errors a newcomer can act on: the README's exit codes, JSON errors, the command's flags instead of the library's
//! API, and each cause said once.

use std::path::Path;
use std::process::{Command, Output};
use std::time::SystemTime;

use super::{Rgw, ok, stderr, storage, storage_with_env};

/// The variables through which object_store finds credentials, removed so a test decides them.
const CREDENTIAL_VARIABLES: [&str; 6] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

/// The command with only the credentials in `env`.
fn storage_with_credentials(dir: &Path, args: &[&str], env: &[(String, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_storage"));
    for variable in CREDENTIAL_VARIABLES {
        command.env_remove(variable);
    }
    command.args(args).current_dir(dir).env_remove("STORAGE_CONFIG").envs(env.iter().cloned());
    let output = command.output().expect("run the storage binary");
    super::assert_causes_said_once(&stderr(&output));
    output
}

/// A port nothing can listen on: no socket is ever bound to port 0, so a connection to it is refused (one the system
/// gave out and took back could be taken again meanwhile).
const CLOSED_PORT: u16 = 0;

fn fresh_location(what: &str) -> String {
    format!("cli-{what}-{}", SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos())
}

#[track_caller]
fn exit_code(output: &Output) -> Option<i32> {
    output.status.code()
}

#[test]
fn exit_codes_are_the_readmes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    assert_eq!(exit_code(&storage(dir.path(), &["put", "a.txt"])), Some(0), "success");
    let taken = storage(dir.path(), &["put", "a.txt", "--if-exists", "fail"]);
    assert_eq!(exit_code(&taken), Some(1), "an error: {}", stderr(&taken));
    let zero = storage(dir.path(), &["url", "a.txt", "--expires", "0s"]);
    assert_eq!(exit_code(&zero), Some(2), "wrong usage: {}", stderr(&zero));
    let missing_local = storage(dir.path(), &["put", "missing-file.txt"]);
    assert_eq!(exit_code(&missing_local), Some(3), "a local file not found: {}", stderr(&missing_local));
    let missing_stored = storage(dir.path(), &["url", "missing.txt"]);
    assert_eq!(exit_code(&missing_stored), Some(3), "a link to nothing is not made: {}", stderr(&missing_stored));
    assert!(missing_stored.stdout.is_empty(), "no link is printed");
    let missing_signed = storage(dir.path(), &["url", "missing.txt", "--expires", "1m"]);
    assert_eq!(exit_code(&missing_signed), Some(3), "{}", stderr(&missing_signed));
}

#[test]
fn with_json_errors_are_json_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let output = storage(dir.path(), &["--json", "url", "missing.txt"]);
    assert_eq!(exit_code(&output), Some(3));
    assert!(output.stdout.is_empty(), "nothing on standard output");
    let error: serde_json::Value = serde_json::from_str(&stderr(&output)).expect("one JSON object on stderr");
    let error = &error["error"];
    assert_eq!(
        (error["kind"].as_str(), error["operation"].as_str(), error["key"].as_str()),
        (Some("not_found"), Some("url"), Some("missing.txt"))
    );
    assert!(error["message"].as_str().is_some_and(|m| m.contains("not found")), "{error}");
    let local = storage(dir.path(), &["--json", "put", "missing-file.txt"]);
    let local: serde_json::Value = serde_json::from_str(&stderr(&local)).expect("JSON");
    assert_eq!(local["error"]["key"].as_str(), Some("missing-file.txt"), "{local}");
}

/// Words of the library's API a user of the command cannot act on.
const API_WORDS: [&str; 5] = ["Storage::", "capabilities()", "upload_form", "overwrite policy", "unique policy"];

#[track_caller]
fn assert_in_the_commands_words(output: &Output, flag: &str) {
    let line = stderr(output);
    assert!(line.contains(flag), "names {flag}: {line}");
    for word in API_WORDS {
        assert!(!line.contains(word), "no API name `{word}`: {line}");
    }
}

#[test]
fn errors_name_the_commands_flags_not_the_library_api() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    ok(storage(dir.path(), &["put", "a.txt"]));
    assert_in_the_commands_words(&storage(dir.path(), &["put", "a.txt", "--if-exists", "fail"]), "--overwrite");
    let prefix_put = storage(dir.path(), &["upload-url", "inbox/", "--put"]);
    assert_eq!(exit_code(&prefix_put), Some(2), "wrong usage");
    assert_in_the_commands_words(&prefix_put, "--put");
    let range_put = storage(dir.path(), &["upload-url", "inbox/a.txt", "--put", "--max-size", "10"]);
    assert_in_the_commands_words(&range_put, "--min-size");
    let rgw = Rgw::new();
    let url = rgw.url(&fresh_location("words"));
    let create_only_form = storage_with_env(dir.path(), &["--storage", &url, "upload-url", "inbox/"], &rgw.env);
    assert_eq!(exit_code(&create_only_form), Some(1));
    assert_in_the_commands_words(&create_only_form, "--overwrite");
    let acl = storage(dir.path(), &["put", "a.txt", "b.txt", "--acl", "public"]);
    assert_eq!(exit_code(&acl), Some(2));
    assert!(
        stderr(&acl).contains("\"public\" is not a canned ACL; use one of private, public-read"),
        "{}",
        stderr(&acl)
    );
    std::fs::write(
        dir.path().join("storage.toml"),
        "[storages.default]\nbackend = \"fs\"\nlocation = \"./media\"\ncreate = true\nacl = \"public\"\n",
    )
    .unwrap();
    let setting = stderr(&storage(dir.path(), &["ls"]));
    assert!(setting.contains("`acl`: \"public\" is not a canned ACL; use one of private"), "{setting}");
    assert!(!setting.contains("storage operation"), "{setting}");
}

#[track_caller]
fn assert_each_cause_once(case: &str, output: &Output) {
    assert_ne!(exit_code(output), Some(0), "{case} fails");
    let line = stderr(output);
    assert_eq!(line.lines().count(), 1, "{case}: one line: {line}");
    super::assert_causes_said_once(&line);
}

#[test]
fn each_cause_is_said_once() {
    let rgw = Rgw::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    let no_server = format!("s3://b/p?endpoint=http://127.0.0.1:{CLOSED_PORT}&region=us-east-1");
    let no_credentials = storage_with_credentials(dir.path(), &["--storage", &no_server, "ls"], &[]);
    assert_each_cause_once("missing credentials", &no_credentials);
    let said = stderr(&no_credentials);
    assert!(said.contains("AWS_ACCESS_KEY_ID") && said.contains("AWS_SECRET_ACCESS_KEY"), "{said}");
    assert!(!said.contains("169.254.169.254") && !said.contains("the server answered"), "{said}");
    let dummy =
        [("AWS_ACCESS_KEY_ID".to_owned(), "dummy".to_owned()), ("AWS_SECRET_ACCESS_KEY".to_owned(), "x".to_owned())];
    let unreachable = storage_with_credentials(dir.path(), &["--storage", &no_server, "ls"], &dummy);
    assert_each_cause_once("unreachable endpoint", &unreachable);
    assert!(stderr(&unreachable).contains("cannot connect"), "{}", stderr(&unreachable));

    let url = rgw.url(&fresh_location("causes"));
    let on_rgw =
        |args: &[&str]| storage_with_credentials(dir.path(), &[&["--storage", url.as_str()], args].concat(), &rgw.env);
    ok(on_rgw(&["put", "a.txt"]));
    assert_each_cause_once("412 of a create-only put", &on_rgw(&["put", "a.txt", "--if-exists", "fail"]));
    assert_each_cause_once("404", &on_rgw(&["get", "missing.txt", "-"]));
    assert_each_cause_once("bad name", &on_rgw(&["put", "a.txt", "../a.txt"]));
    let wrong_secret = [rgw.env[0].clone(), ("AWS_SECRET_ACCESS_KEY".to_owned(), "wrong".to_owned())];
    let forbidden = storage_with_credentials(dir.path(), &["--storage", &url, "ls"], &wrong_secret);
    assert_each_cause_once("403", &forbidden);
    std::fs::write(dir.path().join("storage.toml"), "[storages.default]\nbacknd = \"fs\"\n").unwrap();
    assert_each_cause_once("config typo", &storage(dir.path(), &["ls"]));
}

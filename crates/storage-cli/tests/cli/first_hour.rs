//! What a newcomer meets in the first hour: storage prefixes that must exist, nothing created by looking or left by
//! failing, and defaults said out loud.

use std::path::Path;

use super::{ok, stderr, storage};

/// Whether `entry` is in the embedded default's directory.
fn default_storage_holds(dir: &Path, entry: &str) -> bool {
    dir.join("storage-data").join(entry).exists()
}

#[test]
fn an_unknown_storage_prefix_is_refused_naming_the_configured_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("report.pdf"), "%PDF").unwrap();
    ok(storage(dir.path(), &["put", "report.pdf"]));
    let refused = storage(dir.path(), &["cp", "default:report.pdf", "private:2024/report.pdf"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(message.contains("no storage is named `private` (configured: default)"), "{message}");
    assert!(message.contains("./private:2024/report.pdf"), "says how to write such a name: {message}");
    assert!(!default_storage_holds(dir.path(), "private:2024"), "nothing stored under the prefix");
    let unknown = storage(dir.path(), &["--storage", "private", "ls"]);
    assert!(stderr(&unknown).contains("configured: [\"default\"]"), "{}", stderr(&unknown));
    // A name with a colon is written `./name` or after `--`.
    assert_eq!(ok(storage(dir.path(), &["cp", "report.pdf", "./private:2024/report.pdf"])), "private:2024/report.pdf");
    assert!(default_storage_holds(dir.path(), "private:2024/report.pdf"));
    assert_eq!(ok(storage(dir.path(), &["cp", "report.pdf", "--", "notes:1.pdf"])), "notes:1.pdf");
    assert!(default_storage_holds(dir.path(), "notes:1.pdf"));
    // A colon after a character no storage name has is part of the name.
    assert_eq!(ok(storage(dir.path(), &["cp", "report.pdf", "at 10:30.pdf"])), "at 10:30.pdf");
}

#[test]
fn a_missing_disk_root_is_reported_and_never_created() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("nonexistent/deep/dir");
    let file_url = format!("file://{}", deep.display());
    for spec in ["./typo-dir", file_url.as_str()] {
        let output = storage(dir.path(), &["--storage", spec, "ls"]);
        assert_eq!(output.status.code(), Some(3), "{spec}: not found: {}", stderr(&output));
        let message = stderr(&output);
        assert!(message.contains("root directory does not exist") && message.contains("mkdir -p"), "{message}");
        assert!(message.contains("create = true"), "{message}");
    }
    assert!(!dir.path().join("typo-dir").exists(), "looking created nothing");
    assert!(!dir.path().join("nonexistent").exists(), "looking created nothing");
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    let refused = storage(dir.path(), &["--storage", "./typo-dir", "put", "a.txt"]);
    assert_eq!(refused.status.code(), Some(3), "a write without `create` is refused too");
    assert!(!dir.path().join("typo-dir").exists());
    let creating = format!("{file_url}?create=true");
    ok(storage(dir.path(), &["--storage", &creating, "put", "a.txt"]));
    assert!(deep.join("a.txt").exists(), "`?create=true` creates the root on a write");
    std::fs::write(
        dir.path().join("storage.toml"),
        "[storages.made]\nbackend = 'fs'\nlocation = 'made'\ncreate = true\n",
    )
    .unwrap();
    ok(storage(dir.path(), &["put", "a.txt", "made:a.txt"]));
    assert!(dir.path().join("made/a.txt").exists(), "`create = true` in storage.toml");
}

#[test]
fn the_signing_key_is_made_on_the_first_signing_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("storage-data/.storage/signing-key");
    let failed = storage(dir.path(), &["put", "missing-file.txt"]);
    assert_eq!(failed.status.code(), Some(3), "a missing local file: {}", stderr(&failed));
    assert!(!key.exists(), "a failed put makes no key");
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    ok(storage(dir.path(), &["put", "a.txt"]));
    ok(storage(dir.path(), &["ls"]));
    ok(storage(dir.path(), &["stat", "a.txt"]));
    ok(storage(dir.path(), &["get", "a.txt", "copy.txt"]));
    std::fs::create_dir(dir.path().join("target")).unwrap();
    ok(storage(dir.path(), &["migrate", "default", "./target", "--dry-run"]));
    assert!(!dir.path().join("target/.storage").exists(), "a dry run leaves the target as it was");
    ok(storage(dir.path(), &["migrate", "default", "./target"]));
    assert!(!key.exists(), "put, ls, stat, get and migrate's source side make no key");
    assert!(!dir.path().join("target/.storage/signing-key").exists(), "nor migrate's target side");
    let link = ok(storage(dir.path(), &["url", "a.txt", "--expires", "1m"]));
    assert!(link.contains("X-Storage-Signature="), "{link}");
    assert!(key.exists(), "the first signing makes the key");
}

#[test]
fn rm_says_whether_the_file_existed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    ok(storage(dir.path(), &["put", "a.txt"]));
    let removed: serde_json::Value =
        serde_json::from_str(&ok(storage(dir.path(), &["rm", "a.txt", "--json"]))).unwrap();
    assert_eq!(removed, serde_json::json!({ "deleted": "a.txt", "existed": true }));
    let missing: serde_json::Value =
        serde_json::from_str(&ok(storage(dir.path(), &["rm", "nosuch.txt", "--json"]))).unwrap();
    assert_eq!(missing, serde_json::json!({ "deleted": "nosuch.txt", "existed": false }));
    let text = storage(dir.path(), &["rm", "nosuch.txt"]);
    assert!(text.status.success());
    assert!(stderr(&text).contains("`nosuch.txt` did not exist"), "{}", stderr(&text));
}

#[test]
fn a_config_without_a_default_storage_is_named_by_every_command_that_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("storage.toml"), "[storages.media]\nbackend = 'memory'\n").unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    for args in
        [&["put", "a.txt"][..], &["ls"], &["get", "a.txt"], &["url", "a.txt"], &["cp", "default:a.txt", "media:a.txt"]]
    {
        let output = storage(dir.path(), args);
        assert!(!output.status.success(), "{args:?}");
        let message = stderr(&output);
        assert!(
            message.contains("storage.toml has no `default` storage; add [storages.default] or pass --storage NAME")
                && message.contains("(configured: media)"),
            "{args:?}: {message}"
        );
    }
    assert!(!dir.path().join("storage-data").exists(), "files never go to ./storage-data silently");
    ok(storage(dir.path(), &["put", "a.txt", "media:a.txt"]));
}

#[test]
fn url_of_a_private_file_on_the_built_in_default_is_a_link_that_works() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "private by default").unwrap();
    std::fs::write(dir.path().join("b.txt"), "public").unwrap();
    ok(storage(dir.path(), &["put", "a.txt"]));
    ok(storage(dir.path(), &["put", "b.txt", "--public"]));
    let link = ok(storage(dir.path(), &["url", "a.txt"]));
    assert!(link.starts_with("http://127.0.0.1:8000/a.txt?") && link.contains("X-Storage-Signature="), "{link}");
    assert_eq!(ok(storage(dir.path(), &["url", "b.txt"])), "http://127.0.0.1:8000/b.txt", "a public file's plain URL");
    let env = [("STORAGE_DEFAULT_BASE_URL".to_owned(), "http://files.example.test/".to_owned())];
    let overridden = ok(super::storage_with_env(dir.path(), &["url", "b.txt"], &env));
    assert_eq!(overridden, "http://files.example.test/b.txt", "environment overrides reach the built-in default");
}

/// `storage share` running in `dir` with `args`, and the first line it printed on standard output.
fn share_started(dir: &Path, args: &[&str]) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_storage"))
        .arg("share")
        .args(args)
        .args(["--serve-for", "2m"])
        .current_dir(dir)
        .env_remove("STORAGE_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    (child, line.trim().to_owned())
}

/// The next line `child` printed on standard error.
fn next_stderr_line(
    child: &mut std::process::Child,
    reader: &mut Option<std::io::BufReader<std::process::ChildStderr>>,
) -> String {
    let reader = reader.get_or_insert_with(|| std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut line = String::new();
    std::io::BufRead::read_line(reader, &mut line).unwrap();
    line.trim().to_owned()
}

fn stop(mut child: std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

fn shared_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("storage-data/shared")).map(|entries| entries.count()).unwrap_or(0)
}

#[test]
fn share_listens_where_told_links_to_the_bound_address_and_reuses_its_copy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "shared bytes").unwrap();
    let (mut child, line) = share_started(dir.path(), &["a.txt", "--listen", "127.0.0.1:0", "--json"]);
    let printed: serde_json::Value = serde_json::from_str(&line).unwrap();
    let mut errors = None;
    let serving = next_stderr_line(&mut child, &mut errors);
    let bound = serving.split("http://").nth(1).and_then(|rest| rest.split('/').next()).unwrap().to_owned();
    assert!(!bound.ends_with(":0") && !bound.ends_with(":8000"), "the address bound: {serving}");
    let link = printed["url"].as_str().unwrap();
    assert!(link.starts_with(&format!("http://{bound}/shared/a.txt?")), "the link names the bound address: {link}");
    assert_eq!(printed["expires_in"], 600);
    let expires_at = printed["expires_at"].as_str().expect("an expires_at field");
    assert!(expires_at.starts_with("20") && expires_at.ends_with("+00:00"), "{expires_at}");
    let client = super::http();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while client.status(link).is_none() {
        assert!(std::time::Instant::now() < deadline, "`storage share` did not start serving");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(client.body(link), b"shared bytes");
    stop(child);
    let (mut again, link) = share_started(dir.path(), &["a.txt", "--listen", "127.0.0.1:0"]);
    assert!(link.contains("/shared/a.txt?"), "the same bytes reuse their copy: {link}");
    let mut errors = None;
    let expiry = next_stderr_line(&mut again, &mut errors);
    assert!(expiry.starts_with("storage: expires at 20") && expiry.ends_with(" UTC (in 10m)"), "{expiry}");
    stop(again);
    assert_eq!(shared_files(dir.path()), 1, "one copy however often it is shared");
    std::fs::write(dir.path().join("a.txt"), "other bytes").unwrap();
    let (changed, link) = share_started(dir.path(), &["a.txt", "--listen", "127.0.0.1:0"]);
    assert!(link.contains("/shared/a_"), "other bytes get a name of their own: {link}");
    stop(changed);
}

#[test]
fn a_share_that_fails_stores_nothing_and_prints_no_link() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    for expires in ["0s", "8d"] {
        let output = storage(dir.path(), &["share", "a.txt", "--expires", expires, "--listen", "127.0.0.1:0"]);
        assert!(!output.status.success(), "--expires {expires}");
        assert!(super::stdout(&output).is_empty(), "no link: {}", super::stdout(&output));
        assert_eq!(shared_files(dir.path()), 0, "--expires {expires}: nothing stored");
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let output = storage(dir.path(), &["share", "a.txt", "--listen", &listen]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("port {port} is in use; pass --listen")), "{}", stderr(&output));
    assert!(super::stdout(&output).is_empty(), "no link for a server that never ran");
    assert_eq!(shared_files(dir.path()), 0, "nothing stored");
    // The same when the port comes from the storage's base URL, as 8000 does for the built-in default.
    std::fs::write(
        dir.path().join("storage.toml"),
        format!("[storages.default]\nbackend = 'fs'\nlocation = 'storage-data'\nbase_url = 'http://{listen}/'\n"),
    )
    .unwrap();
    let output = storage(dir.path(), &["serve", "--serve-for", "1m"]);
    assert!(stderr(&output).contains(&format!("port {port} is in use; pass --listen")), "{}", stderr(&output));
    drop(taken);
}

#[test]
fn put_on_the_built_in_default_says_once_per_terminal_session_that_it_stored_privately() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    for name in ["a.txt", "b.txt", "c.txt"] {
        std::fs::write(dir.path().join(name), name).unwrap();
    }
    let hint = "stored privately; `storage url NAME --expires 10m` gives a link";
    let piped = storage(dir.path(), &["put", "a.txt"]);
    assert!(!stderr(&piped).contains(hint), "not said to a script: {}", stderr(&piped));
    // `script` gives the commands a terminal: two puts in one session.
    let bin = env!("CARGO_BIN_EXE_storage");
    let output = std::process::Command::new("script")
        .args(["-qec", &format!("{bin} put b.txt; {bin} put c.txt"), "/dev/null"])
        .current_dir(dir.path())
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("STORAGE_CONFIG")
        .output()
        .expect("run script(1)");
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{terminal}");
    assert_eq!(terminal.matches(hint).count(), 1, "once per session: {terminal}");
}

#[test]
fn the_built_in_default_is_made_by_the_first_write_not_by_looking() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(ok(storage(dir.path(), &["ls"])), "", "an empty storage");
    let missing = storage(dir.path(), &["get", "a.txt"]);
    assert_eq!(missing.status.code(), Some(3), "{}", stderr(&missing));
    ok(storage(dir.path(), &["rm", "a.txt"]));
    assert!(!dir.path().join("storage-data").exists(), "looking made no ./storage-data");
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    ok(storage(dir.path(), &["put", "a.txt"]));
    assert!(default_storage_holds(dir.path(), "a.txt"), "the first write made it");
}

/// `share` promises a private file: on a disk storage without ACLs that is declared public, where every file's plain
/// URL is served without a signature, it refuses and stores nothing rather than print a link whose query anyone may
/// drop.
#[test]
fn share_refuses_a_storage_that_serves_every_file_publicly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.txt"), "secret").unwrap();
    std::fs::write(
        dir.path().join("storage.toml"),
        "[storages.default]\nbackend = 'fs'\nlocation = 'open'\ncreate = true\nattributes = false\npublic = true\n",
    )
    .unwrap();
    let output = storage(dir.path(), &["share", "s.txt", "--listen", "127.0.0.1:0", "--serve-for", "1m"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("serves every file publicly"), "{}", stderr(&output));
    assert!(super::stdout(&output).is_empty(), "no link: {}", super::stdout(&output));
    assert!(!dir.path().join("open/shared/s.txt").exists(), "nothing stored");
}

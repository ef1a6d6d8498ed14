//! The first run, as the README documents it: the app's files go to a temporary directory its startup line names,
//! nothing is written next to the configuration, and an anonymous visitor is told what to log in for.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;
use reqwest::multipart::Form;

use crate::{Backend, PORT_ATTEMPTS, RunningApp, Visitor, candidate_port, listening};

/// The path after `label` in the startup line, up to the next `,` or `;`.
fn path_after(line: &str, label: &str) -> PathBuf {
    let start = line.find(label).unwrap_or_else(|| panic!("no `{label}` in the startup line: {line}")) + label.len();
    let rest = &line[start..];
    PathBuf::from(&rest[..rest.find([',', ';', ' ']).unwrap_or(rest.len())])
}

/// Stop the app as Ctrl-C does, and wait until it has exited.
fn interrupt(child: &mut std::process::Child) {
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -INT");
    assert!(child.wait().unwrap().success(), "the app exits cleanly on Ctrl-C");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_run_keeps_its_files_in_a_temporary_directory_it_names() {
    // A checkout's `config/fs.toml`, run as the README says, with only the port and the URLs' host moved.
    let checkout = tempfile::tempdir().unwrap();
    let config_dir = checkout.path().join("config");
    std::fs::create_dir(&config_dir).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/fs.toml");
    std::fs::copy(shipped, config_dir.join("fs.toml")).unwrap();
    let temp_root = tempfile::tempdir().unwrap();
    let start = |port: u16| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_storage-example"));
        command
            .args(["--config", "config/fs.toml", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--public-url", &format!("http://127.0.0.1:{port}")])
            .env("STORAGE_PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}/media/public/"))
            .env("STORAGE_PRIVATE_BASE_URL", format!("http://127.0.0.1:{port}/media/private/"))
            .env("TMPDIR", temp_root.path())
            .current_dir(checkout.path());
        listening(command).map(|(child, startup)| (port, child, startup))
    };
    let (port, child, startup) = (0..PORT_ATTEMPTS)
        .find_map(|_| start(candidate_port()))
        .expect("the app says where it listens, on one of the ports tried");
    let mut app = RunningApp { child, url: format!("http://127.0.0.1:{port}"), origin: String::new(), _dir: checkout };
    app.origin.clone_from(&app.url);

    let public = path_after(&startup, "public in ");
    let private = path_after(&startup, "private in ");
    let data_dir = path_after(&startup, "data dir ");
    assert!(startup.contains("temporary"), "the line says the directory is temporary: {startup}");
    for dir in [&public, &private] {
        assert!(
            dir.starts_with(&data_dir) && dir.is_dir(),
            "{} under {}: {startup}",
            dir.display(),
            data_dir.display()
        );
    }
    assert!(data_dir.starts_with(temp_root.path()), "a fresh directory under TMPDIR: {startup}");

    let alice = Visitor::logged_in(&app, "alice").await;
    alice.upload("First run", ("notes.txt", b"public notes"), ("report.pdf", b"%PDF private")).await;
    let entries = |dir: &Path| std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name()).collect::<Vec<_>>();
    assert_eq!(entries(&config_dir), ["fs.toml"], "nothing is written next to the configuration");
    assert_eq!(entries(app._dir.path()), ["config"], "nothing is written in the working directory");
    let stored =
        |dir: &Path| std::fs::read_dir(dir.join("open")).is_ok() || std::fs::read_dir(dir.join("seekrit")).is_ok();
    assert!(stored(&public) && stored(&private), "the uploads are in the named directories");

    interrupt(&mut app.child);
    assert!(!data_dir.exists(), "the temporary directory is removed on exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_data_dir_is_used_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/fs.toml")).unwrap();
    let config = shipped.replacen("link_expiry", "data_dir = \"kept\"\nlink_expiry", 1);
    std::fs::write(dir.path().join("app.toml"), config).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_storage-example"))
        .args(["--config", "app.toml", "--check"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dir.path().join("kept/public").is_dir() && dir.path().join("kept/private").is_dir());
}

/// Every route that needs a login says what for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_to_an_anonymous_visitor_names_its_route() {
    let app = RunningApp::start(Backend::Fs).await;
    let stranger = Visitor::anonymous(&app);
    let upload = stranger.post("/documents").multipart(Form::new().text("title", "x")).send().await.unwrap();
    let confirm = stranger.post("/documents/direct/done").form(&[("key", "k"), ("csrf", "c")]).send().await.unwrap();
    let expected = [
        ("POST /documents", upload, "log in to upload"),
        ("POST /documents/direct/done", confirm, "log in to upload"),
        ("GET /documents/direct", stranger.get("/documents/direct").await, "log in to upload"),
        ("GET /documents/direct/done", stranger.get("/documents/direct/done?key=k").await, "log in to upload"),
        ("GET /documents/1/private", stranger.get("/documents/1/private").await, "log in to download"),
    ];
    for (route, response, says) in expected {
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{route}");
        let body = response.text().await.unwrap();
        assert!(body.starts_with(says), "{route} should say {says:?}: {body}");
    }
}

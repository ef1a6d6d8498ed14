//! CI's run of the Django example (`examples/django-private-files`): its README's test command, `manage.py test
//! documents`, with `PRIVATE_STORAGE_URL` naming a disk directory, the local RGW and memory, side by side (most of
//! their time is a browser and a link's expiry waited on, not CPU); in memory Django answers the links itself.

use std::path::Path;
use std::process::{Command, Output};

use crate::{TEST_FEATURES, cargo, run, workspace_root};

/// The example's directory.
fn example_dir() -> std::path::PathBuf {
    workspace_root().join("examples/django-private-files")
}

/// One run of the example's tests, with `python` (a virtualenv holding `storage_rs` and Django) and `storage_url`
/// as its one setting.
fn manage_test(python: &Path, storage_url: &str, tests: &str, settings: &[(String, String)]) -> Command {
    let setting = |name: &str| settings.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    let mut command = Command::new(python);
    command
        .args(["manage.py", "test", tests, "--noinput"])
        .current_dir(example_dir())
        .env("PRIVATE_STORAGE_URL", storage_url)
        .env("STORAGE_BIN", workspace_root().join("target/debug/storage"))
        .env("CI", "true");
    if let (Some(key), Some(secret)) = (setting("STORAGE_S3_ACCESS_KEY_ID"), setting("STORAGE_S3_SECRET_ACCESS_KEY")) {
        command.env("AWS_ACCESS_KEY_ID", key).env("AWS_SECRET_ACCESS_KEY", secret);
    }
    command
}

/// The storage URL of the local RGW's bucket under `location`.
fn rgw_url(settings: &[(String, String)], location: &str) -> Result<String, String> {
    let setting = |name: &str| {
        settings.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).ok_or(format!("{name} unset"))
    };
    Ok(format!(
        "s3://{}/{location}?endpoint={}&region={}",
        setting("STORAGE_S3_BUCKET")?,
        setting("STORAGE_S3_ENDPOINT")?,
        setting("STORAGE_S3_REGION")?
    ))
}

/// What a finished run said, whole, and whether it passed.
fn finished(label: &str, output: std::io::Result<Output>) -> Result<(), String> {
    let output = output.map_err(|err| format!("{label}: {err}"))?;
    eprintln!("xtask: {label}\n{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() { Ok(()) } else { Err(format!("{label} failed")) }
}

/// The storage_rs test virtualenv's python (`scripts/storage-rs.sh`), with the wheel installed: the package's own
/// test phase leaves it so; run alone, this builds the wheel and makes the virtualenv first.
fn python_with_storage_rs() -> Result<std::path::PathBuf, String> {
    let python = workspace_root().join("target/python/test-venv/bin/python");
    let importable = |python: &Path| {
        Command::new(python).args(["-c", "import storage_rs.django"]).output().is_ok_and(|o| o.status.success())
    };
    if importable(&python) {
        return Ok(python);
    }
    let script = workspace_root().join("xtask/scripts/storage-rs.sh");
    for step in ["build", "venv"] {
        run(&format!("storage-rs.sh {step}"), Command::new("bash").arg(&script).arg(step))?;
    }
    let wheel = std::fs::read_dir(workspace_root().join("target/wheels"))
        .map_err(|err| format!("target/wheels: {err}"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("storage_rs-")))
        .ok_or("storage-rs.sh build made no wheel")?;
    let install = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"];
    run("pip install storage_rs", Command::new(&python).args(install).arg(wheel))?;
    Ok(python)
}

/// The example's tests on disk, on the RGW and in memory, side by side.
pub fn test(settings: &[(String, String)]) -> Result<(), String> {
    let python = python_with_storage_rs()?;
    let python = python.as_path();
    // The `storage` command that answers a disk storage's links, from the test build (nothing is rebuilt).
    let build = [&["build", "--workspace", "--locked", "--bin", "storage"][..], &TEST_FEATURES[..]].concat();
    run("cargo build --bin storage", cargo().args(build))?;
    let token = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let disk_root = std::env::temp_dir().join(format!("django-example-{token}"));
    let disk = format!("file://{}?create=true&base_url=http://127.0.0.1:8001/", disk_root.display());
    let rgw = rgw_url(settings, &format!("django-example/{token}"))?;
    let panicked = |_| Err(std::io::Error::other("the thread panicked"));
    let (on_disk, on_rgw, in_memory) = std::thread::scope(|scope| {
        let on_disk = scope.spawn(|| manage_test(python, &disk, "documents", settings).output());
        let on_rgw = scope.spawn(|| manage_test(python, &rgw, "documents", settings).output());
        let in_memory = manage_test(python, "memory://", "documents", settings).output();
        (on_disk.join().unwrap_or_else(panicked), on_rgw.join().unwrap_or_else(panicked), in_memory)
    });
    let _ = std::fs::remove_dir_all(&disk_root);
    finished("the Django example on disk", on_disk)
        .and(finished("the Django example on the RGW", on_rgw))
        .and(finished("the Django example in memory", in_memory))
}

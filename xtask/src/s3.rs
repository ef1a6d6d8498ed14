//! `cargo xtask s3 start|stop|env`: the local Ceph RADOS Gateway the S3 tests run against (`scripts/rgw.sh`).

use std::process::Command;

use crate::workspace_root;

fn script(action: &str) -> Command {
    let mut command = Command::new("bash");
    command.arg(workspace_root().join("xtask/scripts/rgw.sh")).arg(action);
    command
}

/// The `export NAME=value` lines the script prints, as pairs.
pub(crate) fn settings(stdout: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Start the gateway (installing Ceph first on a fresh machine) and return its settings. Reuses one already
/// running, whatever its object store.
pub fn start() -> Result<Vec<(String, String)>, String> {
    start_with(None)
}

/// [`start`], with the OSD on `store` (`memstore` or `bluestore`), restarting a gateway that runs on the other.
pub fn start_with(store: Option<&str>) -> Result<Vec<(String, String)>, String> {
    eprintln!("xtask: starting the local Ceph RGW");
    let mut command = script("start");
    if let Some(store) = store {
        command.env("STORAGE_RGW_STORE", store);
    }
    let output = command.stderr(std::process::Stdio::inherit()).output().map_err(|err| format!("rgw.sh: {err}"))?;
    if !output.status.success() {
        return Err("the local Ceph RGW did not start; the S3 tests cannot run (see the messages above)".into());
    }
    Ok(settings(&output.stdout))
}

pub fn stop() -> Result<(), String> {
    let status = script("stop").status().map_err(|err| format!("rgw.sh: {err}"))?;
    if status.success() { Ok(()) } else { Err("stopping the local Ceph RGW failed".into()) }
}

/// The gateway's working directory (its data, runtime files and logs).
pub fn dir() -> std::path::PathBuf {
    std::env::var("STORAGE_RGW_DIR").unwrap_or_else(|_| "/tmp/storage-rgw".into()).into()
}

/// Whether a gateway started earlier is still answering.
pub fn running() -> bool {
    dir().join("ready").exists()
        && Command::new("curl")
            .args(["-s", "-o", "/dev/null", "--max-time", "2", "http://127.0.0.1:7480/"])
            .status()
            .is_ok_and(|status| status.success())
}

#[allow(clippy::print_stdout, reason = "the export lines are the command's output, for `eval`")]
pub fn command(action: Option<&str>) -> Result<(), String> {
    match action {
        Some("start") => {
            for (name, value) in start()? {
                println!("export {name}={value}");
            }
            Ok(())
        }
        Some("stop") => stop(),
        Some("env") => {
            let output = script("env").output().map_err(|err| format!("rgw.sh: {err}"))?;
            print!("{}", String::from_utf8_lossy(&output.stdout));
            Ok(())
        }
        _ => Err("usage: cargo xtask s3 start|stop|env".into()),
    }
}

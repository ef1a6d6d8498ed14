//! `cargo xtask azure start|stop|env`: Azurite, the Azure Blob Storage emulator the Azure tests run against
//! (`scripts/azurite.sh`, which installs the pinned azurite with npm when missing).

use std::process::Command;

use crate::workspace_root;

fn script(action: &str) -> Command {
    let mut command = Command::new("bash");
    command.arg(workspace_root().join("xtask/scripts/azurite.sh")).arg(action);
    command
}

/// Start Azurite (installing it first on a fresh machine) and return its settings; reuses one already answering.
pub fn start() -> Result<Vec<(String, String)>, String> {
    eprintln!("xtask: starting Azurite");
    let output =
        script("start").stderr(std::process::Stdio::inherit()).output().map_err(|err| format!("azurite.sh: {err}"))?;
    if !output.status.success() {
        return Err("Azurite did not start; the Azure tests cannot run (see the messages above)".into());
    }
    Ok(crate::s3::settings(&output.stdout))
}

pub fn stop() -> Result<(), String> {
    let status = script("stop").status().map_err(|err| format!("azurite.sh: {err}"))?;
    if status.success() { Ok(()) } else { Err("stopping Azurite failed".into()) }
}

/// Whether an Azurite started earlier is still answering (its script's `env` succeeds only then).
pub fn running() -> bool {
    script("env")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
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
            let output = script("env")
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|err| format!("azurite.sh: {err}"))?;
            print!("{}", String::from_utf8_lossy(&output.stdout));
            if output.status.success() { Ok(()) } else { Err("Azurite is not running".into()) }
        }
        _ => Err("usage: cargo xtask azure start|stop|env".into()),
    }
}

//! `cargo xtask python`: the storage_rs wheel built by maturin, installed into a fresh virtualenv, tested by pytest
//! on memory, disk and the local RGW (xtask/scripts/storage-rs.sh does each step).

use std::process::Command;

use crate::{run, workspace_root};

fn script(step: &str) -> Command {
    let mut command = Command::new("bash");
    command.arg(workspace_root().join("xtask/scripts/storage-rs.sh")).arg(step);
    command
}

/// The pinned maturin and a fresh virtualenv with the pinned test dependencies: no Rust, so CI makes it in the
/// background while clippy compiles.
pub fn environments() -> Result<(), String> {
    run("storage_rs: maturin and a fresh test virtualenv (pip)", &mut script("venv"))
}

/// The wheel (a debug build, sharing the workspace's build directory), installed into the test virtualenv, then
/// pytest against the gateway's `settings`.
pub fn wheel_and_tests(settings: &[(String, String)]) -> Result<(), String> {
    run("storage_rs: maturin build", &mut script("build"))?;
    run("storage_rs: pytest", script("test").envs(settings.iter().map(|(name, value)| (name, value))))
}

/// `cargo xtask python`: everything, against a gateway started when none runs.
pub fn command() -> Result<(), String> {
    let settings = crate::s3::start()?;
    environments()?;
    wheel_and_tests(&settings)
}

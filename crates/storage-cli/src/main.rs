//! `storage`: put, get, list, copy, share and serve files on any configured storage, without writing Rust.
//!
//! `main` parses the flags into types (`args`), picks the command, and runs it: `run` is the table of commands, one
//! function each (`commands/`), given the configured storages (`context`) and the way to print (`output`). Every
//! command goes through the same `Storage` API as an app would. Exit codes: 0 success, 1 error, 2 wrong usage,
//! 3 not found.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool talks on stdout and stderr")]

mod args;
mod commands;
mod context;
mod error;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, S3Command};
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

type Result<T, E = CliError> = std::result::Result<T, E>;

/// `storage serve` allocates a little for every request; mimalloc makes that measurably cheaper than glibc's
/// allocator (`cargo xtask bench serve`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    log_to_stderr(cli.verbose);
    let output = Output::chosen_by(cli.json);
    let command = cli.command.name();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("storage: cannot start: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            output.error(&err, command);
            ExitCode::from(err.exit_code())
        }
    }
}

/// Operations as `tracing` events on standard error, filtered by `RUST_LOG`, else by the `-v` count.
fn log_to_stderr(verbose: u8) {
    let default = match verbose {
        0 => "off",
        1 => "storage=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .init();
}

/// The table of commands: one function each.
async fn run(cli: Cli) -> Result<()> {
    let context = Context::new(&cli)?;
    let doing = cli.command.doing();
    let result = match cli.command {
        Command::Put(args) => commands::put(&context, args).await,
        Command::Get { name, local } => commands::get(&context, &name, local.as_deref()).await,
        Command::Ls(args) => commands::ls(&context, args).await,
        Command::Stat { name } => commands::stat(&context, &name).await,
        Command::Rm { names } => commands::rm(&context, &names).await,
        Command::Cp(transfer) => commands::copy(&context, &transfer).await,
        Command::Mv(transfer) => commands::move_file(&context, &transfer).await,
        Command::Url(args) => commands::url(&context, args).await,
        Command::UploadUrl(args) => commands::upload_url(&context, args).await,
        Command::Migrate(args) => commands::migrate(&context, args).await,
        Command::Gc { older_than } => commands::gc(&context, older_than).await,
        Command::S3(S3Command::Policy(args)) => commands::s3_policy(&context, args),
        Command::Serve { serve_for, listen } => commands::serve(&context, serve_for, listen.as_deref()).await,
        Command::Share { local, expires, serve_for, listen } => {
            commands::share(&context, &local, expires, serve_for, listen.as_deref()).await
        }
    };
    result.map_err(|err| err.in_command(doing))
}

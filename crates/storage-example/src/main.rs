//! `storage-example --config app.toml`: run the example app until Ctrl-C.

use std::path::PathBuf;

use clap::Parser;
use storage_example::{AppConfig, AppState};

/// Public and private documents, with private downloads through links that expire.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The app's configuration: `[app]` and `[storages.public]` / `[storages.private]`.
    #[arg(long, default_value = "app.toml")]
    config: PathBuf,
    /// Listen here instead of the configured `app.listen`.
    #[arg(long)]
    listen: Option<String>,
    /// How long private download links live (`60s`, `5m`), instead of the configured `app.link_expiry`.
    #[arg(long)]
    link_expiry: Option<String>,
    /// Load the configuration and build the storages, then exit without serving.
    #[arg(long)]
    check: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("storage-example: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = AppConfig::load(&args.config)?;
    if args.link_expiry.is_some() {
        config.app.link_expiry = args.link_expiry;
    }
    let base = args.config.parent().map(PathBuf::from).unwrap_or_default();
    let state = AppState::from_config(&config, &base)?;
    if args.check {
        eprintln!("storage-example: {} is valid", args.config.display());
        return Ok(());
    }
    let address = args.listen.or(config.app.listen).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listener =
        tokio::net::TcpListener::bind(&address).await.map_err(|err| format!("cannot listen on {address}: {err}"))?;
    eprintln!("storage-example: listening on http://{}", listener.local_addr()?);
    axum::serve(listener, state.router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

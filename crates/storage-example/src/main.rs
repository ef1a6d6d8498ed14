//! `storage-example --config app.toml`: run the example app until Ctrl-C.

use std::path::PathBuf;

use storage_example::{AppConfig, AppState};

const USAGE: &str = "\
usage: storage-example [--config FILE] [--listen ADDRESS] [--public-url URL] [--link-expiry DURATION] [--check]

Public and private documents, with private downloads through links that expire.

  --config FILE            the app's configuration: [app] and [storages.public] / [storages.private] (app.toml)
  --listen ADDRESS         listen here instead of the configured app.listen
  --public-url URL         the origin browsers reach the app at, instead of app.public_url
  --link-expiry DURATION   how long private download links live (60s, 5m), instead of app.link_expiry
  --check                  load the configuration and build the storages, then exit without serving";

/// The command line. Five flags need no argument-parsing crate: the example depends on the library crates only.
#[derive(Debug)]
struct Args {
    config: PathBuf,
    listen: Option<String>,
    public_url: Option<String>,
    link_expiry: Option<String>,
    check: bool,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut parsed =
            Args { config: PathBuf::from("app.toml"), listen: None, public_url: None, link_expiry: None, check: false };
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.to_owned())),
                _ => (arg, None),
            };
            let mut value = || inline.clone().or_else(|| args.next()).ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--config" => parsed.config = value()?.into(),
                "--listen" => parsed.listen = Some(value()?),
                "--public-url" => parsed.public_url = Some(value()?),
                "--link-expiry" => parsed.link_expiry = Some(value()?),
                "--check" => parsed.check = true,
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(parsed)
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) if message.is_empty() => {
            eprintln!("{USAGE}");
            return std::process::ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("storage-example: {message}\n\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("storage-example: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Requests and storage operations on standard error: `RUST_LOG` decides, else requests only (`storage_example=info`).
fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("storage_example=info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).init();
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    log_to_stderr();
    let mut config = AppConfig::load(&args.config)?;
    if args.link_expiry.is_some() {
        config.app.link_expiry = args.link_expiry;
    }
    if args.listen.is_some() {
        config.app.listen = args.listen;
    }
    if args.public_url.is_some() {
        config.app.public_url = args.public_url;
    }
    let config_dir = args.config.parent().map(PathBuf::from).unwrap_or_default();
    // Dropped when the app stops, which removes a temporary data directory.
    let data_dir = config.data_dir(&config_dir)?;
    let state = AppState::from_config(&config, data_dir.path())?;
    if args.check {
        eprintln!("storage-example: {} is valid", args.config.display());
        return Ok(());
    }
    let address = config.listen();
    let listener =
        tokio::net::TcpListener::bind(address).await.map_err(|err| format!("cannot listen on {address}: {err}"))?;
    eprintln!(
        "storage-example: listening on {}, served at {}; files: {}; {data_dir}",
        listener.local_addr()?,
        state.origin.as_str(),
        config.file_locations(data_dir.path())
    );
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    storage_http::Server::default().serve(listener, state.router(), stop).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Args;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn flags_take_their_values_either_way() {
        let args = parse(&["--config", "c.toml", "--listen=127.0.0.1:0", "--link-expiry", "5m", "--check"]).unwrap();
        assert_eq!(args.config, std::path::Path::new("c.toml"));
        assert_eq!(
            (args.listen.as_deref(), args.link_expiry.as_deref(), args.check),
            (Some("127.0.0.1:0"), Some("5m"), true)
        );
        let origin = parse(&["--public-url", "https://docs.example.com"]).unwrap().public_url;
        assert_eq!(origin.as_deref(), Some("https://docs.example.com"));
        assert_eq!(parse(&[]).unwrap().config, std::path::Path::new("app.toml"));
        assert_eq!(parse(&["--listen"]).unwrap_err(), "--listen needs a value");
        assert!(parse(&["--verbose"]).unwrap_err().contains("unknown argument `--verbose`"));
    }
}

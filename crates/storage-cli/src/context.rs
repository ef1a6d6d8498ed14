//! The configured storages and how the command reaches them: the configuration file, `--storage`, `STORAGE:NAME`
//! prefixes and names after `--`, and the listener of `serve` and `share`.

use std::path::PathBuf;

use storage_config::{Built, Config, DEFAULT_BASE_URL, StorageConfig};

use crate::Result;
use crate::args::Cli;
use crate::error::CliError;
use crate::output::Output;

/// The configured storages and how to reach them.
pub(crate) struct Context {
    config: Option<Config>,
    /// The configuration file, as given (or `storage.toml`), for messages.
    config_file: PathBuf,
    base: PathBuf,
    default: Option<String>,
    /// How results are printed.
    pub(crate) output: Output,
    /// The arguments given after `--`: stored names taken as written, colon and all.
    literal: Vec<String>,
}

/// The command-line arguments after `--`, which are names, never `STORAGE:NAME`.
fn names_after_dash_dash() -> Vec<String> {
    std::env::args().skip_while(|arg| arg != "--").skip(1).collect()
}

/// Whether the part of a name before its first colon reads as a storage name (`private`, `s3-media`) rather than as
/// part of a file name (`notes 10:30.txt`, `dir/a:b`).
fn looks_like_storage_name(prefix: &str) -> bool {
    !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Context {
    pub(crate) fn new(cli: &Cli) -> Result<Context> {
        let base = std::env::current_dir()
            .map_err(|err| CliError::local(".", "cannot read the current directory", Some(err)))?;
        let config_file = cli.config.clone().unwrap_or_else(|| PathBuf::from("storage.toml"));
        let config = match &cli.config {
            Some(path) => Some(Config::load(path)?),
            None if base.join(&config_file).exists() => Some(Config::load(&base.join(&config_file))?),
            None => None,
        };
        let literal = names_after_dash_dash();
        Ok(Context {
            config,
            config_file,
            base,
            default: cli.storage.clone(),
            output: Output::chosen_by(cli.json),
            literal,
        })
    }

    pub(crate) fn is_storage_name(&self, name: &str) -> bool {
        // `default` always reads as a storage, so a config without one is named in the error rather than a file.
        name == "default" || self.config.as_ref().is_some_and(|c| c.storages.contains_key(name))
    }

    /// The storages a name may be prefixed with: the configured ones, or the embedded `default` without a config.
    pub(crate) fn storage_names(&self) -> Vec<String> {
        match &self.config {
            Some(config) => config.storages.keys().cloned().collect(),
            None => vec!["default".to_owned()],
        }
    }

    /// `STORAGE:NAME` when STORAGE is a configured storage, else a name in the default storage. A prefix that looks
    /// like a storage name but names none is refused rather than stored as part of the name; such a name is written
    /// `./STORAGE:NAME` or after `--`.
    pub(crate) fn locate(&self, spec: &str) -> Result<(Built, String)> {
        if self.literal.iter().any(|literal| literal == spec) {
            return Ok((self.storage(None)?, spec.to_owned()));
        }
        if let Some(name) = spec.strip_prefix("./") {
            return Ok((self.storage(None)?, name.to_owned()));
        }
        match spec.split_once(':') {
            Some((storage, name)) if self.is_storage_name(storage) => {
                Ok((self.storage(Some(storage))?, name.to_owned()))
            }
            Some((storage, _)) if looks_like_storage_name(storage) => Err(CliError::Usage(format!(
                "`{spec}`: no storage is named `{storage}` (configured: {}); write `./{spec}` or put it after `--` \
                 for a name with a colon",
                self.storage_names().join(", ")
            ))),
            _ => Ok((self.storage(None)?, spec.to_owned())),
        }
    }

    /// The storage `name` (default: `--storage`, else `default`), traced (see `-v`).
    pub(crate) fn storage(&self, name: Option<&str>) -> Result<Built> {
        let (name, config) = self.storage_config(name)?;
        self.built(&name, &config)
    }

    /// The settings of the storage `name` (default: `--storage`, else `default`), with its URL's filled in.
    pub(crate) fn storage_config(&self, name: Option<&str>) -> Result<(String, StorageConfig)> {
        let name = name.map(str::to_owned).or_else(|| self.default.clone()).unwrap_or_else(|| "default".into());
        let config = if name.contains("://") || name.starts_with('.') || name.starts_with('/') {
            StorageConfig::from_url(&name, &self.base)?
        } else if let Some(config) = self.config.as_ref().map(|c| c.storage(&name)).transpose()?.flatten() {
            config
        } else if name == "default" && self.config.is_some() {
            return Err(CliError::Usage(format!(
                "{} has no `default` storage; add [storages.default] or pass --storage NAME (configured: {})",
                self.config_file.display(),
                self.storage_names().join(", ")
            )));
        } else if name == "default" {
            StorageConfig::embedded_default(&self.base)?
        } else {
            return Err(CliError::UnknownStorage { name, known: self.storage_names() });
        };
        Ok((name, config))
    }

    /// The default storage for `serve` and `share`, and a listener bound to `listen` (default: the host and port of
    /// its base URL). A storage without its own `base_url` links to the address actually bound.
    pub(crate) async fn served(&self, listen: Option<&str>) -> Result<(Built, tokio::net::TcpListener)> {
        let (name, mut config) = self.storage_config(None)?;
        let Some(configured_base_url) = config.backend.served_base_url() else {
            return Err(CliError::Usage("only disk and memory storages are served; S3 serves its own URLs".into()));
        };
        let base_url = configured_base_url.clone().unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let address = match listen {
            Some(address) => address.to_owned(),
            None => {
                let base = url::Url::parse(&base_url)
                    .map_err(|err| CliError::Usage(format!("the base URL `{base_url}` is not a URL: {err}")))?;
                format!("{}:{}", base.host_str().unwrap_or("127.0.0.1"), base.port_or_known_default().unwrap_or(80))
            }
        };
        let listener = tokio::net::TcpListener::bind(&address).await.map_err(|err| listen_error(&address, err))?;
        if configured_base_url.is_none() {
            let bound = listener.local_addr().map_err(|err| listen_error(&address, err))?;
            *configured_base_url = Some(format!("http://{bound}/"));
        }
        Ok((self.built(&name, &config)?, listener))
    }

    /// Whether every name goes to the embedded default: no configuration file and no `--storage`.
    pub(crate) fn uses_only_the_embedded_default(&self) -> bool {
        self.config.is_none() && self.default.is_none()
    }

    /// The storage `config` describes, traced (see `-v`).
    fn built(&self, name: &str, config: &StorageConfig) -> Result<Built> {
        let mut built = config.build(name, &self.base)?;
        built.storage = built.storage.layer(storage_core::TracingLayer);
        Ok(built)
    }
}

/// Why `serve` or `share` cannot listen on `address`, with the flag that picks another.
fn listen_error(address: &str, err: std::io::Error) -> CliError {
    let port = address.rsplit(':').next().unwrap_or(address);
    match err.kind() {
        std::io::ErrorKind::AddrInUse => CliError::Usage(format!(
            "port {port} is in use; pass --listen 127.0.0.1:0 for any free port, or --listen HOST:PORT"
        )),
        _ => CliError::local(address, "cannot listen there; pass --listen HOST:PORT", Some(err)),
    }
}

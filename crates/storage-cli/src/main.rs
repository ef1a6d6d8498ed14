//! `storage`: put, get, list, copy, share and serve files on any configured storage, without writing Rust.
//!
//! `main` parses the flags into types and hands each subcommand to its own function (`run` is the table). Every
//! command goes through the same `Storage` API as an app would. Exit codes: 0 success, 1 error, 2 wrong usage,
//! 3 not found.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool talks on stdout and stderr")]

mod error;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use futures::TryStreamExt;
use serde_json::json;
use storage_config::{Built, Config, DEFAULT_BASE_URL, StorageConfig, parse_duration};
use storage_core::{Acl, Content, ListEntry, ListOptions, MigrateOptions, OverwritePolicy, SaveOptions, UrlOptions};

use crate::error::{CliError, Doing, one_line};
use crate::progress::{files_progress, migrate_progress, report_json, stdin_stream, stop_on_ctrl_c, with_progress};

type Result<T, E = CliError> = std::result::Result<T, E>;

#[derive(Parser)]
#[command(name = "storage", version, about = "Store files on S3, on disk or in memory; hand out links that expire")]
struct Cli {
    /// The configuration file (default: ./storage.toml if it exists, else the embedded default storage).
    #[arg(long, global = true, env = "STORAGE_CONFIG")]
    config: Option<PathBuf>,
    /// The storage to use: a name from the config, or a URL (file:///path, ./dir, memory://, s3://bucket/prefix?...).
    #[arg(long, global = true)]
    storage: Option<String>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Log each storage operation to standard error (`-v`), and what the S3 client does too (`-vv`); `RUST_LOG`
    /// (e.g. `storage=debug`) overrides both.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Store a local file (or `-` for standard input); prints the stored name.
    Put(PutArgs),
    /// Fetch a stored file into a local file (default: its name here) or `-` for standard output.
    Get {
        /// The stored name (`STORAGE:NAME` for another storage).
        name: String,
        /// Where to write it: a path, or `-` for standard output.
        local: Option<String>,
    },
    /// List files (and, without --recursive, directories).
    Ls(LsArgs),
    /// Show a file's metadata.
    Stat {
        /// The stored name.
        name: String,
    },
    /// Delete files (a missing one is not an error).
    Rm {
        /// The stored names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Copy a file, within a storage or between storages (`default:a.txt private:b.txt`).
    Cp(Transfer),
    /// Move a file, within a storage or between storages.
    Mv(Transfer),
    /// Print a file's URL: the plain one for a public file, else a link that expires (--expires says when).
    Url(UrlArgs),
    /// Print a form's POST URL and `name: value` fields, for uploads straight to the storage within limits
    ///
    /// A browser's form posts the fields, then the file, last. S3 checks the limits as a POST policy; `storage
    /// serve` does for disk and memory storages. With --put: a presigned PUT's URL and the headers to send.
    UploadUrl(UploadUrlArgs),
    /// Copy every file under a prefix from one storage to another, keeping names, attributes and ACLs
    ///
    /// FROM and TO are storage names or URLs. Files the target holds with the same bytes, attributes and ACL are
    /// skipped, so a second run resumes the first; same bytes with other attributes or ACL are fixed in place (disk,
    /// memory) or copied again (S3).
    Migrate(MigrateArgs),
    /// Remove what interrupted saves left behind on S3
    ///
    /// On S3, the placeholders of unique-name saves and copies whose process was killed. Other backends leave
    /// nothing (their temporary files are never visible).
    Gc {
        /// Only what is at least this old (default a day; a save in progress is never that old; `0s`: any age).
        #[arg(long, default_value = "1d", value_parser = age)]
        older_than: Duration,
    },
    /// S3 setup: the bucket policy that makes a prefix public, or the least IAM policy
    #[command(subcommand)]
    S3(S3Command),
    /// Serve the signed URLs of a disk or memory storage over HTTP (default: on its base URL's host and port).
    Serve {
        /// Stop after this long (default: until interrupted).
        #[arg(long, value_parser = duration)]
        serve_for: Option<Duration>,
        /// Listen here, `HOST:PORT` (port 0: any free port); prints the address it bound.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Store a file privately, print a link that expires, and serve it until interrupted.
    Share {
        /// The local file to share.
        local: PathBuf,
        /// How long the link works.
        #[arg(long, default_value = "10m", value_parser = duration)]
        expires: Duration,
        /// Stop serving after this long (default: until interrupted).
        #[arg(long, value_parser = duration)]
        serve_for: Option<Duration>,
        /// Listen here, `HOST:PORT` (port 0: any free port); the link names the address bound unless the storage
        /// sets `base_url`.
        #[arg(long)]
        listen: Option<String>,
    },
}

#[derive(Subcommand)]
enum S3Command {
    /// Print a policy for an S3 storage's bucket (default: the `--storage` storage's).
    Policy(PolicyArgs),
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["public_prefix", "iam"]))]
struct PolicyArgs {
    /// The bucket policy that lets anyone read the keys under this prefix, counted from the bucket root
    /// (`media/open/`), and keeps everything else private: apply it with PutBucketPolicy on a bucket without ACLs.
    #[arg(long)]
    public_prefix: Option<String>,
    /// The least IAM policy the backend needs on the storage's bucket and location.
    #[arg(long)]
    iam: bool,
    /// The bucket (default: the storage's).
    #[arg(long)]
    bucket: Option<String>,
}

#[derive(Args)]
struct PutArgs {
    /// The local file, or `-` for standard input.
    local: String,
    /// The name to store under (default: the file's name). `STORAGE:NAME` picks another storage.
    name: Option<String>,
    /// Store it private (the same as `--acl private`).
    #[arg(long, conflicts_with_all = ["public", "acl"])]
    private: bool,
    /// Store it publicly readable (the same as `--acl public-read`).
    #[arg(long, conflicts_with = "acl")]
    public: bool,
    /// A canned ACL: private, public-read, authenticated-read, ...
    #[arg(long, value_parser = acl)]
    acl: Option<Acl>,
    /// The content type, exactly one media type (default: guessed from the name).
    #[arg(long, value_parser = media_type)]
    content_type: Option<String>,
    /// What to do when the name is taken (default: the storage's policy, `unique` unless configured).
    #[arg(long, value_enum)]
    if_exists: Option<IfExists>,
    /// Replace an existing file of that name (the same as `--if-exists overwrite`).
    #[arg(long, conflicts_with = "if_exists")]
    overwrite: bool,
}

impl PutArgs {
    fn acl(&self) -> Option<Acl> {
        match (self.private, self.public) {
            (true, _) => Some(Acl::Private),
            (_, true) => Some(Acl::PublicRead),
            _ => self.acl,
        }
    }

    fn policy(&self) -> Option<OverwritePolicy> {
        if self.overwrite { Some(OverwritePolicy::Overwrite) } else { self.if_exists.map(OverwritePolicy::from) }
    }
}

/// `--if-exists`: the overwrite policy of one save.
#[derive(Clone, Copy, ValueEnum)]
enum IfExists {
    /// Store under a new name, `name_XXXXXXX.ext`.
    Unique,
    /// Replace the file.
    Overwrite,
    /// Fail, and change nothing.
    Fail,
}

impl From<IfExists> for OverwritePolicy {
    fn from(value: IfExists) -> Self {
        match value {
            IfExists::Unique => OverwritePolicy::Unique,
            IfExists::Overwrite => OverwritePolicy::Overwrite,
            IfExists::Fail => OverwritePolicy::Fail,
        }
    }
}

#[derive(Args)]
struct LsArgs {
    /// List under this prefix (a directory without --recursive).
    prefix: Option<String>,
    /// Every file below, without directories.
    #[arg(long, short)]
    recursive: bool,
    /// Sizes and modification times too.
    #[arg(long, short)]
    long: bool,
}

/// The two names of `cp` and `mv`.
#[derive(Args)]
struct Transfer {
    /// The stored name to copy or move (`STORAGE:NAME` for another storage).
    source: String,
    /// The name to store it under (`STORAGE:NAME` for another storage).
    target: String,
}

#[derive(Args)]
struct UrlArgs {
    /// The stored name.
    name: String,
    /// Make a temporary signed URL that works this long (default: public, or the storage's own expiry).
    #[arg(long, value_parser = duration)]
    expires: Option<Duration>,
    /// What the URL lets its holder do.
    #[arg(long, value_enum, default_value = "get")]
    method: UrlMethod,
    /// The name a browser saves the download under.
    #[arg(long)]
    download_name: Option<String>,
    /// With `--method put`, the type the upload must be sent with; with `get`, the type the response carries.
    #[arg(long, value_parser = media_type)]
    content_type: Option<String>,
}

#[derive(Args)]
struct UploadUrlArgs {
    /// The name to upload to; ending in `/`, a prefix under which the browser's file name is used.
    name: String,
    /// The largest file accepted, e.g. `10MiB`.
    #[arg(long, value_parser = size)]
    max_size: Option<u64>,
    /// The smallest file accepted.
    #[arg(long, value_parser = size, default_value = "0")]
    min_size: u64,
    /// The content type: exact (`application/pdf`), or a top-level type ending in `/` (`image/`), which admits
    /// any single type of it except those a browser runs script in (name those exactly).
    #[arg(long, value_parser = media_type_or_prefix)]
    content_type: Option<String>,
    /// How long the form works.
    #[arg(long, default_value = "10m", value_parser = duration)]
    expires: Duration,
    /// Replace a file of the same name instead of refusing the upload. Needed on S3, whose forms cannot refuse a
    /// taken name: there, give a name under a fresh random folder.
    #[arg(long)]
    overwrite: bool,
    /// The stored file's canned ACL.
    #[arg(long, value_parser = acl)]
    acl: Option<Acl>,
    /// After the upload, send the browser here (with `key` added to the query).
    #[arg(long)]
    redirect: Option<String>,
    /// Print a presigned PUT (URL and headers to send) instead of a form: for one name, an exact size
    /// (`--min-size N --max-size N`) and an exact type.
    #[arg(long, conflicts_with = "redirect")]
    put: bool,
}

/// `--method`: what a URL is for.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum UrlMethod {
    /// Download the file.
    Get,
    /// Upload a file under the name.
    Put,
}

#[derive(Args)]
struct MigrateArgs {
    /// The storage to copy from (a name or a URL).
    from: String,
    /// The storage to copy to (a name or a URL).
    to: String,
    /// Only the files whose names start with this.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Transfers in flight at once.
    #[arg(long, default_value_t = storage_core::migrate::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Read every copy back and compare MD5s.
    #[arg(long)]
    verify: bool,
    /// Report what would be copied, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Delete each source file once its copy is verified (implies --verify).
    #[arg(long)]
    delete_source: bool,
    /// Backfill while the app writes to both through a mirror storage: copy only what the target lacks, never
    /// replace a file there, and take back a copy whose source changed meanwhile.
    #[arg(long)]
    live: bool,
}

/// `30s`, `10m`, `2h`, `7d`, for clap: storage-core's parser, its message alone.
fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(clap_message)
}

/// `0s`, `30m`, `2d`: an age, for clap.
fn age(text: &str) -> Result<Duration, String> {
    storage_core::parse_age(text).map_err(clap_message)
}

/// What a parser of storage-core refused, as clap shows it: its message alone.
fn clap_message(err: storage_core::Error) -> String {
    match err {
        storage_core::Error::InvalidArgument { message, .. } => message,
        other => other.to_string(),
    }
}

/// A size such as `512`, `64KiB`, `10MiB`, `1GiB` (or `kB`/`MB`/`GB` in powers of ten), for clap.
fn size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a size; write e.g. 10MiB"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("unknown size unit `{other}`; use B, KiB, MiB, GiB, kB, MB or GB")),
    };
    number.checked_mul(scale).ok_or_else(|| format!("`{text}` is too large"))
}

/// A canned ACL by its S3 name, for clap.
/// `--content-type`: exactly one media type, as the library checks it (clap names the flag in the error).
fn media_type(text: &str) -> Result<String, String> {
    storage_core::ContentType::parse(text)
        .map(|_| text.to_owned())
        .map_err(|reason| format!("not exactly one media type ({reason}); give one such as image/png"))
}

/// `upload-url --content-type`: one media type, or a top-level type and `/`.
fn media_type_or_prefix(text: &str) -> Result<String, String> {
    if !text.ends_with('/') {
        return media_type(text);
    }
    storage_core::content_type::validate_prefix(text).map(|()| text.to_owned()).map_err(|reason| reason.to_string())
}

fn acl(text: &str) -> Result<Acl, String> {
    text.parse().map_err(clap_message)
}

/// `storage serve` allocates a little for every request; mimalloc makes that measurably cheaper than glibc's
/// allocator (`cargo xtask bench serve`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    log_to_stderr(cli.verbose);
    let json = cli.json;
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
        Err(err) if json => {
            eprintln!("{}", err.to_json(command));
            ExitCode::from(err.exit_code())
        }
        Err(err) => {
            eprintln!("{}", one_line(&err));
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
        Command::Put(args) => put(&context, args).await,
        Command::Get { name, local } => get(&context, &name, local.as_deref()).await,
        Command::Ls(args) => ls(&context, args).await,
        Command::Stat { name } => stat(&context, &name).await,
        Command::Rm { names } => rm(&context, &names).await,
        Command::Cp(transfer) => copy(&context, &transfer).await,
        Command::Mv(transfer) => move_file(&context, &transfer).await,
        Command::Url(args) => url(&context, args).await,
        Command::UploadUrl(args) => upload_url(&context, args).await,
        Command::Migrate(args) => migrate(&context, args).await,
        Command::Gc { older_than } => gc(&context, older_than).await,
        Command::S3(S3Command::Policy(args)) => s3_policy(&context, args),
        Command::Serve { serve_for, listen } => {
            async {
                let (built, listener) = context.served(listen.as_deref()).await?;
                serve(built, listener, serve_for).await
            }
            .await
        }
        Command::Share { local, expires, serve_for, listen } => {
            share(&context, &local, expires, serve_for, listen.as_deref()).await
        }
    };
    result.map_err(|err| err.in_command(doing))
}

impl Command {
    /// The subcommand as typed, for `--json` errors.
    fn name(&self) -> &'static str {
        match self {
            Command::Put(_) => "put",
            Command::Get { .. } => "get",
            Command::Ls(_) => "ls",
            Command::Stat { .. } => "stat",
            Command::Rm { .. } => "rm",
            Command::Cp(_) => "cp",
            Command::Mv(_) => "mv",
            Command::Url(_) => "url",
            Command::UploadUrl(_) => "upload-url",
            Command::Migrate(_) => "migrate",
            Command::Gc { .. } => "gc",
            Command::S3(_) => "s3",
            Command::Serve { .. } => "serve",
            Command::Share { .. } => "share",
        }
    }

    /// What the command does, for advice in its own flags.
    fn doing(&self) -> Doing {
        match self {
            Command::Put(_) => Doing::Put,
            Command::UploadUrl(args) if args.put => Doing::UploadPut,
            Command::UploadUrl(_) => Doing::UploadForm,
            Command::Url(_) => Doing::Url,
            Command::Cp(_) | Command::Mv(_) => Doing::Transfer,
            _ => Doing::Other,
        }
    }
}

/// The configured storages and how to reach them.
struct Context {
    config: Option<Config>,
    /// The configuration file, as given (or `storage.toml`), for messages.
    config_file: PathBuf,
    base: PathBuf,
    default: Option<String>,
    json: bool,
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
    fn new(cli: &Cli) -> Result<Context> {
        let base = std::env::current_dir()
            .map_err(|err| CliError::local(".", "cannot read the current directory", Some(err)))?;
        let config_file = cli.config.clone().unwrap_or_else(|| PathBuf::from("storage.toml"));
        let config = match &cli.config {
            Some(path) => Some(Config::load(path)?),
            None if base.join(&config_file).exists() => Some(Config::load(&base.join(&config_file))?),
            None => None,
        };
        let literal = names_after_dash_dash();
        Ok(Context { config, config_file, base, default: cli.storage.clone(), json: cli.json, literal })
    }

    fn is_storage_name(&self, name: &str) -> bool {
        // `default` always reads as a storage, so a config without one is named in the error rather than a file.
        name == "default" || self.config.as_ref().is_some_and(|c| c.storages.contains_key(name))
    }

    /// The storages a name may be prefixed with: the configured ones, or the embedded `default` without a config.
    fn storage_names(&self) -> Vec<String> {
        match &self.config {
            Some(config) => config.storages.keys().cloned().collect(),
            None => vec!["default".to_owned()],
        }
    }

    /// `STORAGE:NAME` when STORAGE is a configured storage, else a name in the default storage. A prefix that looks
    /// like a storage name but names none is refused rather than stored as part of the name; such a name is written
    /// `./STORAGE:NAME` or after `--`.
    fn locate(&self, spec: &str) -> Result<(Built, String)> {
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
    fn storage(&self, name: Option<&str>) -> Result<Built> {
        let (name, config) = self.storage_config(name)?;
        let mut built = config.build(&name, &self.base)?;
        built.storage = built.storage.layer(storage_core::TracingLayer);
        Ok(built)
    }

    /// The settings of the storage `name` (default: `--storage`, else `default`), with its URL's filled in.
    fn storage_config(&self, name: Option<&str>) -> Result<(String, StorageConfig)> {
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
    async fn served(&self, listen: Option<&str>) -> Result<(Built, tokio::net::TcpListener)> {
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
        let mut built = config.build(&name, &self.base)?;
        built.storage = built.storage.layer(storage_core::TracingLayer);
        Ok((built, listener))
    }

    /// Whether every name goes to the embedded default: no configuration file and no `--storage`.
    fn uses_only_the_embedded_default(&self) -> bool {
        self.config.is_none() && self.default.is_none()
    }

    fn print(&self, text: impl std::fmt::Display, value: serde_json::Value) {
        if self.json { println!("{value}") } else { println!("{text}") }
    }
}

async fn gc(context: &Context, older_than: Duration) -> Result<()> {
    let built = context.storage(None)?;
    let removed = match &built.s3 {
        Some(s3) => s3.remove_placeholders(older_than).await?,
        None => Vec::new(),
    };
    let text = removed.iter().map(|key| format!("removed placeholder `{key}`\n")).collect::<String>()
        + &format!("{} placeholders removed", removed.len());
    context.print(text, json!({ "removed": removed }));
    Ok(())
}

fn s3_policy(context: &Context, args: PolicyArgs) -> Result<()> {
    let (name, config) = context.storage_config(None)?;
    let (configured_bucket, location, acls) = match &config.backend {
        storage_config::BackendConfig::S3(s3) => (Some(s3.bucket.clone()), s3.location.as_deref(), s3.acls),
        _ => (None, None, true),
    };
    let bucket = match args.bucket.or(configured_bucket) {
        Some(bucket) => bucket,
        None => return Err(CliError::Usage(format!("storage `{name}` names no bucket: pass --bucket"))),
    };
    let policy = match &args.public_prefix {
        Some(prefix) => storage_s3::public_prefix_policy(&bucket, prefix)?,
        None => storage_s3::iam_policy(&bucket, location.unwrap_or(""), acls),
    };
    // The policy is JSON either way.
    println!("{policy}");
    Ok(())
}

async fn put(context: &Context, args: PutArgs) -> Result<()> {
    let target = match &args.name {
        Some(name) => name.clone(),
        None if args.local == "-" => return Err(CliError::Usage("name the file to store standard input under".into())),
        None => file_name(Path::new(&args.local))?,
    };
    let (built, name) = context.locate(&target)?;
    let (content, size) = if args.local == "-" {
        (Content::from_stream(stdin_stream(tokio::io::stdin()), None), None)
    } else {
        let size = local_size(Path::new(&args.local))?;
        (Content::from_path(&args.local), Some(size))
    };
    let mut options = SaveOptions::default();
    if let Some(acl) = args.acl() {
        options = options.with_acl(acl);
    }
    if let Some(content_type) = args.content_type.clone() {
        options = options.with_content_type(content_type);
    }
    if let Some(policy) = args.policy() {
        options = options.with_overwrite(policy);
    }
    let stored = built.storage.save_with(&name, with_progress(content, size, &name), options).await?;
    context.print(&stored, json!({ "name": stored }));
    if context.uses_only_the_embedded_default() && !args.acl().is_some_and(Acl::is_public_read) {
        say_once_per_session("put-private", "stored privately; `storage url NAME --expires 10m` gives a link");
    }
    Ok(())
}

/// Print `hint` on a terminal's standard error once per terminal session, remembered by a marker file in
/// `$XDG_RUNTIME_DIR` (else the embedded default's `.storage/`). Scripts, whose standard error is no terminal, never
/// see it.
fn say_once_per_session(topic: &str, hint: &str) {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return;
    }
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(storage_config::DEFAULT_LOCATION).join(storage_fs::RESERVED_DIR));
    let marker = dir.join(format!("storage-hint-{topic}-{}", terminal_session().unwrap_or(0)));
    // Created only if absent, so two commands racing in one session print it once.
    if std::fs::OpenOptions::new().write(true).create_new(true).open(&marker).is_ok() {
        eprintln!("storage: {hint}");
    }
}

/// The session of this process (the terminal's login shell and everything started from it), from `/proc`.
fn terminal_session() -> Option<u32> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name in parentheses: state, parent, process group, session.
    stat.rsplit_once(')')?.1.split_whitespace().nth(3)?.parse().ok()
}

async fn get(context: &Context, spec: &str, local: Option<&str>) -> Result<()> {
    let (built, name) = context.locate(spec)?;
    let reader = built.storage.open(&name).await?;
    let size = reader.metadata.size();
    if local == Some("-") {
        let mut stdout = tokio::io::stdout();
        let failed = |err| CliError::local("-", "cannot write to standard output", Some(err));
        let mut stream = reader.stream;
        while let Some(chunk) = stream.try_next().await.map_err(|err| storage_io(&built, &name, err))? {
            tokio::io::AsyncWriteExt::write_all(&mut stdout, &chunk).await.map_err(failed)?;
        }
        return tokio::io::AsyncWriteExt::flush(&mut stdout).await.map_err(failed);
    }
    let path = match local {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(file_name(Path::new(&name))?),
    };
    write_atomically(&path, &built, reader.stream, size, &name).await?;
    if context.json {
        println!("{}", json!({ "name": name, "path": path, "size": size }));
    }
    Ok(())
}

async fn ls(context: &Context, args: LsArgs) -> Result<()> {
    let built = context.storage(None)?;
    let mut prefix = args.prefix.unwrap_or_default();
    if !args.recursive && !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    let mut entries = built.storage.list_entries(ListOptions::new(prefix).with_delimiter(!args.recursive));
    while let Some(entry) = entries.try_next().await? {
        match entry {
            ListEntry::Prefix(dir) => context.print(&dir, json!({ "dir": dir })),
            ListEntry::Object(meta) if args.long => context.print(
                format!("{:>12}  {}  {}", meta.size, meta.last_modified.format("%Y-%m-%d %H:%M:%S"), meta.key),
                json!({ "name": meta.key, "size": meta.size, "modified": meta.last_modified.to_rfc3339() }),
            ),
            ListEntry::Object(meta) => context.print(&meta.key, json!({ "name": meta.key, "size": meta.size })),
        }
    }
    Ok(())
}

async fn stat(context: &Context, spec: &str) -> Result<()> {
    let (built, name) = context.locate(spec)?;
    let metadata = built.storage.metadata(&name).await?;
    let acl = built.storage.acl(&name).await.ok().map(|acl| acl.to_string());
    let a = &metadata.attributes;
    let value = json!({
        "name": name, "size": metadata.size(), "modified": metadata.meta.last_modified.to_rfc3339(),
        "etag": metadata.meta.etag, "content_type": a.content_type, "cache_control": a.cache_control,
        "content_disposition": a.content_disposition, "content_encoding": a.content_encoding,
        "content_language": a.content_language, "metadata": a.metadata, "acl": acl,
    });
    let mut text =
        format!("name: {name}\nsize: {}\nmodified: {}", metadata.size(), metadata.meta.last_modified.to_rfc3339());
    for (label, value) in [
        ("content-type", &a.content_type),
        ("cache-control", &a.cache_control),
        ("content-disposition", &a.content_disposition),
        ("content-encoding", &a.content_encoding),
        ("acl", &acl),
    ] {
        if let Some(value) = value {
            text.push_str(&format!("\n{label}: {value}"));
        }
    }
    for (key, value) in &a.metadata {
        text.push_str(&format!("\nmeta-{key}: {value}"));
    }
    context.print(text, value);
    Ok(())
}

async fn rm(context: &Context, specs: &[String]) -> Result<()> {
    let bar = files_progress(specs.len());
    for spec in specs {
        let (built, name) = context.locate(spec)?;
        // Asked first, since a delete of a missing file succeeds: a typo is said, not hidden.
        let existed = built.storage.exists(&name).await?;
        built.storage.delete(&name).await?;
        if context.json {
            println!("{}", json!({ "deleted": name, "existed": existed }));
        } else if !existed {
            eprintln!("storage: `{name}` did not exist; nothing deleted");
        }
        bar.as_ref().inspect(|bar| bar.inc(1));
    }
    Ok(())
}

/// `cp`: within a storage its own copy (server-side where the backend can); between storages
/// [`storage_core::Storage::copy_to`], which streams the bytes with their attributes and ACL.
async fn copy(context: &Context, transfer: &Transfer) -> Result<()> {
    let ((from, from_name), (to, to_name)) = (context.locate(&transfer.source)?, context.locate(&transfer.target)?);
    let stored = if same_storage(context, transfer, &from, &to) {
        to.storage.copy(&from_name, &to_name).await?
    } else {
        from.storage.copy_to(&from_name, &to.storage, &to_name).await?
    };
    context.print(&stored, json!({ "name": stored }));
    Ok(())
}

/// `mv`: within a storage its own rename; between storages a copy, then the source is deleted.
async fn move_file(context: &Context, transfer: &Transfer) -> Result<()> {
    let ((from, from_name), (to, to_name)) = (context.locate(&transfer.source)?, context.locate(&transfer.target)?);
    let stored = if same_storage(context, transfer, &from, &to) {
        to.storage.rename(&from_name, &to_name).await?
    } else {
        let stored = from.storage.copy_to(&from_name, &to.storage, &to_name).await?;
        from.storage.delete(&from_name).await?;
        stored
    };
    context.print(&stored, json!({ "name": stored }));
    Ok(())
}

/// Whether both names of a transfer are in one storage: one backend, or the same storage named on both sides.
fn same_storage(context: &Context, transfer: &Transfer, from: &Built, to: &Built) -> bool {
    let storage_of = |spec: &str| {
        spec.split_once(':').filter(|(s, _)| context.is_storage_name(s)).map_or("default", |(s, _)| s).to_owned()
    };
    std::sync::Arc::ptr_eq(from.storage.backend(), to.storage.backend())
        || storage_of(&transfer.source) == storage_of(&transfer.target)
}

async fn url(context: &Context, args: UrlArgs) -> Result<()> {
    let (built, name) = context.locate(&args.name)?;
    let method = args.method;
    let url = match (args.expires, args.method, args.download_name, args.content_type) {
        (None, UrlMethod::Get, None, None) => plain_or_signed_url(&built, &name).await?,
        (expires, method, download_name, content_type) => {
            let mut options = match (method, content_type) {
                (UrlMethod::Get, None) => UrlOptions::get(),
                (UrlMethod::Get, Some(content_type)) => UrlOptions::get().with_response_content_type(content_type),
                (UrlMethod::Put, None) => UrlOptions::put(),
                (UrlMethod::Put, Some(content_type)) => UrlOptions::put().with_content_type(content_type),
            };
            if let Some(download_name) = download_name {
                options = options.with_download_name(download_name);
            }
            let expires = expires.unwrap_or(storage_core::DEFAULT_EXPIRY);
            built.storage.temporary_url(&name, expires, options).await?
        }
    };
    // Checked after the link is made, so wrong usage (an expiry too long) is said first: a link to nothing would
    // only fail later, in someone else's browser.
    if method == UrlMethod::Get && !built.storage.exists(&name).await? {
        let backend = built.storage.backend().name();
        return Err(storage_core::Error::not_found(backend, &name).during(storage_core::Operation::Url).into());
    }
    context.print(&url, json!({ "url": url }));
    Ok(())
}

/// The URL of `name` that works: its plain URL when anyone may read it there, else a link signed for the storage's
/// default expiry, so `url` never prints a link that answers 403.
async fn plain_or_signed_url(built: &Built, name: &str) -> Result<String> {
    let storage = &built.storage;
    let signed_anyway = matches!(storage.options().url_policy, storage_core::UrlPolicy::Public)
        && storage.capabilities().presign_read
        // Asked for the URL, not the ACL: a missing file is reported as the `url` it was.
        && !storage.is_public(name).await.map_err(|err| err.during(storage_core::Operation::Url))?;
    if signed_anyway {
        return Ok(storage.temporary_url(name, storage_core::DEFAULT_EXPIRY, UrlOptions::get()).await?);
    }
    Ok(storage.url(name).await?)
}

async fn upload_url(context: &Context, args: UploadUrlArgs) -> Result<()> {
    if args.put {
        check_put_flags(&args)?;
    }
    let (built, name) = context.locate(&args.name)?;
    let mut policy = match name.strip_suffix('/') {
        Some(_) => storage_core::UploadPolicy::prefix(&name),
        None => storage_core::UploadPolicy::exact(&name),
    }
    .expires_in(args.expires);
    if let Some(max) = args.max_size {
        policy = policy.with_size(args.min_size..=max);
    } else if args.min_size > 0 {
        policy = policy.with_size(args.min_size..=u64::MAX);
    }
    policy = match args.content_type {
        Some(prefix) if prefix.ends_with('/') => policy.with_content_type_prefix(prefix),
        Some(exact) => policy.with_content_type(exact),
        None => policy,
    };
    if args.overwrite {
        policy = policy.allowing_overwrite();
    }
    if let Some(acl) = args.acl {
        policy = policy.with_acl(acl);
    }
    if let Some(url) = args.redirect {
        policy = policy.with_success_redirect(url);
    }
    if args.put {
        let request = built.storage.upload_url(&policy).await?;
        let text = std::iter::once(format!("PUT {}", request.url))
            .chain(request.headers.iter().map(|(name, value)| format!("{name}: {value}")))
            .collect::<Vec<_>>()
            .join("\n");
        let headers: serde_json::Map<String, serde_json::Value> =
            request.headers.iter().map(|(name, value)| (name.clone(), json!(value))).collect();
        context.print(&text, json!({ "method": "PUT", "url": request.url, "headers": headers }));
        return Ok(());
    }
    let form = built.storage.upload_form(&policy).await?;
    let text = std::iter::once(format!("POST {}", form.url))
        .chain(form.fields.iter().map(|(name, value)| format!("{name}: {value}")))
        .chain(std::iter::once(format!("{}: <the file, last>", storage_core::upload::FILE_FIELD)))
        .collect::<Vec<_>>()
        .join("\n");
    let fields: serde_json::Map<String, serde_json::Value> =
        form.fields.iter().map(|(name, value)| (name.clone(), json!(value))).collect();
    context.print(&text, json!({ "method": "POST", "url": form.url, "fields": fields, "file_field": "file" }));
    Ok(())
}

/// What a presigned PUT cannot enforce, refused in the command's flags (the library's message names its API).
fn check_put_flags(args: &UploadUrlArgs) -> Result<()> {
    let exact_size =
        args.max_size.is_none_or(|max| max == args.min_size) && (args.max_size.is_some() || args.min_size == 0);
    let refused = if args.name.ends_with('/') {
        "signs one exact name: give a name without a trailing `/`"
    } else if !exact_size {
        "enforces only an exact size: give --min-size N --max-size N with the same N"
    } else if args.content_type.as_deref().is_some_and(|content_type| content_type.ends_with('/')) {
        "enforces only an exact --content-type such as image/png"
    } else {
        return Ok(());
    };
    Err(CliError::Usage(format!(
        "upload-url --put {refused}, or drop --put for a form, which takes prefixes and ranges"
    )))
}

async fn migrate(context: &Context, args: MigrateArgs) -> Result<()> {
    let (from, to) = (context.storage(Some(&args.from))?.storage, context.storage(Some(&args.to))?.storage);
    let options = MigrateOptions::default()
        .with_prefix(args.prefix)
        .with_concurrency(args.concurrency)
        .with_verify(args.verify)
        .with_dry_run(args.dry_run)
        .with_delete_source(args.delete_source)
        .with_live(args.live);
    stop_on_ctrl_c(options.stop.clone());
    let bar = migrate_progress();
    let report = storage_core::migrate(&from, &to, &options, &|progress| {
        if let Some(bar) = &bar {
            bar.set_length(progress.bytes_total);
            bar.set_position(progress.bytes_done);
            bar.set_message(format!("{}/{} files", progress.objects_done, progress.objects_total));
        }
    })
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    context.print(&report, report_json(&report));
    match (report.is_complete(), report.failed.len()) {
        (true, _) => Ok(()),
        (false, 0) => Err(CliError::Incomplete("interrupted; run the same command again to resume".into())),
        (false, failed) => {
            Err(CliError::Incomplete(format!("{failed} files failed; run the same command again to retry them")))
        }
    }
}

async fn share(
    context: &Context,
    local: &Path,
    expires: Duration,
    serve_for: Option<Duration>,
    listen: Option<&str>,
) -> Result<()> {
    // Everything that can fail before a file is stored is checked first: the file, the port, the expiry.
    let name = file_name(local)?;
    let size = local_size(local)?;
    let (built, listener) = context.served(listen).await?;
    let private = built.storage.clone().private(expires);
    let wanted = format!("shared/{name}");
    // Where a file keeps no ACL of its own, the storage's declaration decides, before anything is stored.
    if !built.storage.capabilities().acl && built.storage.is_public(&wanted).await? {
        return Err(CliError::Usage(
            "this storage serves every file publicly (`public = true`, or a public-read `acl`, on a disk without \
             ACLs), so a shared file would be readable without its link; share from a storage that keeps files \
             private"
                .into(),
        ));
    }
    private.temporary_url(&wanted, expires, UrlOptions::get()).await?;
    let (stored, fresh) = match earlier_copy(&built.storage, &wanted, local, size).await? {
        Some(earlier) => (earlier, Fresh::Reused),
        None => {
            let content = with_progress(Content::from_path(local), Some(size), &name);
            (private.save(&wanted, content).await?, Fresh::Stored)
        }
    };
    let issued = chrono::Utc::now();
    let link = match private.temporary_url(&stored, expires, UrlOptions::get().with_download_name(&name)).await {
        Ok(link) => link,
        Err(err) => {
            if fresh == Fresh::Stored {
                // Nothing is left behind by a share that printed no link; the first error is the one to report.
                let _ = built.storage.delete(&stored).await;
            }
            return Err(err.into());
        }
    };
    let expires_at = issued + chrono::Duration::from_std(expires).unwrap_or(chrono::Duration::MAX);
    context.print(
        &link,
        json!({
            "name": stored, "url": link, "expires_in": expires.as_secs(), "expires_at": expires_at.to_rfc3339(),
        }),
    );
    if !context.json {
        eprintln!(
            "storage: expires at {} (in {})",
            expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
            short_duration(expires)
        );
    }
    serve(built, listener, serve_for).await
}

/// `10m`, `2h`, `90s`: a duration in the largest unit that states it exactly, as `--expires` takes it.
fn short_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (count, unit) = [(86_400, "d"), (3_600, "h"), (60, "m")]
        .into_iter()
        .find(|(size, _)| seconds >= *size && seconds % size == 0)
        .map_or((seconds, "s"), |(size, unit)| (seconds / size, unit));
    format!("{count}{unit}")
}

/// Whether `share` stored the file now or found it stored already.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fresh {
    Stored,
    Reused,
}

/// A file `share` stored earlier under `wanted` (or its unique alternatives) with the bytes of `local`, if any.
async fn earlier_copy(
    storage: &storage_core::Storage,
    wanted: &str,
    local: &Path,
    size: u64,
) -> Result<Option<String>> {
    let Some((stem, extension)) = split_name(wanted) else { return Ok(None) };
    let local_md5 = md5_of_stream(
        Content::from_path(local)
            .into_stream()
            .await
            .map_err(|err| CliError::local(local.display(), "cannot read it", Some(err)))?,
    )
    .await
    .map_err(|err| CliError::local(local.display(), "cannot read it", Some(err)))?;
    let mut listed = storage.list_entries(ListOptions::new(stem.clone()));
    while let Some(entry) = listed.try_next().await? {
        let ListEntry::Object(meta) = entry else { continue };
        let alternative = meta.key.strip_prefix(stem.as_str()).and_then(|rest| rest.strip_suffix(extension.as_str()));
        let same_name = alternative.is_some_and(|rest| rest.is_empty() || rest.starts_with('_'));
        if !same_name || meta.size != size {
            continue;
        }
        let stored = storage.open(&meta.key).await?;
        let stored_md5 = md5_of_stream(stored.stream).await.map_err(|err| storage_io_of(storage, &meta.key, err))?;
        if stored_md5 == local_md5 {
            return Ok(Some(meta.key));
        }
    }
    Ok(None)
}

/// `shared/report.pdf` as `shared/report` and `.pdf`, the parts a unique alternative name keeps.
fn split_name(name: &str) -> Option<(String, String)> {
    let file = name.rsplit('/').next()?;
    let extension = file.find('.').filter(|&at| at > 0).map_or("", |at| &file[at..]);
    Some((name[..name.len() - extension.len()].to_owned(), extension.to_owned()))
}

async fn md5_of_stream(mut stream: storage_core::ByteStream) -> std::io::Result<[u8; 16]> {
    use md5::Digest as _;
    let mut hasher = md5::Md5::new();
    while let Some(chunk) = stream.try_next().await? {
        hasher.update(&chunk);
    }
    Ok(hasher.finalize().into())
}

/// Serve the storage's signed URLs on `listener` until `duration` has passed or Ctrl-C.
async fn serve(built: Built, listener: tokio::net::TcpListener, duration: Option<Duration>) -> Result<()> {
    let signer = built
        .signer()?
        .ok_or_else(|| CliError::Usage("only disk and memory storages are served; S3 serves its own URLs".into()))?;
    let bound = listener.local_addr().map_err(|err| CliError::local("the listener", "has no address", Some(err)))?;
    eprintln!(
        "storage: serving {} on http://{bound}/ (Ctrl-C to stop)",
        if signer.base_url() == DEFAULT_BASE_URL { "the default storage" } else { signer.base_url() }
    );
    let app = axum::Router::new().fallback_service(storage_http::SignedUrlService::new(built.storage, signer));
    let stop = async move {
        match duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    storage_http::Server::default().serve(listener, app, stop).await;
    Ok(())
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

/// The size of a local file to upload, or an error that says plainly what is wrong with the path.
fn local_size(path: &Path) -> Result<u64> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(meta.len()),
        Ok(_) => Err(CliError::local(shown, "is not a regular file; give a file to upload", None)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Err(CliError::NoLocalFile { path: shown.to_string() })
        }
        Err(err) => Err(CliError::local(shown, "cannot read it", Some(err))),
    }
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .ok_or_else(|| CliError::Usage(format!("`{}` has no file name; give the name to use", path.display())))
}

/// A failed read of `name` from the storage, mid-stream.
fn storage_io(built: &Built, name: &str, err: std::io::Error) -> CliError {
    storage_io_of(&built.storage, name, err)
}

/// A failed read of `name` from `storage`, mid-stream.
fn storage_io_of(storage: &storage_core::Storage, name: &str, err: std::io::Error) -> CliError {
    let backend = storage.backend().name();
    storage_core::Error::from_io(backend, Some(name), err).during(storage_core::Operation::Read).into()
}

/// Write a stream to `path` through a temporary file beside it, so a failure leaves nothing under `path`.
async fn write_atomically(
    path: &Path,
    built: &Built,
    stream: storage_core::ByteStream,
    size: u64,
    name: &str,
) -> Result<()> {
    let local = |err: std::io::Error| CliError::local(path.display(), "cannot write it", Some(err));
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(dir).map_err(local)?;
    let mut file = tokio::fs::File::create(temp.path()).await.map_err(local)?;
    let content = with_progress(Content::from_stream(stream, Some(size)), Some(size), name);
    let mut stream = content.into_stream().await.map_err(|err| storage_io(built, name, err))?;
    while let Some(chunk) = stream.try_next().await.map_err(|err| storage_io(built, name, err))? {
        tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await.map_err(local)?;
    }
    tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(local)?;
    temp.persist(path).map_err(|err| local(err.error))?;
    Ok(())
}

//! `storage`: put, get, list, copy, share and serve files on any configured storage, without writing Rust.
//!
//! Exit codes: 0 success, 1 error, 2 wrong usage, 3 not found.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool talks on stdout and stderr")]

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use futures::TryStreamExt;
use serde_json::json;
use storage_config::{Built, Config, DEFAULT_BASE_URL, StorageConfig, parse_duration};
use storage_core::{
    Acl, Content, Error, ErrorKind, ListEntry, ListOptions, Method, MigrateOptions, MigrationReport, OverwritePolicy,
    SaveOptions, UrlOptions,
};

/// Transfers larger than this show a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 4 << 20;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Store a local file (or `-` for standard input); prints the stored name.
    Put {
        local: String,
        /// The name to store under (default: the file's name). `STORAGE:NAME` picks another storage.
        name: Option<String>,
        #[arg(long, conflicts_with_all = ["public", "acl"])]
        private: bool,
        #[arg(long, conflicts_with = "acl")]
        public: bool,
        /// A canned ACL: private, public-read, authenticated-read, ...
        #[arg(long)]
        acl: Option<String>,
        #[arg(long)]
        content_type: Option<String>,
        /// Replace an existing file of that name.
        #[arg(long, conflicts_with_all = ["unique", "fail"])]
        overwrite: bool,
        /// Store under a new name if the name is taken (the default).
        #[arg(long, conflicts_with = "fail")]
        unique: bool,
        /// Fail if the name is taken.
        #[arg(long)]
        fail: bool,
    },
    /// Fetch a stored file into a local file (default: its name here) or `-` for standard output.
    Get { name: String, local: Option<String> },
    /// List files (and, without --recursive, directories).
    Ls {
        prefix: Option<String>,
        #[arg(long, short)]
        recursive: bool,
        /// Sizes and modification times too.
        #[arg(long, short)]
        long: bool,
    },
    /// Show a file's metadata.
    Stat { name: String },
    /// Delete files (a missing one is not an error).
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Copy a file, within a storage or between storages (`default:a.txt private:b.txt`).
    Cp { source: String, target: String },
    /// Move a file, within a storage or between storages.
    Mv { source: String, target: String },
    /// Print a file's URL: public, or with --expires a temporary signed one.
    Url {
        name: String,
        #[arg(long)]
        expires: Option<String>,
        /// `get` (default) or `put` (an upload link).
        #[arg(long, default_value = "get")]
        method: String,
        /// The name a browser saves the download under.
        #[arg(long)]
        download_name: Option<String>,
    },
    /// Copy every file under a prefix from one storage to another (names or URLs), keeping names, attributes and
    /// ACLs. Files the target holds with the same size and MD5 are skipped, so a second run resumes the first.
    Migrate {
        from: String,
        to: String,
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
    },
    /// Serve the signed URLs of a disk or memory storage over HTTP on 127.0.0.1.
    Serve {
        /// Stop after this long (default: until interrupted).
        #[arg(long)]
        serve_for: Option<String>,
    },
    /// Store a file privately, print a link that expires, and serve it until interrupted.
    Share {
        local: PathBuf,
        #[arg(long, default_value = "10m")]
        expires: String,
        /// Stop serving after this long (default: until interrupted).
        #[arg(long)]
        serve_for: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            let mut line = format!("storage: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                line.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{line}");
            ExitCode::from(if err.kind() == ErrorKind::NotFound { 3 } else { 1 })
        }
    }
}

/// The configured storages and how to reach them.
struct Context {
    config: Option<Config>,
    base: PathBuf,
    default: Option<String>,
    json: bool,
}

impl Context {
    fn new(cli: &Cli) -> Result<Context, Error> {
        let base = std::env::current_dir().map_err(|err| Error::from_io("config", ".", err))?;
        let config = match &cli.config {
            Some(path) => Some(Config::load(path)?),
            None if base.join("storage.toml").exists() => Some(Config::load(&base.join("storage.toml"))?),
            None => None,
        };
        Ok(Context { config, base, default: cli.storage.clone(), json: cli.json })
    }

    fn is_storage_name(&self, name: &str) -> bool {
        name == "default" || self.config.as_ref().is_some_and(|c| c.storages.contains_key(name))
    }

    /// `STORAGE:NAME` when STORAGE is a configured storage, else a name in the default storage.
    fn locate(&self, spec: &str) -> Result<(Built, String), Error> {
        if let Some((storage, name)) = spec.split_once(':').filter(|(storage, _)| self.is_storage_name(storage)) {
            return Ok((self.storage(Some(storage))?, name.to_owned()));
        }
        Ok((self.storage(None)?, spec.to_owned()))
    }

    fn storage(&self, name: Option<&str>) -> Result<Built, Error> {
        let name = name.map(str::to_owned).or_else(|| self.default.clone()).unwrap_or_else(|| "default".into());
        if name.contains("://") || name.starts_with('.') || name.starts_with('/') {
            return StorageConfig::from_url(&name, &self.base)?.build(&name, &self.base);
        }
        if let Some(config) = self.config.as_ref().and_then(|c| c.storage(&name)) {
            return config.build(&name, &self.base);
        }
        if name == "default" {
            return StorageConfig::embedded_default(&self.base).build("default", &self.base);
        }
        let known: Vec<&String> = self.config.iter().flat_map(|c| c.storages.keys()).collect();
        Err(Error::Configuration {
            backend: "config".into(),
            message: format!(
                "unknown storage `{name}`; configured: {known:?} (or give a URL such as file:///srv/media)"
            ),
        })
    }

    fn print(&self, text: impl std::fmt::Display, value: serde_json::Value) {
        if self.json { println!("{value}") } else { println!("{text}") }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    let context = Context::new(&cli)?;
    match cli.command {
        Command::Put { local, name, private, public, acl, content_type, overwrite, unique, fail } => {
            let acl = match (private, public, acl) {
                (true, _, _) => Some(Acl::Private),
                (_, true, _) => Some(Acl::PublicRead),
                (_, _, Some(acl)) => Some(acl.parse()?),
                _ => None,
            };
            let policy = match (overwrite, unique, fail) {
                (true, _, _) => Some(OverwritePolicy::Overwrite),
                (_, _, true) => Some(OverwritePolicy::Fail),
                (_, true, _) => Some(OverwritePolicy::Unique),
                _ => None,
            };
            let target = match name {
                Some(name) => name,
                None if local == "-" => {
                    return Err(Error::invalid_argument("-", "name the file to store standard input under"));
                }
                None => file_name(Path::new(&local))?,
            };
            let (built, name) = context.locate(&target)?;
            let (content, size) = if local == "-" {
                let stdin = stdin_stream(tokio::io::stdin());
                (Content::from_stream(stdin, None), None)
            } else {
                let size = local_size(Path::new(&local))?;
                (Content::from_path(&local), Some(size))
            };
            let mut options = SaveOptions::default();
            if let Some(acl) = acl {
                options = options.with_acl(acl);
            }
            if let Some(content_type) = content_type {
                options = options.with_content_type(content_type);
            }
            if let Some(policy) = policy {
                options = options.with_overwrite(policy);
            }
            let content = with_progress(content, size, &name)?;
            let stored = built.storage.save_with(&name, content, options).await?;
            context.print(&stored, json!({ "name": stored }));
        }
        Command::Get { name, local } => {
            let (built, name) = context.locate(&name)?;
            let reader = built.storage.open(&name).await?;
            let size = reader.metadata.size();
            match local.as_deref() {
                Some("-") => {
                    let mut stdout = tokio::io::stdout();
                    let mut stream = reader.stream;
                    while let Some(chunk) =
                        stream.try_next().await.map_err(|err| Error::from_io("stdout", &name, err))?
                    {
                        tokio::io::AsyncWriteExt::write_all(&mut stdout, &chunk)
                            .await
                            .map_err(|err| Error::from_io("stdout", &name, err))?;
                    }
                    tokio::io::AsyncWriteExt::flush(&mut stdout)
                        .await
                        .map_err(|err| Error::from_io("stdout", &name, err))?;
                }
                other => {
                    let path = match other {
                        Some(path) => PathBuf::from(path),
                        None => PathBuf::from(file_name(Path::new(&name))?),
                    };
                    write_atomically(&path, reader.stream, size, &name).await?;
                    if context.json {
                        println!("{}", json!({ "name": name, "path": path, "size": size }));
                    }
                }
            }
        }
        Command::Ls { prefix, recursive, long } => {
            let built = context.storage(None)?;
            let mut prefix = prefix.unwrap_or_default();
            if !recursive && !prefix.is_empty() && !prefix.ends_with('/') {
                prefix.push('/');
            }
            let mut entries = built.storage.list_entries(ListOptions::new(prefix).with_delimiter(!recursive));
            while let Some(entry) = entries.try_next().await? {
                match entry {
                    ListEntry::Prefix(dir) => context.print(&dir, json!({ "dir": dir })),
                    ListEntry::Object(meta) if long => context.print(
                        format!("{:>12}  {}  {}", meta.size, meta.last_modified.format("%Y-%m-%d %H:%M:%S"), meta.key),
                        json!({ "name": meta.key, "size": meta.size, "modified": meta.last_modified.to_rfc3339() }),
                    ),
                    ListEntry::Object(meta) => context.print(&meta.key, json!({ "name": meta.key, "size": meta.size })),
                }
            }
        }
        Command::Stat { name } => {
            let (built, name) = context.locate(&name)?;
            let metadata = built.storage.metadata(&name).await?;
            let acl = built.storage.acl(&name).await.ok().map(|acl| acl.to_string());
            let a = &metadata.attributes;
            let value = json!({
                "name": name, "size": metadata.size(), "modified": metadata.meta.last_modified.to_rfc3339(),
                "etag": metadata.meta.etag, "content_type": a.content_type, "cache_control": a.cache_control,
                "content_disposition": a.content_disposition, "content_encoding": a.content_encoding,
                "content_language": a.content_language, "metadata": a.metadata, "acl": acl,
            });
            let mut text = format!(
                "name: {name}\nsize: {}\nmodified: {}",
                metadata.size(),
                metadata.meta.last_modified.to_rfc3339()
            );
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
        }
        Command::Rm { names } => {
            let bar = files_progress(names.len());
            for spec in names {
                let (built, name) = context.locate(&spec)?;
                built.storage.delete(&name).await?;
                if context.json {
                    println!("{}", json!({ "deleted": name }));
                }
                bar.as_ref().inspect(|bar| bar.inc(1));
            }
        }
        Command::Migrate { from, to, prefix, concurrency, verify, dry_run, delete_source } => {
            let (from_spec, from, to) =
                (from.clone(), context.storage(Some(&from))?.storage, context.storage(Some(&to))?.storage);
            let options = MigrateOptions::default()
                .with_prefix(prefix)
                .with_concurrency(concurrency)
                .with_verify(verify)
                .with_dry_run(dry_run)
                .with_delete_source(delete_source);
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
            if !report.is_complete() {
                let message = if report.failed.is_empty() {
                    "interrupted; run the same command again to resume".to_owned()
                } else {
                    format!("{} files failed; run the same command again to retry them", report.failed.len())
                };
                return Err(Error::Backend {
                    key: from_spec,
                    backend: "migrate".into(),
                    message,
                    retryable: true,
                    source: None,
                });
            }
        }
        Command::Cp { source, target } => transfer(&context, &source, &target, false).await?,
        Command::Mv { source, target } => transfer(&context, &source, &target, true).await?,
        Command::Url { name, expires, method, download_name } => {
            let (built, name) = context.locate(&name)?;
            let method = match method.as_str() {
                "get" | "GET" => Method::Get,
                "put" | "PUT" => Method::Put,
                other => return Err(Error::invalid_argument(&name, format!("method `{other}` is not get or put"))),
            };
            let url = match (expires, method, download_name) {
                (None, Method::Get, None) => built.storage.url(&name).await?,
                (expires, method, download_name) => {
                    let expires =
                        expires.as_deref().map(parse_duration).transpose()?.unwrap_or(storage_core::DEFAULT_EXPIRY);
                    let mut options = if method == Method::Put { UrlOptions::put() } else { UrlOptions::get() };
                    if let Some(download_name) = download_name {
                        options = options.with_download_name(download_name);
                    }
                    built.storage.temporary_url(&name, expires, options).await?
                }
            };
            context.print(&url, json!({ "url": url }));
        }
        Command::Serve { serve_for } => {
            let built = context.storage(None)?;
            serve(built, serve_for.as_deref().map(parse_duration).transpose()?).await?;
        }
        Command::Share { local, expires, serve_for } => {
            let built = context.storage(None)?;
            if built.signer.is_none() {
                return Err(Error::invalid_argument(
                    "share",
                    "share serves links itself: use a disk or memory storage",
                ));
            }
            let expires = parse_duration(&expires)?;
            let name = file_name(&local)?;
            let size = local_size(&local)?;
            let private = built.storage.clone().private(expires);
            let stored = private
                .save(&format!("shared/{name}"), with_progress(Content::from_path(&local), Some(size), &name)?)
                .await?;
            let link = private.temporary_url(&stored, expires, UrlOptions::get().with_download_name(&name)).await?;
            context.print(&link, json!({ "name": stored, "url": link, "expires_in": expires.as_secs() }));
            serve(built, serve_for.as_deref().map(parse_duration).transpose()?).await?;
        }
    }
    Ok(())
}

/// Copy or move between any two locations; between storages the bytes stream through, keeping attributes and ACL.
async fn transfer(context: &Context, source: &str, target: &str, remove: bool) -> Result<(), Error> {
    let (from, from_name) = context.locate(source)?;
    let (to, to_name) = context.locate(target)?;
    let same = std::sync::Arc::ptr_eq(from.storage.backend(), to.storage.backend())
        || source_and_target_share(source, target, context);
    let stored = if same {
        if remove {
            to.storage.rename(&from_name, &to_name).await?
        } else {
            to.storage.copy(&from_name, &to_name).await?
        }
    } else {
        let reader = from.storage.open(&from_name).await?;
        let mut options = SaveOptions::default().with_attributes(reader.metadata.attributes.clone());
        if from.storage.capabilities().acl && to.storage.capabilities().acl {
            options = options.with_acl(from.storage.acl(&from_name).await?);
        }
        let size = reader.metadata.size();
        let content = with_progress(Content::from_stream(reader.stream, Some(size)), Some(size), &to_name)?;
        let stored = to.storage.save_with(&to_name, content, options).await?;
        if remove {
            from.storage.delete(&from_name).await?;
        }
        stored
    };
    context.print(&stored, json!({ "name": stored }));
    Ok(())
}

/// Two specs in the same storage: neither names another storage, or both name the same one.
fn source_and_target_share(source: &str, target: &str, context: &Context) -> bool {
    let storage_of =
        |spec: &str| spec.split_once(':').filter(|(s, _)| context.is_storage_name(s)).map(|(s, _)| s.to_owned());
    let (a, b) = (
        storage_of(source).unwrap_or_else(|| "default".into()),
        storage_of(target).unwrap_or_else(|| "default".into()),
    );
    a == b
}

/// Serve the storage's signed URLs on the host and port of its base URL.
async fn serve(built: Built, duration: Option<Duration>) -> Result<(), Error> {
    let signer = built.signer.clone().ok_or_else(|| {
        Error::invalid_argument("serve", "only disk and memory storages are served; S3 serves its own URLs")
    })?;
    let base = url::Url::parse(signer.base_url())
        .map_err(|err| Error::invalid_argument(signer.base_url(), err.to_string()))?;
    let address =
        format!("{}:{}", base.host_str().unwrap_or("127.0.0.1"), base.port_or_known_default().unwrap_or(8000));
    let listener =
        tokio::net::TcpListener::bind(&address).await.map_err(|err| Error::from_io("serve", &address, err))?;
    eprintln!(
        "storage: serving {} on http://{address}/ (Ctrl-C to stop)",
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
    axum::serve(listener, app).with_graceful_shutdown(stop).await.map_err(|err| Error::from_io("serve", &address, err))
}

/// The size of a local file to upload, or an error that says plainly what is wrong with the path.
fn local_size(path: &Path) -> Result<u64, Error> {
    let shown = path.display().to_string();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(meta.len()),
        Ok(_) => Err(Error::invalid_argument(&shown, "is not a regular file; give a file to upload")),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::invalid_argument(&shown, "no such local file; check the path"))
        }
        Err(err) => Err(Error::invalid_argument(&shown, format!("cannot read it: {err}"))),
    }
}

fn file_name(path: &Path) -> Result<String, Error> {
    path.file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid_argument(&path.display().to_string(), "has no file name; give the name to use"))
}

/// Write a stream to `path` through a temporary file beside it, so a failure leaves nothing under `path`.
async fn write_atomically(path: &Path, stream: storage_core::ByteStream, size: u64, name: &str) -> Result<(), Error> {
    let io = |err: std::io::Error| Error::from_io("local", &path.display().to_string(), err);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    let mut file = tokio::fs::File::create(temp.path()).await.map_err(io)?;
    let content = with_progress(Content::from_stream(stream, Some(size)), Some(size), name)?;
    let mut stream = content.into_stream().await.map_err(io)?;
    while let Some(chunk) = stream.try_next().await.map_err(|err| Error::from_io("download", name, err))? {
        tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await.map_err(io)?;
    }
    tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(io)?;
    temp.persist(path).map_err(|err| io(err.error))?;
    Ok(())
}

/// The first Ctrl-C lets the transfers in flight finish (every write is atomic, so stopping anywhere is safe; this
/// only saves redoing them); the second quits at once.
fn stop_on_ctrl_c(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            eprintln!("storage: stopping after the transfers in flight; Ctrl-C again to quit now");
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(130);
        }
    });
}

fn migrate_progress() -> Option<indicatif::ProgressBar> {
    watching().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("[{bar:30}] {msg} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        {
            bar.set_style(style);
        }
        bar
    })
}

fn report_json(report: &MigrationReport) -> serde_json::Value {
    let failed: Vec<_> =
        report.failed.iter().map(|failure| json!({ "key": failure.key, "reason": failure.reason })).collect();
    json!({
        "copied": report.copied,
        "skipped": report.skipped,
        "verified": report.verified,
        "deleted": report.deleted,
        "failed": failed,
        "bytes_copied": report.bytes_copied,
        "elapsed_seconds": report.elapsed.as_secs_f64(),
        "dry_run": report.dry_run,
        "interrupted": report.interrupted,
    })
}

/// Whether a person is watching: progress bars only then, never in pipes or logs.
fn watching() -> bool {
    std::io::stderr().is_terminal() && std::io::stdout().is_terminal()
}

/// A progress bar over several files, when a person is watching.
fn files_progress(count: usize) -> Option<indicatif::ProgressBar> {
    (watching() && count > 1).then(|| {
        let bar = indicatif::ProgressBar::new(count as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("[{bar:30}] {pos}/{len} files") {
            bar.set_style(style);
        }
        bar
    })
}

/// A progress bar on standard error for large transfers, when a person is watching.
fn with_progress(content: Content, size: Option<u64>, label: &str) -> Result<Content, Error> {
    let Some(size) = size.filter(|size| watching() && *size > PROGRESS_THRESHOLD) else {
        return Ok(content);
    };
    let bar = indicatif::ProgressBar::new(size).with_message(label.to_owned());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .map_err(|err| Error::invalid_argument(label, err.to_string()))?,
    );
    let stream = futures::stream::once(async move { content.into_stream().await })
        .try_flatten()
        .inspect_ok(move |chunk| bar.inc(chunk.len() as u64));
    Ok(Content::from_stream(stream, Some(size)))
}

/// Standard input as a stream of chunks.
fn stdin_stream(
    reader: impl tokio::io::AsyncRead + Send + 'static,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    futures::stream::unfold(Box::pin(reader), |mut reader| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match tokio::io::AsyncReadExt::read(&mut reader, &mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), reader))
            }
            Err(err) => Some((Err(err), reader)),
        }
    })
}

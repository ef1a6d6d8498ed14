//! The command line as clap reads it: every command, flag and value parser, with flags parsed into types (a
//! duration, a size, an ACL, a media type) before any command runs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use storage_config::parse_duration;
use storage_core::{Acl, OverwritePolicy};

use crate::error::Doing;

#[derive(Parser)]
#[command(name = "storage", version, about = "Store files on S3, on disk or in memory; hand out links that expire")]
pub(crate) struct Cli {
    /// The configuration file (default: ./storage.toml if it exists, else the embedded default storage).
    #[arg(long, global = true, env = "STORAGE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The storage to use: a name from the config, or a URL (file:///path, ./dir, memory://, s3://bucket/prefix?...).
    #[arg(long, global = true)]
    pub(crate) storage: Option<String>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Log each storage operation to standard error (`-v`), and what the S3 client does too (`-vv`); `RUST_LOG`
    /// (e.g. `storage=debug`) overrides both.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
pub(crate) enum S3Command {
    /// Print a policy for an S3 storage's bucket (default: the `--storage` storage's).
    Policy(PolicyArgs),
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["public_prefix", "iam"]))]
pub(crate) struct PolicyArgs {
    /// The bucket policy that lets anyone read the keys under this prefix, counted from the bucket root
    /// (`media/open/`), and keeps everything else private: apply it with PutBucketPolicy on a bucket without ACLs.
    #[arg(long)]
    pub(crate) public_prefix: Option<String>,
    /// The least IAM policy the backend needs on the storage's bucket and location.
    #[arg(long)]
    pub(crate) iam: bool,
    /// The bucket (default: the storage's).
    #[arg(long)]
    pub(crate) bucket: Option<String>,
}

#[derive(Args)]
pub(crate) struct PutArgs {
    /// The local file, or `-` for standard input.
    pub(crate) local: String,
    /// The name to store under (default: the file's name). `STORAGE:NAME` picks another storage.
    pub(crate) name: Option<String>,
    /// Store it private (the same as `--acl private`).
    #[arg(long, conflicts_with_all = ["public", "acl"])]
    pub(crate) private: bool,
    /// Store it publicly readable (the same as `--acl public-read`).
    #[arg(long, conflicts_with = "acl")]
    pub(crate) public: bool,
    /// A canned ACL: private, public-read, authenticated-read, ...
    #[arg(long, value_parser = acl)]
    pub(crate) acl: Option<Acl>,
    /// The content type, exactly one media type (default: guessed from the name).
    #[arg(long, value_parser = media_type)]
    pub(crate) content_type: Option<String>,
    /// What to do when the name is taken (default: the storage's policy, `unique` unless configured).
    #[arg(long, value_enum)]
    pub(crate) if_exists: Option<IfExists>,
    /// Replace an existing file of that name (the same as `--if-exists overwrite`).
    #[arg(long, conflicts_with = "if_exists")]
    pub(crate) overwrite: bool,
}

impl PutArgs {
    pub(crate) fn acl(&self) -> Option<Acl> {
        match (self.private, self.public) {
            (true, _) => Some(Acl::Private),
            (_, true) => Some(Acl::PublicRead),
            _ => self.acl,
        }
    }

    pub(crate) fn policy(&self) -> Option<OverwritePolicy> {
        if self.overwrite { Some(OverwritePolicy::Overwrite) } else { self.if_exists.map(OverwritePolicy::from) }
    }
}

/// `--if-exists`: the overwrite policy of one save.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum IfExists {
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
pub(crate) struct LsArgs {
    /// List under this prefix (a directory without --recursive).
    pub(crate) prefix: Option<String>,
    /// Every file below, without directories.
    #[arg(long, short)]
    pub(crate) recursive: bool,
    /// Sizes and modification times too.
    #[arg(long, short)]
    pub(crate) long: bool,
}

/// The two names of `cp` and `mv`.
#[derive(Args)]
pub(crate) struct Transfer {
    /// The stored name to copy or move (`STORAGE:NAME` for another storage).
    pub(crate) source: String,
    /// The name to store it under (`STORAGE:NAME` for another storage).
    pub(crate) target: String,
}

#[derive(Args)]
pub(crate) struct UrlArgs {
    /// The stored name.
    pub(crate) name: String,
    /// Make a temporary signed URL that works this long (default: public, or the storage's own expiry).
    #[arg(long, value_parser = duration)]
    pub(crate) expires: Option<Duration>,
    /// What the URL lets its holder do.
    #[arg(long, value_enum, default_value = "get")]
    pub(crate) method: UrlMethod,
    /// The name a browser saves the download under.
    #[arg(long)]
    pub(crate) download_name: Option<String>,
    /// With `--method put`, the type the upload must be sent with; with `get`, the type the response carries.
    #[arg(long, value_parser = media_type)]
    pub(crate) content_type: Option<String>,
}

#[derive(Args)]
pub(crate) struct UploadUrlArgs {
    /// The name to upload to; ending in `/`, a prefix under which the browser's file name is used.
    pub(crate) name: String,
    /// The largest file accepted, e.g. `10MiB`.
    #[arg(long, value_parser = size)]
    pub(crate) max_size: Option<u64>,
    /// The smallest file accepted.
    #[arg(long, value_parser = size, default_value = "0")]
    pub(crate) min_size: u64,
    /// The content type: exact (`application/pdf`), or a top-level type ending in `/` (`image/`), which admits
    /// any single type of it except those a browser runs script in (name those exactly).
    #[arg(long, value_parser = media_type_or_prefix)]
    pub(crate) content_type: Option<String>,
    /// How long the form works.
    #[arg(long, default_value = "10m", value_parser = duration)]
    pub(crate) expires: Duration,
    /// Replace a file of the same name instead of refusing the upload. Needed on S3, whose forms cannot refuse a
    /// taken name: there, give a name under a fresh random folder.
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// The stored file's canned ACL.
    #[arg(long, value_parser = acl)]
    pub(crate) acl: Option<Acl>,
    /// After the upload, send the browser here (with `key` added to the query).
    #[arg(long)]
    pub(crate) redirect: Option<String>,
    /// Print a presigned PUT (URL and headers to send) instead of a form: for one name, an exact size
    /// (`--min-size N --max-size N`) and an exact type.
    #[arg(long, conflicts_with = "redirect")]
    pub(crate) put: bool,
}

/// `--method`: what a URL is for.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum UrlMethod {
    /// Download the file.
    Get,
    /// Upload a file under the name.
    Put,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct MigrateArgs {
    /// `status JOB`: the merged report of a job's shards.
    #[command(subcommand)]
    pub(crate) action: Option<MigrateAction>,
    /// The storage to copy from (a name or a URL).
    #[arg(required = true)]
    pub(crate) from: Option<String>,
    /// The storage to copy to (a name or a URL).
    #[arg(required = true)]
    pub(crate) to: Option<String>,
    /// Record progress in the target as this job (under --checkpoint-prefix), and resume from its last record
    /// when run again: what is done below the recorded name is neither listed nor read again.
    #[arg(long, value_name = "NAME")]
    pub(crate) job: Option<String>,
    /// Where --job's records go in the target; never copied, listed, verified or deleted as data. A disk target
    /// reserves `.storage/` for itself: give it another prefix there.
    #[arg(long, default_value = storage_migrate::DEFAULT_CHECKPOINT_PREFIX, value_name = "PREFIX")]
    pub(crate) checkpoint_prefix: String,
    /// With --job: write a record after this many files.
    #[arg(long, default_value_t = storage_migrate::DEFAULT_CHECKPOINT_EVERY, value_name = "FILES")]
    pub(crate) checkpoint_every: u64,
    /// Only the files whose names start with this.
    #[arg(long, default_value = "")]
    pub(crate) prefix: String,
    /// Transfers in flight at once.
    #[arg(long, default_value_t = storage_migrate::DEFAULT_CONCURRENCY)]
    pub(crate) concurrency: usize,
    /// Read every copy back and compare MD5s.
    #[arg(long)]
    pub(crate) verify: bool,
    /// Report what would be copied, and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Delete each source file once its copy is verified (implies --verify).
    #[arg(long)]
    pub(crate) delete_source: bool,
    /// Backfill while the app writes to both through a mirror storage: copy only what the target lacks, never
    /// replace a file there, and take back a copy whose source changed meanwhile.
    #[arg(long)]
    pub(crate) live: bool,
    /// Only the files in shard K of N (`0/4` … `3/4`), split as rclone's `--hash-filter K/N` splits them: run N
    /// processes, one per shard, to share a migration between machines.
    #[arg(long, value_name = "K/N", value_parser = shard, default_value = "0/1")]
    pub(crate) shard: storage_migrate::Shard,
    /// Copy the files named in FILE (`-` for standard input), one a line, as rclone's `--files-from`: `#` and `;`
    /// start comments. Nothing is listed, so a shard costs only its own names.
    #[arg(long, value_name = "FILE", conflicts_with = "from_inventory")]
    pub(crate) from_list: Option<std::path::PathBuf>,
    /// Copy the files named in an S3 Inventory: its `manifest.json`, a name in the `--storage` storage (a name or a
    /// URL) or `STORAGE:NAME`; its CSV data files are read from that storage too, their MD5s checked. Nothing is
    /// listed; each shard keeps only its own rows.
    #[arg(long, value_name = "MANIFEST")]
    pub(crate) from_inventory: Option<String>,
}

/// `K/N`, such as `0/4`: storage-migrate's parser, its message alone.
pub(crate) fn shard(text: &str) -> Result<storage_migrate::Shard, String> {
    text.parse().map_err(clap_message)
}

/// What `storage migrate` does besides copying.
#[derive(Subcommand)]
pub(crate) enum MigrateAction {
    /// Merge every shard's checkpoint record of JOB into one report: copied, skipped, failed (with names),
    /// bytes, and which shards are missing or stale
    ///
    /// The records are read from --to, else from the default storage (--storage, else `default`). Exits 1 while
    /// the job is not complete.
    Status(MigrateStatusArgs),
}

#[derive(Args)]
pub(crate) struct MigrateStatusArgs {
    /// The job, as given to `migrate --job`.
    pub(crate) job: String,
    /// The storage the job copies to, where its records are (default: the default storage).
    #[arg(long, value_name = "STORAGE")]
    pub(crate) to: Option<String>,
    /// Where the records are, as given to `migrate --checkpoint-prefix`.
    #[arg(long, default_value = storage_migrate::DEFAULT_CHECKPOINT_PREFIX, value_name = "PREFIX")]
    pub(crate) checkpoint_prefix: String,
    /// A shard still running whose last record is older than this is reported stale (its run probably died).
    #[arg(long, default_value = "10m", value_parser = duration)]
    pub(crate) stale_after: Duration,
}

/// `30s`, `10m`, `2h`, `7d`, for clap: storage-core's parser, its message alone.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(clap_message)
}

/// `0s`, `30m`, `2d`: an age, for clap.
pub(crate) fn age(text: &str) -> Result<Duration, String> {
    storage_core::parse_age(text).map_err(clap_message)
}

/// What a parser of storage-core refused, as clap shows it: its message alone.
pub(crate) fn clap_message(err: storage_core::Error) -> String {
    match (err.kind(), err.message()) {
        (storage_core::ErrorKind::InvalidArgument, Some(message)) => message.to_owned(),
        _ => err.to_string(),
    }
}

/// A size such as `512`, `64KiB`, `10MiB`, `1GiB` (or `kB`/`MB`/`GB` in powers of ten), for clap.
pub(crate) fn size(text: &str) -> Result<u64, String> {
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

/// `--content-type`: exactly one media type, as the library checks it (clap names the flag in the error).
pub(crate) fn media_type(text: &str) -> Result<String, String> {
    storage_core::ContentType::parse(text)
        .map(|_| text.to_owned())
        .map_err(|reason| format!("not exactly one media type ({reason}); give one such as image/png"))
}

/// `upload-url --content-type`: one media type, or a top-level type and `/`.
pub(crate) fn media_type_or_prefix(text: &str) -> Result<String, String> {
    if !text.ends_with('/') {
        return media_type(text);
    }
    storage_core::content_type::validate_prefix(text).map(|()| text.to_owned()).map_err(|reason| reason.to_string())
}

/// A canned ACL by its S3 name, for clap.
pub(crate) fn acl(text: &str) -> Result<Acl, String> {
    text.parse().map_err(clap_message)
}

impl Command {
    /// The subcommand as typed, for `--json` errors.
    pub(crate) fn name(&self) -> &'static str {
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
    pub(crate) fn doing(&self) -> Doing {
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

//! The command's own errors: wrong usage, unknown storages and local files, next to the storage errors it reports.

use storage_core::ErrorKind;

/// Everything `storage` can fail with, and the exit code each gets.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A storage operation failed (its message names the operation, the key and the backend).
    #[error(transparent)]
    Storage(#[from] storage_core::Error),

    /// The command line asks for something that cannot be done as asked.
    #[error("{0}")]
    Usage(String),

    /// `--storage` or a `STORAGE:` prefix names no configured storage.
    #[error("unknown storage `{name}`; configured: {known:?} (or give a URL such as file:///srv/media)")]
    UnknownStorage {
        /// The name given.
        name: String,
        /// The names the configuration has.
        known: Vec<String>,
    },

    /// A local file or directory could not be read or written.
    #[error("local file `{path}`: {message}")]
    Local {
        /// The path as given.
        path: String,
        /// What is wrong and what to do.
        message: String,
        /// The operating system's error.
        #[source]
        source: Option<std::io::Error>,
    },

    /// A local file to read does not exist.
    #[error("local file `{path}`: no such file; check the path")]
    NoLocalFile {
        /// The path as given.
        path: String,
    },

    /// `storage migrate` stopped before every file was copied.
    #[error("migrate: {0}")]
    Incomplete(String),

    /// A storage error told in the command's words: its flags instead of the library's API (see [`CliError::in_command`]).
    #[error("{}", advised_line(.error, .advice))]
    Advised {
        /// The storage's error, for its kind, operation and key.
        error: storage_core::Error,
        /// What to do, in the command's flags.
        advice: &'static str,
    },
}

/// The command that failed, for advice in its own flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doing {
    /// `put`.
    Put,
    /// `upload-url` without `--put`: a form.
    UploadForm,
    /// `upload-url --put`.
    UploadPut,
    /// `url`.
    Url,
    /// `cp` or `mv`.
    Transfer,
    /// Any other command.
    Other,
}

/// The advice of the command for a storage error it can say in its own flags, if any.
fn advice(error: &storage_core::Error, doing: Doing) -> Option<&'static str> {
    use ErrorKind::{AlreadyExists, Unsupported};
    let create_only_forms = storage_core::upload::CREATE_ONLY_FORMS;
    Some(match (error.kind(), doing) {
        (Unsupported, Doing::UploadForm) if error.capability() == Some(create_only_forms) => {
            "add --overwrite and upload under a fresh random folder (its forms cannot refuse a taken name), or use \
             --put for one exact name"
        }
        (Unsupported, Doing::UploadForm) => {
            "use `upload-url --put` for one exact name, size and type, or a storage that has forms (--storage)"
        }
        (Unsupported, Doing::UploadPut) => "drop --put for a form, or use a storage that signs uploads (--storage)",
        (Unsupported, Doing::Url) => {
            "without --expires `url` asks for a public URL: add --expires for a signed one, or use a storage that \
             has this (--storage)"
        }
        (Unsupported, Doing::Put) => {
            "drop --acl, --private and --public (this storage keeps no per-file ACLs), or use a storage that has it \
             (--storage)"
        }
        (Unsupported, _) => "use a storage that has it (--storage)",
        (AlreadyExists, Doing::Put) => {
            "pass --overwrite to replace it, or --if-exists unique to store it under another name"
        }
        (AlreadyExists, Doing::Transfer) => "choose another target name, or remove it first with `storage rm`",
        (AlreadyExists, Doing::UploadPut) => "pass --overwrite to let the upload replace it",
        _ => return None,
    })
}

/// The storage error's own statement, with the command's advice in place of the library's.
fn advised_line(error: &storage_core::Error, advice: &str) -> String {
    let (operation, key, backend) = (error.operation(), error.key().unwrap_or_default(), error.backend_name());
    match (error.kind(), error.capability(), backend) {
        (ErrorKind::Unsupported, Some(capability), Some(backend)) => {
            format!("{operation} on the {backend} backend: it does not support {capability}; {advice}")
        }
        (ErrorKind::AlreadyExists, _, Some(backend)) => {
            format!("{operation} `{key}` on the {backend} backend: the name is taken; {advice}")
        }
        _ => format!("{error}; {advice}"),
    }
}

impl CliError {
    /// 2 for wrong usage (an argument the storage refuses, such as an expiry past its maximum, is one), 3 for a
    /// missing file, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::NoLocalFile { .. } => 3,
            _ => match self.storage_error().map(storage_core::Error::kind) {
                Some(ErrorKind::InvalidArgument) => 2,
                Some(ErrorKind::NotFound) => 3,
                _ => 1,
            },
        }
    }

    fn storage_error(&self) -> Option<&storage_core::Error> {
        match self {
            CliError::Storage(error) | CliError::Advised { error, .. } => Some(error),
            _ => None,
        }
    }

    /// This error in the words of the command `doing`: a storage error it has flags for gets their advice.
    pub fn in_command(self, doing: Doing) -> Self {
        match self {
            CliError::Storage(error) => match advice(&error, doing) {
                Some(advice) => CliError::Advised { error, advice },
                None => CliError::Storage(error),
            },
            other => other,
        }
    }

    /// `{"error": {"kind", "operation", "key", "message"}}`, for `--json`; `command` is the operation of errors
    /// that are not a storage's.
    pub fn to_json(&self, command: &str) -> serde_json::Value {
        let kind = match self {
            CliError::Usage(_) => "usage",
            CliError::UnknownStorage { .. } => "unknown_storage",
            CliError::Local { .. } => "local_file",
            CliError::NoLocalFile { .. } => "not_found",
            CliError::Incomplete(_) => "incomplete",
            CliError::Storage(error) | CliError::Advised { error, .. } => storage_kind(error.kind()),
        };
        let key = match self {
            CliError::Local { path, .. } | CliError::NoLocalFile { path } => Some(path.as_str()),
            _ => self.storage_error().and_then(storage_core::Error::key),
        };
        let operation = self.storage_error().map_or(command, |error| error.operation().name());
        let message = one_line(self).trim_start_matches(PREFIX).to_owned();
        serde_json::json!({ "error": { "kind": kind, "operation": operation, "key": key, "message": message } })
    }

    /// A local path problem.
    pub fn local(path: impl std::fmt::Display, message: impl Into<String>, source: Option<std::io::Error>) -> Self {
        CliError::Local { path: path.to_string(), message: message.into(), source }
    }
}

/// A storage error's kind, as `--json` names it.
fn storage_kind(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "not_found",
        ErrorKind::AlreadyExists => "already_exists",
        ErrorKind::InvalidName => "invalid_name",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::PermissionDenied => "permission_denied",
        ErrorKind::InvalidArgument => "invalid_argument",
        ErrorKind::Configuration => "configuration",
        ErrorKind::Mirror => "mirror",
        _ => "backend",
    }
}

const PREFIX: &str = "storage: ";

/// The error and its causes on one line, as the command prints it. Each cause is said once: a source whose text
/// the line already holds is left out (clients such as object_store repeat their source in their own message).
pub fn one_line(err: &CliError) -> String {
    let mut line = format!("{PREFIX}{err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_kind() {
        assert_eq!(CliError::Usage("name the file".into()).exit_code(), 2);
        assert_eq!(CliError::from(storage_core::Error::not_found("fs", "a.txt")).exit_code(), 3);
        assert_eq!(CliError::from(storage_core::Error::invalid_argument(Some("a.txt"), "too long")).exit_code(), 2);
        assert_eq!(CliError::UnknownStorage { name: "x".into(), known: vec![] }.exit_code(), 1);
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let line = one_line(&CliError::local("out.bin", "cannot write it", Some(io)));
        assert!(line.starts_with("storage: local file `out.bin`: cannot write it: "), "{line}");
    }
}

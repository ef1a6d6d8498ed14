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

    /// `storage migrate` stopped before every file was copied.
    #[error("migrate: {0}")]
    Incomplete(String),
}

impl CliError {
    /// 2 for wrong usage (an argument the storage refuses, such as an expiry past its maximum, is one), 3 for a
    /// missing file, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Storage(err) if err.kind() == ErrorKind::InvalidArgument => 2,
            CliError::Storage(err) if err.kind() == ErrorKind::NotFound => 3,
            _ => 1,
        }
    }

    /// A local path problem.
    pub fn local(path: impl std::fmt::Display, message: impl Into<String>, source: Option<std::io::Error>) -> Self {
        CliError::Local { path: path.to_string(), message: message.into(), source }
    }
}

/// The error and its causes on one line, as the command prints it.
pub fn one_line(err: &CliError) -> String {
    let mut line = format!("storage: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        line.push_str(&format!(": {cause}"));
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

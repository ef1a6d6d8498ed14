//! The one public error type every backend maps its failures into.

use std::fmt;

/// Boxed source error kept in the chain (never repeated in `Display`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout the storage crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure a storage operation can report.
///
/// Messages are lowercase, name the key and the backend, and say what to do. No variant ever carries a
/// credential: backends must map their private errors without copying secrets into `message`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist.
    #[error("`{key}` not found in the {backend} backend; check the name, or list the storage to see what is there")]
    NotFound {
        key: String,
        backend: String,
        #[source]
        source: Option<BoxError>,
    },

    /// A create-only write or copy met an existing object.
    #[error(
        "`{key}` already exists in the {backend} backend; use the overwrite policy, or the unique policy to store under another name"
    )]
    AlreadyExists {
        key: String,
        backend: String,
        #[source]
        source: Option<BoxError>,
    },

    /// The name is not a valid storage key (quoted as given).
    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },

    /// The backend does not have this capability.
    #[error(
        "the {backend} backend does not support {capability}; check `Storage::capabilities()` before calling, or use a backend that has it"
    )]
    Unsupported { capability: &'static str, backend: String },

    /// The backend refused the operation for lack of permission.
    #[error("permission denied for `{key}` in the {backend} backend: {message}")]
    PermissionDenied {
        key: String,
        backend: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },

    /// A condition attached to the request did not hold (for example an ETag match).
    #[error("precondition failed for `{key}` in the {backend} backend: {message}")]
    PreconditionFailed {
        key: String,
        backend: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },

    /// An argument other than the name was out of range (an expiry, a range, an option).
    #[error("invalid argument for `{key}`: {message}")]
    InvalidArgument { key: String, message: String },

    /// The storage or backend configuration is wrong.
    #[error("invalid configuration of the {backend} backend: {message}")]
    Configuration { backend: String, message: String },

    /// A mirror storage wrote to its primary, but a mirror failed; the primary keeps the object.
    #[error(
        "`{key}` was written to the {primary} primary but the {mirror} mirror failed; `storage migrate` from the primary to the mirror repairs it"
    )]
    Mirror {
        key: String,
        primary: String,
        mirror: String,
        #[source]
        source: Box<Error>,
    },

    /// Any other backend failure; `retryable` says whether trying again may help.
    #[error("{backend} backend failed on `{key}`: {message}")]
    Backend {
        key: String,
        backend: String,
        message: String,
        retryable: bool,
        #[source]
        source: Option<BoxError>,
    },
}

/// The kind of an [`Error`], for matching and for comparing outcomes across backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    InvalidName,
    Unsupported,
    PermissionDenied,
    PreconditionFailed,
    InvalidArgument,
    Configuration,
    Backend,
    Mirror,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::InvalidName { .. } => ErrorKind::InvalidName,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::PreconditionFailed { .. } => ErrorKind::PreconditionFailed,
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::Configuration { .. } => ErrorKind::Configuration,
            Error::Backend { .. } => ErrorKind::Backend,
            Error::Mirror { .. } => ErrorKind::Mirror,
        }
    }

    /// Whether trying the same operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Backend { retryable: true, .. })
    }

    pub fn not_found(backend: &str, key: &str) -> Self {
        Error::NotFound { key: key.to_owned(), backend: backend.to_owned(), source: None }
    }

    pub fn already_exists(backend: &str, key: &str) -> Self {
        Error::AlreadyExists { key: key.to_owned(), backend: backend.to_owned(), source: None }
    }

    pub fn unsupported(backend: &str, capability: &'static str) -> Self {
        Error::Unsupported { capability, backend: backend.to_owned() }
    }

    pub fn invalid_name(name: &str, reason: impl Into<String>) -> Self {
        Error::InvalidName { name: name.to_owned(), reason: reason.into() }
    }

    pub fn invalid_argument(key: &str, message: impl Into<String>) -> Self {
        Error::InvalidArgument { key: key.to_owned(), message: message.into() }
    }

    /// A backend failure with its cause kept as the source.
    pub fn backend(
        backend: &str,
        key: &str,
        message: impl Into<String>,
        retryable: bool,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Backend {
            key: key.to_owned(),
            backend: backend.to_owned(),
            message: message.into(),
            retryable,
            source: Some(source.into()),
        }
    }

    /// Map a local I/O error on `key` into the matching kind.
    pub fn from_io(backend: &str, key: &str, err: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        match err.kind() {
            Io::NotFound => {
                Error::NotFound { key: key.to_owned(), backend: backend.to_owned(), source: Some(err.into()) }
            }
            Io::AlreadyExists => {
                Error::AlreadyExists { key: key.to_owned(), backend: backend.to_owned(), source: Some(err.into()) }
            }
            Io::PermissionDenied => Error::PermissionDenied {
                key: key.to_owned(),
                backend: backend.to_owned(),
                message: "the operating system refused access; check the file permissions".to_owned(),
                source: Some(err.into()),
            },
            kind => {
                let retryable = matches!(kind, Io::Interrupted | Io::TimedOut | Io::WouldBlock);
                Error::backend(backend, key, format!("i/o error ({kind})"), retryable, err)
            }
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            ErrorKind::NotFound => Io::NotFound,
            ErrorKind::AlreadyExists => Io::AlreadyExists,
            ErrorKind::PermissionDenied => Io::PermissionDenied,
            ErrorKind::InvalidName | ErrorKind::InvalidArgument => Io::InvalidInput,
            ErrorKind::Unsupported => Io::Unsupported,
            _ => Io::Other,
        };
        std::io::Error::new(kind, err)
    }
}

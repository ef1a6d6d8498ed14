//! The one public error type every backend maps its failures into, and the operation it happened in.

use std::fmt;

/// Boxed source error kept in the chain (never repeated in `Display`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout the storage crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The operation an error happened in: what the caller asked for, as `Storage` names it.
///
/// A backend builds its errors without knowing which `Storage` call it serves (a `save` puts, an `exists` heads), so
/// they start as [`Operation::Unspecified`]; `Storage` and the tools above it (storage-migrate) set the
/// operation on every error they return, with [`Error::during`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `save` and the other writes of new content.
    Save,
    /// `open` and `open_range`: a read as a stream.
    Open,
    /// `read`: a whole object into memory.
    Read,
    /// `metadata` and `size`.
    Metadata,
    /// `exists`.
    Exists,
    /// `delete`.
    Delete,
    /// `list`, `list_entries`, `list_page` and `listdir`.
    List,
    /// `copy`.
    Copy,
    /// `rename`.
    Rename,
    /// `acl`: reading an object's ACL.
    Acl,
    /// `set_acl`.
    SetAcl,
    /// [`crate::Storage::set_attributes`].
    SetAttributes,
    /// `url`: a public or signed URL.
    Url,
    /// `temporary_url` and `presigned_request`.
    Presign,
    /// Verifying a signed URL that a client presented.
    VerifyUrl,
    /// Deriving a name: `get_valid_name`, `generate_filename`, `get_available_name`.
    Name,
    /// Copying between storages with `storage_migrate::migrate`.
    Migrate,
    /// Building a storage or a backend from its configuration.
    Configure,
    /// Not set yet: an error straight from a backend, before `Storage` names the operation.
    Unspecified,
}

impl Operation {
    /// The operation's name, as in logs and spans: `save`, `set_acl`, `presign`, ….
    pub fn name(self) -> &'static str {
        match self {
            Operation::Save => "save",
            Operation::Open => "open",
            Operation::Read => "read",
            Operation::Metadata => "metadata",
            Operation::Exists => "exists",
            Operation::Delete => "delete",
            Operation::List => "list",
            Operation::Copy => "copy",
            Operation::Rename => "rename",
            Operation::Acl => "acl",
            Operation::SetAcl => "set_acl",
            Operation::SetAttributes => "set_attributes",
            Operation::Url => "url",
            Operation::Presign => "presign",
            Operation::VerifyUrl => "verify_url",
            Operation::Name => "name",
            Operation::Migrate => "migrate",
            Operation::Configure => "configure",
            Operation::Unspecified => "storage operation",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The key an error is about, quoted, or an explicit "no key" for operations on no single object.
fn mirror_outcome(primary: &str, mirror: &str, primary_kept: &bool) -> String {
    if *primary_kept {
        format!(
            "written to the {primary} primary but the {mirror} mirror failed; repeat the call, or run `storage migrate` from the primary to the mirror"
        )
    } else {
        format!(
            "the {mirror} mirror failed, so the write was undone on the {primary} primary too; nothing was stored, try again"
        )
    }
}

fn on_key(key: &Option<String>) -> String {
    match key {
        Some(key) => format!("`{key}`"),
        None => "(no key)".to_owned(),
    }
}

/// Every failure a storage operation can report.
///
/// Messages are lowercase and say the operation, the key (or that there is none), the backend, and what to do. No
/// variant ever carries a credential: backends must map their private errors without copying secrets into `message`.
///
/// ```
/// use storage_core::{Error, ErrorKind, Operation};
/// let err = Error::not_found("s3", "reports/q3.pdf").during(Operation::Open);
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert!(err.to_string().starts_with("open `reports/q3.pdf` on the s3 backend: not found"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist.
    #[error(
        "{operation} `{key}` on the {backend} backend: not found; check the name, or list the storage to see what is there"
    )]
    NotFound {
        /// The operation that failed.
        operation: Operation,
        /// The missing object's key.
        key: String,
        /// The backend's name.
        backend: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },

    /// A create-only write or copy met an existing object.
    #[error(
        "{operation} `{key}` on the {backend} backend: the name is taken; use the overwrite policy, or the unique policy to store under another name"
    )]
    AlreadyExists {
        /// The operation that failed.
        operation: Operation,
        /// The taken key.
        key: String,
        /// The backend's name.
        backend: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },

    /// The name is not a valid storage key (quoted as given). Names are checked before any backend sees them.
    #[error("{operation} {name:?}: invalid name: {reason}")]
    InvalidName {
        /// The operation that failed.
        operation: Operation,
        /// The name as given.
        name: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// The backend does not have this capability.
    #[error(
        "{operation} on the {backend} backend: it does not support {capability}; check `Storage::capabilities()` before calling, or use a backend that has it"
    )]
    Unsupported {
        /// The operation that failed.
        operation: Operation,
        /// The missing capability, e.g. `ACLs`.
        capability: &'static str,
        /// The backend's name.
        backend: String,
    },

    /// The backend refused the operation for lack of permission.
    #[error("{operation} {} on the {backend} backend: permission denied: {message}", on_key(.key))]
    PermissionDenied {
        /// The operation that failed.
        operation: Operation,
        /// The object, if the operation was on one.
        key: Option<String>,
        /// The backend's name.
        backend: String,
        /// Why, and what to check.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },

    /// An argument other than the name was out of range (an expiry, a range, an option).
    #[error("{operation} {}: invalid argument: {message}", on_key(.key))]
    InvalidArgument {
        /// The operation that failed.
        operation: Operation,
        /// The object, if the operation was on one.
        key: Option<String>,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A storage, a backend or a signer is configured wrongly.
    #[error("{operation}: invalid configuration of {subject}: {message}")]
    Configuration {
        /// The operation that failed.
        operation: Operation,
        /// What is misconfigured: `the s3 backend`, `storage \`private\``, `the url signer`.
        subject: String,
        /// What is wrong and which setting fixes it.
        message: String,
    },

    /// A mirror storage's write succeeded on its primary but failed on a mirror. A create-only write (a save under
    /// `Unique` or `Fail`) was undone everywhere; any other write is kept by the primary.
    #[error("{operation} `{key}`: {}", mirror_outcome(.primary, .mirror, .primary_kept))]
    Mirror {
        /// The operation that failed.
        operation: Operation,
        /// The object written.
        key: String,
        /// The primary's backend name.
        primary: String,
        /// The failed mirror's backend name.
        mirror: String,
        /// Whether the primary keeps what was written (`false`: the write was undone on every member).
        primary_kept: bool,
        /// The mirror's error.
        #[source]
        source: Box<Error>,
    },

    /// Any other backend failure; `retryable` says whether trying again may help.
    #[error("{operation} {} on the {backend} backend: {message}", on_key(.key))]
    Backend {
        /// The operation that failed.
        operation: Operation,
        /// The object, if the operation was on one.
        key: Option<String>,
        /// The backend's name.
        backend: String,
        /// What failed.
        message: String,
        /// Whether the same request may succeed later: a 5xx, a 429, a timeout, a dropped connection.
        retryable: bool,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
}

/// The kind of an [`Error`], for matching and for comparing outcomes across backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::NotFound`].
    NotFound,
    /// [`Error::AlreadyExists`].
    AlreadyExists,
    /// [`Error::InvalidName`].
    InvalidName,
    /// [`Error::Unsupported`].
    Unsupported,
    /// [`Error::PermissionDenied`].
    PermissionDenied,
    /// [`Error::InvalidArgument`].
    InvalidArgument,
    /// [`Error::Configuration`].
    Configuration,
    /// [`Error::Backend`].
    Backend,
    /// [`Error::Mirror`].
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
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::Configuration { .. } => ErrorKind::Configuration,
            Error::Backend { .. } => ErrorKind::Backend,
            Error::Mirror { .. } => ErrorKind::Mirror,
        }
    }

    /// The operation this error happened in.
    pub fn operation(&self) -> Operation {
        match self {
            Error::NotFound { operation, .. }
            | Error::AlreadyExists { operation, .. }
            | Error::InvalidName { operation, .. }
            | Error::Unsupported { operation, .. }
            | Error::PermissionDenied { operation, .. }
            | Error::InvalidArgument { operation, .. }
            | Error::Configuration { operation, .. }
            | Error::Mirror { operation, .. }
            | Error::Backend { operation, .. } => *operation,
        }
    }

    /// The key this error is about (the name as given, for an invalid name), or `None` for no single object.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::NotFound { key, .. } | Error::AlreadyExists { key, .. } | Error::Mirror { key, .. } => Some(key),
            Error::InvalidName { name, .. } => Some(name),
            Error::PermissionDenied { key, .. } | Error::InvalidArgument { key, .. } | Error::Backend { key, .. } => {
                key.as_deref()
            }
            Error::Unsupported { .. } | Error::Configuration { .. } => None,
        }
    }

    /// This error, as part of `operation`: the outermost caller names the operation the user asked for.
    #[must_use]
    pub fn during(mut self, operation: Operation) -> Self {
        match &mut self {
            Error::NotFound { operation: op, .. }
            | Error::AlreadyExists { operation: op, .. }
            | Error::InvalidName { operation: op, .. }
            | Error::Unsupported { operation: op, .. }
            | Error::PermissionDenied { operation: op, .. }
            | Error::InvalidArgument { operation: op, .. }
            | Error::Configuration { operation: op, .. }
            | Error::Mirror { operation: op, .. }
            | Error::Backend { operation: op, .. } => *op = operation,
        }
        self
    }

    /// This error, reported as the backend `name`'s (a wrapper that gives an inner backend its own name).
    #[must_use]
    pub fn on_backend(mut self, name: &str) -> Self {
        match &mut self {
            Error::NotFound { backend, .. }
            | Error::AlreadyExists { backend, .. }
            | Error::Unsupported { backend, .. }
            | Error::PermissionDenied { backend, .. }
            | Error::Backend { backend, .. } => name.clone_into(backend),
            Error::InvalidName { .. }
            | Error::InvalidArgument { .. }
            | Error::Configuration { .. }
            | Error::Mirror { .. } => {}
        }
        self
    }

    /// This error with `source` as its cause, for the kinds that carry one (others are returned unchanged).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        match &mut self {
            Error::NotFound { source: slot, .. }
            | Error::AlreadyExists { source: slot, .. }
            | Error::PermissionDenied { source: slot, .. }
            | Error::Backend { source: slot, .. } => *slot = Some(source.into()),
            Error::InvalidName { .. }
            | Error::Unsupported { .. }
            | Error::InvalidArgument { .. }
            | Error::Configuration { .. }
            | Error::Mirror { .. } => {}
        }
        self
    }

    /// Whether trying the same operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Backend { retryable: true, .. })
    }

    /// `key` does not exist on `backend`.
    pub fn not_found(backend: &str, key: &str) -> Self {
        Error::NotFound {
            operation: Operation::Unspecified,
            key: key.to_owned(),
            backend: backend.to_owned(),
            source: None,
        }
    }

    /// `key` exists on `backend`, and the write or copy was create-only.
    pub fn already_exists(backend: &str, key: &str) -> Self {
        Error::AlreadyExists {
            operation: Operation::Unspecified,
            key: key.to_owned(),
            backend: backend.to_owned(),
            source: None,
        }
    }

    /// `backend` lacks `capability`.
    pub fn unsupported(backend: &str, capability: &'static str) -> Self {
        Error::Unsupported { operation: Operation::Unspecified, capability, backend: backend.to_owned() }
    }

    /// `name` is not a valid key, or no name can be derived from it, for `reason`.
    pub fn invalid_name(name: &str, reason: impl Into<String>) -> Self {
        Error::InvalidName { operation: Operation::Unspecified, name: name.to_owned(), reason: reason.into() }
    }

    /// An argument of the operation on `key` (or on none) is out of range.
    pub fn invalid_argument(key: Option<&str>, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            operation: Operation::Unspecified,
            key: key.map(str::to_owned),
            message: message.into(),
        }
    }

    /// `subject` (`the s3 backend`, `storage \`media\``) is configured wrongly: `message` says which setting.
    pub fn configuration(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Configuration { operation: Operation::Configure, subject: subject.into(), message: message.into() }
    }

    /// `backend` refused access to `key` (or to no single object); `message` says what to check.
    pub fn permission_denied(
        backend: &str,
        key: Option<&str>,
        message: impl Into<String>,
        source: Option<BoxError>,
    ) -> Self {
        Error::PermissionDenied {
            operation: Operation::Unspecified,
            key: key.map(str::to_owned),
            backend: backend.to_owned(),
            message: message.into(),
            source,
        }
    }

    /// A backend failure on `key` (or on no single object) with its cause kept as the source.
    pub fn backend(
        backend: &str,
        key: Option<&str>,
        message: impl Into<String>,
        retryable: bool,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Backend {
            operation: Operation::Unspecified,
            key: key.map(str::to_owned),
            backend: backend.to_owned(),
            message: message.into(),
            retryable,
            source: Some(source.into()),
        }
    }

    /// Map a local I/O error on `key` (or on no single object) into the matching kind.
    pub fn from_io(backend: &str, key: Option<&str>, err: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        // A stream carries a storage error as an I/O error (a cut read, a timeout): give it back whole, with its
        // message, key and retryability.
        if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let inner = err.into_inner().expect("checked").downcast::<Error>().expect("checked");
            return *inner;
        }
        let operation = Operation::Unspecified;
        let owned_key = || key.unwrap_or_default().to_owned();
        match err.kind() {
            Io::NotFound => {
                Error::NotFound { operation, key: owned_key(), backend: backend.to_owned(), source: Some(err.into()) }
            }
            Io::AlreadyExists => Error::AlreadyExists {
                operation,
                key: owned_key(),
                backend: backend.to_owned(),
                source: Some(err.into()),
            },
            Io::PermissionDenied => Error::permission_denied(
                backend,
                key,
                "the operating system refused access; check the file permissions",
                Some(err.into()),
            ),
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

//! The one public error type every backend maps its failures into, and the operation it happened in.
//!
//! One struct, as OpenDAL's: the [`ErrorKind`], the [`Operation`], the key and the backend where known, whether a
//! retry may help ([`Retry`]), an HTTP status where the backend has one, the words only its kind says, and the cause.

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

/// Whether trying the same request again may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Retry {
    /// It may: a 5xx, a 429, a timeout, a dropped connection.
    Temporary,
    /// It will not: a refusal, a missing object, a bad argument, or a temporary failure whose retries are spent
    /// ([`Error::retries_spent`]), so that no retry above one that gave up starts over.
    Permanent,
}

/// What a mirror storage's failed mirror write left on its primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MirrorOutcome {
    /// The primary keeps what was written.
    PrimaryKept,
    /// The write was undone on every member: nothing was stored.
    Undone,
}

/// Every failure a storage operation can report.
///
/// Messages are lowercase and say the operation, the key (or that there is none), the backend, and what to do; the
/// cause is the [`source`](std::error::Error::source), never repeated in the message. No error ever carries a
/// credential: backends must map their private errors without copying secrets into a message, and `Debug` shows the
/// causes by their messages, never by their own `Debug`.
///
/// ```
/// use storage_core::{Error, ErrorKind, Operation};
/// let err = Error::not_found("s3", "reports/q3.pdf").during(Operation::Open);
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert_eq!((err.key(), err.backend_name(), err.is_retryable()), (Some("reports/q3.pdf"), Some("s3"), false));
/// assert!(err.to_string().starts_with("open `reports/q3.pdf` on the s3 backend: not found"));
/// ```
pub struct Error(Box<Inner>);

/// An error's fields, boxed so that a `Result` stays small.
struct Inner {
    /// The kind, with what only that kind says.
    detail: Detail,
    operation: Operation,
    /// The object, or the name as given; `None` for an operation on no single object.
    key: Option<String>,
    /// The backend that failed or refused; `None` when nothing reached a backend (see [`Error::backend_name`]).
    backend: Option<String>,
    retry: Retry,
    status: Option<u16>,
    source: Option<BoxError>,
}

/// The kind of an error and the words only that kind says.
enum Detail {
    NotFound,
    AlreadyExists,
    /// What is wrong with the name and how to fix it.
    InvalidName(String),
    /// The missing capability, e.g. `ACLs`.
    Unsupported(&'static str),
    /// Why, and what to check.
    PermissionDenied(String),
    /// What is wrong and how to fix it.
    InvalidArgument(String),
    /// `subject`, e.g. `the s3 backend`, `storage \`private\``, `the url signer`, and which setting fixes it.
    Configuration {
        subject: String,
        message: String,
    },
    /// The failed mirror's backend name (the primary's is the error's backend), and what the primary kept.
    Mirror {
        mirror: String,
        outcome: MirrorOutcome,
    },
    /// What failed.
    Backend(String),
}

/// The kind of an [`Error`], for matching and for comparing outcomes across backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object does not exist.
    NotFound,
    /// A create-only write or copy met an existing object.
    AlreadyExists,
    /// The name is not a valid storage key (quoted as given).
    InvalidName,
    /// The backend does not have this capability.
    Unsupported,
    /// The backend refused the operation for lack of permission.
    PermissionDenied,
    /// An argument other than the name was out of range (an expiry, a range, an option).
    InvalidArgument,
    /// A storage, a backend or a signer is configured wrongly.
    Configuration,
    /// Any other backend failure; [`Error::is_retryable`] says whether trying again may help.
    Backend,
    /// A mirror storage's write succeeded on its primary but failed on a mirror. A create-only write (a save under
    /// `Unique` or `Fail`) was undone everywhere; any other write is kept by the primary.
    Mirror,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operation = self.0.operation;
        let backend = self.0.backend.as_deref().unwrap_or_default();
        // The kinds about one object always quote it, even empty; the others say when there is none.
        let key = self.0.key.as_deref().unwrap_or_default();
        let on_key = OnKey(self.0.key.as_deref());
        match &self.0.detail {
            Detail::NotFound => write!(
                f,
                "{operation} `{key}` on the {backend} backend: not found; check the name, or list the storage to see \
                 what is there"
            ),
            Detail::AlreadyExists => write!(
                f,
                "{operation} `{key}` on the {backend} backend: the name is taken; use the overwrite policy, or the \
                 unique policy to store under another name"
            ),
            Detail::InvalidName(reason) => write!(f, "{operation} {key:?}: invalid name: {reason}"),
            Detail::Unsupported(capability) => write!(
                f,
                "{operation} on the {backend} backend: it does not support {capability}; check \
                 `Storage::capabilities()` before calling, or use a backend that has it"
            ),
            Detail::PermissionDenied(message) => {
                write!(f, "{operation} {on_key} on the {backend} backend: permission denied: {message}")
            }
            Detail::InvalidArgument(message) => write!(f, "{operation} {on_key}: invalid argument: {message}"),
            Detail::Configuration { subject, message } => {
                write!(f, "{operation}: invalid configuration of {subject}: {message}")
            }
            Detail::Mirror { mirror, outcome: MirrorOutcome::PrimaryKept } => write!(
                f,
                "{operation} `{key}`: written to the {backend} primary but the {mirror} mirror failed; repeat the \
                 call, or run `storage migrate` from the primary to the mirror"
            ),
            Detail::Mirror { mirror, outcome: MirrorOutcome::Undone } => write!(
                f,
                "{operation} `{key}`: the {mirror} mirror failed, so the write was undone on the {backend} primary \
                 too; nothing was stored, try again"
            ),
            Detail::Backend(message) => write!(f, "{operation} {on_key} on the {backend} backend: {message}"),
        }
    }
}

/// The key an error is about, quoted, or an explicit "no key" for operations on no single object.
struct OnKey<'a>(Option<&'a str>);

impl fmt::Display for OnKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(key) => write!(f, "`{key}`"),
            None => f.write_str("(no key)"),
        }
    }
}

/// The fields, the message, and each cause by its message: a cause's own `Debug` may show what its message hides (an
/// HTTP client's shows the request, signed URL and all), so it is never printed.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind())
            .field("operation", &self.0.operation)
            .field("key", &self.0.key)
            .field("backend", &self.0.backend)
            .field("retry", &self.0.retry)
            .field("status", &self.0.status)
            .field("message", &self.to_string())
            .field("causes", &Causes(self))
            .finish()
    }
}

/// The messages of an error's causes, outermost first, each said once: a cause whose words the message before it
/// already holds (a wrapper that prints its source) is left out.
struct Causes<'a>(&'a Error);

impl fmt::Debug for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut said = self.0.to_string();
        let mut next = std::error::Error::source(self.0);
        while let Some(cause) = next {
            let text = cause.to_string();
            if !said.contains(&text) {
                list.entry(&text);
            }
            said = text;
            next = cause.source();
        }
        list.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source.as_deref().map(|source| source as &(dyn std::error::Error + 'static))
    }
}

impl Error {
    /// An error of `detail` from the backend `backend` (if one was reached), on `key`, in no operation yet, permanent.
    fn new(detail: Detail, backend: Option<&str>, key: Option<&str>) -> Self {
        Error(Box::new(Inner {
            detail,
            operation: Operation::Unspecified,
            key: key.map(str::to_owned),
            backend: backend.map(str::to_owned),
            retry: Retry::Permanent,
            status: None,
            source: None,
        }))
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self.0.detail {
            Detail::NotFound => ErrorKind::NotFound,
            Detail::AlreadyExists => ErrorKind::AlreadyExists,
            Detail::InvalidName(_) => ErrorKind::InvalidName,
            Detail::Unsupported(_) => ErrorKind::Unsupported,
            Detail::PermissionDenied(_) => ErrorKind::PermissionDenied,
            Detail::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Detail::Configuration { .. } => ErrorKind::Configuration,
            Detail::Mirror { .. } => ErrorKind::Mirror,
            Detail::Backend(_) => ErrorKind::Backend,
        }
    }

    /// The operation this error happened in.
    pub fn operation(&self) -> Operation {
        self.0.operation
    }

    /// The key this error is about (the name as given, for an invalid name), or `None` for no single object.
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// The name of the backend that failed or refused (a mirror storage's primary, for a mirror failure), or `None`
    /// when the error came before any backend was asked: a name or an argument the storage's policy refused, a
    /// configuration read before a backend was built. Every error a backend builds names it. (Not `backend()`: that
    /// is the constructor of [`ErrorKind::Backend`] errors, named for its kind as every constructor is.)
    pub fn backend_name(&self) -> Option<&str> {
        self.0.backend.as_deref()
    }

    /// Whether trying the same operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.0.retry == Retry::Temporary
    }

    /// The HTTP status the backend answered with, where it has one.
    pub fn status(&self) -> Option<u16> {
        self.0.status
    }

    /// What is wrong and what to do, in the error's own words: the reason of an invalid name, the message of an
    /// invalid argument, a refused permission, a configuration or a backend failure; `None` for the other kinds.
    pub fn message(&self) -> Option<&str> {
        match &self.0.detail {
            Detail::InvalidName(message)
            | Detail::PermissionDenied(message)
            | Detail::InvalidArgument(message)
            | Detail::Configuration { message, .. }
            | Detail::Backend(message) => Some(message),
            Detail::NotFound | Detail::AlreadyExists | Detail::Unsupported(_) | Detail::Mirror { .. } => None,
        }
    }

    /// The capability an `Unsupported` error says the backend lacks, e.g. `ACLs`.
    pub fn capability(&self) -> Option<&'static str> {
        match self.0.detail {
            Detail::Unsupported(capability) => Some(capability),
            _ => None,
        }
    }

    /// This error, as part of `operation`: the outermost caller names the operation the user asked for.
    #[must_use]
    pub fn during(mut self, operation: Operation) -> Self {
        self.0.operation = operation;
        self
    }

    /// This error, reported as the backend `name`'s (a wrapper that gives an inner backend its own name, or a backend
    /// naming itself on an error of a kind whose constructor takes no backend).
    #[must_use]
    pub fn on_backend(mut self, name: &str) -> Self {
        self.0.backend = Some(name.to_owned());
        self
    }

    /// This error with `source` as its cause, in place of any cause it had.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.0.source = Some(source.into());
        self
    }

    /// This error, with the HTTP status the backend answered.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.0.status = Some(status);
        self
    }

    /// This error, marked as worth a retry ([`Retry::Temporary`]) or not. Every constructor makes it permanent.
    #[must_use]
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.0.retry = retry;
        self
    }

    /// This error as a retry loop returns it once its tries are spent: permanent, so that no retry above starts the
    /// whole policy over.
    #[must_use]
    pub fn retries_spent(self) -> Self {
        self.with_retry(Retry::Permanent)
    }

    /// `key` does not exist on `backend`.
    pub fn not_found(backend: &str, key: &str) -> Self {
        Error::new(Detail::NotFound, Some(backend), Some(key))
    }

    /// `key` exists on `backend`, and the write or copy was create-only.
    pub fn already_exists(backend: &str, key: &str) -> Self {
        Error::new(Detail::AlreadyExists, Some(backend), Some(key))
    }

    /// `backend` lacks `capability`.
    pub fn unsupported(backend: &str, capability: &'static str) -> Self {
        Error::new(Detail::Unsupported(capability), Some(backend), None)
    }

    /// `name` is not a valid key, or no name can be derived from it, for `reason`. Names are checked before any
    /// backend sees them, so there is no backend; a backend that refuses a name itself adds its own with
    /// [`Error::on_backend`].
    pub fn invalid_name(name: &str, reason: impl Into<String>) -> Self {
        Error::new(Detail::InvalidName(reason.into()), None, Some(name))
    }

    /// An argument of the operation on `key` (or on none) is out of range. A backend that refuses one adds its name
    /// with [`Error::on_backend`].
    pub fn invalid_argument(key: Option<&str>, message: impl Into<String>) -> Self {
        Error::new(Detail::InvalidArgument(message.into()), None, key)
    }

    /// `subject` (`the s3 backend`, `storage \`media\``) is configured wrongly: `message` says which setting. A
    /// backend's own configuration adds its name with [`Error::on_backend`].
    pub fn configuration(subject: impl Into<String>, message: impl Into<String>) -> Self {
        let detail = Detail::Configuration { subject: subject.into(), message: message.into() };
        Error::new(detail, None, None).during(Operation::Configure)
    }

    /// `backend` refused access to `key` (or to no single object); `message` says what to check.
    pub fn permission_denied(
        backend: &str,
        key: Option<&str>,
        message: impl Into<String>,
        source: Option<BoxError>,
    ) -> Self {
        let mut err = Error::new(Detail::PermissionDenied(message.into()), Some(backend), key);
        err.0.source = source;
        err
    }

    /// A backend failure on `key` (or on no single object): `message` says what failed. Permanent until marked
    /// [`Retry::Temporary`] with [`Error::with_retry`]; the cause goes in [`Error::with_source`].
    pub fn backend(backend: &str, key: Option<&str>, message: impl Into<String>) -> Self {
        Error::new(Detail::Backend(message.into()), Some(backend), key)
    }

    /// The write of `key` succeeded on the `primary` backend and failed on the `mirror` one with `source`;
    /// `outcome` says whether the primary keeps it.
    pub fn mirror(primary: &str, mirror: &str, key: &str, outcome: MirrorOutcome, source: Error) -> Self {
        let detail = Detail::Mirror { mirror: mirror.to_owned(), outcome };
        Error::new(detail, Some(primary), Some(key)).with_source(source)
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
        match err.kind() {
            Io::NotFound => Error::new(Detail::NotFound, Some(backend), key).with_source(err),
            Io::AlreadyExists => Error::new(Detail::AlreadyExists, Some(backend), key).with_source(err),
            Io::PermissionDenied => Error::permission_denied(
                backend,
                key,
                "the operating system refused access; check the file permissions",
                Some(err.into()),
            ),
            kind => {
                let retry = match kind {
                    Io::Interrupted | Io::TimedOut | Io::WouldBlock => Retry::Temporary,
                    _ => Retry::Permanent,
                };
                Error::backend(backend, key, format!("i/o error ({kind})")).with_retry(retry).with_source(err)
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

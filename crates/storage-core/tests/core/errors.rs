//! Error messages: lowercase, naming the operation, the key (or none) and the backend, no trailing period, and never
//! a secret.

use storage_core::signing::{SigningKey, UrlSigner};
use storage_core::{Error, ErrorKind, MirrorOutcome, Operation, Retry};

fn every_variant() -> Vec<Error> {
    vec![
        Error::not_found("s3", "a.txt"),
        Error::already_exists("s3", "a.txt"),
        Error::invalid_name("../a", "the name has a `..` segment"),
        Error::unsupported("fs", "ACLs"),
        Error::permission_denied("s3", Some("a.txt"), "access denied", None),
        Error::invalid_argument(Some("a.txt"), "expiry too long"),
        Error::configuration("the s3 backend", "no bucket"),
        Error::backend("s3", Some("a.txt"), "connection reset")
            .with_retry(Retry::Temporary)
            .with_source(std::io::Error::other("reset")),
        Error::mirror("s3", "fs", "a.txt", MirrorOutcome::PrimaryKept, Error::not_found("fs", "a.txt")),
    ]
}

#[test]
fn messages_name_the_operation_the_storage_reports() {
    for err in every_variant() {
        let err = err.during(Operation::SetAcl);
        assert_eq!(err.operation(), Operation::SetAcl);
        assert!(err.to_string().starts_with("set_acl"), "{err}");
    }
}

#[test]
fn a_missing_key_is_said_explicitly() {
    let err = Error::backend("s3", None, "listing buckets failed").with_source("reset").during(Operation::List);
    assert_eq!(err.to_string(), "list (no key) on the s3 backend: listing buckets failed");
    let err = Error::invalid_argument(None, "the page size must be at least 1").during(Operation::List);
    assert!(err.to_string().contains("(no key)"), "{err}");
}

#[test]
fn a_wrapper_renames_the_backend_and_keeps_the_cause() {
    let err = Error::not_found("s3", "a.txt").with_source(std::io::Error::other("404")).on_backend("minio");
    assert!(err.to_string().contains("the minio backend"), "{err}");
    assert_eq!(std::error::Error::source(&err).map(ToString::to_string).as_deref(), Some("404"));
}

#[test]
fn messages_are_lowercase_sentences_without_a_period() {
    for err in every_variant() {
        let message = err.to_string();
        assert!(message.chars().next().is_some_and(|c| !c.is_uppercase()), "{message}");
        assert!(!message.ends_with('.'), "{message}");
    }
}

#[test]
fn messages_name_the_key_and_backend() {
    for err in every_variant() {
        let message = err.to_string();
        match err.kind() {
            ErrorKind::InvalidName => assert!(message.contains("\"../a\""), "{message}"),
            ErrorKind::Configuration | ErrorKind::Unsupported => assert!(message.contains("backend"), "{message}"),
            ErrorKind::Mirror => assert!(message.contains("a.txt") && message.contains("fs mirror"), "{message}"),
            ErrorKind::InvalidArgument => assert!(message.contains("a.txt"), "{message}"),
            _ => assert!(message.contains("a.txt") && message.contains("s3"), "{message}"),
        }
    }
}

#[test]
fn the_source_is_kept_but_not_repeated() {
    let err = Error::backend("s3", Some("a.txt"), "connection reset")
        .with_retry(Retry::Temporary)
        .with_source(std::io::Error::other("tcp rst from peer"));
    assert!(err.is_retryable());
    assert!(!err.to_string().contains("tcp rst"), "Display leaves the cause to the chain");
    let source = std::error::Error::source(&err).expect("a source");
    assert_eq!(source.to_string(), "tcp rst from peer");
}

#[test]
fn io_errors_map_to_kinds() {
    use std::io::{Error as Io, ErrorKind as K};
    let kind = |k| Error::from_io("fs", Some("a"), Io::from(k)).kind();
    assert_eq!(kind(K::NotFound), ErrorKind::NotFound);
    assert_eq!(kind(K::AlreadyExists), ErrorKind::AlreadyExists);
    assert_eq!(kind(K::PermissionDenied), ErrorKind::PermissionDenied);
    assert_eq!(kind(K::Other), ErrorKind::Backend);
    assert!(Error::from_io("fs", Some("a"), Io::from(K::TimedOut)).is_retryable());
    let back: Io = Error::not_found("fs", "a").into();
    assert_eq!(back.kind(), K::NotFound);
}

#[test]
fn secrets_never_appear_in_debug_or_display() {
    let secret = b"hunter2-hunter2-hunter2-hunter2-hunter2".to_vec();
    let key = SigningKey::new("k1", secret.clone()).unwrap();
    let signer = UrlSigner::new("http://x.test/", key.clone()).with_previous_key(key.clone());
    let texts = [format!("{key:?}"), format!("{signer:?}"), format!("{signer:#?}")];
    for text in texts {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains(&format!("{:?}", &secret[..4])), "no raw bytes either: {text}");
        assert!(text.contains("redacted"), "{text}");
    }
    let short = SigningKey::new("k2", b"hunter2".to_vec()).unwrap_err();
    assert!(!short.to_string().contains("hunter2") && !format!("{short:?}").contains("hunter2"), "{short}");
}

/// Every kind's message, word for word: the struct must say exactly what the enum said.
#[test]
fn every_kind_says_what_it_always_said() {
    use std::io::{Error as Io, ErrorKind as K};
    let mirror = |outcome| Error::mirror("s3", "fs", "a.txt", outcome, Error::not_found("fs", "a.txt"));
    let table = [
        (
            Error::not_found("s3", "reports/q3.pdf").during(Operation::Open),
            "open `reports/q3.pdf` on the s3 backend: not found; check the name, or list the storage to see what is there",
        ),
        (
            Error::already_exists("fs", "a.txt").during(Operation::Save),
            "save `a.txt` on the fs backend: the name is taken; use the overwrite policy, or the unique policy to store \
             under another name",
        ),
        (
            Error::invalid_name("../a", "the name has a `..` segment"),
            "storage operation \"../a\": invalid name: the name has a `..` segment",
        ),
        (
            Error::unsupported("fs", "ACLs").during(Operation::SetAcl),
            "set_acl on the fs backend: it does not support ACLs; check `Storage::capabilities()` before calling, or \
             use a backend that has it",
        ),
        (
            Error::permission_denied("s3", Some("a.txt"), "access denied", None).during(Operation::Read),
            "read `a.txt` on the s3 backend: permission denied: access denied",
        ),
        (
            Error::permission_denied("s3", None, "access denied", None).during(Operation::List),
            "list (no key) on the s3 backend: permission denied: access denied",
        ),
        (
            Error::invalid_argument(Some("a.txt"), "expiry too long").during(Operation::Presign),
            "presign `a.txt`: invalid argument: expiry too long",
        ),
        (
            Error::invalid_argument(None, "the page size must be at least 1").during(Operation::List),
            "list (no key): invalid argument: the page size must be at least 1",
        ),
        (
            Error::configuration("the s3 backend", "no bucket"),
            "configure: invalid configuration of the s3 backend: no bucket",
        ),
        (
            Error::backend("s3", Some("a.txt"), "connection reset").with_source("reset").during(Operation::Save),
            "save `a.txt` on the s3 backend: connection reset",
        ),
        (
            mirror(MirrorOutcome::PrimaryKept).during(Operation::Save),
            "save `a.txt`: written to the s3 primary but the fs mirror failed; repeat the call, or run `storage migrate` from the primary to the mirror",
        ),
        (
            mirror(MirrorOutcome::Undone).during(Operation::Delete),
            "delete `a.txt`: the fs mirror failed, so the write was undone on the s3 primary too; nothing was stored, \
             try again",
        ),
        (
            Error::from_io("fs", None, Io::from(K::NotFound)).during(Operation::Open),
            "open `` on the fs backend: not found; check the name, or list the storage to see what is there",
        ),
        (
            Error::from_io("fs", Some("a.txt"), Io::from(K::PermissionDenied)),
            "storage operation `a.txt` on the fs backend: permission denied: the operating system refused access; \
             check the file permissions",
        ),
        (
            Error::from_io("fs", None, Io::from(K::TimedOut)).during(Operation::Copy),
            "copy (no key) on the fs backend: i/o error (timed out)",
        ),
    ];
    for (err, message) in table {
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn with_source_keeps_the_source_for_every_kind() {
    for err in every_variant() {
        let kind = err.kind();
        let err = err.with_source(std::io::Error::other("the cause"));
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("the cause"), "{kind}");
    }
}

#[test]
fn on_backend_names_the_backend_of_every_kind() {
    for err in every_variant() {
        let err = err.on_backend("minio");
        assert_eq!(err.backend_name(), Some("minio"), "{err}");
    }
}

/// A cause whose `Debug` shows what its `Display` leaves out, as an HTTP client's shows a signed URL.
#[derive(Debug)]
struct Leaky {
    #[allow(dead_code, reason = "only read by Debug, which the test checks does not print it")]
    url: &'static str,
}

impl std::fmt::Display for Leaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset")
    }
}

impl std::error::Error for Leaky {}

#[test]
fn debug_says_no_more_than_the_messages() {
    let leaky = Leaky { url: "https://b.test/a.txt?X-Amz-Signature=hunter2" };
    let err = Error::backend("s3", Some("a.txt"), "the request failed").with_source(leaky).during(Operation::Read);
    for debug in [format!("{err:?}"), format!("{err:#?}")] {
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("connection reset") && debug.contains("a.txt") && debug.contains("Read"), "{debug}");
    }
}

/// A parser error that prints its own cause, as quick-xml's and many others do.
#[derive(Debug)]
struct Restating(std::io::Error);

impl std::fmt::Display for Restating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ill-formed document: {}", self.0)
    }
}

impl std::error::Error for Restating {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn debug_says_each_cause_once() {
    let cause = Restating(std::io::Error::other("start tag not closed"));
    let err = Error::backend("s3", Some("a.txt"), "the reply does not parse").with_source(cause);
    let debug = format!("{err:?}");
    assert_eq!(debug.matches("start tag not closed").count(), 1, "{debug}");
    assert!(debug.contains("ill-formed document: start tag not closed"), "{debug}");
}

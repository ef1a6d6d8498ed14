//! Error messages: lowercase, naming the key and backend, no trailing period, and never a secret.

use storage_core::signing::{SigningKey, UrlSigner};
use storage_core::{Error, ErrorKind};

fn every_variant() -> Vec<Error> {
    vec![
        Error::not_found("s3", "a.txt"),
        Error::already_exists("s3", "a.txt"),
        Error::invalid_name("../a", "the name has a `..` segment"),
        Error::unsupported("fs", "ACLs"),
        Error::PermissionDenied {
            key: "a.txt".into(),
            backend: "s3".into(),
            message: "access denied".into(),
            source: None,
        },
        Error::PreconditionFailed {
            key: "a.txt".into(),
            backend: "s3".into(),
            message: "etag changed".into(),
            source: None,
        },
        Error::invalid_argument("a.txt", "expiry too long"),
        Error::Configuration { backend: "s3".into(), message: "no bucket".into() },
        Error::backend("s3", "a.txt", "connection reset", true, std::io::Error::other("reset")),
    ]
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
            ErrorKind::InvalidArgument => assert!(message.contains("a.txt"), "{message}"),
            _ => assert!(message.contains("a.txt") && message.contains("s3"), "{message}"),
        }
    }
}

#[test]
fn the_source_is_kept_but_not_repeated() {
    let err = Error::backend("s3", "a.txt", "connection reset", true, std::io::Error::other("tcp rst from peer"));
    assert!(err.is_retryable());
    assert!(!err.to_string().contains("tcp rst"), "Display leaves the cause to the chain");
    let source = std::error::Error::source(&err).expect("a source");
    assert_eq!(source.to_string(), "tcp rst from peer");
}

#[test]
fn io_errors_map_to_kinds() {
    use std::io::{Error as Io, ErrorKind as K};
    let kind = |k| Error::from_io("fs", "a", Io::from(k)).kind();
    assert_eq!(kind(K::NotFound), ErrorKind::NotFound);
    assert_eq!(kind(K::AlreadyExists), ErrorKind::AlreadyExists);
    assert_eq!(kind(K::PermissionDenied), ErrorKind::PermissionDenied);
    assert_eq!(kind(K::Other), ErrorKind::Backend);
    assert!(Error::from_io("fs", "a", Io::from(K::TimedOut)).is_retryable());
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

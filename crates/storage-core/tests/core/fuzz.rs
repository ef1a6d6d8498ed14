//! Fuzzing of the parsers an attacker reaches in storage-core: signed-URL verification, upload-policy decoding and
//! key validation. Arbitrary bytes and structure-aware mutations of valid inputs; `cargo xtask fuzz` runs them
//! longer (`PROPTEST_CASES`) and keeps any failing input in `proptest-regressions/`.
//!
//! Invariants: no panic; a tampered URL is refused unless its text is unchanged, and a tampered form is refused or
//! grants exactly what the untampered one granted; nothing accepted names a key outside the storage.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use storage_core::signing::{FIELD_KEY_ID, FIELD_POLICY, FIELD_SIGNATURE, SigningKey, UrlSigner};
use storage_core::{Acl, Checksum, Method, PresignRequest, UploadPolicy, validate_key};

const BASE: &str = "http://127.0.0.1:8000/files/";

fn signer() -> UrlSigner {
    UrlSigner::new(BASE, SigningKey::new("k1", vec![7; 32]).expect("a valid key"))
        .with_previous_key(SigningKey::new("k0", vec![9; 32]).expect("a valid key"))
}

/// Keys as users write them: unicode of every kind, URL-special characters, several segments.
fn key() -> impl Strategy<Value = String> {
    let segment = proptest::string::string_regex("[a-zA-Z0-9 #%+?&=;,~'()é日🦀\u{200b}\u{301}\u{202e}._-]{1,10}")
        .expect("a valid regex")
        .prop_filter("not a dot segment", |s| s != "." && s != "..");
    proptest::collection::vec(segment, 1..4).prop_map(|segments| segments.join("/"))
}

/// Every field a signed URL can carry, for either method.
fn request() -> impl Strategy<Value = PresignRequest> {
    let text = || proptest::option::of("[ -~]{0,20}");
    (
        key(),
        any::<bool>(),
        1..86_400u64,
        (text(), text(), text()),
        proptest::option::of(prop_oneof![Just(Acl::Private), Just(Acl::PublicRead)]),
        any::<bool>(),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<[u8; 16]>()),
    )
        .prop_map(
            |(key, put, seconds, (disposition, response_type, content_type), acl, create_only, length, md5)| {
                let method = if put { Method::Put } else { Method::Get };
                let mut request = PresignRequest::new(method, key, Duration::from_secs(seconds));
                request.response_content_disposition = disposition;
                request.response_content_type = response_type;
                request.content_type = content_type;
                request.acl = acl;
                request.create_only = create_only;
                request.content_length = length;
                request.content_md5 = md5;
                request
            },
        )
}

/// One edit an attacker can make to a URL or a form field.
#[derive(Debug, Clone)]
enum Tamper {
    Replace(prop::sample::Index, char),
    Insert(prop::sample::Index, char),
    Remove(prop::sample::Index),
    /// Drop one `&`-separated parameter.
    DropParam(prop::sample::Index),
    /// Repeat one parameter at the end.
    RepeatParam(prop::sample::Index),
    /// Swap two parameters.
    SwapParams(prop::sample::Index, prop::sample::Index),
    Append(String),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    let index = any::<prop::sample::Index>;
    let character = || prop_oneof![any::<char>(), proptest::char::range('%', 'z')];
    prop_oneof![
        (index(), character()).prop_map(|(at, c)| Tamper::Replace(at, c)),
        (index(), character()).prop_map(|(at, c)| Tamper::Insert(at, c)),
        index().prop_map(Tamper::Remove),
        index().prop_map(Tamper::DropParam),
        index().prop_map(Tamper::RepeatParam),
        (index(), index()).prop_map(|(a, b)| Tamper::SwapParams(a, b)),
        "&[A-Za-z-]{1,24}=[ -~]{0,8}".prop_map(Tamper::Append),
    ]
}

impl Tamper {
    fn apply(&self, text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        let (head, query) = text.split_once('?').unwrap_or(("", text));
        let mut params: Vec<&str> = query.split('&').collect();
        let rejoin = |params: &[&str]| {
            if head.is_empty() { params.join("&") } else { format!("{head}?{}", params.join("&")) }
        };
        match self {
            Tamper::Replace(..) | Tamper::Remove(_) if chars.is_empty() => text.to_owned(),
            Tamper::Replace(at, c) => {
                let at = at.index(chars.len());
                chars[at] = *c;
                chars.into_iter().collect()
            }
            Tamper::Insert(at, c) => {
                chars.insert(at.index(chars.len() + 1), *c);
                chars.into_iter().collect()
            }
            Tamper::Remove(at) => {
                chars.remove(at.index(chars.len()));
                chars.into_iter().collect()
            }
            Tamper::DropParam(at) => {
                params.remove(at.index(params.len()));
                rejoin(&params)
            }
            Tamper::RepeatParam(at) => {
                let repeated = params[at.index(params.len())];
                params.push(repeated);
                rejoin(&params)
            }
            Tamper::SwapParams(a, b) => {
                let (a, b) = (a.index(params.len()), b.index(params.len()));
                params.swap(a, b);
                rejoin(&params)
            }
            Tamper::Append(extra) => format!("{text}{extra}"),
        }
    }
}

/// Upload policies with every field set or not.
fn policy() -> impl Strategy<Value = UploadPolicy> {
    (
        key(),
        any::<bool>(),
        proptest::option::of((0..1000u64, 0..1000u64)),
        proptest::option::of(prop_oneof![Just("image/png"), Just("text/plain")]),
        proptest::option::of(any::<[u8; 16]>()),
        any::<bool>(),
        proptest::option::of("https://app\\.test/[a-z?=&]{0,10}"),
    )
        .prop_map(|(key, prefix, size, content_type, md5, overwrite, redirect)| {
            let mut policy = if prefix { UploadPolicy::prefix(format!("{key}/")) } else { UploadPolicy::exact(key) };
            if let Some((a, b)) = size {
                policy = policy.with_size(a.min(b)..=a.max(b));
            }
            if let Some(content_type) = content_type {
                policy = policy.with_content_type(content_type);
            }
            if let Some(md5) = md5 {
                policy = policy.with_checksum(Checksum::Md5(md5));
            }
            if overwrite {
                policy = policy.allowing_overwrite();
            }
            if let Some(redirect) = redirect {
                policy = policy.with_success_redirect(redirect);
            }
            policy.expires_in(Duration::from_secs(600))
        })
}

proptest! {
    /// Arbitrary paths and queries never panic and are never accepted.
    #[test]
    fn fuzz_signed_url_verification(path in "\\PC{0,40}", query in "\\PC{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let signer = signer();
        let raw = String::from_utf8_lossy(&bytes);
        let url = format!("{BASE}{raw}");
        for method in [Method::Get, Method::Put] {
            prop_assert!(signer.verify(method, &path, &query, SystemTime::now()).is_err());
            prop_assert!(signer.verify(method, &path, &raw, SystemTime::now()).is_err());
            prop_assert!(signer.verify_url(method, &url, SystemTime::now()).is_err());
        }
    }

    /// A signed URL changed in any way is refused, even when the change keeps the grant (`%2f` for `%2F`, a
    /// reordered parameter); what it grants is always a valid key.
    #[test]
    fn fuzz_tampered_signed_urls(request in request(), edits in proptest::collection::vec(tamper(), 1..4)) {
        let signer = signer();
        let now = SystemTime::now();
        let url = signer.sign(&request, now).expect("a request within the limits signs");
        let original = signer.verify_url(request.method, &url, now).expect("an untampered url verifies");
        let forged = edits.iter().fold(url.clone(), |text, edit| edit.apply(&text));
        for method in [Method::Get, Method::Put] {
            if let Ok(granted) = signer.verify_url(method, &forged, now) {
                prop_assert!(validate_key(&granted.key).is_ok(), "granted an invalid key {:?}", granted.key);
                // Only the exact text signed verifies: no other spelling of the same grant.
                prop_assert_eq!(&forged, &url, "a changed url was accepted");
                prop_assert_eq!(&granted, &original, "{} became {}", url, forged);
            }
        }
    }

    /// Arbitrary form fields never panic and are never accepted; a signed policy changed in any way is refused or
    /// decodes to the very same policy.
    #[test]
    fn fuzz_upload_policy_decoding(
        policy in policy(),
        field in 0..3usize,
        edits in proptest::collection::vec(tamper(), 1..3),
        noise in "\\PC{0,120}",
    ) {
        let signer = signer();
        let now = SystemTime::now();
        for (policy_text, key_id, signature) in [(&*noise, "k1", &*noise), (&*noise, &*noise, "AAAA")] {
            prop_assert!(signer.verify_upload(policy_text, key_id, signature, now).is_err());
        }
        let form = signer.sign_upload(&policy, now).expect("a policy within the limits signs");
        let value = |name: &str| form.field(name).expect("the form has the field").to_owned();
        let mut fields = [value(FIELD_POLICY), value(FIELD_KEY_ID), value(FIELD_SIGNATURE)];
        let original = signer.verify_upload(&fields[0], &fields[1], &fields[2], now).expect("an untampered form verifies");
        fields[field] = edits.iter().fold(fields[field].clone(), |text, edit| edit.apply(&text));
        if let Ok(verified) = signer.verify_upload(&fields[0], &fields[1], &fields[2], now) {
            prop_assert_eq!(verified, original);
        }
    }

    /// A key that passes validation is a plain relative path: it can never name the root itself, a parent, or a
    /// path another backend would read differently.
    #[test]
    fn fuzz_key_validation(raw in prop_oneof![
        "\\PC{0,64}",
        proptest::collection::vec(prop_oneof![Just(".."), Just("."), Just(""), Just("a"), Just("\\"), Just("\u{0}"), Just("é"), Just("%2e%2e")], 0..8)
            .prop_map(|parts| parts.join("/")),
        proptest::collection::vec(any::<u8>(), 0..1100).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]) {
        if validate_key(&raw).is_ok() {
            prop_assert!(!raw.is_empty() && raw.len() <= storage_core::name::MAX_KEY_BYTES);
            prop_assert!(!raw.starts_with('/') && !raw.contains('\\'));
            prop_assert!(!raw.chars().any(char::is_control));
            prop_assert!(raw.split('/').all(|segment| !matches!(segment, "" | "." | "..")));
            let depth = std::path::Path::new(&raw).components().try_fold(0i32, |depth, component| {
                use std::path::Component;
                match component {
                    Component::Normal(_) => Some(depth + 1),
                    _ => None,
                }
            });
            prop_assert!(depth.is_some_and(|depth| depth >= 1), "{:?} is not a plain relative path", raw);
        }
    }
}

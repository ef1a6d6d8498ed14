//! The shared HMAC URL signer: round trips, every kind of refusal, rotation, and tamper resistance.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use storage_core::signing::{SignatureError, SigningKey, UrlSigner, decode_key_path, encode_key_path};
use storage_core::{Acl, Method, PresignRequest};

const BASE: &str = "http://127.0.0.1:8000/files/";

fn signer(id: &str, byte: u8) -> UrlSigner {
    UrlSigner::new(BASE, SigningKey::new(id, vec![byte; 32]).unwrap())
}

fn get(key: &str) -> PresignRequest {
    PresignRequest::new(Method::Get, key, Duration::from_secs(60))
}

fn now() -> SystemTime {
    SystemTime::now()
}

#[test]
fn a_signed_url_verifies_and_grants_what_was_signed() {
    let signer = signer("k1", 1);
    let mut request = get("docs/report #1.pdf");
    request.response_content_disposition = Some("attachment; filename=\"r.pdf\"".into());
    request.response_content_type = Some("application/pdf".into());
    let url = signer.sign(&request, now()).unwrap();
    assert!(url.starts_with("http://127.0.0.1:8000/files/docs/report%20%231.pdf?"), "{url}");
    let granted = signer.verify_url(Method::Get, &url, now()).expect("valid");
    assert_eq!(granted.key, "docs/report #1.pdf");
    assert_eq!(granted.response_content_disposition.as_deref(), Some("attachment; filename=\"r.pdf\""));
    assert_eq!(granted.response_content_type.as_deref(), Some("application/pdf"));
    assert!(!granted.create_only);
}

#[test]
fn put_constraints_are_signed() {
    let signer = signer("k1", 1);
    let mut request = PresignRequest::new(Method::Put, "up.txt", Duration::from_secs(60));
    request.content_type = Some("text/plain".into());
    request.acl = Some(Acl::Private);
    request.create_only = true;
    let url = signer.sign(&request, now()).unwrap();
    let granted = signer.verify_url(Method::Put, &url, now()).expect("valid");
    assert_eq!(
        (granted.content_type.as_deref(), granted.acl, granted.create_only),
        (Some("text/plain"), Some(Acl::Private), true)
    );
    for (from, to) in [("X-Storage-Create-Only=1&", ""), ("private", "public-read"), ("text%2Fplain", "text%2Fhtml")] {
        let forged = url.replacen(from, to, 1);
        assert_ne!(forged, url);
        assert!(signer.verify_url(Method::Put, &forged, now()).is_err(), "dropping or changing a constraint: {forged}");
    }
}

#[test]
fn refusals() {
    let signer = signer("k1", 1);
    let url = signer.sign(&get("a.txt"), now()).unwrap();
    let check = |url: &str, method, at, expected: SignatureError| {
        assert_eq!(signer.verify_url(method, url, at), Err(expected), "{url}");
    };
    check(&url, Method::Get, now() + Duration::from_secs(61), SignatureError::Expired);
    check(&url, Method::Put, now(), SignatureError::WrongMethod);
    check(&url.replace("a.txt", "b.txt"), Method::Get, now(), SignatureError::BadSignature);
    check(&url.replace("X-Storage-Expires=", "X-Storage-Expires=9"), Method::Get, now(), SignatureError::BadSignature);
    check(
        &url.replace("X-Storage-Method=GET", "X-Storage-Method=PUT"),
        Method::Put,
        now(),
        SignatureError::BadSignature,
    );
    check(&format!("{url}&extra=1"), Method::Get, now(), SignatureError::Malformed("unknown query parameter"));
    check(
        &format!("{url}&X-Storage-Method=GET"),
        Method::Get,
        now(),
        SignatureError::Malformed("a query parameter is repeated or out of order"),
    );
    check(
        &url.replace("http://127.0.0.1:8000/", "http://evil.test/"),
        Method::Get,
        now(),
        SignatureError::NotUnderBase,
    );
    let unsigned = url.split("&X-Storage-Signature").next().unwrap();
    check(unsigned, Method::Get, now(), SignatureError::Malformed("a required query parameter is missing"));
    check(
        &url.replace("files/a.txt", "files/..%2Fa.txt"),
        Method::Get,
        now(),
        SignatureError::Malformed("the path is not a valid key"),
    );
}

/// The threat model refuses any changed character, even one that keeps the grant: another spelling of a number, a
/// name, a value or the path, an empty pair, a reordered parameter.
#[test]
fn another_spelling_of_the_same_signed_url_is_refused() {
    let signer = signer("k1", 1);
    let mut request = PresignRequest::new(Method::Put, "dir/é.txt", Duration::from_secs(60));
    request.content_type = Some("text/plain".into());
    request.content_length = Some(5);
    let url = signer.sign(&request, now()).unwrap();
    assert!(signer.verify_url(Method::Put, &url, now()).is_ok());
    let expires = url.split("X-Storage-Expires=").nth(1).unwrap().split('&').next().unwrap();
    let (head, query) = url.split_once('?').unwrap();
    let swapped = {
        let mut params: Vec<&str> = query.split('&').collect();
        params.swap(0, 1);
        format!("{head}?{}", params.join("&"))
    };
    let respellings = [
        url.replace(&format!("Expires={expires}"), &format!("Expires=%2B{expires}")),
        url.replace(&format!("Expires={expires}"), &format!("Expires=0{expires}")),
        url.replace("Expires=", "Expires=+"),
        url.replace("Content-Length=5", "Content-Length=05"),
        url.replace("Content-Length=5", "Content-Length=%35"),
        url.replace("X-Storage-Method=PUT", "X-Storage-Method=%50UT"),
        url.replace("X-Storage-Method", "X-Storage-%4Dethod"),
        url.replace("text%2Fplain", "text%2fplain"),
        url.replace("text%2Fplain", "text/plain"),
        url.replace("%C3%A9", "%c3%a9"),
        url.replace("dir/", "%64ir/"),
        url.replace('?', "?&"),
        format!("{url}&"),
        url.replace("&X-Storage-Key-Id", "&&X-Storage-Key-Id"),
        url.replace("&X-Storage-Signature=", "&X-Storage-Signature"),
        swapped,
    ];
    for forged in respellings {
        assert_ne!(forged, url);
        assert!(
            matches!(signer.verify_url(Method::Put, &forged, now()), Err(SignatureError::Malformed(_))),
            "{forged}"
        );
    }
}

#[test]
fn key_rotation() {
    let old = signer("old", 1);
    let url = old.sign(&get("a.txt"), now()).unwrap();
    let rotated = UrlSigner::new(BASE, SigningKey::new("new", vec![2; 32]).unwrap())
        .with_previous_key(SigningKey::new("old", vec![1; 32]).unwrap());
    assert!(rotated.verify_url(Method::Get, &url, now()).is_ok(), "a retired key still verifies");
    assert!(
        rotated.sign(&get("a.txt"), now()).unwrap().contains("X-Storage-Key-Id=new"),
        "new urls use the current key"
    );
    let forgotten = signer("new", 2);
    assert_eq!(forgotten.verify_url(Method::Get, &url, now()), Err(SignatureError::UnknownKey));
    let impostor = signer("old", 3);
    assert_eq!(
        impostor.verify_url(Method::Get, &url, now()),
        Err(SignatureError::BadSignature),
        "same id, other secret"
    );
}

#[test]
fn weak_or_odd_keys_are_refused() {
    assert!(SigningKey::new("k", vec![1; 31]).is_err());
    assert!(SigningKey::new("", vec![1; 32]).is_err());
    assert!(SigningKey::new("a b", vec![1; 32]).is_err());
    let generated = SigningKey::generate();
    assert_eq!(generated.secret().len(), 32);
    assert_ne!(generated.secret(), SigningKey::generate().secret());
}

fn key_segment() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 #%+?&=~'()é日🦀._-]{1,12}")
        .unwrap()
        .prop_filter("not a dot segment", |s| s != "." && s != "..")
}

fn key() -> impl Strategy<Value = String> {
    proptest::collection::vec(key_segment(), 1..4).prop_map(|segments| segments.join("/"))
}

proptest! {
    #[test]
    fn keys_survive_url_encoding(key in key()) {
        prop_assert_eq!(decode_key_path(&encode_key_path(&key)), Some(key));
    }

    /// Changing any one character of a signed URL never grants more than the original: it is refused, or it
    /// decodes to the very same grant (e.g. `%2f` for `%2F`).
    #[test]
    fn no_single_character_change_escalates(key in key(), position in any::<prop::sample::Index>(), replacement in "[a-zA-Z0-9%&=./_-]") {
        let signer = signer("k1", 1);
        let mut request = get(&key);
        request.response_content_disposition = Some("attachment; filename=\"x\"".into());
        let url = signer.sign(&request, now()).unwrap();
        let original = signer.verify_url(Method::Get, &url, now()).expect("valid");
        let mut chars: Vec<char> = url.chars().collect();
        let at = position.index(chars.len());
        chars[at] = replacement.chars().next().unwrap();
        let forged: String = chars.into_iter().collect();
        if let Ok(granted) = signer.verify_url(Method::Get, &forged, now()) {
            prop_assert_eq!(granted, original);
        }
    }
}

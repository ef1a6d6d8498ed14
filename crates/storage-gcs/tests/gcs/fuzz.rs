//! What an attacker controls on the way to a GCS signature: object names (uploaded file names, download names) and
//! the values a form or a link signs. Any input signs without a panic, cannot add a line to the canonical request or
//! a condition to a POST policy, and another input never carries the same signature. A bucket-bound hostname or an
//! endpoint from the configuration is a host and port alone, or refused.

use std::time::Duration;

use base64::Engine as _;
use chrono::{TimeZone, Utc};
use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use storage_core::ErrorKind;
use storage_gcs::{Endpoint, PostKey, PostPolicy, ServiceAccountKey, Signer, UrlRequest, UrlStyle};

use crate::DUMMY_KEY as KEY;

fn signer() -> Signer {
    let key = ServiceAccountKey::from_json(KEY).unwrap();
    Signer::new(key, Endpoint::parse("https://storage.googleapis.com").unwrap())
}

/// Names as users give them, and the characters that could break a canonical request or a URL.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just("\n"),
                Just("\r"),
                Just("&"),
                Just("="),
                Just("?"),
                Just("#"),
                Just("%"),
                Just("/"),
                Just("."),
                Just(" "),
                Just("\t"),
                Just("\""),
                Just("é"),
                Just("😀"),
                Just("X-Goog-Signature"),
                Just("a")
            ],
            0..12
        )
        .prop_map(|parts| parts.concat()),
    ]
}

fn url_request(object: &str) -> UrlRequest {
    let at = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
    UrlRequest::new("GET", "bucket", Some(object), Duration::from_secs(60), at)
}

/// Hostnames as a hostile or careless configuration gives them: the pieces that smuggle a path, a user, a query or
/// a header line into a URL, around a real host.
fn hostile_hostname() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (
            prop_oneof![Just(""), Just("https://"), Just("http://"), Just("ftp://"), Just("HTTPS://")],
            proptest::collection::vec(
                prop_oneof![
                    Just("mydomain.tld"),
                    Just("a"),
                    Just("."),
                    Just(":"),
                    Just("8080"),
                    Just("@"),
                    Just("/"),
                    Just("?"),
                    Just("#"),
                    Just("\r"),
                    Just("\n"),
                    Just(" "),
                    Just("\t"),
                    Just("\\"),
                    Just("%0d%0a"),
                    Just("[::1]"),
                    Just("é"),
                    Just("user:pw@")
                ],
                0..8
            )
        )
            .prop_map(|(scheme, parts)| format!("{scheme}{}", parts.concat())),
    ]
}

/// What may not appear in a host and port: each would change where the URL goes or what it carries.
const NOT_IN_A_HOST: [char; 11] = ['\r', '\n', ' ', '\t', '@', '?', '#', '\\', '%', '/', '\0'];

#[test]
fn a_hostile_bucket_bound_hostname_or_endpoint_is_refused_with_a_clear_error() {
    for hostile in [
        "https://mydomain.tld/media",
        "https://user:pw@mydomain.tld",
        "https://mydomain.tld?x=1",
        "https://mydomain.tld#x",
        "https://mydo\r\nmain.tld",
        "https://mydomain.tld\r\nX-Evil: 1",
        "https://mydomain.tld\\evil",
        "https://mydomain.tld%2f",
        "ftp://mydomain.tld",
        "https://",
        "",
    ] {
        let err = UrlStyle::bucket_bound_hostname(hostile).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration, "{hostile:?}: {err}");
        let shown = err.to_string();
        assert!(shown.contains("bucket-bound hostname") && shown.contains("https://mydomain.tld"), "{shown}");
        assert!(!shown.contains(['\r', '\n']), "one line: {shown:?}");
        if hostile.contains("://") && !hostile.starts_with("ftp") {
            let err = Endpoint::parse(hostile).unwrap_err();
            assert!(err.to_string().contains("the GCS endpoint"), "{hostile:?}: {err}");
        }
    }
    for (fine, url) in [
        ("mydomain.tld", "https://mydomain.tld/o?"),
        ("http://mydomain.tld:8080/", "http://mydomain.tld:8080/o?"),
        ("https://MyDomain.TLD:443", "https://mydomain.tld:443/o?"),
    ] {
        let style = UrlStyle::bucket_bound_hostname(fine).unwrap();
        let signed = signer().with_url_style(style).sign_url(&url_request("o")).unwrap();
        assert!(signed.url.starts_with(url), "{fine}: {}", signed.url);
    }
}

proptest! {
    #[test]
    fn fuzz_bucket_bound_hostnames_are_a_host_alone_or_refused(hostname in hostile_hostname(), object in hostile_text()) {
        let Ok(style) = UrlStyle::bucket_bound_hostname(&hostname) else { return Ok(()) };
        let authority = hostname.split_once("://").map_or(hostname.as_str(), |(_, rest)| rest);
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        prop_assert!(!authority.contains(NOT_IN_A_HOST) && !authority.chars().any(char::is_control), "{hostname:?}");
        if object.split('/').any(|segment| segment == "." || segment == "..") {
            return Ok(());
        }
        let signed = signer().with_url_style(style).sign_url(&url_request(&object)).unwrap();
        let url = url::Url::parse(&signed.url).unwrap();
        prop_assert!(url.username().is_empty() && url.password().is_none() && url.fragment().is_none());
        let path = percent_decode_str(url.path()).decode_utf8().unwrap().into_owned();
        prop_assert_eq!(path, format!("/{object}"));
        // method, path, query, the host line, the blank line, the signed headers, the payload
        prop_assert_eq!(signed.canonical_request.split('\n').count(), 7);
        let host_line = format!("\nhost:{}\n", url.host_str().unwrap());
        prop_assert!(signed.canonical_request.contains(&host_line), "the host signed is the host the URL reaches");
    }

    #[test]
    fn fuzz_signed_urls_keep_any_name_and_value_in_their_place(
        object in hostile_text(),
        other in hostile_text(),
        value in hostile_text(),
    ) {
        let signer = signer();
        let request = url_request(&object).with_header("x-goog-meta-name", &value).with_query("response-content-disposition", &value);
        match signer.sign_url(&request) {
            Err(_) => {
                let dot_segment = object.split('/').any(|segment| segment == "." || segment == "..");
                prop_assert!(value.contains(['\n', '\r']) || dot_segment, "only a line break or a dot segment is refused");
            }
            Ok(signed) => {
                // method, path, query, two header lines, the blank line, the signed headers, the payload
                prop_assert_eq!(signed.canonical_request.split('\n').count(), 8);
                let url = url::Url::parse(&signed.url).unwrap();
                let path = percent_decode_str(url.path()).decode_utf8().unwrap().into_owned();
                prop_assert_eq!(path, format!("/bucket/{object}"));
                let signatures = url.query_pairs().filter(|(name, _)| name == "X-Goog-Signature").count();
                prop_assert_eq!(signatures, 1);
                if other != object && !other.split('/').any(|segment| segment == "." || segment == "..") {
                    let tampered = signer.sign_url(&url_request(&other).with_header("x-goog-meta-name", &value).with_query("response-content-disposition", &value)).unwrap();
                    prop_assert_ne!(tampered.url.rsplit_once('=').unwrap().1, signed.url.rsplit_once('=').unwrap().1);
                }
            }
        }
    }

    #[test]
    fn fuzz_post_policies_hold_any_key_and_field_as_one_exact_condition(key in hostile_text(), value in hostile_text()) {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
        let mut policy = PostPolicy::new("bucket", PostKey::Exact(key.clone()), Duration::from_secs(60), at);
        policy.fields.push(("x-goog-meta-name".to_owned(), value.clone()));
        let signed = signer().sign_post(&policy).unwrap();
        let encoded = &signed.fields.iter().find(|(name, _)| name == "policy").unwrap().1;
        let document = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        prop_assert!(document.is_ascii(), "the document is escaped to ASCII");
        let document: serde_json::Value = serde_json::from_slice(&document).unwrap();
        let conditions = document["conditions"].as_array().unwrap();
        prop_assert_eq!(conditions.len(), 6, "bucket, key, the field, date, credential, algorithm: no more");
        let (exact_key, exact_field) = (serde_json::json!({ "key": key }), serde_json::json!({ "x-goog-meta-name": value }));
        prop_assert!(conditions.contains(&exact_key), "the key, exactly");
        prop_assert!(conditions.contains(&exact_field), "the field, exactly");
    }
}

//! Google's own V4 signing conformance vectors (googleapis/conformance-tests, vendored in tests/data with their
//! licence and source): every signed-URL case, in every URL style (path, virtual-hosted, bucket-bound hostname),
//! must give the whole expected URL, canonical request and string to sign, and every POST-policy case the expected
//! URL, fields, policy document and signature. A count keeps any case from being dropped silently.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use storage_gcs::{Endpoint, PostCondition, PostKey, PostPolicy, ServiceAccountKey, Signer, UrlRequest, UrlStyle};

const VECTORS: &str = include_str!("../data/v4_signatures.json");
use crate::DUMMY_KEY as KEY;

/// The one case whose `expectedCanonicalRequest` contradicts its own string to sign and signature: it keeps
/// `/test-bucket/test-object` as the path of a virtual-hosted URL, while the SHA-256 in its string to sign (and so
/// its signature and URL) is that of the request with `/test-object`, as in the other virtual-hosted case. Its
/// string to sign and URL are checked as they are; its canonical request with the bucket dropped from the path.
const CANONICAL_REQUEST_ERRATUM: &str = "Universe domain with virtual hosted style";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vectors {
    signing_v4_tests: Vec<UrlCase>,
    post_policy_v4_tests: Vec<PostCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UrlCase {
    description: String,
    bucket: String,
    object: Option<String>,
    method: String,
    expiration: u64,
    timestamp: DateTime<Utc>,
    expected_url: String,
    scheme: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    query_parameters: BTreeMap<String, String>,
    expected_canonical_request: String,
    expected_string_to_sign: String,
    url_style: Option<String>,
    bucket_bound_hostname: Option<String>,
    hostname: Option<String>,
    client_endpoint: Option<String>,
    emulator_hostname: Option<String>,
    universe_domain: Option<String>,
}

impl UrlCase {
    /// The endpoint the case's client signs for, by the precedence the vectors' descriptions give: an explicit
    /// hostname, then the client's endpoint, then the emulator, then the universe domain, then Google's.
    fn endpoint(&self) -> Endpoint {
        let scheme = self.scheme.as_deref().unwrap_or("https");
        let with_scheme = |host: &str| {
            if host.contains("://") { host.to_owned() } else { format!("{scheme}://{host}") }
        };
        let url = match (&self.hostname, &self.client_endpoint, &self.emulator_hostname, &self.universe_domain) {
            (Some(hostname), ..) => format!("{scheme}://{hostname}"),
            (None, Some(endpoint), ..) => with_scheme(endpoint),
            (None, None, Some(emulator), _) => with_scheme(emulator),
            (None, None, None, Some(domain)) => format!("{scheme}://storage.{domain}"),
            (None, None, None, None) => format!("{scheme}://storage.googleapis.com"),
        };
        Endpoint::parse(&url).unwrap()
    }

    fn style(&self) -> UrlStyle {
        style(
            self.url_style.as_deref(),
            self.bucket_bound_hostname.as_deref(),
            self.scheme.as_deref().unwrap_or("https"),
        )
    }
}

/// The style a case names: `urlStyle`, with the bucket-bound hostname and the case's scheme.
fn style(url_style: Option<&str>, hostname: Option<&str>, scheme: &str) -> UrlStyle {
    match (url_style, hostname) {
        (None | Some("PATH_STYLE"), None) => UrlStyle::Path,
        (Some("VIRTUAL_HOSTED_STYLE"), None) => UrlStyle::VirtualHosted,
        (Some("BUCKET_BOUND_HOSTNAME"), Some(hostname)) => {
            UrlStyle::bucket_bound_hostname(&format!("{scheme}://{hostname}")).unwrap()
        }
        other => panic!("a URL style the vectors did not have: {other:?}"),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PostCase {
    description: String,
    policy_input: PostInput,
    policy_output: PostOutput,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PostInput {
    scheme: String,
    bucket: String,
    object: String,
    expiration: u64,
    timestamp: DateTime<Utc>,
    url_style: Option<String>,
    bucket_bound_hostname: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    #[serde(default)]
    conditions: PostConditions,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PostConditions {
    starts_with: Option<(String, String)>,
    content_length_range: Option<(u64, u64)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PostOutput {
    url: String,
    fields: BTreeMap<String, String>,
    expected_decoded_policy: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(VECTORS).unwrap()
}

fn key() -> ServiceAccountKey {
    ServiceAccountKey::from_json(KEY).unwrap()
}

#[test]
fn every_signed_url_case_in_every_style_gives_googles_url_canonical_request_and_string_to_sign() {
    let mut checked = 0;
    for case in vectors().signing_v4_tests {
        let signer = Signer::new(key(), case.endpoint()).with_url_style(case.style());
        let mut request = UrlRequest::new(
            &case.method,
            &case.bucket,
            case.object.as_deref(),
            Duration::from_secs(case.expiration),
            case.timestamp,
        );
        for (name, value) in &case.headers {
            request = request.with_header(name, value);
        }
        for (name, value) in &case.query_parameters {
            request = request.with_query(name, value);
        }
        let signed = signer.sign_url(&request).unwrap();
        let what = &case.description;
        let mut expected_canonical_request = case.expected_canonical_request.clone();
        if *what == CANONICAL_REQUEST_ERRATUM {
            // The erratum is real: the published text does not hash to the published string to sign.
            let published = hex::encode(Sha256::digest(&expected_canonical_request));
            assert!(
                !case.expected_string_to_sign.ends_with(&published),
                "{what}: the vector is fixed; drop the erratum"
            );
            expected_canonical_request = expected_canonical_request.replacen("\n/test-bucket/", "\n/", 1);
        }
        assert_eq!(signed.canonical_request, expected_canonical_request, "{what}: canonical request");
        assert_eq!(signed.string_to_sign, case.expected_string_to_sign, "{what}: string to sign");
        assert_eq!(signed.url, case.expected_url, "{what}: url");
        checked += 1;
    }
    // Every case of the vendored file, in every URL style: none may drop out.
    assert_eq!(checked, 29);
}

#[test]
fn every_post_policy_case_in_every_style_gives_googles_fields_policy_and_signature() {
    let mut checked = 0;
    for case in vectors().post_policy_v4_tests {
        let input = &case.policy_input;
        let endpoint = Endpoint::parse(&format!("{}://storage.googleapis.com", input.scheme)).unwrap();
        let style = style(input.url_style.as_deref(), input.bucket_bound_hostname.as_deref(), &input.scheme);
        let signer = Signer::new(key(), endpoint).with_url_style(style);
        let mut policy = PostPolicy::new(
            &input.bucket,
            PostKey::Exact(input.object.clone()),
            Duration::from_secs(input.expiration),
            input.timestamp,
        );
        policy.fields = input.fields.clone().into_iter().collect();
        if let Some((field, prefix)) = &input.conditions.starts_with {
            policy.conditions.push(PostCondition::StartsWith { field: field.clone(), prefix: prefix.clone() });
        }
        if let Some((min, max)) = input.conditions.content_length_range {
            policy.conditions.push(PostCondition::ContentLengthRange(min, max));
        }
        let signed = signer.sign_post(&policy).unwrap();
        let what = &case.description;
        // The vectors show the document with its `\u` escapes decoded; the `policy` field below holds the bytes.
        let document = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        let expected = document(&case.policy_output.expected_decoded_policy);
        assert_eq!(document(&signed.policy_document), expected, "{what}: policy document");
        assert_eq!(signed.url, case.policy_output.url, "{what}: url");
        let fields: BTreeMap<String, String> = signed.fields.into_iter().collect();
        assert_eq!(fields, case.policy_output.fields, "{what}: fields, policy and signature");
        checked += 1;
    }
    assert_eq!(checked, 11);
}

#[test]
fn a_tampered_vector_no_longer_matches() {
    // The comparison is not vacuous: one byte more in the object name changes the signature.
    let case = vectors().signing_v4_tests.into_iter().next().unwrap();
    let signer = Signer::new(key(), case.endpoint());
    let request =
        UrlRequest::new(&case.method, &case.bucket, Some("test-objecu"), Duration::from_secs(10), case.timestamp);
    let signed = signer.sign_url(&request).unwrap();
    assert_ne!(signed.url, case.expected_url);
    let expected_signature = case.expected_url.rsplit_once("X-Goog-Signature=").unwrap().1;
    assert!(!signed.url.ends_with(expected_signature));
}

#[test]
fn the_private_key_never_shows_in_debug_or_errors() {
    let key = key();
    let pem_line = KEY.lines().find(|line| line.contains("private_key\"")).unwrap();
    // A piece from the middle of the key: its own bits, not the header every RSA key shares.
    let secret_piece = &pem_line[pem_line.len() / 2..][..40];
    let signer = Signer::new(key.clone(), Endpoint::parse("https://storage.googleapis.com").unwrap());
    for shown in [format!("{key:?}"), format!("{signer:?}")] {
        assert!(!shown.contains(secret_piece) && !shown.contains("PRIVATE KEY"), "{shown}");
        assert!(shown.contains("test-iam-credentials@dummy-project-id"), "the email helps: {shown}");
    }
    // A key file with a broken key: the error names the problem, never the key text.
    let broken = KEY.replace("MII", "XII");
    let err = ServiceAccountKey::from_json(&broken).unwrap_err();
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(secret_piece), "{shown}");
    }
    let config = storage_gcs::GcsConfig::new("b")
        .with_credentials(storage_gcs::GcsCredentials::ServiceAccountKey(KEY.to_owned()));
    let backend = storage_gcs::GcsBackend::new(config.clone()).unwrap();
    for shown in [format!("{config:?}"), format!("{backend:?}"), format!("{:?}", backend.storage())] {
        assert!(!shown.contains(secret_piece) && !shown.contains("PRIVATE KEY"), "{shown}");
    }
}

//! SigV4 presigned URLs (query-string authentication) with the derived signing key cached per day, region and
//! service, so one URL costs one SHA-256 of the canonical request and one HMAC-SHA256 instead of five HMACs.
//!
//! The key derivation and the signature are aws-sigv4's (AWS's own implementation); the encodings are storage-core's
//! SigV4 percent-encoding sets. The canonical request is pinned to aws-sigv4's complete signer by the tests below and
//! to a real server by the S3 tests.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use object_store::aws::{AwsCredential, AwsCredentialProvider};
use sha2::{Digest as _, Sha256};
use storage_core::signing::{encode_key_path, encode_query_value};
use storage_core::{Acl, Backend, Error, Method, PresignRequest, PresignedRequest, Result};

use crate::S3Backend;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "s3";
const SECONDS_PER_DAY: u64 = 86_400;

/// Signs URLs for one bucket URL (the public endpoint's, when one is configured).
pub(crate) struct Presigner {
    /// `scheme://host[:port]`.
    origin: String,
    /// The `Host` header a client sends to `origin`.
    host: String,
    /// The bucket's path on `origin`: `/bucket` (path style) or empty (virtual-hosted style).
    bucket_path: String,
    region: String,
    credentials: AwsCredentialProvider,
    day_key: Mutex<Option<Arc<DayKey>>>,
}

/// What stays the same for every URL signed with one credential on one UTC day.
struct DayKey {
    /// The credential it was derived from (compared by pointer: providers hand out a new one when they rotate).
    credential: Arc<AwsCredential>,
    day: u64,
    /// `YYYYMMDD`.
    date: String,
    /// `YYYYMMDD/region/s3/aws4_request`.
    scope: String,
    signing_key: Vec<u8>,
    /// `X-Amz-Credential` and `X-Amz-Security-Token`, encoded.
    credential_param: String,
    token_param: Option<String>,
}

impl std::fmt::Debug for Presigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials or the derived key.
        f.debug_struct("Presigner").field("origin", &self.origin).field("region", &self.region).finish_non_exhaustive()
    }
}

/// One URL to sign. `encoded_key` is the object's path below the bucket, already percent-encoded; `query` and
/// `headers` are plain text, the headers' names lowercase.
#[derive(Debug)]
pub(crate) struct UrlToSign<'a> {
    pub method: &'a str,
    pub encoded_key: &'a str,
    pub expires_in: Duration,
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, &'a str)],
}

impl Presigner {
    pub fn new(bucket_url: &str, region: String, credentials: AwsCredentialProvider) -> Result<Self> {
        let invalid = |problem: &str| {
            Error::configuration(
                "the s3 backend",
                format!("the endpoint `{bucket_url}` {problem}; give a URL such as https://s3.example.com"),
            )
            .on_backend(crate::NAME)
        };
        let url = url::Url::parse(bucket_url).map_err(|_| invalid("is not a URL"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(invalid("has no host")),
        };
        Ok(Self {
            origin: format!("{}://{host}", url.scheme()),
            host,
            bucket_path: url.path().trim_end_matches('/').to_owned(),
            region,
            credentials,
            day_key: Mutex::new(None),
        })
    }

    pub async fn sign(&self, request: &UrlToSign<'_>) -> Result<String> {
        let credential = self.credentials.get_credential().await.map_err(|err| crate::errors::map_error(err, None))?;
        Ok(self.sign_at(request, &credential, SystemTime::now()))
    }

    fn sign_at(&self, request: &UrlToSign<'_>, credential: &Arc<AwsCredential>, now: SystemTime) -> String {
        let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        let key = self.day_key(credential, seconds, now);
        let time_of_day = seconds % SECONDS_PER_DAY;
        let amz_date =
            format!("{}T{:02}{:02}{:02}Z", key.date, time_of_day / 3600, time_of_day / 60 % 60, time_of_day % 60);

        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(request.headers.len() + 1);
        headers.push(("host", &self.host));
        headers.extend_from_slice(request.headers);
        headers.sort_unstable();
        let signed_headers = headers.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(";");

        let expires = request.expires_in.as_secs().max(1).to_string();
        let signed_headers_param = encode_query_value(&signed_headers);
        let mut query: Vec<(&str, Cow<'_, str>)> = vec![
            ("X-Amz-Algorithm", Cow::Borrowed(ALGORITHM)),
            ("X-Amz-Credential", Cow::Borrowed(&key.credential_param)),
            ("X-Amz-Date", Cow::Borrowed(&amz_date)),
            ("X-Amz-Expires", Cow::Borrowed(&expires)),
            ("X-Amz-SignedHeaders", Cow::Borrowed(&signed_headers_param)),
        ];
        if let Some(token) = &key.token_param {
            query.push(("X-Amz-Security-Token", Cow::Borrowed(token)));
        }
        // The extra parameters' names are unreserved characters already, so sorting by name sorts encoded names.
        query.extend(request.query.iter().map(|(name, value)| (*name, Cow::Owned(encode_query_value(value)))));
        query.sort_unstable();
        let mut query_string = String::with_capacity(512);
        for (name, value) in &query {
            if !query_string.is_empty() {
                query_string.push('&');
            }
            query_string.push_str(name);
            query_string.push('=');
            query_string.push_str(value);
        }

        let path = format!("{}/{}", self.bucket_path, request.encoded_key);
        let mut canonical = String::with_capacity(256 + query_string.len());
        let _ = write!(canonical, "{}\n{path}\n{query_string}\n", request.method);
        for (name, value) in &headers {
            let _ = writeln!(canonical, "{name}:{}", value.trim());
        }
        let _ = write!(canonical, "\n{signed_headers}\nUNSIGNED-PAYLOAD");

        let mut canonical_hash = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(canonical.as_bytes()), &mut canonical_hash).expect("64 hex digits");
        let canonical_hash = std::str::from_utf8(&canonical_hash).expect("hex is ASCII");
        let string_to_sign = format!("{ALGORITHM}\n{amz_date}\n{}\n{canonical_hash}", key.scope);
        let signature = aws_sigv4::sign::v4::calculate_signature(&key.signing_key, string_to_sign.as_bytes());
        format!("{}{path}?{query_string}&X-Amz-Signature={signature}", self.origin)
    }

    /// Sign a browser POST form (SigV4 POST policy): `conditions` and `fields` get the algorithm, credential, date
    /// (and session token) added, the policy document expires after `expires_in`, and its signature is one HMAC
    /// with the day's cached key. The form posts to the bucket's URL on the public host.
    pub async fn sign_post(
        &self,
        expires_in: Duration,
        mut conditions: Vec<serde_json::Value>,
        mut fields: Vec<(String, String)>,
    ) -> Result<storage_core::UploadForm> {
        use base64::Engine as _;
        let credential = self.credentials.get_credential().await.map_err(|err| crate::errors::map_error(err, None))?;
        let now = SystemTime::now();
        let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        let key = self.day_key(&credential, seconds, now);
        let time_of_day = seconds % SECONDS_PER_DAY;
        let amz_date =
            format!("{}T{:02}{:02}{:02}Z", key.date, time_of_day / 3600, time_of_day / 60 % 60, time_of_day % 60);
        let mut signing = vec![
            ("x-amz-algorithm", ALGORITHM.to_owned()),
            ("x-amz-credential", format!("{}/{}", credential.key_id, key.scope)),
            ("x-amz-date", amz_date),
        ];
        if let Some(token) = &credential.token {
            signing.push(("x-amz-security-token", token.clone()));
        }
        for (name, value) in signing {
            conditions.push(serde_json::json!({ name: value }));
            fields.push((name.to_owned(), value));
        }
        let expiration = chrono::DateTime::<chrono::Utc>::from(now + expires_in.max(Duration::from_secs(1)));
        let document = serde_json::json!({
            "expiration": expiration.format("%Y-%m-%dT%H:%M:%S.000Z").to_string(),
            "conditions": conditions,
        });
        let policy = base64::engine::general_purpose::STANDARD.encode(document.to_string());
        let signature = aws_sigv4::sign::v4::calculate_signature(&key.signing_key, policy.as_bytes());
        fields.push(("policy".to_owned(), policy));
        fields.push(("x-amz-signature".to_owned(), signature));
        Ok(storage_core::UploadForm::new(format!("{}{}", self.origin, self.bucket_path), fields))
    }

    /// The day's signing key, derived again only when the day or the credential changes.
    fn day_key(&self, credential: &Arc<AwsCredential>, seconds: u64, now: SystemTime) -> Arc<DayKey> {
        let day = seconds / SECONDS_PER_DAY;
        let mut cached = self.day_key.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(key) = cached.as_ref().filter(|key| key.day == day && Arc::ptr_eq(&key.credential, credential)) {
            return Arc::clone(key);
        }
        let date = chrono::DateTime::<chrono::Utc>::from(now).format("%Y%m%d").to_string();
        let scope = format!("{date}/{}/{SERVICE}/aws4_request", self.region);
        let signing_key = aws_sigv4::sign::v4::generate_signing_key(&credential.secret_key, now, &self.region, SERVICE);
        let key = Arc::new(DayKey {
            credential: Arc::clone(credential),
            day,
            credential_param: encode_query_value(&format!("{}/{scope}", credential.key_id)),
            token_param: credential.token.as_deref().map(encode_query_value),
            date,
            scope,
            signing_key: signing_key.as_ref().to_vec(),
        });
        *cached = Some(Arc::clone(&key));
        key
    }
}

/// A presigned request for `request`: a CloudFront-signed URL for reads when the backend has a CloudFront signer,
/// else a SigV4 URL with the headers the client must send (content type, ACL, create-only).
pub(crate) async fn presign(backend: &S3Backend, request: &PresignRequest) -> Result<PresignedRequest> {
    let key = &request.key;
    if let (Method::Get, Some(cloudfront)) = (request.method, &backend.inner.config.cloudfront) {
        // The distribution must forward these query parameters to S3 for the overrides to apply.
        let overrides: Vec<String> = [
            ("response-content-disposition", &request.response_content_disposition),
            ("response-content-type", &request.response_content_type),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            Some(format!("{name}={}", storage_core::signing::encode_query_value(value.as_deref()?)))
        })
        .collect();
        let mut url = backend.public_url(key)?;
        if !overrides.is_empty() {
            url = format!("{url}?{}", overrides.join("&"));
        }
        let signed = cloudfront.sign_url(&url, std::time::SystemTime::now() + request.expires_in)?;
        return Ok(PresignedRequest::new(Method::Get, signed, Vec::new()));
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    // content-length and content-md5 are signed too: S3 refuses a body of another size or digest.
    let body = request.body_headers();
    for (name, value) in body
        .iter()
        .map(|(name, value)| (name.as_str(), Some(value.as_str())))
        .chain([("x-amz-acl", request.acl.map(Acl::as_str)), ("if-none-match", request.create_only.then_some("*"))])
    {
        if let Some(value) = value {
            HeaderValue::from_str(value).map_err(|_| {
                Error::invalid_argument(Some(key), format!("{name} is not a valid header value"))
                    .on_backend(crate::NAME)
            })?;
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    let query: Vec<(&str, &str)> = [
        ("response-content-disposition", &request.response_content_disposition),
        ("response-content-type", &request.response_content_type),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value.as_deref()?)))
    .collect();
    let signed_headers: Vec<(&str, &str)> =
        headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    let encoded_key = encode_key_path(&format!("{}{key}", backend.inner.prefix));
    let url = backend
        .inner
        .presigner
        .sign(&UrlToSign {
            method: request.method.as_str(),
            encoded_key: &encoded_key,
            expires_in: request.expires_in,
            query: &query,
            headers: &signed_headers,
        })
        .await?;
    Ok(PresignedRequest::new(request.method, url, headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::{
        PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
        UriPathNormalizationMode,
    };
    use object_store::StaticCredentialProvider;
    use proptest::prelude::*;
    use storage_core::signing::encode_key_path;

    fn credential(token: Option<&str>) -> Arc<AwsCredential> {
        Arc::new(AwsCredential {
            key_id: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            token: token.map(str::to_owned),
        })
    }

    fn presigner(bucket_url: &str, credential: &Arc<AwsCredential>) -> Presigner {
        let copy = AwsCredential {
            key_id: credential.key_id.clone(),
            secret_key: credential.secret_key.clone(),
            token: credential.token.clone(),
        };
        let provider: AwsCredentialProvider = Arc::new(StaticCredentialProvider::new(copy));
        Presigner::new(bucket_url, "eu-west-3".into(), provider).unwrap()
    }

    fn query_param(url: &str, name: &str) -> String {
        let query = url.split_once('?').unwrap().1;
        query.split('&').find_map(|pair| pair.strip_prefix(&format!("{name}="))).unwrap().to_owned()
    }

    /// The signature AWS's complete SigV4 signer gives the unsigned URL, with the same headers and time.
    fn reference_signature(
        url: &str,
        method: &str,
        headers: &[(&str, &str)],
        credential: &AwsCredential,
        expires: Duration,
        time: SystemTime,
    ) -> String {
        let identity = aws_credential_types::Credentials::new(
            &credential.key_id,
            &credential.secret_key,
            credential.token.clone(),
            None,
            "test",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-3")
            .name("s3")
            .time(time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable =
            SignableRequest::new(method, url, headers.iter().copied(), SignableBody::UnsignedPayload).unwrap();
        aws_sigv4::http_request::sign(signable, &params).unwrap().signature().to_owned()
    }

    /// Sign with ours, then ask AWS's signer for the same URL without our signature.
    fn check(bucket_url: &str, key: &str, request: UrlToSign<'_>, token: Option<&str>, time: SystemTime) {
        let credential = credential(token);
        let url = presigner(bucket_url, &credential).sign_at(&request, &credential, time);
        // AWS's signer adds the X-Amz-* parameters itself.
        let (base, query) = url.split_once('?').unwrap();
        let own: Vec<&str> = query.split('&').filter(|pair| !pair.starts_with("X-Amz-")).collect();
        let unsigned = if own.is_empty() { base.to_owned() } else { format!("{base}?{}", own.join("&")) };
        let host_header = [("host", base.split('/').nth(2).unwrap())];
        let headers: Vec<_> = request.headers.iter().chain(&host_header).copied().collect();
        let expected = reference_signature(&unsigned, request.method, &headers, &credential, request.expires_in, time);
        assert_eq!(query_param(&url, "X-Amz-Signature"), expected, "{key}: {url}");
    }

    fn get(encoded_key: &str) -> UrlToSign<'_> {
        UrlToSign { method: "GET", encoded_key, expires_in: Duration::from_secs(60), query: &[], headers: &[] }
    }

    #[test]
    fn get_urls_match_aws_sigv4() {
        let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for (bucket_url, key) in [
            ("http://127.0.0.1:7480/bucket", "a.txt"),
            ("https://bucket.s3.eu-west-3.amazonaws.com", "media/private/report 2024 #1.pdf"),
            ("https://s3.example.com/bucket/", "dir/ünïcødé+%&=?.bin"),
        ] {
            check(bucket_url, key, get(&encode_key_path(key)), None, time);
        }
    }

    #[test]
    fn overrides_headers_and_session_tokens_are_signed() {
        let time = UNIX_EPOCH + Duration::from_secs(1_800_000_123);
        let key = encode_key_path("uploads/photo.jpg");
        let query = [
            ("response-content-disposition", "attachment; filename=\"r é.pdf\""),
            ("response-content-type", "application/pdf"),
        ];
        let download = UrlToSign { query: &query, ..get(&key) };
        check("https://s3.example.com/bucket", "download", download, Some("token/with+chars=="), time);
        let headers = [("content-type", "image/jpeg"), ("if-none-match", "*"), ("x-amz-acl", "private")];
        let upload = UrlToSign { method: "PUT", headers: &headers, expires_in: Duration::from_secs(3600), ..get(&key) };
        check("https://s3.example.com/bucket", "upload", upload, None, time);
    }

    #[test]
    fn the_derived_key_is_reused_within_a_day_and_replaced_after() {
        let credential = credential(None);
        let presigner = presigner("https://s3.example.com/bucket", &credential);
        let morning = UNIX_EPOCH + Duration::from_secs(1_700_006_400); // 00:00 UTC
        let first = presigner.day_key(&credential, 1_700_006_400, morning);
        let evening = presigner.day_key(&credential, 1_700_006_400 + 86_399, morning + Duration::from_secs(86_399));
        assert!(Arc::ptr_eq(&first, &evening), "the same day must reuse the key");
        let next_day = morning + Duration::from_secs(86_400);
        let next = presigner.day_key(&credential, 1_700_006_400 + 86_400, next_day);
        assert!(!Arc::ptr_eq(&first, &next) && next.date == "20231116", "{}", next.date);
        // A rotated credential gets its own key, even on the same day.
        let rotated = self::credential(Some("new-session"));
        let after_rotation = presigner.day_key(&rotated, 1_700_006_400 + 86_400, next_day);
        assert!(!Arc::ptr_eq(&next, &after_rotation) && after_rotation.token_param.is_some());
        // URLs signed across midnight still verify, each with its own day's key.
        check("https://s3.example.com/bucket", "before midnight", get("k"), None, next_day - Duration::from_secs(1));
        check("https://s3.example.com/bucket", "midnight", get("k"), None, next_day);
    }

    #[test]
    fn debug_never_shows_the_credentials_or_the_key() {
        let credential = credential(Some("SECRET-SESSION-TOKEN"));
        let presigner = presigner("https://s3.example.com/bucket", &credential);
        presigner.sign_at(&get("k"), &credential, SystemTime::now());
        let debug = format!("{presigner:?}");
        assert!(!debug.contains("wJalr") && !debug.contains("SECRET") && debug.contains("s3.example.com"), "{debug}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_key_and_expiry_signs_like_aws_sigv4(
            key in "[a-zA-Z0-9 ._~!$&'()*+,;=:@%#?/\u{e9}\u{4e2d}-]{1,40}",
            expires in 1u64..=604_800,
            seconds in 1_600_000_000u64..1_900_000_000,
        ) {
            let encoded = encode_key_path(&key);
            let request = UrlToSign { expires_in: Duration::from_secs(expires), ..get(&encoded) };
            check("http://127.0.0.1:7480/bucket", &key, request, None, UNIX_EPOCH + Duration::from_secs(seconds));
        }
    }
}

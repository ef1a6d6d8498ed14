//! HMAC-SHA256 signed URLs for backends that have no signer of their own (memory, local disk).
//!
//! A URL is `{base}{key}?X-Storage-...&X-Storage-Signature=...`. The signature covers the method, the key, the
//! expiry, the key id and every response override or upload constraint, each length-prefixed so no field can be
//! shifted into another. Verification is constant-time and accepts only the exact text the signer wrote: unknown,
//! repeated, reordered or empty parameters, another percent-encoding of a value or of the path, and numbers with a
//! sign or leading zeros are refused.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use rand::RngExt;
use sha2::Sha256;

use crate::backend::{Method, PresignRequest};
use crate::error::{Error, Result};
use crate::types::Acl;

/// Characters kept as they are in a URL path: RFC 3986 unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');
/// Characters kept as they are in a query value: RFC 3986 unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encode a key for a URL path (`/` kept, everything else outside the unreserved set encoded), so keys
/// with `#`, `%`, `+`, `?`, `&`, spaces or unicode survive the trip through a URL unchanged.
pub fn encode_key_path(key: &str) -> String {
    utf8_percent_encode(key, PATH).to_string()
}

/// Decode a percent-encoded URL path back into a key; `None` if it is not UTF-8.
pub fn decode_key_path(path: &str) -> Option<String> {
    percent_decode_str(path).decode_utf8().ok().map(|key| key.into_owned())
}

/// Percent-encode a query value.
pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY).to_string()
}

const SIGNATURE_VERSION: &str = "storage-url-v1";
const P_METHOD: &str = "X-Storage-Method";
const P_EXPIRES: &str = "X-Storage-Expires";
const P_KEY_ID: &str = "X-Storage-Key-Id";
const P_DISPOSITION: &str = "response-content-disposition";
const P_RESPONSE_TYPE: &str = "response-content-type";
const P_CONTENT_TYPE: &str = "X-Storage-Content-Type";
const P_ACL: &str = "X-Storage-Acl";
const P_CREATE_ONLY: &str = "X-Storage-Create-Only";
const P_CONTENT_LENGTH: &str = "X-Storage-Content-Length";
const P_CONTENT_MD5: &str = "X-Storage-Content-MD5";
const P_SIGNATURE: &str = "X-Storage-Signature";

/// One signing secret with the id URLs name it by. `Debug` never shows the secret.
#[derive(Clone)]
pub struct SigningKey {
    id: String,
    secret: Vec<u8>,
    /// The HMAC already keyed with the secret: each signature clones it instead of hashing the key again.
    keyed: Hmac<Sha256>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

impl SigningKey {
    /// The shortest secret accepted, in bytes.
    pub const MIN_SECRET_LEN: usize = 32;

    /// A key named `id` (ASCII letters, digits, `-`, `_`), with a secret of at least 32 random bytes.
    pub fn new(id: impl Into<String>, secret: impl Into<Vec<u8>>) -> Result<Self> {
        let id = id.into();
        let secret = secret.into();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(Error::configuration(
                "the url signer",
                format!("signing key id {id:?} must be non-empty ASCII letters, digits, `-` or `_`"),
            ));
        }
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(Error::configuration(
                "the url signer",
                format!(
                    "signing key `{id}` is {} bytes; use at least {} random bytes",
                    secret.len(),
                    Self::MIN_SECRET_LEN
                ),
            ));
        }
        Ok(Self::keyed(id, secret))
    }

    /// A fresh random 32-byte key with a random id.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let secret: Vec<u8> = (0..32).map(|_| rng.random()).collect();
        let id: String = (&mut rng).sample_iter(rand::distr::Alphanumeric).take(8).map(char::from).collect();
        Self::keyed(id, secret)
    }

    fn keyed(id: String, secret: Vec<u8>) -> Self {
        let keyed = Hmac::<Sha256>::new_from_slice(&secret).expect("hmac accepts keys of any length");
        Self { id, secret, keyed }
    }

    /// The key's id, which signed URLs carry so a rotated key still verifies.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The raw secret, for persisting it (e.g. to a 0600 key file). Never log it.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.keyed.clone()
    }
}

/// Why a signed URL was refused. All of them mean "403" to an HTTP server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The URL is not under the signer's base URL.
    #[error("the url is not under this signer's base url")]
    NotUnderBase,
    /// A signature parameter is missing or unreadable.
    #[error("the url is malformed: {0}")]
    Malformed(&'static str),
    /// The URL's expiry has passed.
    #[error("the url expired")]
    Expired,
    /// The request's method is not the one signed.
    #[error("the url was signed for another method")]
    WrongMethod,
    /// No key with the URL's key id is configured.
    #[error("the url was signed with an unknown key; it may have been retired")]
    UnknownKey,
    /// The signature does not match the URL: it was changed.
    #[error("the signature does not match")]
    BadSignature,
}

/// What a verified URL grants.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedUrl {
    /// The method the URL allows.
    pub method: Method,
    /// The object's key.
    pub key: String,
    /// When the URL stops working.
    pub expires_at: SystemTime,
    /// GET: the `Content-Disposition` the response must carry.
    pub response_content_disposition: Option<String>,
    /// GET: the `Content-Type` the response must carry.
    pub response_content_type: Option<String>,
    /// PUT: the `Content-Type` the upload must declare.
    pub content_type: Option<String>,
    /// PUT: the ACL the upload sets.
    pub acl: Option<Acl>,
    /// PUT: refuse the upload if the key exists.
    pub create_only: bool,
    /// PUT: the exact size of the upload.
    pub content_length: Option<u64>,
    /// PUT: the MD5 of the uploaded bytes.
    pub content_md5: Option<[u8; 16]>,
}

/// Signs and verifies URLs under one base URL with a current key and any number of retired keys still accepted.
#[derive(Clone)]
pub struct UrlSigner {
    base_url: String,
    current: SigningKey,
    previous: Vec<SigningKey>,
    max_expiry: Duration,
}

impl fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlSigner")
            .field("base_url", &self.base_url)
            .field("current", &self.current)
            .field("previous", &self.previous)
            .field("max_expiry", &self.max_expiry)
            .finish()
    }
}

impl UrlSigner {
    /// A signer for URLs under `base_url` (a `/` is added if missing).
    pub fn new(base_url: impl Into<String>, current: SigningKey) -> Self {
        let mut base_url = base_url.into();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        Self { base_url, current, previous: Vec::new(), max_expiry: crate::DEFAULT_MAX_EXPIRY }
    }

    /// Sign links and forms valid for up to `max` (7 days by default). The backends this signer serves declare it
    /// as their `presign_max_expiry`, so `Storage` refuses a longer expiry before anything is signed.
    pub fn with_max_expiry(mut self, max: Duration) -> Self {
        self.max_expiry = max;
        self
    }

    /// The longest expiry this signer signs.
    pub fn max_expiry(&self) -> Duration {
        self.max_expiry
    }

    /// The Unix second a link or form for `key`, issued at `now` for `expires`, stops working; refused past the
    /// maximum or past what the clock can represent.
    fn deadline(&self, key: &str, now: SystemTime, expires: Duration) -> Result<u64, crate::Error> {
        crate::check_expiry(key, "url signer", expires, Some(self.max_expiry))?;
        crate::expiry::deadline(key, now, expires)
    }

    /// Keep accepting URLs signed with a retired key.
    pub fn with_previous_key(mut self, key: SigningKey) -> Self {
        self.previous.push(key);
        self
    }

    /// The URL every signed URL starts with.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The unsigned URL of a key under the base.
    pub fn plain_url(&self, key: &str) -> String {
        format!("{}{}", self.base_url, encode_key_path(key))
    }

    /// Sign `request` as of `now`; `InvalidArgument` when its expiry is zero, past the maximum or past the clock's end.
    pub fn sign(&self, request: &PresignRequest, now: SystemTime) -> Result<String, crate::Error> {
        let expires = self.deadline(&request.key, now, request.expires_in)?;
        let fields = Fields {
            method: request.method,
            key: &request.key,
            expires,
            key_id: self.current.id(),
            response_content_disposition: request.response_content_disposition.as_deref(),
            response_content_type: request.response_content_type.as_deref(),
            content_type: request.content_type.as_deref(),
            acl: request.acl,
            create_only: request.create_only,
            content_length: request.content_length,
            content_md5: request.content_md5.map(|md5| URL_SAFE_NO_PAD.encode(md5)),
        };
        let signature = URL_SAFE_NO_PAD.encode(fields.mac(&self.current).finalize().into_bytes());

        let mut query = vec![
            (P_METHOD, request.method.as_str().to_owned()),
            (P_EXPIRES, expires.to_string()),
            (P_KEY_ID, self.current.id().to_owned()),
        ];
        let optional = [
            (P_DISPOSITION, fields.response_content_disposition),
            (P_RESPONSE_TYPE, fields.response_content_type),
            (P_CONTENT_TYPE, fields.content_type),
            (P_ACL, request.acl.map(Acl::as_str)),
            (P_CREATE_ONLY, request.create_only.then_some("1")),
        ];
        query.extend(optional.into_iter().filter_map(|(name, value)| Some((name, value?.to_owned()))));
        query.extend(request.content_length.map(|length| (P_CONTENT_LENGTH, length.to_string())));
        query.extend(fields.content_md5.clone().map(|md5| (P_CONTENT_MD5, md5)));
        query.push((P_SIGNATURE, signature));
        let query: Vec<String> =
            query.into_iter().map(|(name, value)| format!("{name}={}", encode_query_value(&value))).collect();
        Ok(format!("{}?{}", self.plain_url(&request.key), query.join("&")))
    }

    /// Verify a full URL for a request made with `method` at `now`.
    pub fn verify_url(&self, method: Method, url: &str, now: SystemTime) -> Result<VerifiedUrl, SignatureError> {
        let rest = url.strip_prefix(&self.base_url).ok_or(SignatureError::NotUnderBase)?;
        let (path, query) = rest.split_once('?').ok_or(SignatureError::Malformed("no query string"))?;
        self.verify(method, path, query, now)
    }

    /// Verify the path below the base (still percent-encoded) and the raw query string.
    pub fn verify(
        &self,
        method: Method,
        path: &str,
        query: &str,
        now: SystemTime,
    ) -> Result<VerifiedUrl, SignatureError> {
        let key = decode_key_path(path).ok_or(SignatureError::Malformed("the path is not utf-8"))?;
        crate::validate_key(&key).map_err(|_| SignatureError::Malformed("the path is not a valid key"))?;
        // The exact text the signer wrote: another spelling of the same key (`%61`, lowercase hex) is a changed URL.
        if encode_key_path(&key) != path {
            return Err(SignatureError::Malformed("the path is not in the signer's encoding"));
        }

        let params = Params::parse(query)?;
        let signed_method = match params.required(P_METHOD)? {
            "GET" => Method::Get,
            "PUT" => Method::Put,
            _ => return Err(SignatureError::Malformed("unknown method")),
        };
        let expires = canonical_number(params.required(P_EXPIRES)?)
            .ok_or(SignatureError::Malformed("the expiry is not a number"))?;
        let key_id = params.required(P_KEY_ID)?;
        let acl = match params.optional(P_ACL) {
            Some(acl) => Some(acl.parse::<Acl>().map_err(|_| SignatureError::Malformed("unknown acl"))?),
            None => None,
        };
        let create_only = match params.optional(P_CREATE_ONLY) {
            None => false,
            Some("1") => true,
            Some(_) => return Err(SignatureError::Malformed("bad create-only flag")),
        };
        let signature = URL_SAFE_NO_PAD
            .decode(params.required(P_SIGNATURE)?)
            .map_err(|_| SignatureError::Malformed("the signature is not base64url"))?;

        let signing_key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|candidate| candidate.id() == key_id)
            .ok_or(SignatureError::UnknownKey)?;
        let fields = Fields {
            method: signed_method,
            key: &key,
            expires,
            key_id,
            response_content_disposition: params.optional(P_DISPOSITION),
            response_content_type: params.optional(P_RESPONSE_TYPE),
            content_type: params.optional(P_CONTENT_TYPE),
            acl,
            create_only,
            content_length: match params.optional(P_CONTENT_LENGTH) {
                Some(length) => Some(canonical_number(length).ok_or(SignatureError::Malformed("bad content length"))?),
                None => None,
            },
            content_md5: params.optional(P_CONTENT_MD5).map(str::to_owned),
        };
        let content_md5 = match &fields.content_md5 {
            Some(md5) => Some(
                URL_SAFE_NO_PAD
                    .decode(md5)
                    .ok()
                    .and_then(|md5| <[u8; 16]>::try_from(md5).ok())
                    .ok_or(SignatureError::Malformed("bad content md5"))?,
            ),
            None => None,
        };
        fields.mac(signing_key).verify_slice(&signature).map_err(|_| SignatureError::BadSignature)?;
        // Checked only after the signature, so a forged expiry or method reads as tampering, not as expiry.
        if unix_seconds(now) >= expires {
            return Err(SignatureError::Expired);
        }
        if signed_method != method {
            return Err(SignatureError::WrongMethod);
        }
        Ok(VerifiedUrl {
            method: signed_method,
            expires_at: UNIX_EPOCH + Duration::from_secs(expires),
            response_content_disposition: fields.response_content_disposition.map(str::to_owned),
            response_content_type: fields.response_content_type.map(str::to_owned),
            content_type: fields.content_type.map(str::to_owned),
            acl,
            create_only,
            content_length: fields.content_length,
            content_md5,
            key,
        })
    }
}

/// The signed fields of a URL.
struct Fields<'a> {
    method: Method,
    key: &'a str,
    expires: u64,
    key_id: &'a str,
    response_content_disposition: Option<&'a str>,
    response_content_type: Option<&'a str>,
    content_type: Option<&'a str>,
    acl: Option<Acl>,
    create_only: bool,
    /// Newer fields: covered only when present, so links signed before they existed still verify.
    content_length: Option<u64>,
    content_md5: Option<String>,
}

impl Fields<'_> {
    fn mac(&self, key: &SigningKey) -> Hmac<Sha256> {
        let mut mac = key.mac();
        let mut digits = itoa::Buffer::new();
        let expires = digits.format(self.expires);
        let optional = [
            self.response_content_disposition,
            self.response_content_type,
            self.content_type,
            self.acl.map(Acl::as_str),
            self.create_only.then_some("1"),
        ];
        let fields =
            [Some(SIGNATURE_VERSION), Some(self.method.as_str()), Some(self.key), Some(expires), Some(self.key_id)]
                .into_iter()
                .chain(optional);
        for field in fields {
            // Length-prefixed, with absent distinct from empty, so fields cannot be shifted into each other.
            match field {
                Some(value) => {
                    mac.update(itoa::Buffer::new().format(value.len()).as_bytes());
                    mac.update(b":");
                }
                None => mac.update(b"-:"),
            }
            mac.update(field.unwrap_or_default().as_bytes());
        }
        let mut length_digits = itoa::Buffer::new();
        let newer = [
            ("content-length", self.content_length.map(|length| length_digits.format(length))),
            ("content-md5", self.content_md5.as_deref()),
        ];
        for (name, value) in newer.into_iter().filter_map(|(name, value)| Some((name, value?))) {
            // Named as well as length-prefixed: an absent field leaves no trace, so each present one says what it is.
            mac.update(format!("{name}={}:", value.len()).as_bytes());
            mac.update(value.as_bytes());
        }
        mac
    }
}

/// Decoded query parameters, accepted only as the signer writes them: every pair `name=value`, the names known and
/// in the signer's order (so none is repeated), each value in the signer's encoding. Any other spelling of the same
/// grant is a changed URL, and refused.
struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The names in the order [`UrlSigner::sign`] writes them.
    const ORDER: [&'static str; 11] = [
        P_METHOD,
        P_EXPIRES,
        P_KEY_ID,
        P_DISPOSITION,
        P_RESPONSE_TYPE,
        P_CONTENT_TYPE,
        P_ACL,
        P_CREATE_ONLY,
        P_CONTENT_LENGTH,
        P_CONTENT_MD5,
        P_SIGNATURE,
    ];

    fn parse(query: &str) -> Result<Self, SignatureError> {
        let mut params: Vec<(&'static str, String)> = Vec::new();
        let mut next = 0;
        for pair in query.split('&') {
            let (name, raw_value) =
                pair.split_once('=').ok_or(SignatureError::Malformed("a query pair has no value"))?;
            let Some(position) = Self::ORDER.iter().position(|known| *known == name) else {
                return Err(SignatureError::Malformed("unknown query parameter"));
            };
            if position < next {
                return Err(SignatureError::Malformed("a query parameter is repeated or out of order"));
            }
            next = position + 1;
            let value = percent_decode_str(raw_value)
                .decode_utf8()
                .map_err(|_| SignatureError::Malformed("a query parameter is not utf-8"))?
                .into_owned();
            if encode_query_value(&value) != raw_value {
                return Err(SignatureError::Malformed("a query value is not in the signer's encoding"));
            }
            params.push((Self::ORDER[position], value));
        }
        Ok(Params(params))
    }

    fn optional(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &'static str) -> Result<&str, SignatureError> {
        self.optional(name).ok_or(SignatureError::Malformed("a required query parameter is missing"))
    }
}

/// A number as the signer writes it: ASCII digits, no sign, no leading zero.
fn canonical_number(text: &str) -> Option<u64> {
    let digits_only = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    if !digits_only || leading_zero {
        return None;
    }
    text.parse().ok()
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

// ----- upload forms --------------------------------------------------------------------------------------------------

/// The form field that carries the encoded policy.
pub const FIELD_POLICY: &str = "policy";
/// The form field that names the key the policy was signed with.
pub const FIELD_KEY_ID: &str = "x-storage-key-id";
/// The form field that carries the policy's signature.
pub const FIELD_SIGNATURE: &str = "x-storage-signature";

/// What the HMAC of an upload policy covers besides the policy, so a URL signature can never pass for one.
const UPLOAD_VERSION: &str = "storage-upload-v1:";

/// An upload policy whose signature and expiry were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedUpload {
    /// What the upload may be.
    pub policy: crate::upload::UploadPolicy,
    /// When the form stops working.
    pub expires_at: SystemTime,
}

impl UrlSigner {
    /// The form for `policy`, posting to the base URL: `key`, `Content-Type` (for an exact type), then the policy,
    /// the key id and the signature. The policy travels whole and signed, so the server needs no state. The expiry
    /// obeys the same rule as a URL's.
    pub fn sign_upload(
        &self,
        policy: &crate::upload::UploadPolicy,
        now: SystemTime,
    ) -> Result<crate::upload::UploadForm, crate::Error> {
        let expires = self.deadline(&policy.key_field(), now, policy.expires_in)?;
        let encoded = URL_SAFE_NO_PAD.encode(encode_policy(policy, expires));
        let signature = URL_SAFE_NO_PAD.encode(upload_mac(&self.current, &encoded).finalize().into_bytes());
        let mut fields = vec![("key".to_owned(), policy.key_field())];
        if let Some(crate::upload::ContentTypeRule::Exact(content_type)) = &policy.content_type {
            fields.push(("Content-Type".to_owned(), content_type.clone()));
        }
        fields.push((FIELD_POLICY.to_owned(), encoded));
        fields.push((FIELD_KEY_ID.to_owned(), self.current.id().to_owned()));
        fields.push((FIELD_SIGNATURE.to_owned(), signature));
        Ok(crate::upload::UploadForm::new(self.base_url.clone(), fields))
    }

    /// Check an upload form's policy, key id and signature (any configured key), then its expiry.
    pub fn verify_upload(
        &self,
        policy: &str,
        key_id: &str,
        signature: &str,
        now: SystemTime,
    ) -> Result<VerifiedUpload, SignatureError> {
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| SignatureError::Malformed("the signature is not base64url"))?;
        let signing_key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|candidate| candidate.id() == key_id)
            .ok_or(SignatureError::UnknownKey)?;
        upload_mac(signing_key, policy).verify_slice(&signature).map_err(|_| SignatureError::BadSignature)?;
        let text =
            URL_SAFE_NO_PAD.decode(policy).map_err(|_| SignatureError::Malformed("the policy is not base64url"))?;
        let text = String::from_utf8(text).map_err(|_| SignatureError::Malformed("the policy is not utf-8"))?;
        let (policy, expires) = decode_policy(&text)?;
        if unix_seconds(now) >= expires {
            return Err(SignatureError::Expired);
        }
        Ok(VerifiedUpload { policy, expires_at: UNIX_EPOCH + Duration::from_secs(expires) })
    }
}

fn upload_mac(key: &SigningKey, encoded_policy: &str) -> Hmac<Sha256> {
    let mut mac = key.mac();
    mac.update(UPLOAD_VERSION.as_bytes());
    mac.update(encoded_policy.as_bytes());
    mac
}

/// The policy as `name=value` pairs joined by `&`, values percent-encoded.
fn encode_policy(policy: &crate::upload::UploadPolicy, expires: u64) -> String {
    use crate::upload::{Checksum, ContentTypeRule, SuccessAction, UploadKey};
    let mut pairs: Vec<(String, String)> = vec![("expires".into(), expires.to_string())];
    match &policy.key {
        UploadKey::Exact(key) => pairs.push(("key".into(), key.clone())),
        UploadKey::Prefix(prefix) => pairs.push(("key-prefix".into(), prefix.clone())),
    }
    pairs.push(("create-only".into(), if policy.create_only { "1" } else { "0" }.into()));
    if let Some(size) = &policy.size {
        pairs.push(("size".into(), format!("{}-{}", size.start(), size.end())));
    }
    match &policy.content_type {
        Some(ContentTypeRule::Exact(content_type)) => pairs.push(("type".into(), content_type.clone())),
        Some(ContentTypeRule::Prefix(prefix)) => pairs.push(("type-prefix".into(), prefix.clone())),
        None => {}
    }
    match policy.checksum {
        Some(Checksum::Md5(md5)) => pairs.push(("md5".into(), URL_SAFE_NO_PAD.encode(md5))),
        Some(Checksum::Sha256(sha256)) => pairs.push(("sha256".into(), URL_SAFE_NO_PAD.encode(sha256))),
        None => {}
    }
    if let Some(acl) = policy.acl {
        pairs.push(("acl".into(), acl.as_str().into()));
    }
    let attributes = &policy.attributes;
    for (name, value) in [
        ("cache-control", &attributes.cache_control),
        ("content-disposition", &attributes.content_disposition),
        ("content-encoding", &attributes.content_encoding),
        ("content-language", &attributes.content_language),
    ] {
        if let Some(value) = value {
            pairs.push((name.into(), value.clone()));
        }
    }
    for (name, value) in &attributes.metadata {
        pairs.push((format!("meta.{name}"), value.clone()));
    }
    match &policy.success {
        SuccessAction::Status(status) => pairs.push(("success-status".into(), status.to_string())),
        SuccessAction::Redirect(url) => pairs.push(("success-redirect".into(), url.clone())),
    }
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode_query_value(name), encode_query_value(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn decode_policy(text: &str) -> Result<(crate::upload::UploadPolicy, u64), SignatureError> {
    use crate::upload::{Checksum, SuccessAction, UploadKey, UploadPolicy};
    let malformed = SignatureError::Malformed;
    let mut policy = UploadPolicy::exact(String::new());
    let (mut expires, mut key) = (None, None);
    for pair in text.split('&') {
        let (name, value) = pair.split_once('=').ok_or(malformed("a policy field has no value"))?;
        let decode = |text: &str| percent_decode_str(text).decode_utf8().map(|text| text.into_owned());
        let (name, value) =
            (decode(name).map_err(|_| malformed("bad policy"))?, decode(value).map_err(|_| malformed("bad policy"))?);
        let digest = |value: &str| URL_SAFE_NO_PAD.decode(value).map_err(|_| malformed("bad checksum"));
        match name.as_str() {
            "expires" => expires = Some(value.parse().map_err(|_| malformed("bad expiry"))?),
            "key" => key = Some(UploadKey::Exact(value)),
            "key-prefix" => key = Some(UploadKey::Prefix(value)),
            "create-only" => policy.create_only = value == "1",
            "size" => {
                let (min, max) = value.split_once('-').ok_or(malformed("bad size"))?;
                let number = |n: &str| n.parse::<u64>().map_err(|_| malformed("bad size"));
                policy.size = Some(number(min)?..=number(max)?);
            }
            "type" => policy = policy.with_content_type(value),
            "type-prefix" => policy = policy.with_content_type_prefix(value),
            "md5" => {
                let md5 = digest(&value)?.try_into().map_err(|_| malformed("bad checksum"))?;
                policy.checksum = Some(Checksum::Md5(md5));
            }
            "sha256" => {
                let sha256 = digest(&value)?.try_into().map_err(|_| malformed("bad checksum"))?;
                policy.checksum = Some(Checksum::Sha256(sha256));
            }
            "acl" => policy.acl = Some(value.parse().map_err(|_| malformed("unknown acl"))?),
            "cache-control" => policy.attributes.cache_control = Some(value),
            "content-disposition" => policy.attributes.content_disposition = Some(value),
            "content-encoding" => policy.attributes.content_encoding = Some(value),
            "content-language" => policy.attributes.content_language = Some(value),
            "success-status" => {
                policy.success = SuccessAction::Status(value.parse().map_err(|_| malformed("bad success status"))?);
            }
            "success-redirect" => policy.success = SuccessAction::Redirect(value),
            other => match other.strip_prefix("meta.") {
                Some(meta) => {
                    policy.attributes.metadata.insert(meta.to_owned(), value);
                }
                None => return Err(malformed("unknown policy field")),
            },
        }
    }
    policy.key = key.ok_or(malformed("the policy names no key"))?;
    Ok((policy, expires.ok_or(malformed("the policy has no expiry"))?))
}

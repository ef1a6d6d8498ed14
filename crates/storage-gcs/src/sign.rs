//! Google's V4 signing (`GOOG4-RSA-SHA256`) of URLs in each [`UrlStyle`]: the canonical request, the string to sign and the
//! URL, as <https://cloud.google.com/storage/docs/authentication/canonical-requests> defines them. The signing time
//! and the endpoint are inputs, so Google's conformance vectors (tests/gcs/vectors.rs) check the whole URL.

use std::time::Duration;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use storage_core::{Error, Result};

use crate::NAME;
use crate::key::ServiceAccountKey;

/// The signing algorithm's name, in `X-Goog-Algorithm` and the string to sign.
pub const ALGORITHM: &str = "GOOG4-RSA-SHA256";

/// Google's public endpoint: where signed URLs and forms point unless the storage names another.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// The longest life GCS gives a V4 signature.
pub const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// The query parameters the signer sets; a caller's extra parameter may not name one.
const RESERVED_QUERY: [&str; 6] = [
    "X-Goog-Algorithm",
    "X-Goog-Credential",
    "X-Goog-Date",
    "X-Goog-Expires",
    "X-Goog-SignedHeaders",
    "X-Goog-Signature",
];

/// Everything but RFC 3986's unreserved characters is percent-encoded in a canonical query.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// In a canonical path `/` separates segments and stays as it is.
const PATH: &AsciiSet = &QUERY.remove(b'/');

/// Where requests go: `scheme://host[:port]`, to which a [`UrlStyle`] adds the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: String,
    /// Host and port, as the URL carries them.
    authority: String,
    /// The host alone: Google's clients sign the `host` header without a port (the vectors' `localhost:8080` cases).
    host: String,
}

impl Endpoint {
    /// An endpoint from a URL with an `http` or `https` scheme, a host, an optional port and no path:
    /// `https://storage.googleapis.com`, `http://127.0.0.1:4443`.
    pub fn parse(endpoint: &str) -> Result<Self> {
        Self::parse_as("the GCS endpoint", endpoint, "https://storage.googleapis.com or http://127.0.0.1:4443")
    }

    /// `text` as an endpoint, the errors naming `what` and showing `example`: a scheme, a host of letters, digits,
    /// `-`, `.` (or a bracketed IPv6 address), an optional port, and nothing else. A control character, a space or
    /// a backslash is refused, not cleaned: `url` drops tabs and line breaks, and the URL would sign another host.
    fn parse_as(what: &str, text: &str, example: &str) -> Result<Self> {
        let invalid = |why: &str| {
            Error::configuration(what, format!("{text:?} {why}; give a URL such as {example}")).on_backend(NAME)
        };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| invalid("is not a URL"))?;
        if !matches!(scheme, "http" | "https") {
            return Err(invalid("is not an http or https URL"));
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(invalid("names no host"));
        }
        if !authority.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-.:[]".contains(&byte)) {
            return Err(invalid("is not a host and port alone (a path, query, user, space or control character)"));
        }
        let url = url::Url::parse(text).map_err(|_| invalid("is not a URL"))?;
        let host = url.host_str().filter(|host| !host.is_empty()).ok_or_else(|| invalid("names no host"))?;
        // `url` drops a default port, which the URL a client signs for keeps (the vectors' `:443` case).
        let default_port = url.port_or_known_default().filter(|_| url.port().is_none());
        let authority = match (url.port(), default_port) {
            (Some(port), _) => format!("{host}:{port}"),
            (None, Some(port)) if authority.ends_with(&format!(":{port}")) => format!("{host}:{port}"),
            (None, _) => host.to_owned(),
        };
        Ok(Self { scheme: url.scheme().to_owned(), authority, host: host.to_owned() })
    }

    /// The endpoint as a URL without a trailing slash.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// This endpoint with `bucket.` before its host: the bucket's virtual host.
    fn under_bucket(&self, bucket: &str) -> Self {
        Self {
            scheme: self.scheme.clone(),
            authority: format!("{bucket}.{}", self.authority),
            host: format!("{bucket}.{}", self.host),
        }
    }
}

/// How a signed URL or form names the bucket, as Google's clients offer it (`virtual_hosted_style`,
/// `bucket_bound_hostname`). The data path is not affected: object_store always sends path-style requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UrlStyle {
    /// `https://storage.googleapis.com/bucket/object`.
    #[default]
    Path,
    /// `https://bucket.storage.googleapis.com/object`: the bucket before the endpoint's host.
    VirtualHosted,
    /// `https://mydomain.tld/object`: a domain of the owner's (a CNAME or a load balancer) that serves the bucket.
    BucketBoundHostname(Endpoint),
}

impl UrlStyle {
    /// A bucket-bound hostname: `https://mydomain.tld`, `http://mydomain.tld:8080`, or a bare `mydomain.tld` (https).
    /// A host only: a path, user, query, fragment, space or control character is refused.
    pub fn bucket_bound_hostname(hostname: &str) -> Result<Self> {
        let url = if hostname.contains("://") { hostname.to_owned() } else { format!("https://{hostname}") };
        let endpoint = Endpoint::parse_as("the GCS bucket-bound hostname", &url, "https://mydomain.tld")?;
        Ok(Self::BucketBoundHostname(endpoint))
    }

    /// Where a URL for `bucket` goes, with the path before the object's name in the URL and in the canonical request.
    pub(crate) fn locate(&self, endpoint: &Endpoint, bucket: &str) -> Result<Location> {
        match self {
            Self::Path => Ok(Location { endpoint: endpoint.clone(), path: format!("/{bucket}") }),
            Self::VirtualHosted => {
                // The bucket becomes part of the host: only a bucket name GCS allows may (no `/`, `@`, `:`, …).
                let valid = !bucket.is_empty()
                    && bucket.bytes().all(|byte| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.'));
                if !valid {
                    return Err(Error::configuration(
                        "the GCS bucket",
                        format!("{bucket:?} cannot be a virtual host; give a bucket name of a-z, 0-9, -, _ and ."),
                    )
                    .on_backend(NAME));
                }
                Ok(Location { endpoint: endpoint.under_bucket(bucket), path: String::new() })
            }
            Self::BucketBoundHostname(hostname) => Ok(Location { endpoint: hostname.clone(), path: String::new() }),
        }
    }
}

/// Where one bucket's URLs go in a [`UrlStyle`].
pub(crate) struct Location {
    endpoint: Endpoint,
    /// What the URL's path (and the canonical request's) starts with before `/object`: `/bucket` path-style, else
    /// empty.
    path: String,
}

/// One request to sign as a URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UrlRequest {
    /// `GET`, `PUT`, `POST`, `DELETE`, …
    pub method: String,
    /// The bucket.
    pub bucket: String,
    /// The object's full name in the bucket; `None` signs the bucket itself (a listing).
    pub object: Option<String>,
    /// Headers the client must send as signed; `host` is added.
    pub headers: Vec<(String, String)>,
    /// Query parameters the URL carries and signs besides the signer's own (`response-content-type`, …).
    pub query: Vec<(String, String)>,
    /// How long the URL works from `signed_at`.
    pub expires_in: Duration,
    /// When the signature starts to hold (`X-Goog-Date`).
    pub signed_at: DateTime<Utc>,
}

impl UrlRequest {
    /// A request for `method` on `object` in `bucket`, working `expires_in` from `signed_at`.
    pub fn new(
        method: &str,
        bucket: &str,
        object: Option<&str>,
        expires_in: Duration,
        signed_at: DateTime<Utc>,
    ) -> Self {
        Self {
            method: method.to_owned(),
            bucket: bucket.to_owned(),
            object: object.map(str::to_owned),
            headers: Vec::new(),
            query: Vec::new(),
            expires_in,
            signed_at,
        }
    }

    /// Sign this header too: the client must send it with this value.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Carry and sign this query parameter too.
    pub fn with_query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A signed URL and the two texts its signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedUrl {
    /// The URL, with `X-Goog-Signature` last.
    pub url: String,
    /// The canonical request (its SHA-256 is in the string to sign).
    pub canonical_request: String,
    /// What the RSA key signed.
    pub string_to_sign: String,
    /// The headers the client must send, lowercase names, as signed (without `host`).
    pub headers: Vec<(String, String)>,
}

/// Signs V4 URLs and POST policies with one service account, for one endpoint.
#[derive(Debug, Clone)]
pub struct Signer {
    key: ServiceAccountKey,
    endpoint: Endpoint,
    style: UrlStyle,
}

impl Signer {
    /// A signer with `key` for path-style URLs at `endpoint`.
    pub fn new(key: ServiceAccountKey, endpoint: Endpoint) -> Self {
        Self { key, endpoint, style: UrlStyle::Path }
    }

    /// Sign URLs and forms in this style.
    pub fn with_url_style(mut self, style: UrlStyle) -> Self {
        self.style = style;
        self
    }

    /// Where a form for `bucket` posts: the bucket's URL with a trailing `/`.
    pub(crate) fn form_url(&self, bucket: &str) -> Result<String> {
        let location = self.style.locate(&self.endpoint, bucket)?;
        Ok(format!("{}{}/", location.endpoint.url(), location.path))
    }

    /// The endpoint URLs and forms point at.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `request` as a V4 signed URL in the signer's [`UrlStyle`].
    pub fn sign_url(&self, request: &UrlRequest) -> Result<SignedUrl> {
        check_expiry(request.expires_in)?;
        if let Some((name, _)) = request
            .query
            .iter()
            .find(|(name, _)| RESERVED_QUERY.iter().any(|reserved| reserved.eq_ignore_ascii_case(name)))
        {
            return Err(Error::invalid_argument(
                request.object.as_deref(),
                format!("the query parameter {name} is the signer's own; a signed URL sets it itself"),
            )
            .on_backend(NAME));
        }
        // A client resolves `.` and `..` segments (even as `%2E`) before it sends the path: the URL would reach
        // another name than the one signed, so such a name gets no URL (GCS refuses `.` and `..` as names anyway).
        if let Some(object) = &request.object
            && object.split('/').any(|segment| segment == "." || segment == "..")
        {
            return Err(Error::invalid_argument(
                Some(object),
                "a signed URL cannot name an object with a `.` or `..` path segment, which clients resolve away; \
                 rename the object",
            )
            .on_backend(NAME));
        }
        let scope = Scope::at(request.signed_at, self.key.client_email());
        let location = self.style.locate(&self.endpoint, &request.bucket)?;
        let headers = canonical_headers(&location.endpoint.host, &request.headers)?;
        let signed_headers = headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(";");
        let mut query = vec![
            ("X-Goog-Algorithm".to_owned(), ALGORITHM.to_owned()),
            ("X-Goog-Credential".to_owned(), scope.credential.clone()),
            ("X-Goog-Date".to_owned(), scope.timestamp.clone()),
            ("X-Goog-Expires".to_owned(), request.expires_in.as_secs().to_string()),
            ("X-Goog-SignedHeaders".to_owned(), signed_headers.clone()),
        ];
        query.extend(request.query.iter().cloned());
        let mut query: Vec<String> = query
            .iter()
            .map(|(name, value)| format!("{}={}", utf8_percent_encode(name, QUERY), utf8_percent_encode(value, QUERY)))
            .collect();
        query.sort();
        let query = query.join("&");
        let object = match &request.object {
            Some(object) => format!("/{}", utf8_percent_encode(object, PATH)),
            None => String::new(),
        };
        // A bucket's own URL in a style without the bucket in the path is the root.
        let path = if location.path.is_empty() && object.is_empty() {
            "/".to_owned()
        } else {
            format!("{}{object}", location.path)
        };
        // A signed payload hash, when the client sends one, replaces UNSIGNED-PAYLOAD.
        let payload = headers
            .iter()
            .find(|(name, _)| name == "x-goog-content-sha256")
            .map_or("UNSIGNED-PAYLOAD", |(_, value)| value.as_str());
        let header_lines: String = headers.iter().map(|(name, value)| format!("{name}:{value}\n")).collect();
        let canonical_request =
            [request.method.as_str(), &path, &query, &header_lines, &signed_headers, payload].join("\n");
        let string_to_sign = scope.string_to_sign(&hex::encode(Sha256::digest(canonical_request.as_bytes())));
        let signature = self.key.sign_hex(string_to_sign.as_bytes())?;
        let url = format!("{}{path}?{query}&X-Goog-Signature={signature}", location.endpoint.url());
        let headers = headers.into_iter().filter(|(name, _)| name != "host").collect();
        Ok(SignedUrl { url, canonical_request, string_to_sign, headers })
    }

    pub(crate) fn key(&self) -> &ServiceAccountKey {
        &self.key
    }
}

/// The date, scope and credential of one signature.
pub(crate) struct Scope {
    /// `20190201T090000Z`: `X-Goog-Date`.
    pub timestamp: String,
    /// `20190201/auto/storage/goog4_request`.
    pub scope: String,
    /// The account's email, `/`, the scope: `X-Goog-Credential`.
    pub credential: String,
}

impl Scope {
    pub(crate) fn at(signed_at: DateTime<Utc>, client_email: &str) -> Self {
        let scope = format!("{}/auto/storage/goog4_request", signed_at.format("%Y%m%d"));
        Self {
            timestamp: signed_at.format("%Y%m%dT%H%M%SZ").to_string(),
            credential: format!("{client_email}/{scope}"),
            scope,
        }
    }

    fn string_to_sign(&self, hashed_request: &str) -> String {
        [ALGORITHM, &self.timestamp, &self.scope, hashed_request].join("\n")
    }
}

pub(crate) fn check_expiry(expires_in: Duration) -> Result<()> {
    if expires_in > MAX_EXPIRY || expires_in.is_zero() {
        return Err(Error::invalid_argument(
            None,
            format!("a GCS V4 signature lives 1 s to 7 days (604800 s), not {} s", expires_in.as_secs()),
        )
        .on_backend(NAME));
    }
    Ok(())
}

/// The headers as signed: names lowercase, values trimmed with inner runs of spaces and tabs made one space, `host`
/// added, sorted by name. A name or value that cannot be a header line (a newline, a colon in the name) is refused.
fn canonical_headers(host: &str, headers: &[(String, String)]) -> Result<Vec<(String, String)>> {
    let mut canonical = vec![("host".to_owned(), host.to_owned())];
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if name.is_empty()
            || name == "host"
            || name.contains([':', '\n', '\r', ' ', '\t'])
            || value.contains(['\n', '\r'])
        {
            return Err(Error::invalid_argument(
                None,
                format!("{name:?} cannot be a signed header; give a header name without colons or spaces, not host"),
            )
            .on_backend(NAME));
        }
        let value = value.split([' ', '\t']).filter(|word| !word.is_empty()).collect::<Vec<_>>().join(" ");
        canonical.push((name, value));
    }
    canonical.sort();
    if canonical.windows(2).any(|pair| pair[0].0 == pair[1].0) {
        return Err(Error::invalid_argument(None, "a signed header is given twice; give each once").on_backend(NAME));
    }
    Ok(canonical)
}

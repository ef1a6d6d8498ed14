//! The answer to a request for a link this project signs itself (disk and memory storages), decided once for every
//! server of those links: storage-http's `SignedUrlService` sends it over HTTP and `MemoryBackend::fetch` hands it to
//! a test, so the two cannot answer a link differently. No transport here: a request is a method, a path, a query,
//! headers and a body stream; an answer is a status, headers and a body.
//!
//! - `GET`/`HEAD` of a signed URL: the bytes (206 for one `Range`, 416 with the size for one outside them), the
//!   stored or signed type as [`ServedType`] presents it, `nosniff`, a sandboxing `Content-Security-Policy`,
//!   validators, `Cache-Control: private` up to the link's expiry; preconditions decided on the metadata first, in
//!   RFC 9110's order (412, 304);
//! - `PUT` of a signed upload URL: 201, the body stored under exactly that name with the signed type and ACL (403
//!   for another type, 400 for a type that is not one media type), its signed size and MD5 checked while it
//!   streams in (413 past the size, 400 short of it or for another checksum: nothing is stored), 412 when a
//!   create-only name is taken, 408 when the body stalls past a timeout layer's idle limit, 500 with a reason when
//!   the storage fails;
//! - `GET` of a plain URL: the object only if [`Storage::is_public`] says so, else 403;
//! - 403 for an expired, tampered or wrong-method URL, 404 for a missing object, 405 for other methods.
//!
//! A refusal says why in one line of text, or as JSON to a client whose `Accept` ranks `application/json` first.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, TryStreamExt};
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::conditional::{Conditions, Precondition};
use crate::signing::{UrlSigner, VerifiedUrl, decode_key_path};
use crate::{
    ByteRange, ByteStream, Checksum, Content, ContentType, ErrorKind, Metadata, Method, OverwritePolicy, SaveOptions,
    ServedType, Storage, UploadPolicy,
};

/// A content type that is not exactly one media type (a browser reads `text/plain, text/html` as HTML).
pub const NOT_ONE_TYPE: &str = "the content type is not exactly one media type";
/// The key (with a form's file name put in) is not a storage name.
pub const INVALID_KEY: &str = "the key is not a valid storage name";
/// A create-only upload met a stored file.
pub const TAKEN: &str = "the name is taken and the upload may not replace it";
/// The upload's body stopped arriving for longer than the storage's idle limit allows.
pub const STALLED: &str = "the upload stalled: no bytes arrived for too long; send the body steadily";
/// The storage failed to keep the upload.
pub const NOT_STORED: &str = "the upload could not be stored; try again later";

/// A request for one of a storage's links, as a server received it.
#[derive(Debug, Clone)]
pub struct LinkRequest<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: Vec<(&'a str, &'a [u8])>,
}

impl<'a> LinkRequest<'a> {
    /// `method` as sent (`GET`, `HEAD`, `PUT`, …) for `path`, the part of the URL's path below the storage's base
    /// (still percent-encoded), with the raw `query` string if there is one.
    pub fn new(method: &'a str, path: &'a str, query: Option<&'a str>) -> Self {
        Self { method, path, query, headers: Vec::new() }
    }

    /// The request's headers, names in any case, values as sent.
    pub fn with_headers(mut self, headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        self.headers = headers.into_iter().collect();
        self
    }

    /// The first value of the header `name`, as HTTP text (visible ASCII); `None` when absent, and `Some(Err)` for
    /// a value that is not text.
    fn header(&self, name: &str) -> Option<Result<&'a str, ()>> {
        let (_, value) = self.headers.iter().find(|(sent, _)| sent.eq_ignore_ascii_case(name))?;
        Some(http_text(value).ok_or(()))
    }

    fn accept(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("accept")).map(|(_, value)| *value)
    }
}

/// The body of a [`LinkAnswer`].
pub enum LinkBody {
    /// No body.
    Empty,
    /// A body held whole (a refusal's reason).
    Full(Bytes),
    /// An object's bytes, read as they are sent.
    Stream(ByteStream),
}

impl fmt::Debug for LinkBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkBody::Empty => f.write_str("Empty"),
            LinkBody::Full(bytes) => f.debug_tuple("Full").field(&bytes.len()).finish(),
            LinkBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

impl LinkBody {
    /// The whole body, read to its end.
    pub async fn into_bytes(self) -> io::Result<Bytes> {
        match self {
            LinkBody::Empty => Ok(Bytes::new()),
            LinkBody::Full(bytes) => Ok(bytes),
            LinkBody::Stream(stream) => {
                let chunks: BytesMut = stream.try_collect().await?;
                Ok(chunks.freeze())
            }
        }
    }
}

/// What a server of the links answers: the status, the headers (lowercase names, values valid in HTTP) and the body.
#[derive(Debug)]
#[non_exhaustive]
pub struct LinkAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The response headers, in the order sent.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: LinkBody,
}

impl LinkAnswer {
    /// An answer with a status and nothing else.
    pub fn status(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: LinkBody::Empty }
    }

    /// A refusal with `status` saying `why`: one line of text, or `{"error": {"status", "message"}}` when the
    /// request's `Accept` values rank `application/json` first.
    pub fn refused<'a>(status: u16, why: &str, accept: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let (content_type, body) = if prefers_json(accept) {
            ("application/json", format!("{{\"error\":{{\"status\":{status},\"message\":{}}}}}", json_string(why)))
        } else {
            ("text/plain; charset=utf-8", why.to_owned())
        };
        Self { status, headers: vec![("content-type", content_type.to_owned())], body: LinkBody::Full(body.into()) }
    }

    /// Adds `name: value`, unless the value cannot be sent in an HTTP header (a control character).
    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        if is_header_value(&value) {
            self.headers.push((name, value));
        }
        self
    }
}

/// Answers the links of one storage, signed by one signer.
#[derive(Debug, Clone)]
pub struct LinkServer {
    storage: Storage,
    signer: UrlSigner,
    public_cache_control: Option<String>,
}

impl LinkServer {
    /// The server of `storage`'s links, verified with `signer` (the one the storage signs with).
    pub fn new(storage: Storage, signer: UrlSigner) -> Self {
        Self { storage, signer, public_cache_control: None }
    }

    /// `Cache-Control` for objects served without a signature that carry none of their own (none by default; a value
    /// that cannot be sent in a header is ignored).
    pub fn with_public_cache_control(mut self, value: impl Into<String>) -> Self {
        self.public_cache_control = Some(value.into()).filter(|value| is_header_value(value));
        self
    }

    /// The storage served.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The signer that verifies the links.
    pub fn signer(&self) -> &UrlSigner {
        &self.signer
    }

    /// Answer `request`, whose body (a PUT's upload) is `body`.
    pub async fn answer(&self, request: &LinkRequest<'_>, body: ByteStream) -> LinkAnswer {
        let (method, head_only) = match request.method {
            "GET" => (Method::Get, false),
            "HEAD" => (Method::Get, true),
            "PUT" => (Method::Put, false),
            _ => return LinkAnswer::status(405),
        };
        let Some(query) = request.query else {
            return self.serve_public(request, method, head_only).await;
        };
        let granted = match self.signer.verify(method, request.path, query, SystemTime::now()) {
            Ok(granted) => granted,
            Err(_) => return LinkAnswer::status(403),
        };
        match method {
            Method::Get => self.serve(&granted.key, request, Some(&granted), head_only).await,
            Method::Put => self.accept_upload(&granted, request, body).await,
        }
    }

    async fn serve_public(&self, request: &LinkRequest<'_>, method: Method, head_only: bool) -> LinkAnswer {
        let Some(key) = decode_key_path(request.path) else { return LinkAnswer::status(404) };
        if method != Method::Get || !self.storage.capabilities().public_url {
            return LinkAnswer::status(403);
        }
        // Private unless proven public (storage-core's rule): a signature is needed for everything else.
        match self.storage.is_public(&key).await {
            Ok(true) => self.serve(&key, request, None, head_only).await,
            Ok(false) => LinkAnswer::status(403),
            Err(err) if err.kind() == ErrorKind::NotFound => LinkAnswer::status(404),
            Err(_) => LinkAnswer::status(403),
        }
    }

    async fn serve(
        &self,
        key: &str,
        request: &LinkRequest<'_>,
        granted: Option<&VerifiedUrl>,
        head_only: bool,
    ) -> LinkAnswer {
        let conditions = Conditions::from_headers(request.headers.iter().copied());
        let mut range = match request.header("range") {
            Some(Ok(value)) => match parse_range(value) {
                RangeHeader::Single(range) => Some(range),
                RangeHeader::Ignored => None,
            },
            _ => None,
        };
        // Conditions are decided on the metadata alone, before any byte is read, in RFC 9110's order.
        if !conditions.is_empty() {
            let metadata = match self.storage.metadata(key).await {
                Ok(metadata) => metadata,
                Err(err) => return error_status(&err),
            };
            match conditions.evaluate(&metadata.meta) {
                Precondition::Proceed => {}
                Precondition::Failed => return LinkAnswer::status(412),
                Precondition::NotModified => {
                    return self.validated(LinkAnswer::status(304), &metadata, granted);
                }
            }
            // A range only of the version the client holds: for any other, the whole object.
            if range.is_some() && !conditions.range_applies(&metadata.meta) {
                range = None;
            }
        }
        let opened = match range {
            Some(range) => self.storage.open_range(key, range).await,
            None => self.storage.open(key).await,
        };
        let reader = match opened {
            Ok(reader) => reader,
            Err(err) if err.kind() == ErrorKind::InvalidArgument => {
                // 416 says how large the object is, so the client can ask again.
                let answer = LinkAnswer::status(416);
                return match self.storage.size(key).await {
                    Ok(size) => answer.with("content-range", format!("bytes */{size}")),
                    Err(_) => answer,
                };
            }
            Err(err) => return error_status(&err),
        };
        let attributes = &reader.metadata.attributes;
        // "Active" is decided on the parsed type; a type that does not parse is only ever downloaded.
        let served = ServedType::of(
            granted.and_then(|g| g.response_content_type.as_deref()).or(attributes.content_type.as_deref()),
        );
        let disposition = if served.force_attachment {
            Some("attachment".to_owned())
        } else {
            granted
                .and_then(|g| g.response_content_disposition.clone())
                .or_else(|| attributes.content_disposition.clone())
        };
        let size = reader.metadata.size();
        let mut answer = LinkAnswer::status(if range.is_some() { 206 } else { 200 })
            .with("content-length", (reader.range.end - reader.range.start).to_string())
            .with("accept-ranges", "bytes")
            .with("x-content-type-options", "nosniff")
            .with("content-security-policy", served.content_security_policy());
        if range.is_some() {
            let last = reader.range.end.saturating_sub(1);
            answer = answer.with("content-range", format!("bytes {}-{last}/{size}", reader.range.start));
        }
        let optional = [
            ("content-type", Some(served.content_type)),
            ("content-disposition", disposition),
            ("content-encoding", attributes.content_encoding.clone()),
            ("content-language", attributes.content_language.clone()),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                answer = answer.with(name, value);
            }
        }
        let mut answer = self.validated(answer, &reader.metadata, granted);
        if !head_only {
            answer.body = LinkBody::Stream(reader.stream);
        }
        answer
    }

    /// `answer` with the object's `ETag`, `Last-Modified` and `Cache-Control`: for a signed link always `private`
    /// with `max-age` up to its expiry (no shared cache may keep a private file, and no cache may serve it after the
    /// link stopped working); for a public object its own, else the configured one.
    fn validated(&self, mut answer: LinkAnswer, metadata: &Metadata, granted: Option<&VerifiedUrl>) -> LinkAnswer {
        if let Some(etag) = &metadata.meta.etag {
            answer = answer.with("etag", etag.clone());
        }
        answer = answer.with("last-modified", httpdate::fmt_http_date(metadata.meta.last_modified.into()));
        let cache_control = match (granted, &metadata.attributes.cache_control) {
            (Some(granted), _) => {
                let left = granted.expires_at.duration_since(SystemTime::now()).unwrap_or_default().as_secs();
                Some(format!("private, max-age={left}"))
            }
            (None, Some(own)) => Some(own.clone()),
            (None, None) => self.public_cache_control.clone(),
        };
        match cache_control {
            Some(value) => answer.with("cache-control", value),
            None => answer,
        }
    }

    async fn accept_upload(&self, granted: &VerifiedUrl, request: &LinkRequest<'_>, body: ByteStream) -> LinkAnswer {
        // Stored as sent, so it must be exactly one media type (a browser reads `text/plain, text/html` as HTML).
        let sent_type = match request.header("content-type").map(|sent| sent.map(ContentType::parse)) {
            None => None,
            Some(Ok(Ok(parsed))) => Some(parsed.as_str().to_owned()),
            Some(_) => return LinkAnswer::refused(400, NOT_ONE_TYPE, request.accept()),
        };
        if granted.content_type.is_some() && granted.content_type != sent_type {
            return LinkAnswer::status(403);
        }
        let policy = if granted.create_only { OverwritePolicy::Fail } else { OverwritePolicy::Overwrite };
        let mut options = SaveOptions::default().with_overwrite(policy);
        if let Some(content_type) = sent_type {
            options = options.with_content_type(content_type);
        }
        if let Some(acl) = granted.acl {
            options = options.with_acl(acl);
        }
        // A signed size and MD5 are checked as the bytes arrive, as a form's are: nothing is stored if they differ.
        let limits = UploadLimits {
            min: granted.content_length.unwrap_or(0),
            max: granted.content_length,
            checksum: granted.content_md5.map(Checksum::Md5),
        };
        let refusal = Arc::new(Mutex::new(None));
        let chunks = checked_upload(body, limits, refusal.clone()).boxed();
        let saved = self.storage.save_with(&granted.key, Content::from_stream(chunks, None), options).await;
        if let Some(Refusal { status, why }) = refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
            return LinkAnswer::refused(status, why, request.accept());
        }
        match saved {
            Ok(_) => LinkAnswer::status(201),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => LinkAnswer::refused(412, TAKEN, request.accept()),
            Err(err) if err.kind() == ErrorKind::InvalidName => LinkAnswer::refused(400, INVALID_KEY, request.accept()),
            // A timeout layer's idle limit on the body: the client's slowness, not the storage's.
            Err(err) if err.status() == Some(408) => LinkAnswer::refused(408, STALLED, request.accept()),
            Err(_) => LinkAnswer::refused(500, NOT_STORED, request.accept()),
        }
    }
}

/// The status for a failed read.
fn error_status(err: &crate::Error) -> LinkAnswer {
    match err.kind() {
        ErrorKind::NotFound | ErrorKind::InvalidName => LinkAnswer::status(404),
        ErrorKind::InvalidArgument => LinkAnswer::status(416),
        _ => LinkAnswer::status(500),
    }
}

/// Why an upload's bytes were refused, and the status that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// One line saying why.
    pub why: &'static str,
}

/// What an upload's bytes must be: a size range and a checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// The fewest bytes.
    pub min: u64,
    /// The most bytes, if limited.
    pub max: Option<u64>,
    /// The checksum the bytes must have.
    pub checksum: Option<Checksum>,
}

impl UploadLimits {
    /// The limits an upload policy sets.
    pub fn of(policy: &UploadPolicy) -> Self {
        Self { min: policy.min_size(), max: policy.max_size(), checksum: policy.checksum }
    }
}

/// The upload's bytes, failing the stream (and so the save) once they pass the maximum size, and at their end when
/// they are under the minimum or their checksum differs; the refusal to answer goes to `refusal`.
pub fn checked_upload(
    chunks: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    limits: UploadLimits,
    refusal: Arc<Mutex<Option<Refusal>>>,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    struct Tally {
        size: u64,
        md5: Md5,
        sha256: Sha256,
    }
    let tally = Arc::new(Mutex::new(Tally { size: 0, md5: Md5::new(), sha256: Sha256::new() }));
    let UploadLimits { min, max, checksum } = limits;
    let refuse = move |refusal: &Mutex<Option<Refusal>>, status: u16, why: &'static str| {
        *refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Refusal { status, why });
        io::Error::other(format!("the upload was refused: {why}"))
    };
    let (counting, ending, refused) = (tally.clone(), refusal.clone(), refusal);
    let body = chunks.and_then(move |chunk| {
        let mut tally = counting.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tally.size += chunk.len() as u64;
        let result = if max.is_some_and(|max| tally.size > max) {
            Err(refuse(&refused, 413, "the file is larger than the policy allows"))
        } else {
            match checksum {
                Some(Checksum::Md5(_)) => tally.md5.update(&chunk),
                Some(Checksum::Sha256(_)) => tally.sha256.update(&chunk),
                _ => {}
            }
            Ok(chunk)
        };
        futures::future::ready(result)
    });
    let end = futures::stream::once(async move {
        let tally = std::mem::replace(
            &mut *tally.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
            Tally { size: 0, md5: Md5::new(), sha256: Sha256::new() },
        );
        if tally.size < min {
            return Some(Err(refuse(&ending, 400, "the file is smaller than the policy allows")));
        }
        let matches = match checksum {
            None => true,
            Some(Checksum::Md5(expected)) => tally.md5.finalize().as_slice() == expected,
            Some(Checksum::Sha256(expected)) => tally.sha256.finalize().as_slice() == expected,
        };
        (!matches).then(|| Err(refuse(&ending, 400, "the file's checksum differs from the signed one")))
    })
    .filter_map(futures::future::ready);
    body.chain(end)
}

/// A header value as HTTP text: visible ASCII and tabs only (what `http`'s `HeaderValue::to_str` accepts).
fn http_text(value: &[u8]) -> Option<&str> {
    let visible = value.iter().all(|&byte| byte == b'\t' || (32..127).contains(&byte));
    visible.then(|| std::str::from_utf8(value).ok()).flatten()
}

/// Whether `value` can be sent as a header value: no control character but tab (what `HeaderValue::from_str` takes).
fn is_header_value(value: &str) -> bool {
    value.bytes().all(|byte| byte == b'\t' || (byte >= 32 && byte != 127))
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            control if control.is_control() => quoted.push_str(&format!("\\u{:04x}", control as u32)),
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

/// At most this many media ranges of an `Accept` header are weighed; a client needs a handful.
const MAX_MEDIA_RANGES: usize = 32;

/// Whether the `Accept` values rank `application/json` first: the highest quality wins, the earlier on a tie.
pub fn prefers_json<'a>(accept: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let mut best: Option<(u16, bool)> = None;
    let ranges = accept.into_iter().filter_map(http_text).flat_map(|value| value.split(','));
    for range in ranges.take(MAX_MEDIA_RANGES) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let quality = parts
            .filter_map(|parameter| parameter.trim().strip_prefix("q="))
            .find_map(quality_in_thousandths)
            .unwrap_or(1000);
        if media.is_empty() || quality == 0 {
            continue;
        }
        if best.is_none_or(|(top, _)| quality > top) {
            best = Some((quality, media.eq_ignore_ascii_case("application/json")));
        }
    }
    best.is_some_and(|(_, json)| json)
}

/// `q=0.8` as 800: RFC 9110's weight, at most three decimals, between 0 and 1.
fn quality_in_thousandths(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// A `Range` header as this server takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeHeader {
    /// One range of bytes.
    Single(ByteRange),
    /// Multiple or unparsable ranges: RFC 9110 lets a server ignore the header and send everything.
    Ignored,
}

/// Parse a `Range` header's value.
pub fn parse_range(value: &str) -> RangeHeader {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeHeader::Ignored;
    };
    if spec.contains(',') {
        return RangeHeader::Ignored;
    }
    let Some((start, end)) = spec.split_once('-') else { return RangeHeader::Ignored };
    // Digits only: `u64::from_str` would also take a `+` sign, which RFC 9110's `1*DIGIT` does not.
    let number = |s: &str| {
        let digits = s.trim();
        if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u64>().ok()
    };
    match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, false) => number(end).map_or(RangeHeader::Ignored, |n| RangeHeader::Single(ByteRange::Suffix(n))),
        (false, true) => number(start).map_or(RangeHeader::Ignored, |s| RangeHeader::Single(ByteRange::From(s))),
        (false, false) => match (number(start), number(end)) {
            // An end at the last position a u64 holds is past any object: it reads to the end.
            (Some(s), Some(e)) if s <= e => RangeHeader::Single(
                e.checked_add(1).map_or(ByteRange::From(s), |end| ByteRange::Bounded { start: s, end }),
            ),
            _ => RangeHeader::Ignored,
        },
        (true, true) => RangeHeader::Ignored,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn json_is_chosen_only_when_ranked_first() {
        let prefers = |text: &str| prefers_json([text.as_bytes()]);
        assert!(prefers("application/json"));
        assert!(prefers("text/plain;q=0.5, application/json"));
        assert!(prefers("application/json, text/plain"));
        assert!(!prefers("text/html, application/json;q=0.9"));
        assert!(!prefers("*/*"));
        assert!(!prefers("application/json;q=0, text/plain"));
        assert!(!prefers(""));
    }

    #[test]
    fn a_refusal_in_json_is_valid_json_saying_the_status_and_why() {
        let answer = LinkAnswer::refused(413, "too \"large\"\n", [b"application/json".as_slice()]);
        let LinkBody::Full(body) = answer.body else { panic!("a refusal has a body") };
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["status"], 413);
        assert_eq!(json["error"]["message"], "too \"large\"\n");
        assert_eq!(answer.headers, [("content-type", "application/json".to_owned())]);
    }

    /// Media ranges built from the types clients send, with weights in and out of range.
    fn accept_text() -> impl Strategy<Value = String> {
        let media = prop::sample::select(vec!["application/json", "text/plain", "text/*", "*/*", "application/*", ""]);
        let quality =
            prop::sample::select(vec!["", ";q=1", ";q=0", ";q=0.5", ";q=0.999", ";q=1.5", ";q=-1", ";q=0.1234"]);
        proptest::collection::vec((media, quality), 0..6).prop_map(|ranges| {
            ranges.into_iter().map(|(media, quality)| format!("{media}{quality}")).collect::<Vec<_>>().join(", ")
        })
    }

    /// `bytes=` specs built from numbers anywhere in `u64`, with and without either end, spaces, several ranges.
    fn range_spec() -> impl Strategy<Value = String> {
        let number = prop_oneof![0u64..2048, Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()];
        let one = (
            proptest::option::of(number.clone()),
            proptest::option::of(number),
            prop::sample::select(vec!["", " "]),
            prop::sample::select(vec!["", "+"]),
        )
            .prop_map(|(start, end, space, sign)| {
                let text = |n: Option<u64>| n.map(|n| format!("{sign}{n}")).unwrap_or_default();
                format!("{space}{}{space}-{space}{}", text(start), text(end))
            });
        let units = prop::sample::select(vec!["bytes=", "bytes =", "Bytes=", "items=", ""]);
        (units, proptest::collection::vec(one, 1..3)).prop_map(|(unit, ranges)| format!("{unit}{}", ranges.join(",")))
    }

    proptest! {
        #[test]
        fn fuzz_accept_header(raw in proptest::collection::vec(any::<u8>(), 0..64), structured in accept_text()) {
            for value in [raw.as_slice(), structured.as_bytes()] {
                let json = prefers_json([value]);
                let text = http_text(value).unwrap_or_default().to_ascii_lowercase();
                // JSON is never chosen for a header that does not name it.
                prop_assert!(!json || text.contains("application/json"), "{value:?}");
                let answer = LinkAnswer::refused(413, "too large", [value]);
                prop_assert_eq!(answer.headers[0].1 == "application/json", json);
            }
        }

        #[test]
        fn fuzz_range_header(
            raw in proptest::collection::vec(any::<u8>(), 0..40),
            structured in range_spec(),
            size in prop_oneof![0u64..4096, any::<u64>()],
        ) {
            for value in [raw.as_slice(), structured.as_bytes()].into_iter().filter_map(http_text) {
                let RangeHeader::Single(range) = parse_range(value) else { continue };
                prop_assert!(!value.contains('+'), "{value:?}: a sign is not a digit");
                if let ByteRange::Bounded { start, end } = range {
                    prop_assert!(start < end, "{value:?} parsed as an empty or reversed range {start}..{end}");
                }
                if let Some(resolved) = range.resolve(size) {
                    prop_assert!(resolved.start <= resolved.end && resolved.end <= size, "{value:?} on {size} bytes: {resolved:?}");
                }
            }
        }
    }
}

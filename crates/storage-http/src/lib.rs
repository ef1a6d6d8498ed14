//! The HTTP side of temporary URLs: a tower `Service` that verifies signed URLs and serves or accepts the bytes.
//!
//! It serves a disk or memory `Storage` you already have: `SignedUrlService::new(storage, signer)`.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
//!
//! It works over any [`Storage`] whose URLs an [`UrlSigner`] signed (the fs and memory backends), so it can be
//! mounted in an axum app (`Router::new().fallback_service(service)`) or served on its own.
//!
//! - `GET`/`HEAD` of a signed URL: 200 with the bytes (206 for a `Range`), the stored or overridden
//!   `Content-Type` (normalized) and `Content-Disposition`, `X-Content-Type-Options: nosniff`, and a sandboxing
//!   `Content-Security-Policy` on every answer, fuller for types a browser would run script in (decided on the
//!   parsed type by `storage_core::ServedType`); a stored type that is not exactly one media type is sent as
//!   `application/octet-stream`, as an attachment;
//! - `PUT` of a signed upload URL: stores the body under exactly that name, create-only when the URL says so (412
//!   when taken), with the signed content type and ACL (403 when the request's content type differs, 400 when it
//!   is not exactly one media type);
//! - `GET` of a plain URL: the object only if it is proven public ([`Storage::is_public`]: its ACL is
//!   `public-read`, as on S3, or the storage keeps no ACLs and is declared public), else 403;
//! - `POST` of a direct-upload form (`Storage::upload_form`) to the base path: the file stored within the form's
//!   signed policy, enforced while it streams in (`form.rs`);
//! - 403 for an expired, tampered, wrong-method or unknown-key URL, 404 for a missing object.

#![warn(missing_docs)]

mod form;
#[cfg(test)]
mod range_fuzz;
mod refusal;
mod server;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Method as HttpMethod, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use storage_core::signing::{UrlSigner, VerifiedUrl, decode_key_path};
use storage_core::{
    ByteRange, Conditions, Content, ContentType, ErrorKind, Metadata, Method, OverwritePolicy, Precondition,
    SaveOptions, ServedType, Storage,
};

pub use server::Server;

/// The body of every response.
pub type ResponseBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// Serves one storage's signed (and public) URLs. Cloning it (once per request, as tower does) copies one pointer.
#[derive(Debug, Clone)]
pub struct SignedUrlService(std::sync::Arc<Service>);

#[derive(Debug, Clone)]
struct Service {
    storage: Storage,
    signer: UrlSigner,
    /// The path part of the signer's base URL, e.g. `/files/`.
    base_path: String,
    public_cache_control: Option<HeaderValue>,
    /// How long after a form POST begins its fields and its file's part header may arrive (before the signature is
    /// checked, nothing more may hold the request).
    form_deadline: std::time::Duration,
}

/// The default of [`SignedUrlService::with_form_deadline`].
const FORM_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

impl SignedUrlService {
    /// A service for `storage`'s URLs, verified with `signer` (the one the storage signs with).
    pub fn new(storage: Storage, signer: UrlSigner) -> Self {
        let base_path = base_path(signer.base_url());
        let form_deadline = FORM_DEADLINE;
        Self(std::sync::Arc::new(Service { storage, signer, base_path, public_cache_control: None, form_deadline }))
    }

    /// How long after a form POST begins its policy fields and its file's part header may take to arrive, all of
    /// them (20 s by default); a form still sending them then is answered 408. The file itself has no deadline.
    pub fn with_form_deadline(self, deadline: std::time::Duration) -> Self {
        let mut service = std::sync::Arc::unwrap_or_clone(self.0);
        service.form_deadline = deadline;
        Self(std::sync::Arc::new(service))
    }

    /// `Cache-Control` for objects served without a signature (public ones) that carry none of their own, e.g.
    /// `public, max-age=86400`; by default none is sent. A signed link's answer is always `private`, cached at
    /// most until the link expires.
    pub fn with_public_cache_control(self, value: impl Into<String>) -> Self {
        let mut service = std::sync::Arc::unwrap_or_clone(self.0);
        service.public_cache_control = HeaderValue::from_str(&value.into()).ok();
        Self(std::sync::Arc::new(service))
    }

    /// The path this service answers under: the path of the signer's base URL, e.g. `/media/private/`.
    pub fn base_path(&self) -> &str {
        &self.0.base_path
    }

    /// Answer one request.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
    {
        self.0.handle(request).await
    }
}

impl Service {
    async fn handle<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
    {
        let headers = request.headers().clone();
        refusal::in_preferred_form(&headers, self.answer(request).await)
    }

    async fn answer<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
    {
        let (parts, body) = request.into_parts();
        let Some(encoded_key) = parts.uri.path().strip_prefix(&self.base_path) else {
            return status(StatusCode::NOT_FOUND);
        };
        if parts.method == HttpMethod::POST && encoded_key.is_empty() {
            return self.accept_form(&parts.headers, body).await;
        }
        let method = match parts.method {
            HttpMethod::GET | HttpMethod::HEAD => Method::Get,
            HttpMethod::PUT => Method::Put,
            _ => return status(StatusCode::METHOD_NOT_ALLOWED),
        };
        let head_only = parts.method == HttpMethod::HEAD;
        let Some(query) = parts.uri.query() else {
            return self.serve_public(encoded_key, &parts.headers, method, head_only).await;
        };
        let granted = match self.signer.verify(method, encoded_key, query, SystemTime::now()) {
            Ok(granted) => granted,
            Err(_) => return status(StatusCode::FORBIDDEN),
        };
        match method {
            Method::Get => self.serve(&granted.key, &parts.headers, Some(&granted), head_only).await,
            Method::Put => self.accept_upload(&granted, &parts.headers, body).await,
        }
    }

    async fn serve_public(
        &self,
        encoded_key: &str,
        headers: &HeaderMap,
        method: Method,
        head_only: bool,
    ) -> Response<ResponseBody> {
        let Some(key) = decode_key_path(encoded_key) else { return status(StatusCode::NOT_FOUND) };
        if method != Method::Get || !self.storage.capabilities().public_url {
            return status(StatusCode::FORBIDDEN);
        }
        // Private unless proven public (storage-core's rule): a signature is needed for everything else.
        match self.storage.is_public(&key).await {
            Ok(true) => self.serve(&key, headers, None, head_only).await,
            Ok(false) => status(StatusCode::FORBIDDEN),
            Err(err) if err.kind() == ErrorKind::NotFound => status(StatusCode::NOT_FOUND),
            Err(_) => status(StatusCode::FORBIDDEN),
        }
    }

    async fn serve(
        &self,
        key: &str,
        headers: &HeaderMap,
        granted: Option<&VerifiedUrl>,
        head_only: bool,
    ) -> Response<ResponseBody> {
        let conditions =
            Conditions::from_headers(headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes())));
        let mut range = match headers.get(header::RANGE).map(parse_range) {
            None | Some(RangeHeader::Ignored) => None,
            Some(RangeHeader::Single(range)) => Some(range),
        };
        // Conditions are decided on the metadata alone, before any byte is read, in RFC 9110's order.
        if !conditions.is_empty() {
            let metadata = match self.storage.metadata(key).await {
                Ok(metadata) => metadata,
                Err(err) => return error_status(&err),
            };
            match conditions.evaluate(&metadata.meta) {
                Precondition::Proceed => {}
                Precondition::Failed => return status(StatusCode::PRECONDITION_FAILED),
                Precondition::NotModified => {
                    let mut response = Response::builder().status(StatusCode::NOT_MODIFIED);
                    for (name, value) in validators(&metadata).into_iter().chain(self.cache_control(&metadata, granted))
                    {
                        response = response.header(name, value);
                    }
                    return response.body(empty()).unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR));
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
                let size = self.storage.size(key).await.map(|size| format!("bytes */{size}"));
                let mut response = Response::builder().status(StatusCode::RANGE_NOT_SATISFIABLE);
                if let Ok(content_range) = size {
                    response = response.header(header::CONTENT_RANGE, content_range);
                }
                return response.body(empty()).unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR));
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
        let mut response = Response::builder()
            .status(if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK })
            .header(header::CONTENT_LENGTH, reader.range.end - reader.range.start)
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(header::CONTENT_SECURITY_POLICY, served.content_security_policy());
        if range.is_some() {
            let content_range = format!("bytes {}-{}/{size}", reader.range.start, reader.range.end.saturating_sub(1));
            response = response.header(header::CONTENT_RANGE, content_range);
        }
        let optional = [
            (header::CONTENT_TYPE, Some(served.content_type)),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CONTENT_ENCODING, attributes.content_encoding.clone()),
            (header::CONTENT_LANGUAGE, attributes.content_language.clone()),
        ];
        for (name, value) in optional {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                response = response.header(name, value);
            }
        }
        for (name, value) in
            validators(&reader.metadata).into_iter().chain(self.cache_control(&reader.metadata, granted))
        {
            response = response.header(name, value);
        }
        let body = if head_only {
            empty()
        } else {
            StreamBody::new(reader.stream.map_ok(http_body::Frame::data)).boxed_unsync()
        };
        response.body(body).unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
    }

    /// For a signed link, always `private` with `max-age` up to its expiry: no shared cache may keep a private
    /// file, and no cache may serve it after the link stopped working. For a public object, its own `Cache-Control`,
    /// else the configured one.
    fn cache_control(&self, metadata: &Metadata, granted: Option<&VerifiedUrl>) -> Option<(HeaderName, HeaderValue)> {
        let value = match (granted, &metadata.attributes.cache_control) {
            (Some(granted), _) => {
                let left = granted.expires_at.duration_since(SystemTime::now()).unwrap_or_default().as_secs();
                HeaderValue::from_str(&format!("private, max-age={left}")).ok()
            }
            (None, Some(own)) => HeaderValue::from_str(own).ok(),
            (None, None) => self.public_cache_control.clone(),
        };
        value.map(|value| (header::CACHE_CONTROL, value))
    }

    async fn accept_upload<B>(&self, granted: &VerifiedUrl, headers: &HeaderMap, body: B) -> Response<ResponseBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
    {
        // Stored as sent, so it must be exactly one media type (a browser reads `text/plain, text/html` as HTML).
        let sent_type = match headers.get(header::CONTENT_TYPE).map(|value| value.to_str().map(ContentType::parse)) {
            None => None,
            Some(Ok(Ok(parsed))) => Some(parsed.as_str().to_owned()),
            Some(_) => return refusal::refused(StatusCode::BAD_REQUEST, form::NOT_ONE_TYPE),
        };
        if granted.content_type.is_some() && granted.content_type != sent_type {
            return status(StatusCode::FORBIDDEN);
        }
        let policy = if granted.create_only { OverwritePolicy::Fail } else { OverwritePolicy::Overwrite };
        let mut options = SaveOptions::default().with_overwrite(policy);
        if let Some(content_type) = sent_type {
            options = options.with_content_type(content_type);
        }
        if let Some(acl) = granted.acl {
            options = options.with_acl(acl);
        }
        let chunks =
            body.into_data_stream().map_err(|err| std::io::Error::other(format!("the upload was interrupted: {err}")));
        // A signed size and MD5 are checked as the bytes arrive, as a form's are: nothing is stored if they differ.
        let limits = form::Limits {
            min: granted.content_length.unwrap_or(0),
            max: granted.content_length,
            checksum: granted.content_md5.map(storage_core::Checksum::Md5),
        };
        let refusal = std::sync::Arc::new(std::sync::Mutex::new(None));
        let chunks = form::checked(chunks, limits, refusal.clone()).boxed();
        let saved = self.storage.save_with(&granted.key, Content::from_stream(chunks, None), options).await;
        if let Some((code, why)) = refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
            return refusal::refused(code, why);
        }
        match saved {
            Ok(_) => status(StatusCode::CREATED),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                refusal::refused(StatusCode::PRECONDITION_FAILED, form::TAKEN)
            }
            Err(err) if err.kind() == ErrorKind::InvalidName => {
                refusal::refused(StatusCode::BAD_REQUEST, form::INVALID_KEY)
            }
            Err(_) => status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl<B> tower_service::Service<Request<B>> for SignedUrlService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}

fn base_path(base_url: &str) -> String {
    let after_scheme = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(at) => after_scheme[at..].to_owned(),
        None => "/".to_owned(),
    }
}

/// `ETag` and `Last-Modified` of an object.
fn validators(metadata: &Metadata) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = Vec::new();
    if let Some(etag) = metadata.meta.etag.as_deref().and_then(|etag| HeaderValue::from_str(etag).ok()) {
        headers.push((header::ETAG, etag));
    }
    if let Ok(date) = HeaderValue::from_str(&http_date(metadata.meta.last_modified)) {
        headers.push((header::LAST_MODIFIED, date));
    }
    headers
}

fn http_date(time: chrono::DateTime<chrono::Utc>) -> String {
    httpdate::fmt_http_date(time.into())
}

/// The status for a failed read.
fn error_status(err: &storage_core::Error) -> Response<ResponseBody> {
    match err.kind() {
        ErrorKind::NotFound | ErrorKind::InvalidName => status(StatusCode::NOT_FOUND),
        ErrorKind::InvalidArgument => status(StatusCode::RANGE_NOT_SATISFIABLE),
        _ => status(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

fn empty() -> ResponseBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn status(code: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(empty());
    *response.status_mut() = code;
    response
}

enum RangeHeader {
    Single(ByteRange),
    /// Multiple or unparsable ranges: RFC 9110 lets a server ignore the header and send everything.
    Ignored,
}

fn parse_range(value: &HeaderValue) -> RangeHeader {
    let Some(spec) = value.to_str().ok().and_then(|v| v.trim().strip_prefix("bytes=")) else {
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

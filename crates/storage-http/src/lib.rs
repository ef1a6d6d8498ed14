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
mod refusal;
mod server;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderValue, Method as HttpMethod, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use storage_core::Storage;
use storage_core::link::{LinkAnswer, LinkBody, LinkRequest, LinkServer};
use storage_core::signing::UrlSigner;

pub use server::Server;

/// The body of every response.
pub type ResponseBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// Serves one storage's signed (and public) URLs. Cloning it (once per request, as tower does) copies one pointer.
#[derive(Debug, Clone)]
pub struct SignedUrlService(std::sync::Arc<Service>);

#[derive(Debug, Clone)]
struct Service {
    /// The answers to GET, HEAD and PUT, decided in storage-core as for every server of these links.
    links: LinkServer,
    /// The path part of the signer's base URL, e.g. `/files/`.
    base_path: String,
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
        Self(std::sync::Arc::new(Service { links: LinkServer::new(storage, signer), base_path, form_deadline }))
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
        service.links = service.links.with_public_cache_control(value);
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
        let (parts, body) = request.into_parts();
        let Some(encoded_key) = parts.uri.path().strip_prefix(&self.base_path) else {
            return status(StatusCode::NOT_FOUND);
        };
        if parts.method == HttpMethod::POST && encoded_key.is_empty() {
            return refusal::in_preferred_form(&parts.headers, self.accept_form(&parts.headers, body).await);
        }
        let request = LinkRequest::new(parts.method.as_str(), encoded_key, parts.uri.query())
            .with_headers(parts.headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes())));
        let body =
            body.into_data_stream().map_err(|err| std::io::Error::other(format!("the upload was interrupted: {err}")));
        http_response(self.links.answer(&request, body.boxed()).await)
    }
}

/// A link's answer as an HTTP response (its headers are valid in HTTP by construction).
fn http_response(answer: LinkAnswer) -> Response<ResponseBody> {
    let mut response = Response::builder().status(answer.status);
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response = response.header(name, value);
        }
    }
    let body = match answer.body {
        LinkBody::Empty => empty(),
        LinkBody::Full(bytes) => form::full(bytes),
        LinkBody::Stream(stream) => StreamBody::new(stream.map_ok(http_body::Frame::data)).boxed_unsync(),
    };
    response.body(body).unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
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

fn empty() -> ResponseBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn status(code: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(empty());
    *response.status_mut() = code;
    response
}

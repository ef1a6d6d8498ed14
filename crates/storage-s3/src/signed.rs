//! Requests object_store has no method for, signed with its public `AwsAuthorizer`: object ACLs, create-only
//! multipart uploads, bucket creation. Also the `HttpService` that adds headers object_store cannot send (a canned
//! ACL on a put) and re-signs the request.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use object_store::aws::{AwsAuthorizer, AwsCredentialProvider};
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpRequestBody, HttpResponse,
    HttpService, ReqwestConnector,
};
use storage_core::backoff;
use storage_core::{Error, Result, Retry};

// object_store's traits are declared with async-trait; storage-core re-exports the same macro.

use crate::NAME;
use crate::errors::{ErrorResponse, map_error, status_error};
use crate::xml::{ErrorDocument, MAX_REPLY_BYTES};

/// Headers to add to the object-creating request of a put or copy; travels in `PutOptions::extensions`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExtraHeaders(pub Vec<(HeaderName, HeaderValue)>);

/// Where credentials come from once the store is built (the store's own provider, so all sources work).
#[derive(Debug, Default, Clone)]
pub(crate) struct Credentials(Arc<OnceLock<(AwsCredentialProvider, String)>>);

impl Credentials {
    pub fn set(&self, provider: AwsCredentialProvider, region: String) {
        let _ = self.0.set((provider, region));
    }

    /// Sign `request` in place (replacing any earlier signature).
    pub async fn sign(&self, request: &mut HttpRequest) -> Result<()> {
        let (provider, region) = self
            .0
            .get()
            .ok_or_else(|| Error::configuration("the s3 backend", "credentials are not set up yet").on_backend(NAME))?;
        let credential = provider.get_credential().await.map_err(|err| map_error(err, None))?;
        // Keep the payload hash object_store computed (it may be streaming), or hash what we built.
        let digest =
            request.headers().get("x-amz-content-sha256").and_then(|value| value.to_str().ok()).and_then(hex_decode);
        AwsAuthorizer::new(&credential, "s3", region)
            .try_authorize(request, digest.as_deref())
            .map_err(|err| map_error(err, None))
    }
}

fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect()
}

/// Connects object_store through [`HeaderService`].
#[derive(Debug)]
pub(crate) struct HeaderConnector(pub Credentials);

impl HttpConnector for HeaderConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(HeaderService { inner, credentials: self.0.clone() }))
    }
}

/// Adds [`ExtraHeaders`] to the request that creates an object and re-signs it. object_store copies
/// `PutOptions::extensions` into the request's extensions (pinned by a test against a real server).
///
/// It also reads the error responses to S3 requests that object_store keeps only as text: their status and the
/// code of their error document become an [`ErrorResponse`], the typed source of the `HttpError` object_store
/// reports, so `errors.rs` maps failures by type. Retryable statuses (5xx, 429, 408) become a transport error
/// object_store retries as it retries those statuses; the statuses object_store maps itself (404, 409, 412) and
/// everything else pass through unchanged.
#[derive(Debug)]
struct HeaderService {
    inner: HttpClient,
    credentials: Credentials,
}

#[storage_core::async_trait]
impl HttpService for HeaderService {
    async fn call(&self, mut request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let extra = request.extensions().get::<ExtraHeaders>().cloned();
        if let Some(ExtraHeaders(headers)) = extra.filter(|_| creates_object(&request)) {
            for (name, value) in headers {
                request.headers_mut().insert(name, value);
            }
            self.credentials
                .sign(&mut request)
                .await
                .map_err(|err| HttpError::new(object_store::client::HttpErrorKind::Request, err))?;
        }
        let typed = signed_for_s3(&request);
        let listing = request.uri().query().is_some_and(|query| query.contains("list-type="));
        let response = self.inner.execute(request).await?;
        let status = response.status();
        let mapped_by_object_store = matches!(status.as_u16(), 404 | 409 | 412) && !listing;
        if !typed || !(status.is_client_error() || status.is_server_error()) || mapped_by_object_store {
            return Ok(response);
        }
        let code = match read_bounded(response.into_body().bytes_stream()).await? {
            ReplyBody::Whole(body) => ErrorDocument::of(&String::from_utf8_lossy(&body)).map(|error| error.code),
            ReplyBody::TooLarge => None,
        };
        let kind = if is_retryable_status(status) { HttpErrorKind::Request } else { HttpErrorKind::Unknown };
        Err(HttpError::new(kind, ErrorResponse { status, code: code.filter(|code| !code.is_empty()) }))
    }
}

/// Whether a request is signed for S3 (not a credential provider's request, whose statuses object_store reads).
fn signed_for_s3(request: &HttpRequest) -> bool {
    let authorization = request.headers().get(http::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    authorization.is_some_and(|value| value.contains("/s3/aws4_request"))
}

/// Whether object_store retries a response of this status: a server error, throttling, a timeout.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT
}

/// PutObject, CopyObject or CreateMultipartUpload — not a part upload or a completion.
fn creates_object(request: &HttpRequest) -> bool {
    let query = request.uri().query().unwrap_or_default();
    match *request.method() {
        Method::PUT => !query.contains("partNumber=") && !query.contains("acl"),
        Method::POST => query.split('&').any(|pair| pair == "uploads" || pair == "uploads="),
        _ => false,
    }
}

/// A signed request of our own through the store's HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub client: HttpClient,
    pub credentials: Credentials,
    pub retry: backoff::RetryPolicy,
}

/// A response read whole (these responses are small XML documents).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: String,
}

impl Signed {
    /// Send a request signed here, retried as object_store retries its own: after a dropped connection, a 5xx or a
    /// 429, signed anew each time. Once the retries are spent, the last error is permanent, and so is the error
    /// [`Reply::check`] makes of a last reply that still failed, so a retry above does not start them over.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
        key: &str,
    ) -> Result<Reply> {
        let retryable = |attempt: &Result<Reply>| match attempt {
            Err(err) => err.is_retryable(),
            Ok(reply) => is_retryable_status(reply.status),
        };
        backoff::retry_while(&self.retry, retryable, |_| {
            self.send_once(method.clone(), url, headers.clone(), body.clone(), key)
        })
        .await
        .map_err(Error::retries_spent)
    }

    async fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
        key: &str,
    ) -> Result<Reply> {
        let mut request: HttpRequest = Request::builder()
            .method(method)
            .uri(url)
            .body(HttpRequestBody::from(body))
            .map_err(|err| Error::backend(NAME, Some(key), "could not build a request").with_source(err))?;
        for (name, value) in headers {
            request.headers_mut().insert(name, value);
        }
        // S3 wants a length even for an empty body (411 MissingContentLength otherwise).
        let length = request.body().content_length();
        request.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
        request.headers_mut().remove("x-amz-content-sha256");
        self.credentials.sign(&mut request).await?;
        let response = self.client.execute(request).await.map_err(|err| {
            Error::backend(NAME, Some(key), "the request did not complete")
                .with_retry(Retry::Temporary)
                .with_source(err)
        })?;
        let (parts, body) = response.into_parts();
        let cut_short = |err| {
            Error::backend(NAME, Some(key), "the response was cut short").with_retry(Retry::Temporary).with_source(err)
        };
        let ReplyBody::Whole(body) = read_bounded(body.bytes_stream()).await.map_err(cut_short)? else {
            let message = format!("the response is larger than {MAX_REPLY_BYTES} bytes, far more than any S3 reply");
            return Err(Error::backend(NAME, Some(key), message).with_source("response too large"));
        };
        Ok(Reply { status: parts.status, body: String::from_utf8_lossy(&body).into_owned() })
    }
}

impl Reply {
    /// The reply as an error when it is not a success (S3 can also answer 200 with an `<Error>` document).
    pub fn check(self, key: &str) -> Result<Reply> {
        let error = ErrorDocument::of(&self.body);
        if self.status.is_success() && error.is_none() {
            return Ok(self);
        }
        Err(status_error(self.status, &error.unwrap_or_default().code, key))
    }

    /// The S3 error code of the reply, if it is an error document.
    pub fn error_code(&self) -> Option<String> {
        ErrorDocument::of(&self.body).map(|error| error.code)
    }
}

/// A reply's body, read up to [`MAX_REPLY_BYTES`].
enum ReplyBody {
    Whole(Vec<u8>),
    /// Larger than any S3 reply: refused before it is all in memory.
    TooLarge,
}

async fn read_bounded(
    mut body: futures::stream::BoxStream<'static, Result<Bytes, HttpError>>,
) -> Result<ReplyBody, HttpError> {
    use futures::TryStreamExt as _;
    let mut read = Vec::new();
    while let Some(chunk) = body.try_next().await? {
        if read.len() + chunk.len() > MAX_REPLY_BYTES {
            return Ok(ReplyBody::TooLarge);
        }
        read.extend_from_slice(&chunk);
    }
    Ok(ReplyBody::Whole(read))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt as _;

    #[test]
    fn buckets_that_reject_acls_get_a_clear_configuration_error() {
        let body = "<Error><Code>AccessControlListNotSupported</Code><Message>The bucket does not allow ACLs</Message></Error>";
        let reply = Reply { status: StatusCode::BAD_REQUEST, body: body.into() };
        let err = reply.check("media/a.pdf").unwrap_err();
        assert_eq!(err.kind(), storage_core::ErrorKind::Configuration);
        let message = err.to_string();
        assert!(
            message.contains("media/a.pdf") && message.contains("acls = false") && message.contains("Object Ownership"),
            "{message}"
        );
    }

    #[test]
    fn a_200_with_an_error_document_is_an_error() {
        let reply = Reply { status: StatusCode::OK, body: "<Error><Code>InternalError</Code></Error>".into() };
        assert!(reply.check("k").is_err());
    }

    /// A success is told from an error by the document's root element, not by text it carries: a tag value that
    /// reads `<Error>` is a tag, and an error document written with a declaration or attributes is still one.
    #[test]
    fn a_success_whose_text_mentions_an_error_is_a_success() {
        let tags = "<Tagging><TagSet><Tag><Key>note</Key><Value><![CDATA[<Error>]]></Value></Tag></TagSet></Tagging>";
        assert!(Reply { status: StatusCode::OK, body: tags.into() }.check("k").is_ok());
        let declared = "<?xml version=\"1.0\"?><Error xmlns=\"x\"><Code>SlowDown</Code></Error>";
        let err = Reply { status: StatusCode::OK, body: declared.into() }.check("k").unwrap_err();
        assert!(err.to_string().contains("SlowDown"), "{err}");
    }

    #[tokio::test]
    async fn a_reply_larger_than_the_bound_is_refused_before_it_is_all_read() {
        let chunk = Bytes::from(vec![b'x'; 64 << 10]);
        // An endless body: reading stops at the bound.
        let endless = futures::stream::repeat_with(move || Ok::<_, HttpError>(chunk.clone())).boxed();
        assert!(matches!(read_bounded(endless).await, Ok(ReplyBody::TooLarge)));
    }
}

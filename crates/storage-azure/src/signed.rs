//! The requests object_store has no call for, signed with object_store's own Shared Key machinery
//! (`AzureAuthorizer`): Put Block and a conditional Put Block List (object_store commits a block list with no
//! condition), and Create Container for setup and tests. Azure names a failure in the `x-ms-error-code` header, so
//! no error body is read.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use object_store::azure::{AzureAuthorizer, AzureCredential};
use object_store::client::{HttpClient, HttpRequest, HttpRequestBody};
use storage_core::{Error, Result, Retry};

use crate::NAME;

/// A client that signs each request with the account's credential.
#[derive(Debug)]
pub(crate) struct Signed {
    pub client: HttpClient,
    pub credential: AzureCredential,
    pub account: String,
}

/// The status of a reply and Azure's error code, if it sent one.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub code: Option<String>,
}

impl Signed {
    /// Send one signed request about `key` (which names it in errors); the reply, whatever its status.
    pub async fn send(
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
        // Shared Key signs the length of a body that has one, and an empty string for none.
        let length = request.body().content_length();
        if length > 0 {
            request.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        AzureAuthorizer::new(&self.credential, &self.account)
            .try_authorize(&mut request)
            .map_err(|err| Error::backend(NAME, Some(key), "could not sign a request").with_source(err))?;
        let response = self.client.execute(request).await.map_err(|err| {
            Error::backend(
                NAME,
                Some(key),
                "the request did not complete; check the endpoint and that the service runs",
            )
            .with_retry(Retry::Temporary)
            .with_source(err)
        })?;
        let code = response.headers().get("x-ms-error-code").and_then(|code| code.to_str().ok()).map(str::to_owned);
        Ok(Reply { status: response.status(), code })
    }
}

impl Reply {
    /// The reply as an error on `key` unless it succeeded; 409 and 412 mean the name is taken.
    pub fn check(self, key: &str) -> Result<()> {
        if self.status.is_success() {
            return Ok(());
        }
        let code = self.code.unwrap_or_default();
        let detail = if code.is_empty() { self.status.to_string() } else { format!("{code} ({})", self.status) };
        Err(match self.status.as_u16() {
            409 | 412 => Error::already_exists(NAME, key).with_source(detail),
            401 | 403 => Error::permission_denied(
                NAME,
                Some(key),
                format!("the service refused the request ({detail}); check the account name and key"),
                None,
            ),
            404 => Error::backend(
                NAME,
                Some(key),
                format!("the service answered {detail}; check that the container exists"),
            )
            .with_status(404),
            status => {
                let retry = if status >= 500 || status == 429 { Retry::Temporary } else { Retry::Permanent };
                Error::backend(NAME, Some(key), format!("the service answered {detail}"))
                    .with_retry(retry)
                    .with_status(status)
            }
        })
    }
}

//! Failures as the public error, by the HTTP status and the S3 error code of the response (an [`ErrorResponse`],
//! which `signed.rs` reads from the typed error document on the way to object_store), by object_store's error
//! variant, or by how the transport failed: never by searching a message.

use http::StatusCode;
use object_store::client::{HttpError, HttpErrorKind};
use storage_core::{Error, Retry};
use storage_object_store::errors::by_variant;

use crate::NAME;

/// Map an object_store error on `key` (or on no single object) into the public error, without losing the cause.
/// It is permanent: object_store has already retried what it could (by the storage's retry policy), so a retry
/// above it would multiply the requests rather than add to them.
///
/// object_store maps the statuses it knows (404, 409, 412) to its own variants; any other error response arrives as
/// `Generic`, whose status and S3 error code are the [`ErrorResponse`] in its source chain.
pub(crate) fn map_error(err: object_store::Error, key: Option<&str>) -> Error {
    let failure = Failure::of(&err);
    if failure.code.as_deref() == Some(ACL_NOT_SUPPORTED) {
        return acl_not_supported(key);
    }
    let err = match by_variant(NAME, err, key) {
        Ok(mapped) => return mapped,
        Err(err) => err,
    };
    if failure.status.is_some_and(|status| matches!(status.as_u16(), 401 | 403)) {
        // The status is in the cause that follows: say what it means, not the status again.
        let code = failure.code.as_deref().unwrap_or("refused");
        let message = format!(
            "the server refused the request ({code}); check the credentials (AWS_ACCESS_KEY_ID, \
             AWS_SECRET_ACCESS_KEY) and the bucket policy"
        );
        return Error::permission_denied(NAME, key, message, Some(err.into()));
    }
    let message = match (failure.status, &failure.code) {
        (Some(status), Some(code)) => format!("the server answered {code} ({status})"),
        (Some(status), None) => format!("the server answered {status}"),
        (None, _) => match failure.transport {
            Some(HttpErrorKind::Connect) => {
                "cannot connect to the server, even after retries; check the endpoint and that the server runs"
                    .to_owned()
            }
            Some(kind) => format!("the request failed ({kind:?})"),
            None => "the request failed".to_owned(),
        },
    };
    let err = Error::backend(NAME, key, message).with_retry(Retry::Permanent).with_source(err);
    match failure.status {
        Some(status) => err.with_status(status.as_u16()),
        None => err,
    }
}

/// Map an S3 error response (a status and the `<Code>` of its body) on `key` to the public error: permanent, as it
/// is the last reply of a request whose retries are spent.
pub(crate) fn status_error(status: StatusCode, code: &str, key: &str) -> Error {
    let detail = if code.is_empty() { status.to_string() } else { format!("{code} ({status})") };
    let err = match (status.as_u16(), code) {
        (_, ACL_NOT_SUPPORTED) => acl_not_supported(Some(key)),
        (404, _) => Error::not_found(NAME, key),
        (412, _) => Error::already_exists(NAME, key),
        (401 | 403, _) => Error::permission_denied(
            NAME,
            Some(key),
            format!("{detail}; check the credentials and the bucket policy"),
            None,
        ),
        _ => Error::backend(NAME, Some(key), format!("the server answered {detail}")).with_retry(Retry::Permanent),
    };
    err.with_status(status.as_u16())
}

const ACL_NOT_SUPPORTED: &str = "AccessControlListNotSupported";

/// A bucket with Object Ownership "bucket owner enforced" refused an ACL.
pub(crate) fn acl_not_supported(key: Option<&str>) -> Error {
    let on = key.map(|key| format!(" on `{key}`")).unwrap_or_default();
    Error::configuration(
        "the s3 backend",
        format!(
            "the bucket rejects ACLs (AccessControlListNotSupported){on}: its Object Ownership is \"bucket owner \
             enforced\", the default of new AWS buckets. Set `acls = false` for this storage (`acls=false` in its \
             s3:// URL, STORAGE_<NAME>_ACLS=false, or S3Config::with_acls(false)) and make public files public \
             with a bucket policy (`storage s3 policy`), or set Object Ownership to \"bucket owner preferred\""
        ),
    )
    .on_backend(NAME)
}

/// What a failed request says about itself: the response's status and S3 error code, or how the transport failed.
#[derive(Debug, Default, PartialEq)]
struct Failure {
    status: Option<StatusCode>,
    code: Option<String>,
    transport: Option<HttpErrorKind>,
}

/// An S3 error response: its status and the code of its error document (none when the body is none). The typed
/// source of the `HttpError` object_store reports for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorResponse {
    pub status: StatusCode,
    pub code: Option<String>,
}

impl std::fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "the server answered {code} ({})", self.status),
            None => write!(f, "the server answered {}", self.status),
        }
    }
}

impl std::error::Error for ErrorResponse {}

impl Failure {
    /// Read from `err`'s source chain, by type: an [`ErrorResponse`] is what the server answered; an `HttpError`
    /// without one is how the transport failed.
    fn of(err: &object_store::Error) -> Failure {
        let mut failure = Failure::default();
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(current) = next {
            if let Some(response) = current.downcast_ref::<ErrorResponse>() {
                failure.status = Some(response.status);
                failure.code = response.code.clone();
            } else if let Some(http) = current.downcast_ref::<HttpError>() {
                failure.transport = Some(http.kind());
            }
            next = current.source();
        }
        if failure.status.is_some() {
            failure.transport = None;
        }
        failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds whose constructor takes no backend (a configuration, an argument) name s3 too; a status is kept.
    #[test]
    fn mapped_errors_name_the_backend_and_keep_the_status() {
        for (status, code) in [(404, "NoSuchKey"), (400, "AccessControlListNotSupported"), (503, "SlowDown")] {
            let err = status_error(StatusCode::from_u16(status).unwrap(), code, "k");
            assert_eq!((err.backend_name(), err.status()), (Some(NAME), Some(status)), "{err}");
        }
        let unknown = object_store::Error::UnknownConfigurationKey { store: "S3", key: "x".into() };
        let mut metadata = storage_core::Attributes::default();
        metadata.metadata.insert("a b".to_owned(), "x".to_owned());
        let refused = [
            map_error(unknown, None),
            crate::S3Config::new("").validate().unwrap_err(),
            crate::attributes::attribute_headers(&metadata).unwrap_err(),
        ];
        for err in refused {
            assert_eq!(err.backend_name(), Some(NAME), "{err}");
        }
    }

    /// A status maps to a kind; none is retryable, a 5xx and a 429 included: the reply is the last of a request
    /// whose retries are spent.
    #[test]
    fn statuses_and_codes_map_to_kinds_and_none_is_retryable_after_the_retries() {
        use storage_core::ErrorKind::*;
        for (status, code, kind) in [
            (404, "NoSuchKey", NotFound),
            (412, "PreconditionFailed", AlreadyExists),
            (403, "AccessDenied", PermissionDenied),
            (400, "AccessControlListNotSupported", Configuration),
            (400, "InvalidArgument", Backend),
            (429, "TooManyRequests", Backend),
            (503, "SlowDown", Backend),
            (500, "InternalError", Backend),
        ] {
            let err = status_error(StatusCode::from_u16(status).unwrap(), code, "k");
            assert_eq!((err.kind(), err.is_retryable()), (kind, false), "{status} {code}");
        }
    }

    #[test]
    fn an_unmapped_object_store_error_is_not_retryable_by_default() {
        let err = object_store::Error::Generic { store: "S3", source: "a checksum did not match".into() };
        let mapped = map_error(err, Some("k"));
        assert_eq!(mapped.kind(), storage_core::ErrorKind::Backend);
        assert!(!mapped.is_retryable(), "{mapped}");
    }

    /// A message is never read for a status or a code: only the response object_store keeps (its `RetryError`)
    /// says what the server answered. A failure whose text merely quotes a 503 and an S3 code (a checksum error
    /// quoting a body, say) stays what it is: permanent, and not a configuration error.
    #[test]
    fn a_message_that_quotes_a_status_and_code_is_not_read_as_one() {
        let text = "Error performing PUT http://127.0.0.1/b/k in 1ms - Server returned non-2xx status code: 503 \
                    Service Unavailable: <Error><Code>AccessControlListNotSupported</Code></Error>";
        let err = object_store::Error::Generic { store: "S3", source: text.into() };
        assert_eq!(Failure::of(&err), Failure::default());
        let mapped = map_error(err, None);
        assert_eq!(mapped.kind(), storage_core::ErrorKind::Backend);
        assert!(!mapped.is_retryable() && mapped.to_string().contains("(no key)"), "{mapped}");
    }

    /// What `signed.rs` makes of an error response, wrapped as object_store wraps it, maps by its status and code;
    /// a 503 is not retryable, object_store having retried it already.
    #[test]
    fn an_error_response_in_the_chain_decides_by_its_status_and_code() {
        let wrapped = |status: u16, code: &str| {
            let response = ErrorResponse { status: StatusCode::from_u16(status).unwrap(), code: Some(code.into()) };
            let kind = if status >= 500 { HttpErrorKind::Request } else { HttpErrorKind::Unknown };
            object_store::Error::Generic { store: "S3", source: Box::new(HttpError::new(kind, response)) }
        };
        let slow = map_error(wrapped(503, "SlowDown"), None);
        assert!(!slow.is_retryable() && slow.to_string().contains("SlowDown (503 Service Unavailable)"), "{slow}");
        let refused = map_error(wrapped(400, ACL_NOT_SUPPORTED), Some("a.pdf"));
        assert_eq!(refused.kind(), storage_core::ErrorKind::Configuration);
        assert!(refused.to_string().contains("`a.pdf`") && refused.to_string().contains("acls = false"), "{refused}");
        let denied = map_error(wrapped(403, "AccessDenied"), Some("k"));
        assert_eq!(denied.kind(), storage_core::ErrorKind::PermissionDenied);
        assert!(denied.to_string().contains("AccessDenied"), "{denied}");
        let bad = map_error(wrapped(400, "InvalidArgument"), Some("k"));
        assert_eq!(bad.kind(), storage_core::ErrorKind::Backend);
        assert!(!bad.is_retryable() && bad.to_string().contains("InvalidArgument (400 Bad Request)"), "{bad}");
    }

    /// A transport failure names what failed; it is not retryable, object_store having retried it already.
    #[test]
    fn a_transport_failure_in_the_chain_names_its_kind_and_is_not_retried_again() {
        let connect = HttpError::new(HttpErrorKind::Connect, std::io::Error::other("connection refused"));
        let err = object_store::Error::Generic { store: "S3", source: Box::new(connect) };
        let mapped = map_error(err, Some("k"));
        assert!(!mapped.is_retryable() && mapped.to_string().contains("cannot connect"), "{mapped}");
        let decode = HttpError::new(HttpErrorKind::Decode, std::io::Error::other("bad body"));
        let err = object_store::Error::Generic { store: "S3", source: Box::new(decode) };
        assert!(!map_error(err, Some("k")).is_retryable());
    }
}

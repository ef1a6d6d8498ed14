//! Conversions between object_store and storage-core: object metadata, attributes, and errors mapped by the S3
//! error code and the HTTP status, never by searching a message.

use futures::{StreamExt, TryStreamExt};
use http::{HeaderName, HeaderValue, StatusCode};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path;
use object_store::{Attribute, AttributeValue, GetOptions, GetRange, ObjectStore};
use storage_core::{Attributes, ByteRange, Error, GetResult, Metadata, ObjectMeta, Result, Retry};

use crate::NAME;
use crate::signed::xml_text;

pub(crate) fn to_meta(key: &str, meta: &object_store::ObjectMeta) -> ObjectMeta {
    ObjectMeta::new(key, meta.size, meta.last_modified, meta.e_tag.clone())
}

pub(crate) fn to_store_attributes(attributes: &Attributes) -> object_store::Attributes {
    let mut out = object_store::Attributes::new();
    let fields = [
        (Attribute::ContentType, &attributes.content_type),
        (Attribute::CacheControl, &attributes.cache_control),
        (Attribute::ContentDisposition, &attributes.content_disposition),
        (Attribute::ContentEncoding, &attributes.content_encoding),
        (Attribute::ContentLanguage, &attributes.content_language),
    ];
    for (attribute, value) in fields {
        if let Some(value) = value {
            out.insert(attribute, AttributeValue::from(value.clone()));
        }
    }
    for (name, value) in &attributes.metadata {
        out.insert(Attribute::Metadata(name.clone().into()), AttributeValue::from(value.clone()));
    }
    out
}

pub(crate) fn from_store_attributes(attributes: &object_store::Attributes) -> Attributes {
    let mut out = Attributes::default();
    for (attribute, value) in attributes {
        let value = value.as_ref().to_owned();
        match attribute {
            Attribute::ContentType => out.content_type = Some(value),
            Attribute::CacheControl => out.cache_control = Some(value),
            Attribute::ContentDisposition => out.content_disposition = Some(value),
            Attribute::ContentEncoding => out.content_encoding = Some(value),
            Attribute::ContentLanguage => out.content_language = Some(value),
            Attribute::Metadata(name) => {
                out.metadata.insert(name.to_string(), value);
            }
            _ => {}
        }
    }
    out
}

/// The headers of a CreateMultipartUpload that give the object its attributes.
pub(crate) fn attribute_headers(attributes: &Attributes) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let mut headers = Vec::new();
    let fields = [
        (http::header::CONTENT_TYPE, &attributes.content_type),
        (http::header::CACHE_CONTROL, &attributes.cache_control),
        (http::header::CONTENT_DISPOSITION, &attributes.content_disposition),
        (http::header::CONTENT_ENCODING, &attributes.content_encoding),
        (http::header::CONTENT_LANGUAGE, &attributes.content_language),
    ];
    let value = |v: &str| {
        HeaderValue::from_str(v)
            .map_err(|_| Error::invalid_argument(None, format!("{v:?} is not a valid header value")).on_backend(NAME))
    };
    for (name, field) in fields {
        if let Some(field) = field {
            headers.push((name, value(field)?));
        }
    }
    for (name, field) in &attributes.metadata {
        let name = HeaderName::from_bytes(format!("x-amz-meta-{name}").as_bytes()).map_err(|_| {
            Error::invalid_argument(None, format!("{name:?} is not a valid metadata name")).on_backend(NAME)
        })?;
        headers.push((name, value(field)?));
    }
    Ok(headers)
}

/// The user-metadata key that marks a create-only placeholder (a tiny object holding a name while the object that
/// will replace it is uploaded or copied: see `claim.rs`); its value is when it was written, in seconds since 1970.
/// No read path of this crate shows a placeholder: it is absent until replaced. One a killed process left behind
/// dies at its deadline, and the next write to its name takes it over; `storage gc` removes it.
pub(crate) const PLACEHOLDER: &str = "storage-placeholder";

/// The key prefix of the objects that probe the server's conditional completion (hidden like placeholders, for the
/// moment they exist; `gc` removes one a killed process left).
pub(crate) const PROBE: &str = ".storage-probe-";

/// `attributes` marked as a placeholder's.
pub(crate) fn placeholder_attributes(mut attributes: Attributes) -> Attributes {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    attributes.metadata.insert(PLACEHOLDER.to_owned(), now.as_secs().to_string());
    attributes
}

/// `NotFound` for a placeholder, as for a missing object.
fn hide_placeholder(
    path: &Path,
    key: &str,
    attributes: &Attributes,
    map_error: &impl Fn(object_store::Error, &str) -> Error,
) -> Result<()> {
    if !attributes.metadata.contains_key(PLACEHOLDER) {
        return Ok(());
    }
    let source = "a create-only placeholder: the object is still being written".into();
    Err(map_error(object_store::Error::NotFound { path: path.to_string(), source }, key))
}

/// A ranged read through any object_store, with an out-of-range request reported as such.
pub(crate) async fn get_object(
    store: &dyn ObjectStore,
    path: &Path,
    key: &str,
    range: Option<ByteRange>,
    map_error: impl Fn(object_store::Error, &str) -> Error,
) -> Result<GetResult> {
    let options = GetOptions {
        range: range.map(|range| match range {
            ByteRange::Bounded { start, end } => GetRange::Bounded(start..end),
            ByteRange::From(start) => GetRange::Offset(start),
            ByteRange::Suffix(n) => GetRange::Suffix(n),
        }),
        ..Default::default()
    };
    let result = store.get_opts(path, options).await.map_err(|err| match (range, err) {
        (Some(range), object_store::Error::Generic { .. } | object_store::Error::NotModified { .. }) => {
            Error::invalid_argument(Some(key), format!("the range {range:?} is outside the object")).on_backend(NAME)
        }
        (_, err) => map_error(err, key),
    })?;
    let metadata = Metadata::new(to_meta(key, &result.meta), from_store_attributes(&result.attributes));
    hide_placeholder(path, key, &metadata.attributes, &map_error)?;
    let range = result.range.clone();
    let stream = result.into_stream().map_err(std::io::Error::other).boxed();
    Ok(GetResult::new(metadata, range, stream))
}

/// Metadata and attributes through any object_store (a HEAD request on S3).
pub(crate) async fn head_object(
    store: &dyn ObjectStore,
    path: &Path,
    key: &str,
    map_error: impl Fn(object_store::Error, &str) -> Error,
) -> Result<Metadata> {
    let options = GetOptions { head: true, ..Default::default() };
    let result = store.get_opts(path, options).await.map_err(|err| map_error(err, key))?;
    let metadata = Metadata::new(to_meta(key, &result.meta), from_store_attributes(&result.attributes));
    hide_placeholder(path, key, &metadata.attributes, &map_error)?;
    Ok(metadata)
}

/// Map an object_store error on `key` (or on no single object) into the public error, without losing the cause.
///
/// object_store maps the statuses it knows (404, 409, 412, 401, 403) to its own variants; anything else arrives as
/// `Generic`, whose response status and S3 error code are read from the request failure in its source chain.
pub(crate) fn map_error(err: object_store::Error, key: Option<&str>) -> Error {
    let failure = Failure::of(&err);
    if failure.code.as_deref() == Some(ACL_NOT_SUPPORTED) {
        return acl_not_supported(key);
    }
    let key_text = key.unwrap_or_default();
    match err {
        object_store::Error::NotFound { .. } => Error::not_found(NAME, key_text).with_source(err),
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            Error::already_exists(NAME, key_text).with_source(err)
        }
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            let message = "the server refused the credentials or the bucket policy denies this; check both";
            Error::permission_denied(NAME, key, message, Some(err.into()))
        }
        object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
            Error::unsupported(NAME, "this operation on this object store")
        }
        object_store::Error::UnknownConfigurationKey { key: setting, .. } => {
            Error::configuration("the s3 backend", format!("object_store does not know the setting `{setting}`"))
                .on_backend(NAME)
        }
        err if failure.status.is_some_and(|status| matches!(status.as_u16(), 401 | 403)) => {
            // The status is in the cause that follows: say what it means, not the status again.
            let code = failure.code.as_deref().unwrap_or("refused");
            let message = format!(
                "the server refused the request ({code}); check the credentials (AWS_ACCESS_KEY_ID, \
                 AWS_SECRET_ACCESS_KEY) and the bucket policy"
            );
            Error::permission_denied(NAME, key, message, Some(err.into()))
        }
        err => {
            let message = match (failure.status, &failure.code) {
                (Some(status), Some(code)) => format!("the server answered {code} ({status})"),
                (Some(status), None) => format!("the server answered {status}"),
                (None, _) => match failure.transport {
                    Some(HttpErrorKind::Connect) => {
                        "cannot connect to the server, even after retries; check the endpoint and that the server \
                         runs"
                            .to_owned()
                    }
                    Some(kind) => format!("the request failed ({kind:?})"),
                    None => "the request failed".to_owned(),
                },
            };
            let err = Error::backend(NAME, key, message).with_retry(failure.retry()).with_source(err);
            match failure.status {
                Some(status) => err.with_status(status.as_u16()),
                None => err,
            }
        }
    }
}

/// Map an S3 error response (a status and the `<Code>` of its body) on `key` to the public error.
pub(crate) fn status_error(status: StatusCode, code: &str, key: &str) -> Error {
    let detail = if code.is_empty() { status.to_string() } else { format!("{code} ({status})") };
    let failure = Failure { status: Some(status), code: Some(code.to_owned()), transport: None };
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
        _ => Error::backend(NAME, Some(key), format!("the server answered {detail}")).with_retry(failure.retry()),
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

impl Failure {
    /// Read from `err`'s source chain. The transport failure is object_store's public `HttpError`; a response
    /// failure is its retry error, whose type is private to object_store, so its status and body are read from the
    /// one form it exposes: `… status code: 503 Service Unavailable: <Error><Code>SlowDown</Code>…`.
    fn of(err: &object_store::Error) -> Failure {
        let mut failure = Failure::default();
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(current) = next {
            if let Some(http) = current.downcast_ref::<HttpError>() {
                failure.transport = Some(http.kind());
            }
            let text = current.to_string();
            if failure.status.is_none() {
                failure.status = text
                    .split_once("status code: ")
                    .and_then(|(_, rest)| rest.get(..3))
                    .and_then(|digits| digits.parse::<u16>().ok())
                    .and_then(|status| StatusCode::from_u16(status).ok());
            }
            if failure.code.is_none() {
                failure.code = xml_text(&text, "Code");
            }
            next = current.source();
        }
        failure
    }

    /// Whether the same request may succeed later, as the public error says it.
    fn retry(&self) -> Retry {
        if self.is_retryable() { Retry::Temporary } else { Retry::Permanent }
    }

    /// Whether the same request may succeed later: a server error, throttling, or a transport failure that is not
    /// the response's fault.
    fn is_retryable(&self) -> bool {
        match (self.status, self.transport) {
            (Some(status), _) => status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS,
            (None, Some(kind)) => {
                matches!(
                    kind,
                    HttpErrorKind::Connect
                        | HttpErrorKind::Request
                        | HttpErrorKind::Timeout
                        | HttpErrorKind::Interrupted
                )
            }
            (None, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_map_to_kinds_and_retryability() {
        use storage_core::ErrorKind::*;
        for (status, code, kind, retryable) in [
            (404, "NoSuchKey", NotFound, false),
            (412, "PreconditionFailed", AlreadyExists, false),
            (403, "AccessDenied", PermissionDenied, false),
            (400, "AccessControlListNotSupported", Configuration, false),
            (400, "InvalidArgument", Backend, false),
            (429, "TooManyRequests", Backend, true),
            (503, "SlowDown", Backend, true),
            (500, "InternalError", Backend, true),
        ] {
            let err = status_error(StatusCode::from_u16(status).unwrap(), code, "k");
            assert_eq!((err.kind(), err.is_retryable()), (kind, retryable), "{status} {code}");
        }
    }

    /// The kinds whose constructor takes no backend (a configuration, an argument) name s3 too; a status is kept.
    #[test]
    fn mapped_errors_name_the_backend_and_keep_the_status() {
        for (status, code) in [(404, "NoSuchKey"), (400, "AccessControlListNotSupported"), (503, "SlowDown")] {
            let err = status_error(StatusCode::from_u16(status).unwrap(), code, "k");
            assert_eq!((err.backend_name(), err.status()), (Some(NAME), Some(status)), "{err}");
        }
        let unknown = object_store::Error::UnknownConfigurationKey { store: "S3", key: "x".into() };
        let mut metadata = Attributes::default();
        metadata.metadata.insert("a b".to_owned(), "x".to_owned());
        let refused = [
            map_error(unknown, None),
            crate::S3Config::new("").validate().unwrap_err(),
            attribute_headers(&metadata).unwrap_err(),
        ];
        for err in refused {
            assert_eq!(err.backend_name(), Some(NAME), "{err}");
        }
    }

    #[test]
    fn an_unmapped_object_store_error_is_not_retryable_by_default() {
        let err = object_store::Error::Generic { store: "S3", source: "a checksum did not match".into() };
        let mapped = map_error(err, Some("k"));
        assert_eq!(mapped.kind(), storage_core::ErrorKind::Backend);
        assert!(!mapped.is_retryable(), "{mapped}");
    }

    #[test]
    fn a_status_and_code_in_the_chain_decide() {
        let text = "Error performing PUT http://127.0.0.1/b/k in 1ms - Server returned non-2xx status code: 503 \
                    Service Unavailable: <Error><Code>SlowDown</Code></Error>";
        let err = object_store::Error::Generic { store: "S3", source: text.into() };
        let failure = Failure::of(&err);
        assert_eq!(
            (failure.status, failure.code.as_deref()),
            (Some(StatusCode::SERVICE_UNAVAILABLE), Some("SlowDown"))
        );
        let mapped = map_error(err, None);
        assert!(mapped.is_retryable() && mapped.to_string().contains("(no key)"), "{mapped}");
        let acl = "Server returned non-2xx status code: 400 Bad Request: <Error><Code>AccessControlListNotSupported</Code></Error>";
        let refused = map_error(object_store::Error::Generic { store: "S3", source: acl.into() }, Some("a.pdf"));
        assert_eq!(refused.kind(), storage_core::ErrorKind::Configuration);
        assert!(refused.to_string().contains("`a.pdf`") && refused.to_string().contains("acls = false"), "{refused}");
    }
}

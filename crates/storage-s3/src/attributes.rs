//! Attributes on S3's own requests: the headers of a CreateMultipartUpload that give the object its attributes.
//! (Between object_store and storage-core, attributes convert in storage-object-store's `attributes`.)

use http::{HeaderName, HeaderValue};
use storage_core::{Attributes, Error, Result};

use crate::NAME;

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

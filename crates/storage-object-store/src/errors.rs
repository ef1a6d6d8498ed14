//! object_store's errors as the public error, by their variant alone: a store's own backend (storage-s3) reads
//! the response's status and code first, and leaves the variants to this.

use storage_core::{Error, Result};

/// The public error for the variants that say what happened (not found, taken, refused, unsupported, a setting
/// object_store does not know) on `backend`'s `key` (or on no single object); `Err` gives back the others
/// (`Generic` and the like), whose cause only the store's own backend can read.
pub fn by_variant(backend: &str, err: object_store::Error, key: Option<&str>) -> Result<Error, object_store::Error> {
    let key_text = key.unwrap_or_default();
    Ok(match err {
        object_store::Error::NotFound { .. } => Error::not_found(backend, key_text).with_source(err),
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            Error::already_exists(backend, key_text).with_source(err)
        }
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            let message = "the server refused the credentials or the bucket policy denies this; check both";
            Error::permission_denied(backend, key, message, Some(err.into()))
        }
        object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
            Error::unsupported(backend, "this operation on this object store")
        }
        object_store::Error::UnknownConfigurationKey { key: setting, .. } => Error::configuration(
            format!("the {backend} backend"),
            format!("object_store does not know the setting `{setting}`"),
        )
        .on_backend(backend),
        other => return Err(other),
    })
}

/// Any object_store error on `backend`'s `key` as the public error: by its variant, and otherwise a permanent
/// `Backend` error (a store in general says nothing more that can be read without parsing its message).
pub fn map_error(backend: &str, err: object_store::Error, key: Option<&str>) -> Error {
    by_variant(backend, err, key)
        .unwrap_or_else(|err| Error::backend(backend, key, "the request failed").with_source(err))
}

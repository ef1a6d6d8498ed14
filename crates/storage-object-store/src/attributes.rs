//! Object metadata and attributes between object_store and storage-core, and the reads that return them (ranged
//! gets and heads), which show no placeholder (`placeholders.rs`): one is absent until it is replaced.

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{Attribute, AttributeValue, GetOptions, GetRange, ObjectStore};
use storage_core::{Attributes, ByteRange, Error, GetResult, Metadata, ObjectMeta, Result};

use crate::placeholders::is_placeholder;

/// The public metadata of the object at `key`.
pub fn to_meta(key: &str, meta: &object_store::ObjectMeta) -> ObjectMeta {
    ObjectMeta::new(key, meta.size, meta.last_modified, meta.e_tag.clone())
}

/// object_store's attributes for these.
pub fn to_store_attributes(attributes: &Attributes) -> object_store::Attributes {
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

/// The public attributes of object_store's (those it has no field for are left out).
pub fn from_store_attributes(attributes: &object_store::Attributes) -> Attributes {
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

/// `NotFound` for a placeholder, as for a missing object.
fn hide_placeholder(
    path: &Path,
    key: &str,
    attributes: &Attributes,
    map_error: &impl Fn(object_store::Error, &str) -> Error,
) -> Result<()> {
    if !is_placeholder(attributes) {
        return Ok(());
    }
    let source = "a create-only placeholder: the object is still being written".into();
    Err(map_error(object_store::Error::NotFound { path: path.to_string(), source }, key))
}

/// A ranged read through any object_store, with an out-of-range request reported as such.
pub async fn get_object(
    store: &dyn ObjectStore,
    path: &Path,
    key: &str,
    range: Option<ByteRange>,
    backend: &str,
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
            Error::invalid_argument(Some(key), format!("the range {range:?} is outside the object")).on_backend(backend)
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
pub async fn head_object(
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

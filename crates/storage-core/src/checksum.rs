//! MD5 of stored objects and of streams: what tells a retried write that landed from a collision, and a migrated
//! copy from a corrupt one.

use futures::TryStreamExt;
use md5::{Digest, Md5};

use crate::backend::Backend;
use crate::content::ByteStream;
use crate::error::{Error, Result};
use crate::types::ObjectMeta;

/// The MD5 of an object: its ETag when that is a plain MD5 (S3 single-part uploads, the memory backend), else read.
pub async fn md5_of(backend: &dyn Backend, meta: &ObjectMeta) -> Result<[u8; 16]> {
    match meta.etag.as_deref().and_then(md5_from_etag) {
        Some(md5) => Ok(md5),
        None => read_md5(backend, &meta.key).await,
    }
}

/// The MD5 of an object's bytes, read whole.
pub async fn read_md5(backend: &dyn Backend, key: &str) -> Result<[u8; 16]> {
    stream_md5(backend.get(key, None).await?.stream, backend.name(), key).await
}

/// The MD5 of a stream's bytes, read to its end; a read error names `backend` and `key`.
pub async fn stream_md5(mut stream: ByteStream, backend: &str, key: &str) -> Result<[u8; 16]> {
    let mut hasher = Md5::new();
    while let Some(chunk) = stream.try_next().await.map_err(|err| Error::from_io(backend, Some(key), err))? {
        hasher.update(&chunk);
    }
    Ok(hasher.finalize().into())
}

/// `"9e107d9d372bb6826bd81d3542a419d6"` → its 16 bytes. Multipart ETags (`"...-3"`) and others are not MD5s.
pub fn md5_from_etag(etag: &str) -> Option<[u8; 16]> {
    let hex = etag.trim_matches('"');
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::md5_from_etag;

    #[test]
    fn only_plain_md5_etags_count() {
        assert_eq!(md5_from_etag("\"9e107d9d372bb6826bd81d3542a419d6\"").unwrap()[0], 0x9e);
        assert_eq!(md5_from_etag("\"9e107d9d372bb6826bd81d3542a419d6-3\""), None);
        assert_eq!(md5_from_etag("\"1a2b-5f-20\""), None);
        assert_eq!(md5_from_etag("\"zz107d9d372bb6826bd81d3542a419d6\""), None);
    }
}

//! The cutover's delete: `DeleteObject` with `If-Match` on the ETag copied, where the server honours it (AWS since
//! 2024-11), which is detected once per backend by a probe, as the conditional multipart completion is; elsewhere
//! (Ceph RGW 16 ignores the header and deletes) the metadata is re-read just before the delete.

use bytes::Bytes;
use http::Method as HttpMethod;
use http::{HeaderName, HeaderValue, StatusCode};
use storage_core::{Backend, ConditionalDelete, Error, PutOptions, Result, WriteMode, delete_after_reread};
use storage_object_store::placeholders::placeholder_attributes;

use crate::{NAME, S3Backend};

/// A tag no object has: a conditional delete with it is refused wherever `If-Match` is honoured.
const NO_OBJECT_HAS_THIS_TAG: &str = "\"00000000000000000000000000000000\"";

impl S3Backend {
    /// Delete `key` only while its ETag is `etag`: atomically where the server honours `If-Match` on DELETE,
    /// by re-reading just before otherwise.
    pub(crate) async fn delete_if_match(&self, key: &str, etag: &str) -> Result<ConditionalDelete> {
        if !self.deletes_conditionally().await {
            return delete_after_reread(self, key, etag).await;
        }
        match self.delete_with_if_match(key, etag).await? {
            StatusCode::PRECONDITION_FAILED => Ok(ConditionalDelete::Changed),
            _ => Ok(ConditionalDelete::Deleted),
        }
    }

    /// Whether the server refuses a DELETE whose `If-Match` does not match, probed once on first use.
    pub async fn deletes_conditionally(&self) -> bool {
        *self.inner.conditional_delete.get_or_init(|| self.probe_conditional_delete()).await
    }

    /// DELETE `key` with `If-Match: etag`; the status (412 when refused, 404 when gone, 204 when deleted).
    async fn delete_with_if_match(&self, key: &str, etag: &str) -> Result<StatusCode> {
        let url = self.object_url(&self.inner.config.endpoint_or_default(), key);
        let tag = HeaderValue::from_str(etag)
            .map_err(|_| Error::invalid_argument(Some(key), "the etag to match is not a valid header value"))?;
        let headers = vec![(HeaderName::from_static("if-match"), tag)];
        let reply = self.inner.signed.send(HttpMethod::DELETE, &url, headers, Bytes::new(), key).await?;
        match reply.status {
            StatusCode::PRECONDITION_FAILED | StatusCode::NOT_FOUND => Ok(reply.status),
            _ => reply.check(key).map(|reply| reply.status),
        }
    }

    /// Write a hidden probe object and delete it with a tag it does not have: a refusal (412) means the server
    /// honours `If-Match` on DELETE. Any failure reads as "not honoured": re-reading works on every server.
    async fn probe_conditional_delete(&self) -> bool {
        let key = format!("{}{:016x}", crate::placeholders::PROBE, fastrand::u64(..));
        let hidden = PutOptions::new(WriteMode::Overwrite, placeholder_attributes(Default::default()), None);
        let honoured = async {
            self.put_single(&key, Bytes::from_static(b"probe"), &hidden).await?;
            self.delete_with_if_match(&key, NO_OBJECT_HAS_THIS_TAG).await
        }
        .await;
        let _ = Backend::delete(self, &key).await;
        let honoured = matches!(honoured, Ok(StatusCode::PRECONDITION_FAILED));
        tracing::debug!(honoured, backend = NAME, "s3: probed If-Match on DeleteObject");
        honoured
    }
}

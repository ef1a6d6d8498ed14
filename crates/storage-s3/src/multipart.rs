//! Large saves: multipart uploads with `part_concurrency` parts in flight, gathered from the stream's chunks without
//! copying, aborted on any failure; and the one way a create-only multipart save claims its name, on every backend
//! of this crate ([`create_only_upload`]).

use bytes::Bytes;
use futures::TryStreamExt;
use http::Method as HttpMethod;
use object_store::multipart::{MultipartStore, PartId};
use object_store::{ObjectStoreExt, PutPayload};
use storage_core::{Error, PutOptions, Result, WriteMode};

use crate::acl::acl_header;
use crate::convert::{attribute_headers, map_error};
use crate::signed::xml_text;
use crate::{NAME, S3Backend};

/// A create-only save too large for one request: `claim` takes the name with a create-only, zero-byte placeholder
/// (every S3 honours `If-None-Match: *` on PutObject, and every object_store `PutMode::Create`; Ceph 16 ignores it on
/// CompleteMultipartUpload, and object_store completes multipart uploads in overwrite mode), `upload` then completes
/// over it, and `release` deletes it if the upload fails. The check and the write cannot be separated by another
/// writer, and a failure leaves the name free.
pub(crate) async fn create_only_upload(
    claim: impl Future<Output = Result<()>>,
    name_claim: storage_core::NameClaim,
    upload: impl Future<Output = Result<()>>,
    release: impl Future<Output = ()>,
) -> Result<()> {
    claim.await?;
    // The name is ours now: the storage need not keep the content for another attempt.
    name_claim.claimed();
    let uploaded = upload.await;
    if uploaded.is_err() {
        release.await;
    }
    uploaded
}

impl S3Backend {
    /// A multipart upload with `part_concurrency` parts in flight, aborted on any failure (no orphaned parts);
    /// create-only through [`create_only_upload`].
    pub(crate) async fn put_multipart(
        &self,
        key: &str,
        first: Bytes,
        rest: storage_core::ByteStream,
        options: &PutOptions,
        claim: storage_core::NameClaim,
    ) -> Result<()> {
        let upload = self.upload_parts(key, first, rest, options);
        if options.mode == WriteMode::Overwrite {
            return upload.await;
        }
        let attributes = crate::convert::placeholder_attributes(options.attributes.clone());
        let placeholder = PutOptions::new(WriteMode::CreateOnly, attributes, options.acl);
        let take_name = self.put_single(key, Bytes::new(), &placeholder);
        let path = self.path(key)?;
        let release = async {
            let _ = self.inner.store.delete(&path).await;
        };
        create_only_upload(take_name, claim, upload, release).await
    }

    async fn upload_parts(
        &self,
        key: &str,
        first: Bytes,
        mut rest: storage_core::ByteStream,
        options: &PutOptions,
    ) -> Result<()> {
        let path = self.path(key)?;
        let url = self.object_url(&self.inner.config.endpoint_or_default(), key);
        let mut headers = attribute_headers(&options.attributes)?;
        headers.extend(options.acl.map(acl_header));
        headers.extend(self.inner.config.object_headers());
        let created =
            self.inner.signed.send(HttpMethod::POST, &format!("{url}?uploads"), headers, Bytes::new(), key).await?;
        let upload_id = xml_text(&created.check(key)?.body, "UploadId").ok_or_else(|| {
            Error::backend(NAME, Some(key), "CreateMultipartUpload answered no UploadId", true, "missing UploadId")
        })?;

        let uploaded = async {
            let (part_size, concurrency) = (self.inner.config.part_size, self.inner.config.part_concurrency);
            // Dropping the set (on an error) aborts the parts still in flight.
            let mut in_flight = tokio::task::JoinSet::new();
            let mut parts: Vec<(usize, PartId)> = Vec::new();
            let mut next_index = 0;
            // Chunks are gathered into parts without copying; a chunk that straddles two parts is split.
            let mut buffer = PartBuffer::default();
            buffer.push(first);
            let mut ended = false;
            loop {
                while !ended && buffer.len < part_size {
                    match rest.try_next().await.map_err(|err| Error::from_io(NAME, Some(key), err))? {
                        Some(chunk) => buffer.push(chunk),
                        None => ended = true,
                    }
                }
                if buffer.len == 0 && next_index > 0 {
                    break;
                }
                let part = buffer.take(part_size);
                let (store, path, upload_id, index) =
                    (self.inner.store.clone(), path.clone(), upload_id.clone(), next_index);
                in_flight.spawn(async move {
                    let id = store.put_part(&path, &upload_id, index, part).await;
                    (index, id)
                });
                next_index += 1;
                while in_flight.len() >= concurrency {
                    parts.push(joined_part(in_flight.join_next().await, key)?);
                }
                if ended && buffer.len == 0 {
                    break;
                }
            }
            while !in_flight.is_empty() {
                parts.push(joined_part(in_flight.join_next().await, key)?);
            }
            parts.sort_unstable_by_key(|(index, _)| *index);
            let parts = parts.into_iter().map(|(_, id)| id).collect();
            self.inner
                .store
                .complete_multipart(&path, &upload_id, parts)
                .await
                .map_err(|err| map_error(err, Some(key)))?;
            // Ceph ignores x-amz-tagging on CreateMultipartUpload; set the tags on the finished object instead.
            self.put_tags(key).await
        }
        .await;
        if uploaded.is_err() {
            let _ = self.inner.store.abort_multipart(&path, &upload_id).await;
        }
        uploaded
    }
}

/// Chunks waiting to become a part.
#[derive(Default)]
struct PartBuffer {
    chunks: std::collections::VecDeque<Bytes>,
    len: usize,
}

impl PartBuffer {
    fn push(&mut self, chunk: Bytes) {
        self.len += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// The first `size` bytes (or all there are), as one payload of the same chunks.
    fn take(&mut self, size: usize) -> PutPayload {
        let mut part = Vec::new();
        let mut taken = 0;
        while taken < size {
            let Some(mut chunk) = self.chunks.pop_front() else { break };
            if taken + chunk.len() > size {
                self.chunks.push_front(chunk.split_off(size - taken));
            }
            taken += chunk.len();
            part.push(chunk);
        }
        self.len -= taken;
        part.into_iter().collect()
    }
}

/// The result of a part upload that finished, in its place.
fn joined_part(
    joined: Option<std::result::Result<(usize, object_store::Result<PartId>), tokio::task::JoinError>>,
    key: &str,
) -> Result<(usize, PartId)> {
    let (index, id) = joined
        .expect("only called while parts are in flight")
        .map_err(|err| Error::backend(NAME, Some(key), "a part upload stopped", true, err))?;
    Ok((index, id.map_err(|err| map_error(err, Some(key)))?))
}

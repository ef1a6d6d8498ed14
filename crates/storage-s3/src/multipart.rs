//! Large saves and copies: multipart uploads with `part_concurrency` parts in flight, gathered from the stream's
//! chunks without copying, aborted on any failure; multipart copies (UploadPartCopy) that stay on the server; the
//! completion, conditional (`If-None-Match: *`) where the server honours it, which is detected once; and the
//! claim (`claim.rs`) for servers that ignore it.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::Method as HttpMethod;
use object_store::multipart::{MultipartStore, PartId};
use object_store::{ObjectStoreExt, PutPayload};
use storage_core::signing::encode_key_path;
use storage_core::{Acl, Error, ErrorKind, Metadata, PutOptions, Result, Retry, WriteMode};

use storage_object_store::placeholders::{Claim, create_only_upload, placeholder_attributes};

use crate::acl::acl_header;
use crate::attributes::attribute_headers;
use crate::config::CreateOnlyMultipart;
use crate::errors::map_error;
use crate::xml::{self, CompleteMultipartUpload, CopyPartResult, InitiateMultipartUploadResult};
use crate::{NAME, S3Backend};

/// How a multipart upload or copy completes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Completion {
    /// Replacing whatever is there.
    Overwrite,
    /// With `If-None-Match: *`: refused (412, `AlreadyExists`) when the name is taken, where the server honours it.
    IfAbsent,
    /// Over this process's claim on the name, only while the claim is live.
    OverClaim(Claim),
}

impl S3Backend {
    /// A multipart upload with `part_concurrency` parts in flight, aborted on any failure (no orphaned parts).
    /// Create-only either by completing conditionally (the storage then keeps the content for another name until the
    /// completion answers) or over a claim, through [`create_only_upload`].
    pub(crate) async fn put_multipart(
        &self,
        key: &str,
        first: Bytes,
        rest: storage_core::ByteStream,
        options: &PutOptions,
        claim: storage_core::NameClaim,
    ) -> Result<()> {
        if options.mode == WriteMode::Overwrite {
            return self.upload_parts(key, first, rest, options, Completion::Overwrite).await;
        }
        if self.completes_conditionally().await {
            return self.upload_parts(key, first, rest, options, Completion::IfAbsent).await;
        }
        let upload = |held| self.upload_parts(key, first, rest, options, Completion::OverClaim(held));
        create_only_upload(self.claim(key), claim, upload, |held| self.release(key, held)).await
    }

    /// Whether create-only multipart saves and copies complete with `If-None-Match: *` instead of claiming their
    /// names with a placeholder: as configured, or (by default) detected once, on first use, by a probe.
    pub async fn completes_conditionally(&self) -> bool {
        match self.inner.config.create_only_multipart {
            CreateOnlyMultipart::Conditional => true,
            CreateOnlyMultipart::Placeholder => false,
            CreateOnlyMultipart::Detect => *self.inner.conditional_completion.get_or_init(|| self.probe()).await,
        }
    }

    /// Complete a one-part upload with `If-None-Match: *` over an object that exists: a refusal means the server
    /// honours the header. Both objects are hidden as placeholders while they exist (a crash leaves them to `gc`),
    /// and both are removed. Any failure reads as "not honoured": placeholders work on every server.
    async fn probe(&self) -> bool {
        let key = format!("{}{:016x}", crate::placeholders::PROBE, fastrand::u64(..));
        let hidden = PutOptions::new(WriteMode::Overwrite, placeholder_attributes(Default::default()), None);
        let honoured = async {
            self.put_single(&key, Bytes::from_static(b"probe"), &hidden).await?;
            let upload_id = self.create_upload(&key, &hidden).await?;
            let completed = async {
                let part = self
                    .inner
                    .store
                    .put_part(&self.path(&key)?, &upload_id, 0, PutPayload::from_static(b"probe"))
                    .await
                    .map_err(|err| map_error(err, Some(&key)))?;
                self.complete_upload(&key, &upload_id, &[part.content_id], Completion::IfAbsent).await
            }
            .await;
            if completed.is_err() {
                self.abort_upload(&key, &upload_id).await;
            }
            Ok::<_, Error>(completed.is_err_and(|err| err.kind() == ErrorKind::AlreadyExists))
        }
        .await;
        if let Ok(path) = self.path(&key) {
            let _ = self.inner.store.delete(&path).await;
        }
        let honoured = matches!(honoured, Ok(true));
        tracing::debug!(honoured, "s3: probed If-None-Match on CompleteMultipartUpload");
        honoured
    }

    /// CreateMultipartUpload with the object's attributes, ACL, class and encryption; its upload id.
    async fn create_upload(&self, key: &str, options: &PutOptions) -> Result<String> {
        let url = self.object_url(&self.inner.config.endpoint_or_default(), key);
        let mut headers = attribute_headers(&options.attributes)?;
        headers.extend(options.acl.map(acl_header));
        headers.extend(self.inner.config.object_headers());
        let created =
            self.inner.signed.send(HttpMethod::POST, &format!("{url}?uploads"), headers, Bytes::new(), key).await?;
        let initiated: InitiateMultipartUploadResult =
            xml::read(&created.check(key)?.body, "CreateMultipartUpload", key)?;
        Ok(initiated.upload_id)
    }

    /// The URL of one multipart upload, with more query parameters.
    fn upload_url(&self, key: &str, upload_id: &str, more: &str) -> String {
        let url = self.object_url(&self.inner.config.endpoint_or_default(), key);
        // The encoding object_store gives the same id: everything but letters, digits, `-`, `.` and `_`.
        const ID: &percent_encoding::AsciiSet =
            &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');
        let id = percent_encoding::utf8_percent_encode(upload_id, ID);
        format!("{url}?{more}uploadId={id}")
    }

    /// CompleteMultipartUpload of the parts with these ETags, in order, as `completion` says. A conditional refusal
    /// (412) is `AlreadyExists`, unless the object there is this very upload: a retry after a completion whose answer
    /// was lost is refused by the object it made, which has the ETag these parts give.
    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
        completion: Completion,
    ) -> Result<()> {
        if let Completion::OverClaim(claim) = completion {
            self.check_live(&claim, key)?;
        }
        let conditional = matches!(completion, Completion::IfAbsent);
        let body = xml::write(&CompleteMultipartUpload::new(etags), "CompleteMultipartUpload", key)?;
        let headers = if conditional {
            vec![(http::header::IF_NONE_MATCH, http::HeaderValue::from_static("*"))]
        } else {
            Vec::new()
        };
        let url = self.upload_url(key, upload_id, "");
        let refused = match self.inner.signed.send(HttpMethod::POST, &url, headers, body, key).await?.check(key) {
            Ok(_) => return Ok(()),
            Err(err) if conditional && err.kind() == ErrorKind::AlreadyExists => err,
            Err(err) => return Err(err),
        };
        let ours = multipart_etag(etags);
        match self.inner.store.head(&self.path(key)?).await {
            Ok(meta) if ours.is_some() && meta.e_tag.as_deref().map(|e| e.trim_matches('"')) == ours.as_deref() => {
                Ok(())
            }
            _ => Err(refused),
        }
    }

    /// AbortMultipartUpload, so no part is left behind; a failure to abort is not the caller's error.
    async fn abort_upload(&self, key: &str, upload_id: &str) {
        if let Ok(path) = self.path(key) {
            let _ = self.inner.store.abort_multipart(&path, &upload_id.to_owned()).await;
        }
    }

    async fn upload_parts(
        &self,
        key: &str,
        first: Bytes,
        mut rest: storage_core::ByteStream,
        options: &PutOptions,
        completion: Completion,
    ) -> Result<()> {
        let path = self.path(key)?;
        let upload_id = self.create_upload(key, options).await?;
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
            let etags: Vec<String> = parts.into_iter().map(|(_, id)| id.content_id).collect();
            self.complete_upload(key, &upload_id, &etags, completion).await?;
            // Ceph ignores x-amz-tagging on CreateMultipartUpload; set the tags on the finished object instead.
            self.put_tags(key).await
        }
        .await;
        if uploaded.is_err() {
            self.abort_upload(key, &upload_id).await;
        }
        uploaded
    }

    /// A copy on the server in parts (UploadPartCopy), `part_concurrency` at a time: for objects above CopyObject's
    /// 5 GiB, and for create-only copies completed conditionally. The copy gets the source's attributes and `acl`.
    pub(crate) async fn multipart_copy(
        &self,
        from: &str,
        to: &str,
        source: &Metadata,
        acl: Option<Acl>,
        completion: Completion,
    ) -> Result<()> {
        let options = PutOptions::new(WriteMode::Overwrite, source.attributes.clone(), acl);
        let upload_id = self.create_upload(to, &options).await?;
        let copied = async {
            let source_name =
                format!("{}/{}", self.inner.config.bucket, encode_key_path(&format!("{}{from}", self.inner.prefix)));
            let copy_source = http::HeaderValue::from_str(&source_name)
                .map_err(|_| Error::invalid_name(from, "cannot be named in x-amz-copy-source").on_backend(NAME))?;
            let (size, part_size) = (source.size(), self.inner.config.copy_part_size);
            let parts = (0..size.div_ceil(part_size)).map(|index| {
                let (start, end) = (index * part_size, ((index + 1) * part_size).min(size) - 1);
                let headers = vec![
                    (http::HeaderName::from_static("x-amz-copy-source"), copy_source.clone()),
                    (
                        http::HeaderName::from_static("x-amz-copy-source-range"),
                        http::HeaderValue::from_str(&format!("bytes={start}-{end}")).expect("digits are ascii"),
                    ),
                ];
                let url = self.upload_url(to, &upload_id, &format!("partNumber={}&", index + 1));
                async move {
                    let reply = self.inner.signed.send(HttpMethod::PUT, &url, headers, Bytes::new(), to).await?;
                    let copied: CopyPartResult = xml::read(&reply.check(to)?.body, "UploadPartCopy", to)?;
                    Ok::<_, Error>(copied.e_tag)
                }
            });
            let etags: Vec<String> =
                futures::stream::iter(parts).buffered(self.inner.config.part_concurrency).try_collect().await?;
            self.complete_upload(to, &upload_id, &etags, completion).await?;
            self.put_tags(to).await
        }
        .await;
        if copied.is_err() {
            self.abort_upload(to, &upload_id).await;
        }
        copied
    }
}

/// The ETag S3 gives an object completed from parts with these ETags: the MD5 of their MD5s, a dash and their count;
/// `None` when a part's ETag is not an MD5 (SSE-KMS).
fn multipart_etag(etags: &[String]) -> Option<String> {
    use md5::Digest as _;
    let mut digests = md5::Md5::new();
    for etag in etags {
        let digest = hex::decode(etag.trim_matches('"')).ok().filter(|digest| digest.len() == 16)?;
        digests.update(digest);
    }
    Some(format!("{}-{}", hex::encode(digests.finalize()), etags.len()))
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
    let (index, id) = joined.expect("only called while parts are in flight").map_err(|err| {
        Error::backend(NAME, Some(key), "a part upload stopped").with_retry(Retry::Temporary).with_source(err)
    })?;
    Ok((index, id.map_err(|err| map_error(err, Some(key)))?))
}

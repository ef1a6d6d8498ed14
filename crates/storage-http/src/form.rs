//! Direct uploads to disk and memory storages: a `multipart/form-data` POST of a form that `Storage::upload_form`
//! made, its policy enforced while the file streams in. A refused upload stores nothing: the checks that can only
//! be made at the end (the minimum size, the checksum) fail the stream before the backend publishes it.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, Response, StatusCode, header};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use storage_core::signing::{FIELD_KEY_ID, FIELD_POLICY, FIELD_SIGNATURE};
use storage_core::upload::FILE_FIELD;
use storage_core::{
    Attributes, Checksum, Content, ErrorKind, OverwritePolicy, SaveOptions, SuccessAction, UploadPolicy, validate_key,
};

use crate::{ResponseBody, Service, empty, status};

/// The most text fields a form may carry before its file, and the longest one.
const MAX_FIELDS: usize = 64;
const MAX_FIELD_BYTES: u64 = 16 << 10;

impl Service {
    /// Answer a form POST: 400 for a malformed form, a key that is not a name, or a wrong type or checksum; 403 for
    /// a tampered or expired policy or a key it does not allow; 413 as soon as the file passes the maximum; 412 for
    /// a taken name under a create-only policy; then the policy's success answer.
    pub(crate) async fn accept_form<B>(&self, headers: &HeaderMap, body: B) -> Response<ResponseBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
    {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
        let Ok(boundary) = multer::parse_boundary(content_type) else { return status(StatusCode::BAD_REQUEST) };
        let chunks = http_body_util::BodyExt::into_data_stream(body)
            .map_err(|err| std::io::Error::other(format!("the upload was interrupted: {err}")));
        let limits = multer::SizeLimit::new().per_field(MAX_FIELD_BYTES).for_field(FILE_FIELD, u64::MAX);
        let mut form =
            multer::Multipart::with_constraints(chunks, boundary, multer::Constraints::new().size_limit(limits));
        let mut fields: Vec<(String, String)> = Vec::new();
        loop {
            let field = match form.next_field().await {
                Ok(Some(field)) => field,
                // A form without a file, or one cut short.
                Ok(None) | Err(_) => return status(StatusCode::BAD_REQUEST),
            };
            if field.name() == Some(FILE_FIELD) {
                return self.accept_file(&fields, field).await;
            }
            let name = field.name().unwrap_or_default().to_owned();
            match field.text().await {
                Ok(text) if fields.len() < MAX_FIELDS => fields.push((name, text)),
                _ => return status(StatusCode::BAD_REQUEST),
            }
        }
    }

    async fn accept_file(&self, fields: &[(String, String)], file: multer::Field<'static>) -> Response<ResponseBody> {
        let field = |name: &str| {
            fields.iter().find(|(field, _)| field.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
        };
        let (Some(policy), Some(key_id), Some(signature)) =
            (field(FIELD_POLICY), field(FIELD_KEY_ID), field(FIELD_SIGNATURE))
        else {
            return status(StatusCode::FORBIDDEN);
        };
        let Ok(verified) = self.signer.verify_upload(policy, key_id, signature, SystemTime::now()) else {
            return status(StatusCode::FORBIDDEN);
        };
        let policy = verified.policy;
        let key = field("key").unwrap_or_default().replace("${filename}", file.file_name().unwrap_or_default());
        if validate_key(&key).is_err() {
            return status(StatusCode::BAD_REQUEST);
        }
        if !policy.allows_key(&key) {
            return status(StatusCode::FORBIDDEN);
        }
        // The form's `Content-Type` field, as on S3, else the type the browser gave the file.
        // The part's raw header, not multer's parse of it: a type that does not parse must be refused, not dropped.
        let part_type = match file.headers().get(header::CONTENT_TYPE).map(|value| value.to_str()) {
            Some(Err(_)) => return status(StatusCode::BAD_REQUEST),
            sent => sent.and_then(Result::ok),
        };
        let content_type = field("Content-Type").or(part_type).map(str::to_owned);
        // Stored as sent: exactly one media type, or the upload is refused (an empty field means none).
        if content_type
            .as_deref()
            .is_some_and(|sent| !sent.is_empty() && storage_core::ContentType::parse(sent).is_err())
        {
            return status(StatusCode::BAD_REQUEST);
        }
        let type_allowed = match &content_type {
            Some(content_type) => policy.allows_content_type(content_type),
            None => policy.content_type.is_none(),
        };
        if !type_allowed {
            return status(StatusCode::BAD_REQUEST);
        }

        let refusal = Arc::new(Mutex::new(None));
        let file = file.map_err(|err| std::io::Error::other(format!("the upload was interrupted: {err}")));
        let chunks = checked(file, Limits::of(&policy), refusal.clone());
        let mut attributes: Attributes = policy.attributes.clone();
        attributes.content_type = content_type.filter(|t| !t.is_empty());
        let overwrite = if policy.create_only { OverwritePolicy::Fail } else { OverwritePolicy::Overwrite };
        let mut options = SaveOptions::default().with_overwrite(overwrite).with_attributes(attributes);
        if let Some(acl) = policy.acl {
            options = options.with_acl(acl);
        }
        let saved = self.storage.save_with(&key, Content::from_stream(chunks, None), options).await;
        if let Some(code) = refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
            return status(code);
        }
        match saved {
            Ok(name) => success(&policy.success, &name),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => status(StatusCode::PRECONDITION_FAILED),
            Err(err) if err.kind() == ErrorKind::InvalidName => status(StatusCode::BAD_REQUEST),
            Err(_) => status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// What an upload's bytes must be: a size range and a checksum.
pub(crate) struct Limits {
    pub min: u64,
    pub max: Option<u64>,
    pub checksum: Option<Checksum>,
}

impl Limits {
    fn of(policy: &UploadPolicy) -> Limits {
        Limits { min: policy.min_size(), max: policy.max_size(), checksum: policy.checksum }
    }
}

/// The upload's bytes, failing the stream (and so the save) once they pass the maximum size, and at their end when
/// they are under the minimum or their checksum differs; the status to answer goes to `refusal`.
pub(crate) fn checked(
    chunks: impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    limits: Limits,
    refusal: Arc<Mutex<Option<StatusCode>>>,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    struct Tally {
        size: u64,
        md5: Md5,
        sha256: Sha256,
    }
    let tally = Arc::new(Mutex::new(Tally { size: 0, md5: Md5::new(), sha256: Sha256::new() }));
    let Limits { min, max, checksum } = limits;
    let refuse = move |refusal: &Mutex<Option<StatusCode>>, code: StatusCode, why: &str| {
        *refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(code);
        std::io::Error::other(format!("the upload was refused: {why}"))
    };
    let (counting, ending, refused) = (tally.clone(), refusal.clone(), refusal);
    let body = chunks.and_then(move |chunk| {
        let mut tally = counting.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tally.size += chunk.len() as u64;
        let result = if max.is_some_and(|max| tally.size > max) {
            Err(refuse(&refused, StatusCode::PAYLOAD_TOO_LARGE, "larger than the policy allows"))
        } else {
            if let Some(checksum) = checksum {
                match checksum {
                    Checksum::Md5(_) => tally.md5.update(&chunk),
                    Checksum::Sha256(_) => tally.sha256.update(&chunk),
                    _ => {}
                }
            }
            Ok(chunk)
        };
        futures::future::ready(result)
    });
    let end = futures::stream::once(async move {
        let tally = std::mem::replace(
            &mut *tally.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
            Tally { size: 0, md5: Md5::new(), sha256: Sha256::new() },
        );
        if tally.size < min {
            return Some(Err(refuse(&ending, StatusCode::BAD_REQUEST, "smaller than the policy allows")));
        }
        let matches = match checksum {
            None => true,
            Some(Checksum::Md5(expected)) => tally.md5.finalize().as_slice() == expected,
            Some(Checksum::Sha256(expected)) => tally.sha256.finalize().as_slice() == expected,
            Some(_) => false,
        };
        (!matches).then(|| Err(refuse(&ending, StatusCode::BAD_REQUEST, "the checksum differs")))
    })
    .filter_map(futures::future::ready);
    body.chain(end)
}

/// The policy's answer to a stored upload.
fn success(action: &SuccessAction, name: &str) -> Response<ResponseBody> {
    let key = storage_core::signing::encode_query_value(name);
    match action {
        SuccessAction::Redirect(url) => {
            let separator = if url.contains('?') { '&' } else { '?' };
            Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, format!("{url}{separator}key={key}"))
                .body(empty())
                .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
        }
        SuccessAction::Status(201) => {
            let name = name.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            let xml =
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Key>{name}</Key></PostResponse>");
            Response::builder()
                .status(StatusCode::CREATED)
                .header(header::CONTENT_TYPE, "application/xml")
                .body(http_body_util::BodyExt::boxed_unsync(http_body_util::BodyExt::map_err(
                    http_body_util::Full::new(Bytes::from(xml)),
                    |never| match never {},
                )))
                .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
        }
        SuccessAction::Status(code) => status(StatusCode::from_u16(*code).unwrap_or(StatusCode::NO_CONTENT)),
        _ => status(StatusCode::NO_CONTENT),
    }
}

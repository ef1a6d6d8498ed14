//! Direct uploads to disk and memory storages: a `multipart/form-data` POST of a form that `Storage::upload_form`
//! made, its policy enforced while the file streams in. A refused upload stores nothing: the checks that can only
//! be made at the end (the minimum size, the checksum) fail the stream before the backend publishes it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::SystemTime;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, Response, StatusCode, header};
use storage_core::link::{INVALID_KEY, NOT_ONE_TYPE, TAKEN, UploadLimits, checked_upload};
use storage_core::signing::{FIELD_KEY_ID, FIELD_POLICY, FIELD_SIGNATURE};
use storage_core::upload::FILE_FIELD;
use storage_core::{Attributes, Content, ErrorKind, OverwritePolicy, SaveOptions, SuccessAction, validate_key};

use crate::refusal::refused;
use crate::{ResponseBody, Service, empty, status};

/// The most text fields a form may carry before its file, and the longest one.
const MAX_FIELDS: usize = 64;
const MAX_FIELD_BYTES: u64 = 16 << 10;
/// The most bytes read to find the end of one part header (with the boundary line before it, and for the first part
/// whatever precedes the first boundary).
const MAX_PART_HEADER_BYTES: u64 = 8 << 10;
/// The most bytes read before the file part starts: every field, header and boundary before it.
const MAX_BYTES_BEFORE_FILE: u64 = 64 << 10;
/// What a whole form may carry besides the policy's largest file: the headers, fields and boundaries before it (as
/// above) and the closing boundary after it.
const FORM_ALLOWANCE: u64 = MAX_BYTES_BEFORE_FILE + (4 << 10);

impl Service {
    /// Answer a form POST: 400 for a malformed form, a key that is not a name, or a wrong type or checksum; 403 for
    /// a tampered or expired policy or a key it does not allow; 413 as soon as the file passes the maximum, or, before
    /// any signature is checked, once a part header passes 8 KiB, a field 16 KiB, the fields 64 (or 64 KiB in all);
    /// 408 when the fields and the file's part header have not all arrived by the form deadline; 412 for a taken name
    /// under a create-only policy; then the policy's success answer.
    pub(crate) async fn accept_form<B>(&self, headers: &HeaderMap, body: B) -> Response<ResponseBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
    {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
        let Ok(boundary) = multer::parse_boundary(content_type) else {
            return refused(StatusCode::BAD_REQUEST, "the form's content type names no multipart boundary");
        };
        let chunks = http_body_util::BodyExt::into_data_stream(body)
            .map_err(|err| std::io::Error::other(format!("the upload was interrupted: {err}")));
        // Metered before multer sees a byte: it buffers until a part header ends, so it must never be handed an
        // unbounded stream before the policy is verified.
        let meter = BodyMeter::default();
        let chunks = meter.wrap(chunks);
        let limits = multer::SizeLimit::new().per_field(MAX_FIELD_BYTES).for_field(FILE_FIELD, u64::MAX);
        let mut form =
            multer::Multipart::with_constraints(chunks, boundary, multer::Constraints::new().size_limit(limits));
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut before_file = 0;
        // Everything before the signature is checked arrives by this instant, however it trickles in.
        let deadline = tokio::time::Instant::now() + self.form_deadline;
        loop {
            meter.allow(FormLimit::PartHeader, MAX_PART_HEADER_BYTES);
            let field = match meter.bounded(deadline, form.next_field()).await {
                Ok(Ok(Some(field))) => field,
                Ok(Ok(None)) => return refused(StatusCode::BAD_REQUEST, "the form has no file part"),
                Ok(Err(err)) => return meter.refusal(&err),
                Err(limit) => return limit.refusal(),
            };
            // A header that arrived in one chunk with what followed it was read whole: its size is checked here.
            let header_bytes: usize =
                field.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
            if header_bytes as u64 > MAX_PART_HEADER_BYTES {
                return FormLimit::PartHeader.refusal();
            }
            if field.name() == Some(FILE_FIELD) {
                return self.accept_file(&fields, field, &meter).await;
            }
            if fields.len() == MAX_FIELDS {
                return refused(StatusCode::PAYLOAD_TOO_LARGE, "the form has more than 64 fields before its file");
            }
            let name = field.name().unwrap_or_default().to_owned();
            meter.allow(FormLimit::Field, MAX_FIELD_BYTES + MAX_PART_HEADER_BYTES);
            match meter.bounded(deadline, field.text()).await {
                Ok(Ok(text)) => {
                    // As for headers: what arrived at once was read whole, so the fields' sizes are added up too.
                    before_file += header_bytes + text.len();
                    if before_file as u64 > MAX_BYTES_BEFORE_FILE {
                        return FormLimit::BeforeFile.refusal();
                    }
                    fields.push((name, text));
                }
                Ok(Err(err)) => return meter.refusal(&err),
                Err(limit) => return limit.refusal(),
            }
        }
    }

    async fn accept_file(
        &self,
        fields: &[(String, String)],
        file: multer::Field<'static>,
        meter: &BodyMeter,
    ) -> Response<ResponseBody> {
        let field = |name: &str| {
            fields.iter().find(|(field, _)| field.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
        };
        let (Some(policy), Some(key_id), Some(signature)) =
            (field(FIELD_POLICY), field(FIELD_KEY_ID), field(FIELD_SIGNATURE))
        else {
            return status(StatusCode::FORBIDDEN);
        };
        let Ok(verified) = self.links.signer().verify_upload(policy, key_id, signature, SystemTime::now()) else {
            return status(StatusCode::FORBIDDEN);
        };
        let policy = verified.policy;
        // Only now may the file be read: as much as the verified policy allows, with room for the closing boundary.
        meter.allow_body(policy.max_size());
        let key = field("key").unwrap_or_default().replace("${filename}", file.file_name().unwrap_or_default());
        if validate_key(&key).is_err() {
            return refused(StatusCode::BAD_REQUEST, INVALID_KEY);
        }
        if !policy.allows_key(&key) {
            return status(StatusCode::FORBIDDEN);
        }
        // The form's `Content-Type` field, as on S3, else the type the browser gave the file.
        // The part's raw header, not multer's parse of it: a type that does not parse must be refused, not dropped.
        let part_type = match file.headers().get(header::CONTENT_TYPE).map(|value| value.to_str()) {
            Some(Err(_)) => return refused(StatusCode::BAD_REQUEST, NOT_ONE_TYPE),
            sent => sent.and_then(Result::ok),
        };
        let content_type = field("Content-Type").or(part_type).map(str::to_owned);
        // Stored as sent: exactly one media type, or the upload is refused (an empty field means none).
        if content_type
            .as_deref()
            .is_some_and(|sent| !sent.is_empty() && storage_core::ContentType::parse(sent).is_err())
        {
            return refused(StatusCode::BAD_REQUEST, NOT_ONE_TYPE);
        }
        let type_allowed = match &content_type {
            Some(content_type) => policy.allows_content_type(content_type),
            None => policy.content_type.is_none(),
        };
        if !type_allowed {
            return refused(StatusCode::BAD_REQUEST, "the policy does not allow this content type");
        }

        let refusal = Arc::new(Mutex::new(None));
        let file = file.map_err(|err| std::io::Error::other(format!("the upload was interrupted: {err}")));
        let chunks = checked_upload(file, UploadLimits::of(&policy), refusal.clone());
        let mut attributes: Attributes = policy.attributes.clone();
        attributes.content_type = content_type.filter(|t| !t.is_empty());
        let overwrite = if policy.create_only { OverwritePolicy::Fail } else { OverwritePolicy::Overwrite };
        let mut options = SaveOptions::default().with_overwrite(overwrite).with_attributes(attributes);
        if let Some(acl) = policy.acl {
            options = options.with_acl(acl);
        }
        let saved = self.links.storage().save_with(&key, Content::from_stream(chunks, None), options).await;
        if let Some(refusal) = refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
            let code = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
            return refused(code, refusal.why);
        }
        if let Some(limit) = meter.state().exceeded {
            return limit.refusal();
        }
        match saved {
            Ok(name) => success(&policy.success, &name),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => refused(StatusCode::PRECONDITION_FAILED, TAKEN),
            Err(err) if err.kind() == ErrorKind::InvalidName => refused(StatusCode::BAD_REQUEST, INVALID_KEY),
            Err(_) => status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// Which limit of a form's bytes applies while it is read, and so which one a refusal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormLimit {
    /// Finding the end of a part header (for the first one, with what precedes the first boundary).
    PartHeader,
    /// Reading one text field.
    Field,
    /// Everything before the file part.
    BeforeFile,
    /// The whole form, once the policy is verified.
    Body,
    /// The time the fields and the file's part header may take to arrive.
    Deadline,
}

impl FormLimit {
    fn refusal(self) -> Response<ResponseBody> {
        let why = match self {
            FormLimit::PartHeader => "a part header (or what precedes the first boundary) is longer than 8 KiB",
            FormLimit::Field => "a form field is longer than 16 KiB",
            FormLimit::BeforeFile => "the form carries more than 64 KiB before its file",
            FormLimit::Body => "the form is larger than its policy allows",
            FormLimit::Deadline => {
                return refused(
                    StatusCode::REQUEST_TIMEOUT,
                    "the form's fields and file header did not arrive in time; send the form at once",
                );
            }
        };
        refused(StatusCode::PAYLOAD_TOO_LARGE, why)
    }
}

/// Counts a form's bytes as they are read and refuses to read past the limit that applies now: the limits before the
/// file hold before any signature is checked, and only a verified policy raises the limit for the file.
#[derive(Debug, Clone)]
struct BodyMeter(Arc<Mutex<Metered>>);

#[derive(Debug)]
struct Metered {
    read: u64,
    limit: u64,
    applies: FormLimit,
    /// Before the file: the limit at which reading stopped, so what multer holds already is still parsed.
    stalled: Option<FormLimit>,
    /// Once the policy is verified: the limit that failed the body.
    exceeded: Option<FormLimit>,
}

impl Default for BodyMeter {
    fn default() -> Self {
        let metered = Metered { read: 0, limit: 0, applies: FormLimit::PartHeader, stalled: None, exceeded: None };
        Self(Arc::new(Mutex::new(metered)))
    }
}

impl BodyMeter {
    fn state(&self) -> std::sync::MutexGuard<'_, Metered> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Allow `bytes` more for what comes next, within what may precede the file.
    fn allow(&self, limit: FormLimit, bytes: u64) {
        let mut state = self.state();
        let wanted = state.read.saturating_add(bytes);
        (state.limit, state.applies) = if wanted <= MAX_BYTES_BEFORE_FILE {
            (wanted, limit)
        } else {
            (MAX_BYTES_BEFORE_FILE, FormLimit::BeforeFile)
        };
        state.stalled = None;
    }

    /// Allow the file of a verified policy: its largest size and the allowance (no limit when it has none).
    fn allow_body(&self, max_file_size: Option<u64>) {
        let mut state = self.state();
        state.limit = max_file_size.map_or(u64::MAX, |max| max.saturating_add(FORM_ALLOWANCE));
        state.applies = FormLimit::Body;
        state.stalled = None;
    }

    /// The body, read no further once the limit is passed: at most one chunk past it is ever held. Before the file
    /// it stops (multer reads ahead while chunks are ready, and must still parse what it holds, see
    /// [`BodyMeter::bounded`]); in the file it fails the stream, so the save stores nothing.
    fn wrap(
        &self,
        chunks: impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    ) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        let meter = self.clone();
        let mut chunks = Box::pin(chunks);
        futures::stream::poll_fn(move |cx| {
            {
                let mut state = meter.state();
                if state.read > state.limit {
                    if state.applies != FormLimit::Body {
                        state.stalled = Some(state.applies);
                        return Poll::Pending;
                    }
                    state.exceeded = Some(state.applies);
                    return Poll::Ready(Some(Err(std::io::Error::other("the form passed its size limit"))));
                }
            }
            let polled = chunks.poll_next_unpin(cx);
            if let Poll::Ready(Some(Ok(chunk))) = &polled {
                meter.state().read += chunk.len() as u64;
            }
            polled
        })
    }

    /// `step` (a step of multer before the file), or the limit that stopped the body if it waits for more past it,
    /// or [`FormLimit::Deadline`] if it has not ended by `deadline`.
    async fn bounded<T>(&self, deadline: tokio::time::Instant, step: impl Future<Output = T>) -> Result<T, FormLimit> {
        let mut step = std::pin::pin!(step);
        let step = futures::future::poll_fn(|cx| match step.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(Ok(output)),
            Poll::Pending => match self.state().stalled {
                Some(limit) => Poll::Ready(Err(limit)),
                None => Poll::Pending,
            },
        });
        tokio::time::timeout_at(deadline, step).await.unwrap_or(Err(FormLimit::Deadline))
    }

    /// The answer to a form multer could not read: the limit it passed, else a malformed form.
    fn refusal(&self, err: &multer::Error) -> Response<ResponseBody> {
        if let Some(limit) = self.state().exceeded {
            return limit.refusal();
        }
        match err {
            multer::Error::FieldSizeExceeded { .. } => FormLimit::Field.refusal(),
            _ => refused(StatusCode::BAD_REQUEST, "the form is not valid multipart/form-data"),
        }
    }
}

pub(crate) fn full(bytes: Bytes) -> ResponseBody {
    http_body_util::BodyExt::boxed_unsync(http_body_util::BodyExt::map_err(http_body_util::Full::new(bytes), |never| {
        match never {}
    }))
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
                .body(full(Bytes::from(xml)))
                .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
        }
        SuccessAction::Status(code) => status(StatusCode::from_u16(*code).unwrap_or(StatusCode::NO_CONTENT)),
        _ => status(StatusCode::NO_CONTENT),
    }
}

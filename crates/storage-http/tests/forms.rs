//! Direct-upload forms under attack, in process: what the service reads of a form before it refuses it, that the
//! signature is checked before any byte of the file is read, and arbitrary form bodies (`fuzz_form_body`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use proptest::prelude::*;
use storage_core::{UploadForm, UploadPolicy};
use storage_http::SignedUrlService;
use storage_memory::MemoryBackend;

const BOUNDARY: &str = "B0undary";

/// A memory storage and the service answering its URLs and forms.
fn service() -> (MemoryBackend, SignedUrlService) {
    let memory = MemoryBackend::new();
    let service = SignedUrlService::new(memory.storage(), memory.signer().clone());
    (memory, service)
}

async fn form_for(memory: &MemoryBackend, policy: UploadPolicy) -> UploadForm {
    memory.storage().upload_form(&policy).await.expect("an upload form")
}

/// `fields` as multipart parts, then the start of a file part named `file_name` (its bytes not included).
fn parts_then_file_header(fields: &[(String, String)], file_name: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    body
}

fn closing() -> Vec<u8> {
    format!("\r\n--{BOUNDARY}--\r\n").into_bytes()
}

/// What "without end" sends at most, so that a server that reads it all still answers (and the test fails).
const ENDLESS_BYTES: usize = 32 << 20;

/// POST `start` then `tail` repeated without end; the status and how many bytes the service read in all.
async fn post_endless(
    service: &SignedUrlService,
    content_type: &str,
    start: Vec<u8>,
    tail: Bytes,
) -> (StatusCode, u64) {
    let read = Arc::new(AtomicU64::new(0));
    let counter = read.clone();
    let repeats = ENDLESS_BYTES / tail.len().max(1);
    let chunks = futures::stream::once(async move { Bytes::from(start) })
        .chain(futures::stream::repeat(tail).take(repeats))
        .map(move |chunk| {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Ok::<_, std::io::Error>(http_body::Frame::data(chunk))
        });
    let request = Request::post("/").header("content-type", content_type).body(StreamBody::new(chunks)).unwrap();
    let response = service.handle(request).await;
    (response.status(), read.load(Ordering::Relaxed))
}

async fn post(service: &SignedUrlService, content_type: &str, body: Vec<u8>) -> (StatusCode, String) {
    let request =
        Request::post("/").header("content-type", content_type).body(http_body_util::Full::new(Bytes::from(body)));
    let response = service.handle(request.unwrap()).await;
    let status = response.status();
    let text = response.into_body().collect().await.map(|body| body.to_bytes()).unwrap_or_default();
    (status, String::from_utf8_lossy(&text).into_owned())
}

fn multipart() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A body sent without end: `start`, then `tail` again and again, and the answer it must get.
struct Endless {
    what: &'static str,
    content_type: String,
    start: Vec<u8>,
    tail: Bytes,
    expected: StatusCode,
}

impl Endless {
    fn of(what: &'static str, start: Vec<u8>, tail: Bytes) -> Self {
        Endless { what, content_type: multipart(), start, tail, expected: StatusCode::PAYLOAD_TOO_LARGE }
    }
}

/// Each unbounded body is refused after at most a few hundred KiB were read, before any signature could be checked,
/// with the limit it passed named.
#[tokio::test]
async fn endless_headers_fields_and_preambles_are_refused_after_a_bounded_read() {
    let (memory, service) = service();
    let form = form_for(&memory, UploadPolicy::prefix("inbox/")).await;
    let endless_header = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"; x=\"").into_bytes();
    let endless_field = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n").into_bytes();
    let mut many_fields = Vec::new();
    for i in 0..200 {
        many_fields.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n{}\r\n", "v".repeat(600))
                .as_bytes(),
        );
    }
    let signed_file_start = parts_then_file_header(&form.fields, "a.txt");
    let repeated = |pattern: &[u8]| Bytes::from(pattern.repeat(1024));
    let cases = [
        Endless::of("an endless part header", endless_header, repeated(b"AAAAAAAA")),
        Endless::of("no boundary at all", Vec::new(), repeated(b"no boundary here ")),
        Endless::of("an endless field", endless_field, repeated(b"vvvvvvvv")),
        Endless::of("fields without end", many_fields, Bytes::from(signed_file_start)),
        Endless {
            content_type: "multipart/form-data".into(),
            expected: StatusCode::BAD_REQUEST,
            ..Endless::of("no boundary in the type", Vec::new(), repeated(b"x"))
        },
    ];
    for Endless { what, content_type, start, tail, expected } in cases {
        let (status, read) = post_endless(&service, &content_type, start, tail).await;
        assert_eq!(status, expected, "{what}");
        assert!(read < 512 << 10, "{what}: {read} bytes were read before the refusal");
    }
    memory.assert_count(0);

    let (status, text) = post(&service, &multipart(), b"no boundary, and an end".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let mut long_header = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"; x=\"").into_bytes();
    long_header.extend(std::iter::repeat_n(b'A', 100 << 10));
    let (status, text) = post(&service, &multipart(), long_header).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "a part header (or what precedes the first boundary) is longer than 8 KiB")
    );
}

/// The policy and its signature come before the file, and are checked before the file is read: a forged or missing
/// signature is refused while the file's bytes are still coming, and a file before the policy is refused.
#[tokio::test]
async fn the_signature_is_checked_before_the_file_is_read() {
    let (memory, service) = service();
    let form = form_for(&memory, UploadPolicy::prefix("inbox/")).await;
    let forged: Vec<(String, String)> = form
        .fields
        .iter()
        .map(|(name, value)| match name.as_str() {
            "x-storage-signature" => (name.clone(), format!("A{}", &value[1..])),
            _ => (name.clone(), value.clone()),
        })
        .collect();
    let unsigned: Vec<(String, String)> =
        form.fields.iter().filter(|(name, _)| name != "x-storage-signature").cloned().collect();
    let file_first = parts_then_file_header(&[], "a.txt");
    let endless_file = Bytes::from(vec![b'f'; 64 << 10]);
    for (what, start) in [
        ("a forged signature", parts_then_file_header(&forged, "a.txt")),
        ("no signature", parts_then_file_header(&unsigned, "a.txt")),
        ("the file before the policy", file_first),
    ] {
        let (status, read) = post_endless(&service, &multipart(), start, endless_file.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
        assert!(read < 512 << 10, "{what}: {read} bytes were read before the refusal");
    }
    memory.assert_count(0);

    // A verified policy lets the file in, up to its size.
    let sized = form_for(&memory, UploadPolicy::prefix("inbox/").with_size(0..=(1 << 20))).await;
    let mut body = parts_then_file_header(&sized.fields, "ok.txt");
    body.extend_from_slice(b"hello");
    body.extend(closing());
    assert_eq!(post(&service, &multipart(), body).await.0, StatusCode::NO_CONTENT);
    memory.assert_exists_with("inbox/ok.txt", b"hello");
    let (status, read) =
        post_endless(&service, &multipart(), parts_then_file_header(&sized.fields, "big.txt"), endless_file).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(read < (1 << 20) + (512 << 10), "{read} bytes were read of a file the policy limits to 1 MiB");
    memory.assert_missing("inbox/big.txt");
}

/// The fields whose values the signature covers (the policy) or names (the key id and the signature itself).
const SIGNED_FIELDS: [&str; 3] = ["policy", "x-storage-key-id", "x-storage-signature"];

/// One form body, as the fuzzer builds it: the form's fields (each kept or dropped, one changed), extra fields, a
/// file (before or after the fields), then a flipped byte and a cut; or arbitrary bytes.
#[derive(Debug, Clone)]
enum FormBody {
    Arbitrary(Vec<u8>),
    Structured(Structured),
}

#[derive(Debug, Clone)]
struct Structured {
    keep: Vec<bool>,
    change: Option<(usize, usize)>,
    extra_fields: Vec<(String, String)>,
    file_name: String,
    file: Vec<u8>,
    file_first: bool,
    flip_at: Option<usize>,
    cut_at: Option<usize>,
    /// A parameter this long in the first part header: over the 8 KiB a header may have.
    header_padding: Option<usize>,
}

fn form_body() -> impl Strategy<Value = FormBody> {
    let name = "[a-zA-Z0-9 ._/\\-\"%${}]{0,24}";
    let structured = (
        proptest::collection::vec(any::<bool>(), 4),
        proptest::option::of((0usize..4, 0usize..64)),
        proptest::collection::vec((name, "[ -~]{0,40}"), 0..4),
        name,
        proptest::collection::vec(any::<u8>(), 0..512),
        any::<bool>(),
        proptest::option::of(0usize..4096),
        proptest::option::of(0usize..4096),
        proptest::option::weighted(0.25, (8usize << 10)..(128 << 10)),
    )
        .prop_map(|(keep, change, extra_fields, file_name, file, file_first, flip_at, cut_at, header_padding)| {
            Structured { keep, change, extra_fields, file_name, file, file_first, flip_at, cut_at, header_padding }
        });
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048).prop_map(FormBody::Arbitrary),
        structured.prop_map(FormBody::Structured),
    ]
}

/// What a rendered form must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// Anything but a stored file outside the policy.
    Anything,
    /// Nothing stored: a signed field was dropped or changed, or the file came first.
    NothingStored,
    /// 413 and nothing stored: a part header is longer than a header may be.
    TooLarge,
}

/// The bytes of `body` for the signed `form`, and what they must come to (a byte flipped or a cut may undo a change
/// or a padding, so then only the confinement is checked).
fn render(body: &FormBody, form: &UploadForm) -> (Vec<u8>, Expected) {
    let body = match body {
        FormBody::Arbitrary(bytes) => return (bytes.clone(), Expected::Anything),
        FormBody::Structured(body) => body,
    };
    let mut unsigned = body.file_first;
    let mut fields: Vec<(String, String)> = Vec::new();
    for (index, (name, value)) in form.fields.iter().enumerate() {
        let signed = SIGNED_FIELDS.contains(&name.as_str());
        if !body.keep.get(index).copied().unwrap_or(true) {
            unsigned |= signed;
            continue;
        }
        let mut value = value.clone();
        if let Some((_, at)) = body.change.filter(|(field, _)| *field == index) {
            let at = at % value.len().max(1);
            if value.is_char_boundary(at) && value.is_char_boundary(at + 1) && at < value.len() {
                let other = if &value[at..at + 1] == "Z" { "Y" } else { "Z" };
                value.replace_range(at..at + 1, other);
                unsigned |= signed;
            }
        }
        fields.push((name.clone(), value));
    }
    fields.extend(body.extra_fields.iter().cloned());
    let mut bytes = Vec::new();
    if body.file_first {
        bytes.extend(parts_then_file_header(&[], &body.file_name));
        bytes.extend_from_slice(&body.file);
        bytes.extend(closing());
    }
    bytes.extend(parts_then_file_header(&fields, &body.file_name));
    bytes.extend_from_slice(&body.file);
    bytes.extend(closing());
    let mut expected = if unsigned { Expected::NothingStored } else { Expected::Anything };
    if let Some(padding) = body.header_padding {
        let at = b"form-data; ".len() + bytes.windows(11).position(|w| w == b"form-data; ").expect("a part header");
        bytes.splice(at..at, format!("x=\"{}\"; ", "A".repeat(padding)).into_bytes());
        expected = Expected::TooLarge;
    }
    if let Some(at) = body.flip_at.filter(|at| *at < bytes.len()) {
        bytes[at] ^= 0x20;
        expected = Expected::Anything;
    }
    if let Some(at) = body.cut_at {
        bytes.truncate(at);
        expected = Expected::Anything;
    }
    (bytes, expected)
}

proptest! {
    /// No form body panics the service, none whose signature was broken or whose header is too long stores anything,
    /// and nothing is ever stored outside the policy's prefix.
    #[test]
    fn fuzz_form_body(body in form_body()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (memory, service) = service();
            let form = form_for(&memory, UploadPolicy::prefix("inbox/").allowing_overwrite()).await;
            let (bytes, expected) = render(&body, &form);
            let (status, _) = post(&service, &multipart(), bytes).await;
            let keys = memory.keys();
            prop_assert!(keys.iter().all(|key| key.starts_with("inbox/")), "stored outside the policy: {keys:?}");
            prop_assert!(keys.len() <= 1, "one form stored {keys:?}");
            if expected != Expected::Anything {
                prop_assert!(keys.is_empty(), "{expected:?}, but the form stored {keys:?} ({status})");
            }
            if expected == Expected::TooLarge {
                prop_assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
            }
            Ok(())
        })?;
    }
}

/// The status, content type and body of `request`'s answer.
async fn answer(service: &SignedUrlService, request: Request<http_body_util::Full<Bytes>>) -> (u16, String, String) {
    let response = service.handle(request).await;
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = response.into_body().collect().await.map(|body| body.to_bytes()).unwrap_or_default();
    (status, content_type, String::from_utf8_lossy(&body).into_owned())
}

/// A form's body carrying `data` as its file.
fn form_with_file(form: &UploadForm, data: &[u8]) -> Vec<u8> {
    [parts_then_file_header(&form.fields, "doc.txt"), data.to_vec(), closing()].concat()
}

/// A refused upload, by form or by PUT link, says which limit in its body: a line of text, or JSON for a client whose
/// `Accept` prefers it.
#[tokio::test]
async fn refused_uploads_say_which_limit_in_text_or_json() {
    let (memory, service) = service();
    let form = form_for(&memory, UploadPolicy::exact("doc.txt").with_size(1..=4)).await;
    let posted = |data: &[u8], accept: &str| {
        Request::post("/")
            .header("content-type", multipart())
            .header("accept", accept)
            .body(http_body_util::Full::new(Bytes::from(form_with_file(&form, data))))
            .unwrap()
    };
    let (status, content_type, body) = answer(&service, posted(b"too large", "text/html")).await;
    assert_eq!((status, content_type.as_str()), (413, "text/plain; charset=utf-8"));
    assert!(body.contains("larger than the policy allows"), "{body}");
    let (status, _, body) = answer(&service, posted(b"", "*/*")).await;
    assert_eq!(status, 400);
    assert!(body.contains("smaller than the policy allows"), "{body}");
    let (status, content_type, body) =
        answer(&service, posted(b"too large", "text/plain;q=0.5, application/json")).await;
    assert_eq!((status, content_type.as_str()), (413, "application/json"));
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(json["error"]["status"], 413);
    assert!(json["error"]["message"].as_str().is_some_and(|m| m.contains("larger than the policy allows")), "{json}");

    let put = memory.storage().upload_url(&UploadPolicy::exact("put.txt").with_size(3..=3)).await.unwrap();
    let after_scheme = put.url.split_once("://").expect("an absolute URL").1;
    let path = &after_scheme[after_scheme.find('/').expect("a path")..];
    let sent = |data: &'static [u8], accept: &str| {
        Request::put(path).header("accept", accept).body(http_body_util::Full::new(Bytes::from_static(data))).unwrap()
    };
    let (status, _, body) = answer(&service, sent(b"12345", "text/plain")).await;
    assert_eq!(status, 413);
    assert!(body.contains("larger than the policy allows"), "{body}");
    let (status, content_type, body) = answer(&service, sent(b"1", "application/json")).await;
    assert_eq!((status, content_type.as_str()), (400, "application/json"));
    assert!(body.contains("smaller than the policy allows"), "{body}");
}

//! `Storage.answer_link`: one request for a disk or memory storage's own links (a signed GET, HEAD or PUT, a signed
//! form's POST, a plain URL), answered by storage-http's `SignedUrlService` — the same code `storage serve` runs,
//! deciding through storage-core's `LinkServer` — so a web framework can answer the links itself, with no second
//! server. The request's body is streamed in from a Python file object and the answer's body streamed out, one chunk
//! at a time: neither is ever held whole.

use std::io;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty, StreamBody};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use storage_http::{ResponseBody, SignedUrlService};
use tokio::sync::{Mutex, mpsc};

use crate::runtime::runtime;
use crate::source::{self, Source};

/// Methods whose body is the upload (a signed PUT, a signed form's POST); any other request's body is never read.
const UPLOAD_METHODS: [&str; 2] = ["PUT", "POST"];

/// The answer to one link request: `status`, `headers` (lowercase names) and the body, iterated in chunks.
#[pyclass(module = "storage_rs._native", frozen)]
pub(crate) struct LinkResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Mutex<Option<ResponseBody>>,
}

#[pymethods]
impl LinkResponse {
    /// The HTTP status.
    #[getter]
    fn status(&self) -> u16 {
        self.status
    }

    /// The response headers, `(name, value)` in the order sent.
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        self.headers.clone()
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next chunk of the body (as the storage streams it); `StopIteration` at its end.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let chunk = py.detach(|| {
            runtime().block_on(async {
                let mut body = self.body.lock().await;
                let Some(stream) = body.as_mut() else { return Ok(None) };
                while let Some(frame) = stream.frame().await {
                    if let Ok(data) = frame?.into_data() {
                        return Ok(Some(data));
                    }
                }
                *body = None;
                Ok::<_, io::Error>(None)
            })
        });
        let chunk = chunk.map_err(|err| PyValueError::new_err(format!("answer_link: the body stopped: {err}")))?;
        Ok(chunk.map(|data| PyBytes::new(py, &data)))
    }

    /// Drop the body's stream (a client that went away).
    fn close(&self, py: Python<'_>) {
        py.detach(|| *self.body.blocking_lock() = None);
    }
}

/// Answer `method` of `target` (the path, still percent-encoded, and the query) with `headers`; `body` is read in
/// chunks only for an upload.
pub(crate) fn answer(
    py: Python<'_>,
    links: &SignedUrlService,
    method: &str,
    target: &str,
    headers: Vec<(String, String)>,
    body: Option<&Bound<'_, PyAny>>,
) -> PyResult<LinkResponse> {
    let mut request = http::Request::builder().method(method).uri(target);
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let upload = body.filter(|_| UPLOAD_METHODS.contains(&method)).map(Source::of).transpose()?;
    let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(2);
    let request_body = match upload {
        Some(_) => StreamBody::new(
            futures::stream::unfold(receiver, |mut receiver| async move {
                receiver.recv().await.map(|chunk| (chunk, receiver))
            })
            .map(|chunk| chunk.map(http_body::Frame::data)),
        )
        .boxed_unsync(),
        None => Empty::new().map_err(|never| match never {}).boxed_unsync(),
    };
    // A target or header that is not valid HTTP is the client's error, answered as `storage serve`'s parser would.
    let Ok(request) = request.body(request_body) else {
        return Ok(LinkResponse { status: 400, headers: Vec::new(), body: Mutex::new(None) });
    };
    let links = links.clone();
    let answered = runtime().spawn(async move { links.handle(request).await });
    if let Some(source) = &upload {
        source::pump(py, source, sender)?;
    }
    let response = py
        .detach(|| runtime().block_on(answered))
        .map_err(|err| PyValueError::new_err(format!("answer_link: the answer task stopped: {err}")))?;
    let (parts, body) = response.into_parts();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    Ok(LinkResponse { status: parts.status.as_u16(), headers, body: Mutex::new(Some(body)) })
}

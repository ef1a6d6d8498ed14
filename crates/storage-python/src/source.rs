//! What a save reads from: bytes in memory, or a Python file object or iterable streamed chunk by chunk.
//!
//! A streamed save never reads its source whole. The calling thread reads one chunk at a time (with the GIL, as a
//! Python object must be read) and hands it over a channel of two chunks to the save running on the runtime, with
//! the GIL released while it waits; so at most a few chunks are in memory whatever the size.

use std::io;

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyByteArray, PyBytes, PyString};
use storage_core::{ByteStream, Content};
use tokio::sync::mpsc;

/// How much one `read()` of a file object asks for.
pub(crate) const CHUNK: usize = 1 << 20;
/// Chunks read ahead of the upload: enough to keep both sides busy, little enough to bound memory.
const CHANNEL_CHUNKS: usize = 2;

/// Where a save's bytes come from.
pub(crate) enum Source {
    /// Already in memory (bytes, bytearray, str): copied once into the content.
    Memory(Bytes),
    /// A file object, read with `read(CHUNK)` until it answers empty.
    Reader(Py<PyAny>),
    /// An iterator of chunks (bytes or str), e.g. Django's `File.chunks()` or a generator.
    Chunks(Py<PyAny>),
}

/// The bytes of one chunk a Python source gave: bytes, bytearray or memoryview; str as UTF-8.
fn chunk_bytes(chunk: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(text) = chunk.cast::<PyString>() {
        return Ok(Bytes::copy_from_slice(text.to_str()?.as_bytes()));
    }
    let backed: PyBackedBytes = match chunk.extract() {
        Ok(backed) => backed,
        // A memoryview (or anything with the buffer protocol) is read through bytes().
        Err(_) => chunk.py().get_type::<PyBytes>().call1((chunk,))?.extract()?,
    };
    Ok(Bytes::copy_from_slice(&backed))
}

impl Source {
    /// Classify `content` as a save's source.
    pub(crate) fn of(content: &Bound<'_, PyAny>) -> PyResult<Source> {
        if content.is_instance_of::<PyBytes>()
            || content.is_instance_of::<PyByteArray>()
            || content.is_instance_of::<PyString>()
        {
            return Ok(Source::Memory(chunk_bytes(content)?));
        }
        if content.hasattr("read")? {
            return Ok(Source::Reader(content.clone().unbind()));
        }
        match content.try_iter() {
            Ok(iterator) => Ok(Source::Chunks(iterator.into_any().unbind())),
            Err(_) => Err(PyTypeError::new_err(format!(
                "save: content must be bytes, str, a file object or an iterable of bytes, not {}",
                content.get_type().name()?
            ))),
        }
    }

    /// The next chunk of a streamed source; `None` at its end.
    fn next_chunk(&self, py: Python<'_>) -> PyResult<Option<Bytes>> {
        let chunk = match self {
            Source::Memory(_) => return Ok(None),
            Source::Reader(reader) => reader.bind(py).call_method1("read", (CHUNK,))?,
            Source::Chunks(iterator) => match iterator.bind(py).call_method0("__next__") {
                Ok(chunk) => chunk,
                Err(err) if err.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) => return Ok(None),
                Err(err) => return Err(err),
            },
        };
        let bytes = chunk_bytes(&chunk)?;
        // A reader's empty answer is its end; an iterator may yield an empty chunk and go on.
        match (self, bytes.is_empty()) {
            (Source::Reader(_), true) => Ok(None),
            _ => Ok(Some(bytes)),
        }
    }
}

/// A streamed source's receiving end, as the content of a save, and the sending end the calling thread feeds.
pub(crate) fn channel(size_hint: Option<u64>) -> (Content, mpsc::Sender<io::Result<Bytes>>) {
    let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
    let stream: ByteStream = Box::pin(futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    }));
    (Content::from_stream(stream, size_hint), sender)
}

/// Feed `source` into `sender` until its end, or until the save stops listening (it failed, and says why).
/// A Python error while reading is returned, and the save is told to fail.
pub(crate) fn pump(py: Python<'_>, source: &Source, sender: mpsc::Sender<io::Result<Bytes>>) -> PyResult<()> {
    loop {
        match source.next_chunk(py) {
            Ok(Some(chunk)) => {
                if py.detach(|| sender.blocking_send(Ok(chunk))).is_err() {
                    return Ok(());
                }
            }
            Ok(None) => return Ok(()),
            Err(err) => {
                let failure = io::Error::other("reading the Python content failed");
                // Whether the save still listens or not, the Python error is the one to raise.
                let _ = py.detach(|| sender.blocking_send(Err(failure)));
                return Err(err);
            }
        }
    }
}

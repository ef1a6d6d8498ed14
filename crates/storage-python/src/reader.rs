//! `storage_rs._native.Reader`: a stored file read as a stream, one chunk at a time; a seek drops the stream and
//! the next read asks for a range from the new position, so a large file is never held in memory.

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use storage_core::{ByteRange, ByteStream, Error, GetResult, Storage};
use tokio::sync::Mutex;

use crate::runtime::block_on;

/// Where a reader is: its position, and the open stream from there with the part of a chunk not yet returned.
struct Position {
    offset: u64,
    stream: Option<ByteStream>,
    pending: Bytes,
}

/// A stored file open for reading: `read(n)`, `seek(offset)`, `tell()`, `size`. Python's `io` wraps it.
#[pyclass(module = "storage_rs._native", frozen)]
pub(crate) struct Reader {
    storage: Storage,
    name: String,
    size: u64,
    position: Mutex<Position>,
}

impl Reader {
    pub(crate) fn new(storage: Storage, name: String, opened: GetResult) -> Self {
        let position = Position { offset: 0, stream: Some(opened.stream), pending: Bytes::new() };
        Reader { storage, name, size: opened.metadata.size(), position: Mutex::new(position) }
    }
}

/// Up to `wanted` bytes from `position`, opening a ranged stream there if none is open.
async fn read_at(
    storage: &Storage,
    name: &str,
    size: u64,
    position: &mut Position,
    wanted: u64,
) -> storage_core::Result<Bytes> {
    let wanted = wanted.min(size.saturating_sub(position.offset));
    let mut out = BytesMut::new();
    while (out.len() as u64) < wanted {
        if position.pending.is_empty() {
            let stream = match &mut position.stream {
                Some(stream) => stream,
                None => {
                    let opened = storage.open_range(name, ByteRange::From(position.offset)).await?;
                    position.stream.insert(opened.stream)
                }
            };
            match stream.next().await {
                Some(chunk) => position.pending = chunk.map_err(|err| Error::from_io("stream", Some(name), err))?,
                None => break,
            }
        }
        let take = (wanted - out.len() as u64).min(position.pending.len() as u64) as usize;
        out.extend_from_slice(&position.pending[..take]);
        position.pending.advance(take);
        position.offset += take as u64;
    }
    Ok(out.freeze())
}

#[pymethods]
impl Reader {
    /// The stored name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes, as it was when the file was opened.
    #[getter]
    fn size(&self) -> u64 {
        self.size
    }

    /// Up to `size` bytes from the position (the rest of the file when `size` is negative or omitted); empty at the end.
    #[pyo3(signature = (size = -1))]
    fn read<'py>(&self, py: Python<'py>, size: i64) -> PyResult<Bound<'py, PyBytes>> {
        let wanted = u64::try_from(size).unwrap_or(u64::MAX);
        let bytes = block_on(py, async {
            let mut position = self.position.lock().await;
            read_at(&self.storage, &self.name, self.size, &mut position, wanted).await
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Move to `offset` bytes from the start; the next read streams from there. Returns the new position.
    fn seek(&self, offset: u64) -> u64 {
        let mut position = self.position.blocking_lock();
        if position.offset != offset {
            *position = Position { offset, stream: None, pending: Bytes::new() };
        }
        offset
    }

    /// The position, in bytes from the start.
    fn tell(&self) -> u64 {
        self.position.blocking_lock().offset
    }

    /// Drop the open stream (the connection goes back to the pool).
    fn close(&self) {
        let mut position = self.position.blocking_lock();
        position.stream = None;
        position.pending = Bytes::new();
    }
}

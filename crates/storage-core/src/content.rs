//! What a save reads from: bytes, a local file, or a stream — never buffered whole unless it is already bytes.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

/// A stream of chunks, the form every read and write takes on the way through.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// Chunk size used when reading local files.
pub const FILE_CHUNK: usize = 256 * 1024;

/// Streams up to this size are kept in memory when they must be replayable; larger ones spill to a temp file.
pub const SPOOL_MEMORY_LIMIT: usize = 8 * 1024 * 1024;

/// The content of a save.
pub struct Content {
    repr: Repr,
}

enum Repr {
    Replay(Replay),
    Stream { stream: ByteStream, size_hint: Option<u64> },
}

/// Content that can be read any number of times.
#[derive(Clone)]
enum Replay {
    Bytes(Bytes),
    /// A local file, read when sent. The temp path, if any, deletes the file when the last clone is dropped.
    File {
        path: PathBuf,
        temp: Option<Arc<tempfile::TempPath>>,
    },
}

impl fmt::Debug for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Replay::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Replay::File { path, .. } => write!(f, "File({})", path.display()),
        }
    }
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Replay(replay) => write!(f, "Content::{replay:?}"),
            Repr::Stream { size_hint, .. } => write!(f, "Content::Stream(size_hint: {size_hint:?})"),
        }
    }
}

impl Content {
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Content { repr: Repr::Replay(Replay::Bytes(bytes.into())) }
    }

    /// A local file, streamed when the save runs (never read whole).
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        Content { repr: Repr::Replay(Replay::File { path: path.into(), temp: None }) }
    }

    /// A stream of chunks; pass the total size if known, so backends can choose single or multipart uploads.
    pub fn from_stream(
        stream: impl futures::Stream<Item = io::Result<Bytes>> + Send + 'static,
        size_hint: Option<u64>,
    ) -> Self {
        Content { repr: Repr::Stream { stream: stream.boxed(), size_hint } }
    }

    /// The size in bytes, when it is known without reading.
    pub async fn size(&self) -> io::Result<Option<u64>> {
        match &self.repr {
            Repr::Replay(Replay::Bytes(bytes)) => Ok(Some(bytes.len() as u64)),
            Repr::Replay(Replay::File { path, .. }) => Ok(Some(tokio::fs::metadata(path).await?.len())),
            Repr::Stream { size_hint, .. } => Ok(*size_hint),
        }
    }

    /// The bytes, if this content is held in memory already.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.repr {
            Repr::Replay(Replay::Bytes(bytes)) => Some(bytes),
            _ => None,
        }
    }

    /// The local file behind this content, if any (lets a disk backend copy instead of streaming).
    pub fn as_path(&self) -> Option<&Path> {
        match &self.repr {
            Repr::Replay(Replay::File { path, .. }) => Some(path),
            _ => None,
        }
    }

    /// The content as a stream of chunks. A file is opened now, so a missing file fails here.
    pub async fn into_stream(self) -> io::Result<ByteStream> {
        match self.repr {
            Repr::Replay(Replay::Bytes(bytes)) => Ok(stream::once(async move { Ok(bytes) }).boxed()),
            Repr::Replay(Replay::File { path, temp }) => {
                let file = tokio::fs::File::open(&path).await?;
                let chunks = tokio_util::io::ReaderStream::with_capacity(file, FILE_CHUNK);
                // The temp file must outlive the stream reading it.
                Ok(chunks
                    .map(move |chunk| {
                        let _alive = &temp;
                        chunk
                    })
                    .boxed())
            }
            Repr::Stream { stream, .. } => Ok(stream),
        }
    }

    /// Read everything into memory. Only for backends that hold objects in memory anyway.
    pub async fn into_bytes(self) -> io::Result<Bytes> {
        if let Repr::Replay(Replay::Bytes(bytes)) = self.repr {
            return Ok(bytes);
        }
        let mut stream = self.into_stream().await?;
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream.try_next().await? {
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Make the content replayable: a stream is kept in memory up to [`SPOOL_MEMORY_LIMIT`] and spilled to a
    /// temporary file beyond that, like Python's `SpooledTemporaryFile`. Bytes and files are only wrapped.
    pub async fn into_replayable(self) -> io::Result<Replayable> {
        let mut stream = match self.repr {
            Repr::Replay(replay) => return Ok(Replayable(replay)),
            Repr::Stream { stream, .. } => stream,
        };
        let mut head = BytesMut::new();
        while let Some(chunk) = stream.try_next().await? {
            head.extend_from_slice(&chunk);
            if head.len() > SPOOL_MEMORY_LIMIT {
                return spill(head.freeze(), stream).await;
            }
        }
        Ok(Replayable(Replay::Bytes(head.freeze())))
    }
}

/// Content that can be sent any number of times (bytes or a local file), for saves that may have to retry.
#[derive(Debug, Clone)]
pub struct Replayable(Replay);

impl Replayable {
    /// A fresh [`Content`] over the same bytes.
    pub fn content(&self) -> Content {
        Content { repr: Repr::Replay(self.0.clone()) }
    }
}

async fn spill(head: Bytes, mut rest: ByteStream) -> io::Result<Replayable> {
    let temp = tempfile::NamedTempFile::new()?.into_temp_path();
    let mut file = tokio::fs::File::create(&temp).await?;
    file.write_all(&head).await?;
    while let Some(chunk) = rest.try_next().await? {
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(Replayable(Replay::File { path: temp.to_path_buf(), temp: Some(Arc::new(temp)) }))
}

impl From<Bytes> for Content {
    fn from(bytes: Bytes) -> Self {
        Content::from_bytes(bytes)
    }
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Self {
        Content::from_bytes(bytes)
    }
}

impl From<&'static [u8]> for Content {
    fn from(bytes: &'static [u8]) -> Self {
        Content::from_bytes(bytes)
    }
}

impl<const N: usize> From<&'static [u8; N]> for Content {
    fn from(bytes: &'static [u8; N]) -> Self {
        Content::from_bytes(&bytes[..])
    }
}

/// Text content (its UTF-8 bytes). A path is never taken from a string: use [`Content::from_path`].
impl From<&'static str> for Content {
    fn from(text: &'static str) -> Self {
        Content::from_bytes(text.as_bytes())
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Content::from_bytes(text.into_bytes())
    }
}

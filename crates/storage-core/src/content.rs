//! What a save reads from: bytes, a local file, or a stream — never buffered whole unless it is already bytes.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    Stream { stream: ByteStream, size_hint: Option<u64>, claim: NameClaim },
}

/// Lets a backend tell a [`Content::tee`] that its name is secured before the content is read (S3's create-only
/// placeholder, say): no collision can follow, so the spool kept for a second attempt is dropped and no longer
/// written. A no-op for any other content.
#[derive(Debug, Clone, Default)]
pub struct NameClaim(Option<Arc<AtomicBool>>);

impl NameClaim {
    /// Say the name is secured: the storage stops keeping the content for another attempt.
    pub fn claimed(&self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Release);
        }
    }

    fn is_claimed(&self) -> bool {
        self.0.as_ref().is_some_and(|flag| flag.load(Ordering::Acquire))
    }
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
    /// Content already in memory.
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
        Content { repr: Repr::Stream { stream: stream.boxed(), size_hint, claim: NameClaim::default() } }
    }

    /// The handle a backend uses to say it holds the name (see [`NameClaim`]).
    pub fn name_claim(&self) -> NameClaim {
        match &self.repr {
            Repr::Stream { claim, .. } => claim.clone(),
            Repr::Replay(_) => NameClaim::default(),
        }
    }

    /// The size in bytes, when it is known without reading. The future borrows nothing, so a `Send` future can
    /// await it while it holds the content (a stream is `Send`, not `Sync`).
    pub fn size(&self) -> impl Future<Output = io::Result<Option<u64>>> + Send + 'static {
        let known = match &self.repr {
            Repr::Replay(Replay::Bytes(bytes)) => Ok(Some(bytes.len() as u64)),
            Repr::Replay(Replay::File { path, .. }) => Err(path.clone()),
            Repr::Stream { size_hint, .. } => Ok(*size_hint),
        };
        async move {
            match known {
                Ok(size) => Ok(size),
                Err(path) => Ok(Some(tokio::fs::metadata(path).await?.len())),
            }
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

    /// The same content, with `observe` called on each chunk of a stream as it is read (a layer counting the bytes
    /// of a save). Bytes and a file, whose size is known without reading, come back as they are.
    pub fn inspect_chunks(self, observe: impl Fn(&Bytes) + Send + Sync + 'static) -> Content {
        self.map_stream(|stream| {
            stream
                .inspect(move |chunk| {
                    if let Ok(chunk) = chunk {
                        observe(chunk);
                    }
                })
                .boxed()
        })
    }

    /// The same content with its stream passed through `wrap` (a layer limiting how long a chunk may take), its size
    /// hint and name claim kept. Bytes and a file, which no client paces, come back as they are.
    pub fn map_stream(self, wrap: impl FnOnce(ByteStream) -> ByteStream) -> Content {
        match self.repr {
            Repr::Stream { stream, size_hint, claim } => {
                Content { repr: Repr::Stream { stream: wrap(stream), size_hint, claim } }
            }
            replay => Content { repr: replay },
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

    /// Send this content once and keep a way to send it again: bytes and files are simply shared; a stream is
    /// passed through as it is read and copied into a spool on the side (memory up to [`SPOOL_MEMORY_LIMIT`], a
    /// temporary file beyond), so the first attempt streams at full speed and only a retry reads the spool.
    pub fn tee(self) -> (Content, Rewind) {
        self.tee_with(NameClaim::default())
    }

    /// [`Content::tee`] for a save that only needs a second attempt if its name is taken: once the backend reports
    /// the name claimed (see [`NameClaim`]), the spool is dropped and the [`Rewind`] fails.
    pub fn tee_until_claimed(self) -> (Content, Rewind) {
        self.tee_with(NameClaim(Some(Arc::default())))
    }

    fn tee_with(self, claim: NameClaim) -> (Content, Rewind) {
        let (stream, size_hint) = match self.repr {
            Repr::Replay(replay) => {
                let replayable = Replayable(replay);
                return (replayable.content(), Rewind(RewindRepr::Ready(replayable)));
            }
            Repr::Stream { stream, size_hint, .. } => (stream, size_hint),
        };
        let shared = Arc::new(tokio::sync::Mutex::new(Tee {
            source: Some(stream),
            spool: Spool::default(),
            claim: claim.clone(),
        }));
        let passed = stream::unfold(shared.clone(), |shared| async move {
            let mut tee = shared.lock().await;
            let item = match tee.source.as_mut()?.next().await {
                None => {
                    tee.source = None;
                    return None;
                }
                Some(Ok(chunk)) if tee.claim.is_claimed() => {
                    tee.spool = Spool::Empty;
                    Ok(chunk)
                }
                Some(Ok(chunk)) => tee.spool.write(&chunk).await.map(|()| chunk),
                Some(Err(err)) => Err(err),
            };
            drop(tee);
            Some((item, shared))
        });
        let passed = Content { repr: Repr::Stream { stream: passed.boxed(), size_hint, claim } };
        (passed, Rewind(RewindRepr::Tee(shared)))
    }
}

/// The second chance of a [`Content::tee`].
#[derive(Debug)]
pub struct Rewind(RewindRepr);

#[derive(Debug)]
enum RewindRepr {
    Ready(Replayable),
    Tee(Arc<tokio::sync::Mutex<Tee>>),
}

struct Tee {
    source: Option<ByteStream>,
    spool: Spool,
    claim: NameClaim,
}

impl fmt::Debug for Tee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tee").field("finished", &self.source.is_none()).finish_non_exhaustive()
    }
}

impl Rewind {
    /// The whole content again. Whatever the first attempt did not read is read from the source now.
    pub async fn rewind(self) -> io::Result<Replayable> {
        let shared = match self.0 {
            RewindRepr::Ready(replayable) => return Ok(replayable),
            RewindRepr::Tee(shared) => shared,
        };
        let mut tee = shared.lock().await;
        if tee.claim.is_claimed() {
            return Err(io::Error::other("the backend claimed the name before reading, so the content was not kept"));
        }
        if let Some(mut rest) = tee.source.take() {
            while let Some(chunk) = rest.try_next().await? {
                tee.spool.write(&chunk).await?;
            }
        }
        std::mem::take(&mut tee.spool).finish().await
    }
}

/// Bytes kept for a replay: in memory while small, in a temporary file beyond [`SPOOL_MEMORY_LIMIT`].
#[derive(Default)]
enum Spool {
    #[default]
    Empty,
    Memory(BytesMut),
    File {
        file: tokio::fs::File,
        path: tempfile::TempPath,
    },
}

impl Spool {
    async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        match self {
            Spool::File { file, .. } => return file.write_all(chunk).await,
            Spool::Memory(buf) if buf.len() + chunk.len() <= SPOOL_MEMORY_LIMIT => {
                buf.extend_from_slice(chunk);
                return Ok(());
            }
            Spool::Empty if chunk.len() <= SPOOL_MEMORY_LIMIT => {
                *self = Spool::Memory(BytesMut::from(chunk));
                return Ok(());
            }
            _ => {}
        }
        // Over the memory limit: what is held and this chunk go to a temporary file.
        let held = match std::mem::take(self) {
            Spool::Memory(buf) => buf,
            _ => BytesMut::new(),
        };
        let path = tempfile::NamedTempFile::new()?.into_temp_path();
        let mut file = tokio::fs::File::create(&path).await?;
        file.write_all(&held).await?;
        file.write_all(chunk).await?;
        *self = Spool::File { file, path };
        Ok(())
    }

    async fn finish(self) -> io::Result<Replayable> {
        match self {
            Spool::Empty => Ok(Replayable(Replay::Bytes(Bytes::new()))),
            Spool::Memory(buf) => Ok(Replayable(Replay::Bytes(buf.freeze()))),
            Spool::File { mut file, path } => {
                file.flush().await?;
                Ok(Replayable(Replay::File { path: path.to_path_buf(), temp: Some(Arc::new(path)) }))
            }
        }
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

/// Borrowed bytes are copied once, so a save never borrows its caller's buffer (it may send the bytes again on a
/// retry, after the borrow ended). To skip the copy, pass owned bytes (`Vec<u8>`, [`Bytes`], `String`), a file
/// ([`Content::from_path`]) or a stream ([`Content::from_stream`]).
impl From<&[u8]> for Content {
    fn from(bytes: &[u8]) -> Self {
        Content::from_bytes(Bytes::copy_from_slice(bytes))
    }
}

impl<const N: usize> From<&[u8; N]> for Content {
    fn from(bytes: &[u8; N]) -> Self {
        Content::from(&bytes[..])
    }
}

impl From<&Vec<u8>> for Content {
    fn from(bytes: &Vec<u8>) -> Self {
        Content::from(bytes.as_slice())
    }
}

/// Text content (its UTF-8 bytes), copied once as borrowed bytes are. A path is never taken from a string: use
/// [`Content::from_path`].
impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Content::from(text.as_bytes())
    }
}

impl From<&String> for Content {
    fn from(text: &String) -> Self {
        Content::from(text.as_bytes())
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Content::from_bytes(text.into_bytes())
    }
}

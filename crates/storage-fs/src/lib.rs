//! The local-disk backend: atomic writes, confinement to a root, lossless metadata, and signed URLs it can serve.
//!
//! Its `Storage`: `let storage = storage_fs::FsBackend::new("media")?.storage();`.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
//!
//! Like Django's `FileSystemStorage` (a `location`, a `base_url`, permission modes), but it behaves like S3
//! through the same API: a reader never sees a partial file, create-only writes are atomic (so the `Unique`
//! policy holds under concurrency), attributes and ACLs survive round trips, and temporary URLs are real —
//! `storage_http::SignedUrlService` verifies and serves them.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> storage_core::Result<()> {
//! use storage_fs::FsBackend;
//! let dir = tempfile::tempdir().unwrap();
//! let storage = FsBackend::new(dir.path())?.storage();
//! let name = storage.save("notes/hello.txt", "hello").await?;
//! assert_eq!(std::fs::read_to_string(dir.path().join("notes/hello.txt")).unwrap(), "hello");
//! # let _ = name; Ok(()) }
//! ```
//!
//! # Layout
//!
//! Objects are plain files at `{location}/{key}`, so the tree can be served or copied by other tools. Each file's
//! attributes, ACL and MD5 are in its own extended attribute (`user.storage.meta`, see `meta.rs`), written before the
//! file is renamed into place, so they are published with the bytes in one rename. The backend keeps its in-flight
//! temporary files (and the signing key of a configured storage) under `{location}/.storage/`; that name is reserved
//! and never listed.
//!
//! The file system must keep user extended attributes (ext4, xfs, btrfs, tmpfs since Linux 6.6 do):
//! [`FsBackend::new`] checks, and refuses one that does not. [`FsBackend::without_attributes`] opens any file system
//! as a backend that declares no attributes and no ACLs, rather than one that would lose them.

#![warn(missing_docs)]

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use storage_core::content::FILE_CHUNK;
use storage_core::signing::{UrlSigner, encode_key_path};
use storage_core::{
    Acl, Attributes, Backend, ByteRange, Capabilities, ConditionalDelete, Content, Error, ErrorKind, GetResult,
    ListEntry, ListOptions, Metadata, ObjectMeta, PresignRequest, PresignedRequest, PutOptions, PutResult, Result,
    Storage, WriteMode, async_trait,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

mod key;
mod list;
mod meta;
mod paths;

pub use key::load_or_create_key;
pub use paths::RESERVED_DIR;

use md5::{Digest as _, Md5};
use meta::Record;
use paths::{Entry, Found};

pub(crate) const NAME: &str = "fs";

/// Django's `FILE_UPLOAD_PERMISSIONS` default: the mode of public files. Private ones keep its owner bits alone.
pub const DEFAULT_FILE_MODE: u32 = 0o644;

/// The permission bits a private file keeps of the file mode: its owner's.
const OWNER_BITS: u32 = 0o700;

/// The mode of `.storage/` and the directories in it: its owner's alone.
const RESERVED_DIR_MODE: u32 = 0o700;
/// The mode of a root the backend creates.
const ROOT_MODE: u32 = 0o755;

/// Temporary files older than this are left over from a crashed writer and removed when a backend opens the root.
const STALE_TEMP_AGE: Duration = Duration::from_secs(24 * 3600);

/// Buffer of the hashing copies (local files, `copy`).
const COPY_BUFFER: usize = 256 * 1024;

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    /// The root, open: every key is resolved beneath it (`paths.rs`).
    root_fd: std::sync::OnceLock<OwnedFd>,
    /// `.storage/tmp`, open: temporary files are created and renamed relative to it. Made on the first write, so a
    /// backend only read from (a listing, a dry run) leaves the root as it found it.
    temp_fd: std::sync::OnceLock<Arc<OwnedFd>>,
    file_mode: u32,
    dir_mode: Option<u32>,
    fsync: bool,
    base_url: Option<String>,
    signing: Signing,
    /// Whether files carry their metadata record (the file system keeps user extended attributes).
    attributes: bool,
}

/// How a backend signs its URLs: not at all, with a key it was given, or with a key file read (or created) on the
/// first signing, so that a backend only read from never writes a key.
#[derive(Debug)]
enum Signing {
    Off,
    Ready(UrlSigner),
    OnFirstUse { base_url: String, key_file: PathBuf, max_expiry: Duration, signer: std::sync::OnceLock<UrlSigner> },
}

impl Signing {
    fn is_on(&self) -> bool {
        !matches!(self, Signing::Off)
    }

    fn max_expiry(&self) -> Option<Duration> {
        match self {
            Signing::Off => None,
            Signing::Ready(signer) => Some(signer.max_expiry()),
            Signing::OnFirstUse { max_expiry, .. } => Some(*max_expiry),
        }
    }

    /// The signer, its key loaded or created now if this is the first signing.
    fn signer(&self) -> Result<Option<&UrlSigner>> {
        match self {
            Signing::Off => Ok(None),
            Signing::Ready(signer) => Ok(Some(signer)),
            Signing::OnFirstUse { base_url, key_file, max_expiry, signer } => {
                if let Some(ready) = signer.get() {
                    return Ok(Some(ready));
                }
                // Racing threads read the one key file, so whichever signer is kept signs with the same key.
                let made = UrlSigner::new(base_url.clone(), load_or_create_key(key_file)?).with_max_expiry(*max_expiry);
                Ok(Some(signer.get_or_init(|| made)))
            }
        }
    }
}

/// What opening a backend does when its root directory does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingRoot {
    /// Create it (and its parents).
    Create,
    /// Create it on the first write; until then the storage reads as empty and nothing is created by looking.
    CreateOnFirstWrite,
    /// Refuse with `NotFound`, naming the root: a mistyped path is reported instead of becoming a new storage.
    Refuse,
}

/// Whether a backend keeps each file's attributes, ACL and checksum in a user extended attribute, and so needs a file
/// system that keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Xattrs {
    /// Checked when the backend opens; files carry their metadata record.
    Required,
    /// Never touched: the backend declares no attributes and no ACLs.
    Unused,
}

/// Whether a read may wait for the disk: a read answered on the async thread must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Give up (`Ok(None)`) when the open or the read would wait for the disk.
    Never,
    /// Wait, on the blocking pool.
    ForTheDisk,
}

/// The directory of temporary files, under the root.
const TEMP_DIR: &str = ".storage/tmp";

/// Where [`FsBackend::signed`] keeps its key, under the root.
const SIGNING_KEY_FILE: &str = "signing-key";

/// What the fs backend answers when asked for a temporary URL without a signer, with the way to get one.
const TEMPORARY_URLS_HINT: &str = "temporary URLs (open it with `FsBackend::signed(dir, base_url)`)";

/// A backend storing objects as files under one root directory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FsBackend {
    inner: Arc<Inner>,
}

impl FsBackend {
    /// A backend rooted at `location`, created if missing. Refused when the file system there keeps no user extended
    /// attributes, where attributes and ACLs would be lost: see [`FsBackend::without_attributes`].
    pub fn new(location: impl AsRef<Path>) -> Result<Self> {
        Self::opened(location.as_ref(), MissingRoot::Create)
    }

    /// Like [`FsBackend::new`], but what happens when the root is missing is `missing_root`'s choice.
    pub fn opened(location: &Path, missing_root: MissingRoot) -> Result<Self> {
        Self::open(location, missing_root, Xattrs::Required)
    }

    /// A backend rooted at `location` on any file system, declaring no attributes, user metadata or ACLs: a save
    /// that asks for them answers `Unsupported` instead of losing them. Content types are guessed from names.
    pub fn without_attributes(location: impl AsRef<Path>) -> Result<Self> {
        Self::open(location.as_ref(), MissingRoot::Create, Xattrs::Unused)
    }

    /// Like [`FsBackend::without_attributes`], but what happens when the root is missing is `missing_root`'s choice.
    pub fn without_attributes_opened(location: &Path, missing_root: MissingRoot) -> Result<Self> {
        Self::open(location, missing_root, Xattrs::Unused)
    }

    /// A backend rooted at `location` (created if missing) whose temporary URLs are signed under `base_url` with the
    /// key in `{location}/.storage/signing-key`, created (mode 0600) if missing and reused after: the one-line way
    /// to links that `storage_http::SignedUrlService` serves.
    pub fn signed(location: impl AsRef<Path>, base_url: impl Into<String>) -> Result<Self> {
        let backend = Self::new(location)?;
        let key = load_or_create_key(&backend.root().join(RESERVED_DIR).join(SIGNING_KEY_FILE))?;
        Ok(backend.with_url_signer(UrlSigner::new(base_url, key)))
    }

    fn open(location: &Path, missing_root: MissingRoot, xattrs: Xattrs) -> Result<Self> {
        let attributes = xattrs == Xattrs::Required;
        let config_error = |message: String| Error::configuration("the fs backend", message).on_backend(NAME);
        let exists = location.exists();
        match missing_root {
            MissingRoot::Refuse if !exists => return Err(missing_root_error(location)),
            MissingRoot::Create if !exists => create_root(location)
                .map_err(|err| config_error(format!("cannot create the root `{}`: {err}", location.display())))?,
            _ => {}
        }
        let root = match location.canonicalize() {
            Ok(root) => root,
            // Made on the first write (`CreateOnFirstWrite`): named as given until then.
            Err(_) if !location.exists() => std::path::absolute(location)
                .map_err(|err| config_error(format!("cannot resolve the root `{}`: {err}", location.display())))?,
            Err(err) => return Err(config_error(format!("cannot open the root `{}`: {err}", location.display()))),
        };
        let temp_dir = root.join(RESERVED_DIR).join("tmp");
        let root_fd = std::sync::OnceLock::new();
        let temp_fd = std::sync::OnceLock::new();
        if root.is_dir() {
            let opened = paths::open_root(&root)
                .map_err(|err| config_error(format!("cannot open the root `{}`: {err}", root.display())))?;
            refuse_if_others_can_write(&opened, &root, "root")?;
            if attributes {
                // An unnamed file in the root itself: the probe leaves nothing behind.
                meta::probe(&root).map_err(|err| no_extended_attributes(&root, &err))?;
            }
            let reserved_dir = root.join(RESERVED_DIR);
            if let Ok(reserved) = paths::open_dir(&opened, RESERVED_DIR) {
                refuse_if_others_can_write(&reserved, &reserved_dir, "reserved directory")?;
            }
            if temp_dir.is_dir() {
                remove_stale_temp_files(&temp_dir, STALE_TEMP_AGE);
                let temp = paths::open_dir(&opened, TEMP_DIR)
                    .map_err(|err| config_error(format!("cannot open `{}`: {err}", temp_dir.display())))?;
                let _ = temp_fd.set(Arc::new(temp));
            }
            let _ = root_fd.set(opened);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                root_fd,
                temp_fd,
                file_mode: DEFAULT_FILE_MODE,
                dir_mode: None,
                fsync: false,
                base_url: None,
                signing: Signing::Off,
                attributes,
            }),
        })
    }

    fn configure(mut self, change: impl FnOnce(&mut Inner)) -> Self {
        let inner = Arc::get_mut(&mut self.inner).expect("configure a backend before cloning it");
        change(inner);
        self
    }

    /// Public URLs under `base_url` (Django's `MEDIA_URL`), e.g. `http://127.0.0.1:8000/media/`.
    pub fn with_base_url(self, base_url: impl Into<String>) -> Self {
        let mut base_url = base_url.into();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        self.configure(|inner| inner.base_url = Some(base_url))
    }

    /// Temporary URLs signed by `signer`, under its base URL (which also becomes the public base URL).
    pub fn with_url_signer(self, signer: UrlSigner) -> Self {
        let base_url = signer.base_url().to_owned();
        self.configure(|inner| {
            inner.base_url = Some(base_url);
            inner.signing = Signing::Ready(signer);
        })
    }

    /// Temporary URLs signed under `base_url` (which also becomes the public base URL) with the key in `key_file`,
    /// read or created (mode 0600) on the first signing, so that a backend only read from or written to never
    /// creates a key.
    pub fn with_signing_key_file(self, base_url: impl Into<String>, key_file: PathBuf, max_expiry: Duration) -> Self {
        let mut base_url = base_url.into();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        self.configure(|inner| {
            inner.base_url = Some(base_url.clone());
            inner.signing = Signing::OnFirstUse { base_url, key_file, max_expiry, signer: std::sync::OnceLock::new() };
        })
    }

    /// Mode of new public files (Django's `file_permissions_mode`; default 0o644), whatever the process umask.
    /// Private files (any ACL but `public-read` and `public-read-write`, or none) keep its owner bits alone, 0o600
    /// by default, so no other local user can read them.
    pub fn with_file_mode(self, mode: u32) -> Self {
        self.configure(|inner| inner.file_mode = mode)
    }

    /// Mode of new key directories (Django's `directory_permissions_mode`; default 0o755), whatever the process
    /// umask. `.storage/` and the directories in it are always 0o700.
    pub fn with_dir_mode(self, mode: u32) -> Self {
        self.configure(|inner| inner.dir_mode = Some(mode))
    }

    /// Make every save durable before it returns: the file's data and metadata are flushed before it is renamed
    /// into place, and its directory after (slower; survives power loss, not only crashes).
    pub fn with_fsync(self, fsync: bool) -> Self {
        self.configure(|inner| inner.fsync = fsync)
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The signer, for serving this backend's URLs with `storage_http::SignedUrlService`; a key file given to
    /// [`FsBackend::with_signing_key_file`] is read or created now.
    pub fn signer(&self) -> Result<Option<&UrlSigner>> {
        self.inner.signing.signer()
    }

    /// A [`Storage`] over this backend, with the default policy.
    pub fn storage(&self) -> Storage {
        Storage::new(self.clone())
    }

    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce(&Inner) -> Result<T> + Send + 'static) -> Result<T> {
        let inner = self.inner.clone();
        if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            return tokio::task::block_in_place(move || work(&inner));
        }
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|err| Error::backend(NAME, None, "a blocking file task failed").with_source(err))?
    }
}

/// An object opened for reading: its metadata, the byte range resolved against its size, and the bytes.
struct Read {
    opened: Opened,
    metadata: Metadata,
    range: std::ops::Range<u64>,
}

/// The bytes themselves when the range is small (read at once), else the open file to stream.
enum Opened {
    Read(Bytes),
    File(std::fs::File),
}

impl Inner {
    /// The root, open, if it exists (a root made on the first write does not until then).
    fn existing_root(&self) -> Option<&OwnedFd> {
        if let Some(root) = self.root_fd.get() {
            return Some(root);
        }
        // Another process may have made it since.
        let opened = paths::open_root(&self.root).ok()?;
        Some(self.root_fd.get_or_init(|| opened))
    }

    /// The root, open, made now if this is the first write of a backend that creates it then.
    fn root_for_writing(&self, key: &str) -> Result<&OwnedFd> {
        if let Some(root) = self.root_fd.get() {
            return Ok(root);
        }
        let io_error = |err: io::Error| Error::from_io(NAME, Some(key), err);
        if !self.root.exists() {
            create_root(&self.root).map_err(io_error)?;
        }
        if self.attributes {
            meta::probe(&self.root).map_err(|err| no_extended_attributes(&self.root, &err))?;
        }
        let opened = paths::open_root(&self.root).map_err(io_error)?;
        Ok(self.root_fd.get_or_init(|| opened))
    }

    /// The entry a write of `key` goes to (its directories created if needed), refusing a directory or a link in
    /// the way.
    fn write_target(&self, key: &str) -> Result<Entry> {
        let entry = Entry::create(self.root_for_writing(key)?, key, self.dir_mode)?;
        match entry.found().map_err(|err| paths::map_error(key, err))? {
            Found::Dir => Err(Error::already_exists(NAME, key).with_source("a directory of that name exists on disk")),
            Found::Link => Err(paths::map_error(key, io::Error::from(rustix::io::Errno::LOOP))),
            _ => Ok(entry),
        }
    }

    /// The permission bits of a file whose record is `record`: the file mode when its ACL is public, else the
    /// mode's owner bits alone.
    fn mode_of(&self, record: &Record) -> rustix::fs::Mode {
        let mode = if record.acl().is_public_read() { self.file_mode } else { self.file_mode & OWNER_BITS };
        rustix::fs::Mode::from_raw_mode(mode)
    }

    /// `.storage/tmp`, open; created now if this is the backend's first write.
    fn temp_dir_fd(&self, key: &str) -> Result<&Arc<OwnedFd>> {
        if let Some(opened) = self.temp_fd.get() {
            return Ok(opened);
        }
        let root = self.root_for_writing(key)?;
        let io_error = |err: io::Error| Error::from_io(NAME, Some(key), err);
        // `.storage/` holds temporary files and the signing key: its owner's alone, whatever the umask.
        let reserved = paths::make_dir(root, RESERVED_DIR, RESERVED_DIR_MODE).map_err(io_error)?;
        refuse_if_others_can_write(&reserved, &self.root.join(RESERVED_DIR), "reserved directory")?;
        let opened = Arc::new(paths::make_dir(&reserved, "tmp", RESERVED_DIR_MODE).map_err(io_error)?);
        Ok(self.temp_fd.get_or_init(|| opened))
    }

    /// A new temporary file in `.storage/tmp` for an object with `record`, removed again unless it is published. It
    /// has its final mode before its first byte: created owner-only (the umask can only narrow that), then set
    /// exactly, whatever the umask, so a private file is never readable by others, not even while it is written.
    fn temp_file(&self, key: &str, record: &Record) -> Result<(TempGuard, std::fs::File)> {
        use rustix::fs::{Mode, OFlags};
        let io_error = |err: rustix::io::Errno| Error::from_io(NAME, Some(key), err.into());
        let name = temp_name();
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let temp_dir = self.temp_dir_fd(key)?;
        let fd = rustix::fs::openat(&**temp_dir, name.as_str(), flags, Mode::RUSR | Mode::WUSR).map_err(io_error)?;
        let guard = TempGuard { dir: temp_dir.clone(), name: Some(name) };
        rustix::fs::fchmod(&fd, self.mode_of(record)).map_err(io_error)?;
        Ok((guard, std::fs::File::from(fd)))
    }

    /// Finish a written temporary file before it is published: its metadata record (with the MD5 of its bytes) on
    /// the file itself, and with `fsync` everything flushed.
    fn seal(&self, key: &str, file: &std::fs::File, record: Record, md5: Option<[u8; 16]>) -> Result<()> {
        let io_error = |err| Error::from_io(NAME, Some(key), err);
        if self.attributes {
            let mut record = record;
            if let Some(md5) = md5 {
                record.set_md5(md5, &file.metadata().map_err(io_error)?);
            }
            meta::write(file, &record).map_err(io_error)?;
        }
        if self.fsync { file.sync_all().map_err(io_error) } else { Ok(()) }
    }

    /// Move a sealed temporary file to `key`'s entry: one rename publishes the bytes and their metadata together.
    /// Create-only through a rename that refuses to replace.
    fn publish(&self, key: &str, target: Entry, temp: TempGuard, mode: WriteMode) -> Result<()> {
        let name = temp.name.clone().expect("an armed guard");
        self.move_entry(key, &temp.dir, &name, target, mode)?;
        temp.disarm();
        Ok(())
    }

    /// Rename `from_name` in `from_dir` to `target`, relative to the directories opened, never by path.
    fn move_entry(&self, key: &str, from_dir: &OwnedFd, from_name: &str, target: Entry, mode: WriteMode) -> Result<()> {
        let mut target = target;
        for attempt in 0.. {
            let moved = match mode {
                WriteMode::Overwrite => rustix::fs::renameat(from_dir, from_name, &target.dir, target.name.as_str()),
                WriteMode::CreateOnly => rename_no_replace(from_dir, from_name, &target.dir, &target.name),
            };
            match moved {
                Ok(()) => break,
                // A concurrent prune removed the directory after it was opened: open (and create) it again.
                Err(rustix::io::Errno::NOENT) if attempt < 8 => target = self.write_target(key)?,
                Err(err) => return Err(paths::map_error(key, err.into())),
            }
        }
        if self.fsync {
            rustix::fs::fsync(&target.dir).map_err(|err| Error::from_io(NAME, Some(key), err.into()))?;
        }
        Ok(())
    }

    /// Open the existing file of `key` for reading, with its metadata: both from the one file opened, so a
    /// concurrent replace can never pair these bytes with another file's metadata.
    fn open_file(&self, key: &str) -> Result<(std::fs::File, Metadata, Record)> {
        let root = self.existing_root().ok_or_else(|| Error::not_found(NAME, key))?;
        let file = paths::open_file(root, key)?;
        self.describe(key, file)?.ok_or_else(|| Error::not_found(NAME, key))
    }

    /// Open `key` and resolve `range`, reading the bytes at once when there are at most [`FILE_CHUNK`] of them.
    /// With [`Wait::Never`], `Ok(None)` whenever the open or the read would have to wait for the disk.
    fn open_read(&self, key: &str, range: Option<ByteRange>, wait: Wait) -> Result<Option<Read>> {
        let (file, metadata) = if wait == Wait::Never {
            let Some(file) = self.existing_root().and_then(|root| paths::open_file_cached(root, key)) else {
                return Ok(None);
            };
            match self.describe(key, file)? {
                Some((file, metadata, _)) => (file, metadata),
                None => return Ok(None),
            }
        } else {
            let (file, metadata, _) = self.open_file(key)?;
            (file, metadata)
        };
        // The size of the file actually opened: a concurrent replace publishes a new file, never changes this one.
        let size = metadata.size();
        let range = match range {
            None => 0..size,
            Some(range) => range.resolve(size).ok_or_else(|| {
                Error::invalid_argument(Some(key), format!("the range {range:?} is outside the object's {size} bytes"))
                    .on_backend(NAME)
            })?,
        };
        let length = range.end - range.start;
        if length > FILE_CHUNK as u64 {
            return Ok(Some(Read { opened: Opened::File(file), metadata, range }));
        }
        let mut bytes = vec![0; length as usize];
        if wait == Wait::Never {
            // RWF_NOWAIT: the bytes only if they are all in the page cache, never a wait for the disk.
            let slices = &mut [io::IoSliceMut::new(&mut bytes)];
            match rustix::io::preadv2(&file, slices, range.start, rustix::io::ReadWriteFlags::NOWAIT) {
                Ok(read) if read as u64 == length => {}
                _ => return Ok(None),
            }
        } else {
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut bytes, range.start)
                .map_err(|err| Error::from_io(NAME, Some(key), err))?;
        }
        Ok(Some(Read { opened: Opened::Read(Bytes::from(bytes)), metadata, range }))
    }

    /// The metadata and record of an opened file, both from that one file (so a concurrent replace can never pair
    /// these bytes with another file's metadata), or `None` when it is not a regular file.
    fn describe(&self, key: &str, file: std::fs::File) -> Result<Option<(std::fs::File, Metadata, Record)>> {
        let io_error = |err| Error::from_io(NAME, Some(key), err);
        let stat = file.metadata().map_err(io_error)?;
        if !stat.is_file() {
            return Ok(None);
        }
        let record = self.record_of(&file).map_err(io_error)?;
        let metadata = Metadata::new(object_meta(key, &stat, record.md5(&stat)), record.attributes(key));
        Ok(Some((file, metadata, record)))
    }

    fn record_of(&self, file: &std::fs::File) -> io::Result<Record> {
        if !self.attributes {
            return Ok(Record::default());
        }
        Ok(meta::read(file)?.unwrap_or_default())
    }

    /// Remove now-empty directories above `key` up to (not including) the root, so listings never show empty
    /// "directories" that S3 would not have. Each is removed relative to its open parent.
    fn prune(&self, key: &str) {
        let Some(root) = self.existing_root() else { return };
        let mut dir = key.rsplit_once('/').map(|(dir, _)| dir);
        while let Some(current) = dir {
            let (parent, name) = current.rsplit_once('/').unwrap_or(("", current));
            let removed = paths::open_dir(root, parent)
                .map_err(|_| rustix::io::Errno::NOENT)
                .and_then(|parent| rustix::fs::unlinkat(&parent, name, rustix::fs::AtFlags::REMOVEDIR));
            if removed.is_err() {
                break;
            }
            dir = current.rsplit_once('/').map(|(dir, _)| dir);
        }
    }
}

/// Copy everything `from` holds into `to`, returning the MD5 of the bytes.
fn hashing_copy(mut from: impl io::Read, to: &mut std::fs::File) -> io::Result<[u8; 16]> {
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; COPY_BUFFER];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) => return Ok(hasher.finalize().into()),
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buffer[..read]);
        io::Write::write_all(to, &buffer[..read])?;
    }
}

/// The refusal of a root whose file system keeps no user extended attributes, with the two ways on.
fn no_extended_attributes(root: &Path, err: &io::Error) -> Error {
    Error::configuration(
        "the fs backend",
        format!(
            "the file system at `{}` does not keep user extended attributes ({err}), where each file's attributes, \
             ACL and checksum are kept; use one that does (ext4, xfs, btrfs), or FsBackend::without_attributes \
             (`attributes = false` in storage.toml) for a backend without attributes and ACLs",
            root.display()
        ),
    )
    .on_backend(NAME)
}

/// `renameat` that fails with `AlreadyExists` instead of replacing: one `renameat2(RENAME_NOREPLACE)` where the file
/// system has it, else a hard link (which cannot replace either) and an unlink.
fn rename_no_replace(from_dir: &OwnedFd, from: &str, to_dir: &OwnedFd, to: &str) -> rustix::io::Result<()> {
    use rustix::fs::{AtFlags, RenameFlags, linkat, renameat_with, unlinkat};
    match renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE) {
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            linkat(from_dir, from, to_dir, to, AtFlags::empty())?;
            unlinkat(from_dir, from, AtFlags::empty())
        }
        other => other,
    }
}

/// A fresh, unused name for a temporary file.
fn temp_name() -> String {
    use rand::RngExt;
    let suffix: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(16).map(char::from).collect();
    format!("tmp-{suffix}")
}

/// Deletes a temporary file unless it was published.
struct TempGuard {
    dir: Arc<OwnedFd>,
    name: Option<String>,
}

impl TempGuard {
    fn disarm(mut self) {
        self.name = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            let _ = rustix::fs::unlinkat(&*self.dir, name.as_str(), rustix::fs::AtFlags::empty());
        }
    }
}

/// The listing facts of a file. Its ETag is the MD5 of its bytes where the file's record holds a current one (as
/// S3's is for single-part uploads, so `migrate` can skip and verify without reading), else one made of its inode,
/// modification time and size.
fn object_meta(key: &str, meta: &std::fs::Metadata, md5: Option<&str>) -> ObjectMeta {
    use std::os::unix::fs::MetadataExt;
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let etag = match md5 {
        Some(md5) => format!("\"{md5}\""),
        None => {
            let nanos = modified.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            format!("\"{:x}-{nanos:x}-{:x}\"", meta.ino(), meta.len())
        }
    };
    ObjectMeta::new(key, meta.len(), DateTime::<Utc>::from(modified), Some(etag))
}

/// Make a missing root (and its parents) with mode 0755 whatever the umask: a root others can write is refused.
fn create_root(location: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(location)?;
    std::fs::set_permissions(location, std::fs::Permissions::from_mode(ROOT_MODE))
}

/// Refuse a root or `.storage/` that group or others can write, as ssh's `StrictModes` refuses such a home: another
/// local user could plant public files there, delete private ones, or swap the signing key.
fn refuse_if_others_can_write(dir: &OwnedFd, path: &Path, what: &str) -> Result<()> {
    let stat = rustix::fs::fstat(dir).map_err(|err| {
        Error::configuration(
            "the fs backend",
            format!("cannot read the mode of the {what} `{}`: {err}", path.display()),
        )
        .on_backend(NAME)
    })?;
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        let path = path.display();
        return Err(Error::configuration(
            "the fs backend",
            format!(
                "the {what} `{path}` can be written by group or others (mode {mode:o}), so another local user could \
                 plant, delete or swap files in it; run `chmod go-w {path}`"
            ),
        )
        .on_backend(NAME));
    }
    Ok(())
}

fn remove_stale_temp_files(temp_dir: &Path, older_than: Duration) {
    let Ok(entries) = std::fs::read_dir(temp_dir) else { return };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|modified| now.duration_since(modified).unwrap_or_default() > older_than);
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[async_trait]
impl Backend for FsBackend {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::all();
        capabilities.public_url = self.inner.base_url.is_some();
        capabilities.presign_read = self.inner.signing.is_on();
        capabilities.presign_write = self.inner.signing.is_on();
        capabilities.upload_form = self.inner.signing.is_on();
        capabilities.presign_max_expiry = self.inner.signing.max_expiry();
        if !self.inner.attributes {
            capabilities.write_with_attributes = false;
            capabilities.write_with_user_metadata = false;
            capabilities.acl = false;
            capabilities.set_attributes = false;
        }
        capabilities
    }

    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        let key = key.to_owned();
        let record = Record::new(&key, &options.attributes, options.acl);
        if let Some(bytes) = content.as_bytes().cloned() {
            // Small and common: the whole save in one blocking task.
            return self
                .blocking(move |inner| {
                    let target = inner.write_target(&key)?;
                    let (temp, mut file) = inner.temp_file(&key, &record)?;
                    io::Write::write_all(&mut file, &bytes).map_err(|err| Error::from_io(NAME, Some(&key), err))?;
                    let md5 = inner.attributes.then(|| Md5::digest(&bytes).into());
                    inner.seal(&key, &file, record, md5)?;
                    drop(file);
                    inner.publish(&key, target, temp, options.mode)?;
                    Ok(PutResult::default())
                })
                .await;
        }

        let target_key = key.clone();
        let target = self.blocking(move |inner| inner.write_target(&target_key)).await?;
        let (temp, mut file) = self.inner.temp_file(&key, &record)?;
        let io_error = |err| Error::from_io(NAME, Some(&key), err);
        let (file, md5) = if let Some(source) = content.as_path() {
            // A local file: copied in one blocking task, hashed on the way.
            let source = source.to_owned();
            let (file, md5) = self
                .blocking(move |_| {
                    let md5 = std::fs::File::open(&source)
                        .and_then(|source| hashing_copy(source, &mut file))
                        .map_err(|err| Error::from_io(NAME, None, err))?;
                    Ok((file, md5))
                })
                .await
                .map_err(|err| match err.kind() {
                    ErrorKind::NotFound => Error::not_found(NAME, &key),
                    _ => err,
                })?;
            (file, md5)
        } else {
            let mut stream = content.into_stream().await.map_err(io_error)?;
            let mut hasher = Md5::new();
            let mut writer = tokio::fs::File::from_std(file);
            while let Some(chunk) = stream.try_next().await.map_err(io_error)? {
                hasher.update(&chunk);
                writer.write_all(&chunk).await.map_err(io_error)?;
            }
            writer.flush().await.map_err(io_error)?;
            (writer.into_std().await, hasher.finalize().into())
        };
        self.blocking(move |inner| {
            inner.seal(&key, &file, record, Some(md5))?;
            drop(file);
            inner.publish(&key, target, temp, options.mode)?;
            Ok(PutResult::default())
        })
        .await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        // A read whose file and (small) bytes are in the page cache is done right here: no thread hand-off, which
        // costs more than the read. Anything that would wait for the disk is done in one trip to the blocking pool.
        let read = match self.inner.open_read(key, range, Wait::Never)? {
            Some(read) => read,
            None => {
                let owned = key.to_owned();
                self.blocking(move |inner| inner.open_read(&owned, range, Wait::ForTheDisk))
                    .await?
                    .expect("reads may block here")
            }
        };
        let stream = match read.opened {
            Opened::Read(bytes) if bytes.is_empty() => stream::empty().boxed(),
            Opened::Read(bytes) => stream::once(async move { Ok(bytes) }).boxed(),
            Opened::File(file) => {
                let mut file = tokio::fs::File::from_std(file);
                let range = read.range.clone();
                file.seek(io::SeekFrom::Start(range.start))
                    .await
                    .map_err(|err| Error::from_io(NAME, Some(key), err))?;
                tokio_util::io::ReaderStream::with_capacity(file.take(range.end - range.start), FILE_CHUNK).boxed()
            }
        };
        Ok(GetResult::new(read.metadata, read.range, stream))
    }

    async fn head(&self, key: &str) -> Result<Metadata> {
        // As for reads: answered here when the open cannot wait for the disk.
        if let Some(file) = self.inner.existing_root().and_then(|root| paths::open_file_cached(root, key))
            && let Some((_, metadata, _)) = self.inner.describe(key, file)?
        {
            return Ok(metadata);
        }
        let key = key.to_owned();
        self.blocking(move |inner| inner.open_file(&key).map(|(_, metadata, _)| metadata)).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.blocking(move |inner| {
            let Some(root) = inner.existing_root() else { return Ok(()) };
            let Some(entry) = Entry::existing(root, &key)? else { return Ok(()) };
            match entry.found().map_err(|err| paths::map_error(&key, err))? {
                Found::File => {}
                Found::Link => return Err(paths::map_error(&key, io::Error::from(rustix::io::Errno::LOOP))),
                _ => return Ok(()),
            }
            match rustix::fs::unlinkat(&entry.dir, entry.name.as_str(), rustix::fs::AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {
                    inner.prune(&key);
                    Ok(())
                }
                Err(err) => Err(Error::from_io(NAME, Some(&key), err.into())),
            }
        })
        .await
    }

    /// Compared under the file's lock (a record change waits), then deleted only while the name still holds the
    /// file compared: a save publishes a new file by renaming it over the name, so a save that lands between the
    /// last check and the unlink (a few microseconds) is the one window left, and it is documented.
    async fn delete_if_unchanged(&self, key: &str, etag: &str) -> Result<ConditionalDelete> {
        let (key, etag) = (key.to_owned(), etag.to_owned());
        self.blocking(move |inner| {
            let Some(root) = inner.existing_root() else { return Ok(ConditionalDelete::Deleted) };
            let Some(entry) = Entry::existing(root, &key)? else { return Ok(ConditionalDelete::Deleted) };
            let file = match paths::open_file(root, &key) {
                Err(err) if err.kind() == ErrorKind::NotFound => return Ok(ConditionalDelete::Deleted),
                opened => opened?,
            };
            let io_error = |err: rustix::io::Errno| Error::from_io(NAME, Some(&key), err.into());
            rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(io_error)?;
            let Some((file, metadata, _)) = inner.describe(&key, file)? else { return Ok(ConditionalDelete::Deleted) };
            if metadata.meta.etag.as_deref() != Some(etag.as_str()) {
                return Ok(ConditionalDelete::Changed);
            }
            let named = rustix::fs::statat(&entry.dir, entry.name.as_str(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
            let opened = rustix::fs::fstat(&file).map_err(io_error)?;
            match named {
                Ok(named) if (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino) => {}
                Err(rustix::io::Errno::NOENT) => return Ok(ConditionalDelete::Deleted),
                Ok(_) => return Ok(ConditionalDelete::Changed),
                Err(err) => return Err(io_error(err)),
            }
            match rustix::fs::unlinkat(&entry.dir, entry.name.as_str(), rustix::fs::AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {
                    inner.prune(&key);
                    Ok(ConditionalDelete::Deleted)
                }
                Err(err) => Err(io_error(err)),
            }
        })
        .await
    }

    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let Some(root) = self.inner.existing_root() else { return stream::empty().boxed() };
        let root = match rustix::io::dup(root) {
            Ok(root) => root,
            Err(err) => return stream::once(async move { Err(Error::from_io(NAME, None, err.into())) }).boxed(),
        };
        let walker = list::Walker::new(root, self.inner.attributes, options);
        stream::unfold(Some(walker), |state| async move {
            let mut walker = state?;
            let (walker, batch) = tokio::task::spawn_blocking(move || {
                let batch = walker.next_batch(1000);
                (walker, batch)
            })
            .await
            .expect("the listing task does not panic");
            match batch {
                Ok(entries) if entries.is_empty() => None,
                Ok(entries) => Some((stream::iter(entries.into_iter().map(Ok)).boxed(), Some(walker))),
                Err(err) => Some((stream::once(async move { Err(err) }).boxed(), None)),
            }
        })
        .flatten()
        .boxed()
    }

    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.blocking(move |inner| {
            // Bytes and record from the one file opened, whatever replaces it meanwhile.
            let (source, _, record) = inner.open_file(&from)?;
            let record = record.moved(&from, &to).unwrap_or(record);
            let target = inner.write_target(&to)?;
            let (temp, mut file) = inner.temp_file(&to, &record)?;
            let md5 = hashing_copy(source, &mut file).map_err(|err| Error::from_io(NAME, Some(&from), err))?;
            inner.seal(&to, &file, record, Some(md5))?;
            drop(file);
            inner.publish(&to, target, temp, mode)?;
            Ok(())
        })
        .await
    }

    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.blocking(move |inner| {
            let root = inner.existing_root().ok_or_else(|| Error::not_found(NAME, &from))?;
            let source = Entry::existing(root, &from)?.ok_or_else(|| Error::not_found(NAME, &from))?;
            match source.found().map_err(|err| paths::map_error(&from, err))? {
                Found::File => {}
                Found::Link => return Err(paths::map_error(&from, io::Error::from(rustix::io::Errno::LOOP))),
                _ => return Err(Error::not_found(NAME, &from)),
            }
            // The record is part of the file: it moves with the name, with the type the old name implied.
            let (file, _, record) = inner.open_file(&from)?;
            if let Some(record) = record.moved(&from, &to) {
                meta::write(&file, &record).map_err(|err| Error::from_io(NAME, Some(&from), err))?;
            }
            let target = inner.write_target(&to)?;
            inner.move_entry(&to, &source.dir, &source.name, target, mode)?;
            inner.prune(&from);
            Ok(())
        })
        .await
    }

    fn public_url(&self, key: &str) -> Result<String> {
        match &self.inner.base_url {
            Some(base) => Ok(format!("{base}{}", encode_key_path(key))),
            None => Err(Error::unsupported(NAME, "public URLs (set a base URL)")),
        }
    }

    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        let signer = self.inner.signing.signer()?.ok_or_else(|| Error::unsupported(NAME, TEMPORARY_URLS_HINT))?;
        let url = signer.sign(request, SystemTime::now())?;
        let headers = request.body_headers();
        Ok(PresignedRequest::new(request.method, url, headers))
    }

    async fn upload_form(&self, policy: &storage_core::UploadPolicy) -> Result<storage_core::UploadForm> {
        let signer = self.inner.signing.signer()?.ok_or_else(|| Error::unsupported(NAME, "direct upload forms"))?;
        signer.sign_upload(policy, SystemTime::now())
    }

    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        let key = key.to_owned();
        self.blocking(move |inner| {
            let root = inner.existing_root().ok_or_else(|| Error::not_found(NAME, &key))?;
            let file = paths::open_file(root, &key)?;
            let io_error = |err| Error::from_io(NAME, Some(&key), err);
            // Read, change and write the record of this one file under its lock, so two processes changing it at
            // once cannot lose either's update.
            rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|err| io_error(err.into()))?;
            let mut record = inner.record_of(&file).map_err(io_error)?;
            record.set_acl(acl);
            // The mode follows the ACL. No syscall changes a record and a mode at once, so no moment, a crash
            // included, lets more users read the file than both its old and its new ACL allow: bits the new ACL
            // drops go before the record changes, bits it adds come after.
            let old_mode = rustix::fs::fstat(&file).map_err(|err| io_error(err.into()))?.st_mode;
            let new_mode = inner.mode_of(&record);
            let narrowed = rustix::fs::Mode::from_raw_mode(old_mode) & new_mode;
            rustix::fs::fchmod(&file, narrowed).map_err(|err| io_error(err.into()))?;
            meta::write(&file, &record).map_err(io_error)?;
            rustix::fs::fchmod(&file, new_mode).map_err(|err| io_error(err.into()))?;
            if inner.fsync {
                file.sync_all().map_err(io_error)?;
            }
            Ok(())
        })
        .await
    }

    async fn acl(&self, key: &str) -> Result<Acl> {
        let key = key.to_owned();
        self.blocking(move |inner| inner.open_file(&key).map(|(_, _, record)| record.acl())).await
    }

    async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
        if !self.inner.attributes {
            return Err(Error::unsupported(NAME, "attributes (this storage keeps none)"));
        }
        let key = key.to_owned();
        self.blocking(move |inner| {
            let root = inner.existing_root().ok_or_else(|| Error::not_found(NAME, &key))?;
            let file = paths::open_file(root, &key)?;
            let io_error = |err| Error::from_io(NAME, Some(&key), err);
            // Under the file's lock, as `set_acl`: two processes changing its record cannot lose either's update.
            rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|err| io_error(err.into()))?;
            let record = inner.record_of(&file).map_err(io_error)?.with_attributes(&key, &attributes);
            meta::write(&file, &record).map_err(io_error)?;
            if inner.fsync {
                file.sync_all().map_err(io_error)?;
            }
            Ok(())
        })
        .await
    }
}

/// The error of opening a root that does not exist when the backend may not create it.
fn missing_root_error(location: &Path) -> Error {
    let hint = format!(
        "the storage's root directory does not exist; create it with `mkdir -p {}`, or set `create = true` \
         (`?create=true` on a storage URL) to create it on the first write",
        location.display()
    );
    Error::not_found(NAME, &location.display().to_string()).during(storage_core::Operation::Configure).with_source(hint)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_system_without_extended_attributes_is_refused_with_the_ways_on() {
        let err = std::io::Error::from(rustix::io::Errno::NOTSUP);
        let refused = super::no_extended_attributes(std::path::Path::new("/mnt/usb"), &err);
        assert_eq!(refused.kind(), storage_core::ErrorKind::Configuration);
        let message = refused.to_string();
        for says in ["/mnt/usb", "extended attributes", "ext4", "without_attributes", "attributes = false"] {
            assert!(message.contains(says), "{message}");
        }
    }
}

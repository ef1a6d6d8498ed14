//! The local-disk backend: atomic writes, confinement to a root, lossless metadata, and signed URLs it can serve.
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
//! Objects are plain files at `{location}/{key}`, so the tree can be served or copied by other tools. The backend
//! keeps its own files under `{location}/.storage/` (metadata sidecars and in-flight temporary files); that name is
//! reserved and never listed.

#![warn(missing_docs)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use storage_core::content::FILE_CHUNK;
use storage_core::signing::{UrlSigner, encode_key_path};
use storage_core::{
    Acl, Backend, ByteRange, Capabilities, Content, Error, GetResult, ListEntry, ListOptions, Metadata, ObjectMeta,
    PresignRequest, PresignedRequest, PutOptions, PutResult, Result, Storage, WriteMode, async_trait,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

mod list;
mod paths;
mod sidecar;

pub use paths::RESERVED_DIR;

use paths::{Found, existing_file, resolve};
use sidecar::Sidecar;

pub(crate) const NAME: &str = "fs";

/// Django's `FILE_UPLOAD_PERMISSIONS` default.
pub const DEFAULT_FILE_MODE: u32 = 0o644;

/// Temporary files older than this are left over from a crashed writer and removed when a backend opens the root.
const STALE_TEMP_AGE: Duration = Duration::from_secs(24 * 3600);

/// Writers of the same key in this process publish data and sidecar together, under one of these locks.
const LOCK_STRIPES: usize = 64;

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    temp_dir: PathBuf,
    file_mode: u32,
    dir_mode: Option<u32>,
    fsync: bool,
    base_url: Option<String>,
    signer: Option<UrlSigner>,
    locks: Vec<Mutex<()>>,
}

/// A backend storing objects as files under one root directory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FsBackend {
    inner: Arc<Inner>,
}

impl FsBackend {
    /// A backend rooted at `location`, created if missing.
    pub fn new(location: impl AsRef<Path>) -> Result<Self> {
        let location = location.as_ref();
        let config_error = |message: String| Error::configuration("the fs backend", message);
        std::fs::create_dir_all(location)
            .map_err(|err| config_error(format!("cannot create the root `{}`: {err}", location.display())))?;
        let root = location
            .canonicalize()
            .map_err(|err| config_error(format!("cannot open the root `{}`: {err}", location.display())))?;
        let temp_dir = root.join(RESERVED_DIR).join("tmp");
        std::fs::create_dir_all(&temp_dir)
            .map_err(|err| config_error(format!("cannot create `{}`: {err}", temp_dir.display())))?;
        remove_stale_temp_files(&temp_dir, STALE_TEMP_AGE);
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                temp_dir,
                file_mode: DEFAULT_FILE_MODE,
                dir_mode: None,
                fsync: false,
                base_url: None,
                signer: None,
                locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
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
            inner.signer = Some(signer);
        })
    }

    /// Mode of new files (Django's `file_permissions_mode`; default 0o644).
    pub fn with_file_mode(self, mode: u32) -> Self {
        self.configure(|inner| inner.file_mode = mode)
    }

    /// Mode of new directories (Django's `directory_permissions_mode`; default: the process umask decides).
    pub fn with_dir_mode(self, mode: u32) -> Self {
        self.configure(|inner| inner.dir_mode = Some(mode))
    }

    /// Flush every file to the disk before it is published (slower; survives power loss, not only crashes).
    pub fn with_fsync(self, fsync: bool) -> Self {
        self.configure(|inner| inner.fsync = fsync)
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The signer, for serving this backend's URLs with `storage_http::SignedUrlService`.
    pub fn signer(&self) -> Option<&UrlSigner> {
        self.inner.signer.as_ref()
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
            .map_err(|err| Error::backend(NAME, None, "a blocking file task failed", false, err))?
    }
}

impl Inner {
    fn lock(&self, key: &str) -> MutexGuard<'_, ()> {
        self.locks[stripe(key)].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn create_parent(&self, key: &str, path: &Path) -> Result<()> {
        let parent = path.parent().expect("a key's path has a parent");
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        if let Some(mode) = self.dir_mode {
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
        }
        builder.create(parent).map_err(|err| Error::from_io(NAME, Some(key), err))
    }

    /// The path a write of `key` goes to (its directory created if needed), refusing a directory in the way.
    fn write_target(&self, key: &str) -> Result<PathBuf> {
        match resolve(&self.root, key)? {
            (_, Found::Dir) => {
                Err(Error::already_exists(NAME, key).with_source("a directory of that name exists on disk"))
            }
            (path, Found::Missing { parent_exists: false }) => {
                self.create_parent(key, &path)?;
                Ok(path)
            }
            (path, _) => Ok(path),
        }
    }

    /// Write the sidecar for the file `inode` that will be published as `key` to a temporary file.
    fn prepare_sidecar(
        &self,
        key: &str,
        sidecar: Option<Sidecar>,
        inode: impl FnOnce() -> io::Result<u64>,
    ) -> Result<Option<PathBuf>> {
        let Some(sidecar) = sidecar else { return Ok(None) };
        let io_error = |err| Error::from_io(NAME, Some(key), err);
        let sidecar = sidecar.describing(key, inode().map_err(io_error)?);
        sidecar::write_temp(&self.temp_dir, &sidecar).map(Some).map_err(io_error)
    }

    /// Move a finished temporary file to `path` — create-only through a rename that refuses to replace — then its
    /// sidecar. Both under the key's lock, so writers in this process never mix one's data with another's metadata.
    fn publish(&self, key: &str, path: &Path, temp: &Path, sidecar: Option<PathBuf>, mode: WriteMode) -> Result<()> {
        let _guard = self.lock(key);
        let moved = match mode {
            WriteMode::Overwrite => retry_missing_parent(self, key, path, || std::fs::rename(temp, path)),
            WriteMode::CreateOnly => retry_missing_parent(self, key, path, || rename_no_replace(temp, path)),
        };
        if let Err(err) = moved {
            let _ = sidecar.map(std::fs::remove_file);
            return Err(Error::from_io(NAME, Some(key), err));
        }
        match sidecar {
            Some(prepared) => {
                sidecar::publish(&self.root, key, prepared).map_err(|err| Error::from_io(NAME, Some(key), err))
            }
            None => Ok(()),
        }
    }

    fn metadata(&self, key: &str, path: &Path) -> Result<Metadata> {
        let meta = std::fs::symlink_metadata(path).map_err(|err| Error::from_io(NAME, Some(key), err))?;
        let sidecar = sidecar::read(&self.root, key, inode(&meta));
        Ok(Metadata::new(object_meta(key, &meta), Sidecar::attributes(sidecar.as_ref(), key)))
    }

    /// The sidecar of the existing file at `path` for `key`.
    fn sidecar_of(&self, key: &str, path: &Path) -> Result<Option<Sidecar>> {
        let meta = std::fs::symlink_metadata(path).map_err(|err| Error::from_io(NAME, Some(key), err))?;
        Ok(sidecar::read(&self.root, key, inode(&meta)))
    }

    /// Remove now-empty directories from `path`'s parent up to (not including) the root, so listings never show
    /// empty "directories" that S3 would not have.
    fn prune(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(current) = dir.filter(|d| *d != self.root && d.starts_with(&self.root)) {
            if std::fs::remove_dir(current).is_err() {
                break;
            }
            dir = current.parent();
        }
    }
}

/// A concurrent `prune` may remove the parent between `create_parent` and the move: recreate it and try again.
fn retry_missing_parent(
    inner: &Inner,
    key: &str,
    path: &Path,
    mut op: impl FnMut() -> io::Result<()>,
) -> io::Result<()> {
    for _ in 0..8 {
        match op() {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                inner.create_parent(key, path).map_err(io::Error::other)?;
            }
            other => return other,
        }
    }
    op()
}

/// `rename` that fails with `AlreadyExists` instead of replacing: one `renameat2(RENAME_NOREPLACE)` where the file
/// system has it, else a hard link (which cannot replace either) and an unlink.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Err(errno) if errno == rustix::io::Errno::INVAL || errno == rustix::io::Errno::NOSYS => {
            std::fs::hard_link(from, to)?;
            std::fs::remove_file(from)
        }
        other => other.map_err(io::Error::from),
    }
}

fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

fn stripe(key: &str) -> usize {
    key.bytes().fold(0usize, |hash, b| hash.wrapping_mul(31).wrapping_add(b as usize)) % LOCK_STRIPES
}

/// A fresh, unused path in the temp directory.
pub(crate) fn temp_path(temp_dir: &Path) -> PathBuf {
    use rand::RngExt;
    let suffix: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(16).map(char::from).collect();
    temp_dir.join(format!("tmp-{suffix}"))
}

/// Deletes a temporary file unless it was published.
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("the guard holds its path until disarmed")
    }
    fn disarm(mut self) -> PathBuf {
        self.0.take().expect("disarmed once")
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn object_meta(key: &str, meta: &std::fs::Metadata) -> ObjectMeta {
    use std::os::unix::fs::MetadataExt;
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let nanos = modified.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let etag = format!("\"{:x}-{nanos:x}-{:x}\"", meta.ino(), meta.len());
    ObjectMeta::new(key, meta.len(), DateTime::<Utc>::from(modified), Some(etag))
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

fn open_temp(inner: &Inner, path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(inner.file_mode).open(path)
}

#[async_trait]
impl Backend for FsBackend {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::all();
        capabilities.public_url = self.inner.base_url.is_some();
        capabilities.presign_read = self.inner.signer.is_some();
        capabilities.presign_write = self.inner.signer.is_some();
        capabilities
    }

    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        let key = key.to_owned();
        let sidecar = Sidecar::for_object(&key, &options.attributes, options.acl);
        if let Some(bytes) = content.as_bytes().cloned() {
            // Small and common: the whole save in one blocking task.
            return self
                .blocking(move |inner| {
                    let path = inner.write_target(&key)?;
                    let temp = TempGuard(Some(temp_path(&inner.temp_dir)));
                    let file = open_temp(inner, temp.path())
                        .and_then(|mut file| {
                            io::Write::write_all(&mut file, &bytes)?;
                            if inner.fsync { file.sync_all() } else { Ok(()) }?;
                            Ok(file)
                        })
                        .map_err(|err| Error::from_io(NAME, Some(&key), err))?;
                    let sidecar = inner.prepare_sidecar(&key, sidecar, || file.metadata().map(|m| inode(&m)))?;
                    drop(file);
                    inner.publish(&key, &path, temp.path(), sidecar, options.mode)?;
                    temp.disarm();
                    Ok(PutResult::default())
                })
                .await;
        }

        let target_key = key.clone();
        let path = self.blocking(move |inner| inner.write_target(&target_key)).await?;
        let temp = TempGuard(Some(temp_path(&self.inner.temp_dir)));
        let io_error = |err| Error::from_io(NAME, Some(&key), err);
        if let Some(source) = content.as_path() {
            // A local file: let the kernel copy it.
            let (source, target) = (source.to_owned(), temp.path().to_owned());
            let mode = self.inner.file_mode;
            self.blocking(move |_| {
                std::fs::copy(&source, &target).map_err(|err| Error::from_io(NAME, None, err))?;
                std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(mode))
                    .map_err(|err| Error::from_io(NAME, None, err))
            })
            .await
            .map_err(|err| match err {
                Error::NotFound { .. } => Error::not_found(NAME, &key),
                other => other,
            })?;
        } else {
            let mut stream = content.into_stream().await.map_err(io_error)?;
            let file = open_temp(&self.inner, temp.path()).map_err(io_error)?;
            let mut file = tokio::fs::File::from_std(file);
            while let Some(chunk) = stream.try_next().await.map_err(io_error)? {
                file.write_all(&chunk).await.map_err(io_error)?;
            }
            file.flush().await.map_err(io_error)?;
            if self.inner.fsync {
                file.sync_all().await.map_err(io_error)?;
            }
        }
        let temp = temp.disarm();
        self.blocking(move |inner| {
            let temp = TempGuard(Some(temp));
            let sidecar = inner.prepare_sidecar(&key, sidecar, || std::fs::metadata(temp.path()).map(|m| inode(&m)))?;
            inner.publish(&key, &path, temp.path(), sidecar, options.mode)?;
            temp.disarm();
            Ok(PutResult::default())
        })
        .await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        let owned = key.to_owned();
        let (path, metadata) = self
            .blocking(move |inner| {
                let path = existing_file(&inner.root, &owned)?;
                let metadata = inner.metadata(&owned, &path)?;
                Ok((path, metadata))
            })
            .await?;
        let io_error = |err| Error::from_io(NAME, Some(key), err);
        let mut file = tokio::fs::File::open(&path).await.map_err(io_error)?;
        // The size of the file actually opened: a concurrent replace publishes a new file, never changes this one.
        let size = file.metadata().await.map_err(io_error)?.len();
        let range = match range {
            None => 0..size,
            Some(range) => range.resolve(size).ok_or_else(|| {
                Error::invalid_argument(Some(key), format!("the range {range:?} is outside the object's {size} bytes"))
            })?,
        };
        file.seek(io::SeekFrom::Start(range.start)).await.map_err(io_error)?;
        let reader = file.take(range.end - range.start);
        Ok(GetResult {
            metadata,
            range,
            stream: tokio_util::io::ReaderStream::with_capacity(reader, FILE_CHUNK).boxed(),
        })
    }

    async fn head(&self, key: &str) -> Result<Metadata> {
        let key = key.to_owned();
        self.blocking(move |inner| {
            let path = existing_file(&inner.root, &key)?;
            inner.metadata(&key, &path)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.blocking(move |inner| {
            let (path, found) = resolve(&inner.root, &key)?;
            if found != Found::File {
                return Ok(());
            }
            let _guard = inner.lock(&key);
            match std::fs::remove_file(&path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(Error::from_io(NAME, Some(&key), err)),
                _ => {}
            }
            sidecar::remove(&inner.root, &key).map_err(|err| Error::from_io(NAME, Some(&key), err))?;
            inner.prune(&path);
            Ok(())
        })
        .await
    }

    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let walker = list::Walker::new(self.inner.root.clone(), options);
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
            let source = existing_file(&inner.root, &from)?;
            let sidecar = inner.sidecar_of(&from, &source)?;
            let target = inner.write_target(&to)?;
            let temp = TempGuard(Some(temp_path(&inner.temp_dir)));
            std::fs::copy(&source, temp.path()).map_err(|err| Error::from_io(NAME, Some(&from), err))?;
            let sidecar = inner.prepare_sidecar(&to, sidecar, || std::fs::metadata(temp.path()).map(|m| inode(&m)))?;
            inner.publish(&to, &target, temp.path(), sidecar, mode)?;
            temp.disarm();
            Ok(())
        })
        .await
    }

    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.blocking(move |inner| {
            let source = existing_file(&inner.root, &from)?;
            let sidecar = inner.sidecar_of(&from, &source)?;
            let target = inner.write_target(&to)?;
            // The inode moves with the name, so the sidecar only changes its key.
            let prepared = inner.prepare_sidecar(&to, sidecar, || std::fs::metadata(&source).map(|m| inode(&m)))?;
            inner.publish(&to, &target, &source, prepared, mode)?;
            let _guard = inner.lock(&from);
            sidecar::remove(&inner.root, &from).map_err(|err| Error::from_io(NAME, Some(&from), err))?;
            inner.prune(&source);
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
        let signer = self.inner.signer.as_ref().ok_or_else(|| Error::unsupported(NAME, "temporary URLs"))?;
        let url = signer.sign(request, SystemTime::now());
        let headers = request.content_type.iter().map(|ct| ("content-type".to_owned(), ct.clone())).collect();
        Ok(PresignedRequest::new(request.method, url, headers))
    }

    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        let key = key.to_owned();
        self.blocking(move |inner| {
            let path = existing_file(&inner.root, &key)?;
            let _guard = inner.lock(&key);
            let mut sidecar = inner.sidecar_of(&key, &path)?.unwrap_or_default();
            sidecar.acl = Some(acl.as_str().to_owned());
            let inode = || std::fs::symlink_metadata(&path).map(|m| inode(&m));
            let prepared = inner.prepare_sidecar(&key, Some(sidecar), inode)?.expect("a sidecar was given");
            sidecar::publish(&inner.root, &key, prepared).map_err(|err| Error::from_io(NAME, Some(&key), err))
        })
        .await
    }

    async fn acl(&self, key: &str) -> Result<Acl> {
        let key = key.to_owned();
        self.blocking(move |inner| {
            let path = existing_file(&inner.root, &key)?;
            Ok(Sidecar::acl(inner.sidecar_of(&key, &path)?.as_ref()).unwrap_or(Acl::Private))
        })
        .await
    }
}

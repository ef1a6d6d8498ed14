//! Confinement without check-then-use: every file operation resolves its key relative to the root's open directory,
//! with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, and acts on the directory it opened.
//!
//! Checking a path and then using it leaves a window in which a local process can swap a directory for a symbolic
//! link to anywhere. Here no path is looked up twice: a key's directory is opened once (refusing any symbolic link on
//! the way, and anything that would leave the root), and the file is then opened, renamed or unlinked relative to that
//! directory. Where `openat2` is missing (Linux before 5.6), each component is opened in turn with `O_NOFOLLOW`.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use storage_core::{Error, Result};

use crate::NAME;

/// The top-level directory the backend keeps its own files in (temporary files, a signing key). Not a valid key.
pub const RESERVED_DIR: &str = ".storage";

const BENEATH: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_SYMLINKS);

/// Refuse the reserved directory as a key.
pub(crate) fn check_not_reserved(key: &str) -> Result<()> {
    if key == RESERVED_DIR || key.starts_with(".storage/") {
        return Err(Error::invalid_name(
            key,
            "`.storage/` is reserved by the fs backend for its own files; choose another top-level name",
        )
        .on_backend(NAME));
    }
    Ok(())
}

/// Open `relative` beneath the directory `dir`, never through a symbolic link and never outside `dir`.
pub(crate) fn open_beneath(dir: &OwnedFd, relative: &str, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    match rustix::fs::openat2(dir, relative, flags, mode, BENEATH) {
        Err(Errno::NOSYS) => open_component_by_component(dir, relative, flags, mode),
        // Interrupted by a concurrent rename anywhere on the system: openat2 asks to be called again.
        Err(Errno::AGAIN) => open_beneath(dir, relative, flags, mode),
        other => other.map_err(io::Error::from),
    }
}

/// The fallback: every directory on the way opened with `O_NOFOLLOW`, relative to the one before.
fn open_component_by_component(dir: &OwnedFd, relative: &str, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    let (parents, last) = relative.rsplit_once('/').map_or(("", relative), |(parents, last)| (parents, last));
    let mut current = rustix::io::dup(dir)?;
    for component in parents.split('/').filter(|c| !c.is_empty()) {
        let next = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        current = rustix::fs::openat(&current, component, next, Mode::empty())?;
    }
    Ok(rustix::fs::openat(&current, last, flags, mode)?)
}

/// A key's directory, opened, and the key's last component: what every operation on the key acts on.
#[derive(Debug)]
pub(crate) struct Entry {
    pub dir: OwnedFd,
    pub name: String,
}

/// What is at an entry now (not following a final symbolic link).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    File,
    Dir,
    Link,
    Other,
    Missing,
}

impl Entry {
    /// The directory of `key` beneath `root`, or `None` when it does not exist (or is not a directory).
    pub(crate) fn existing(root: &OwnedFd, key: &str) -> Result<Option<Entry>> {
        check_not_reserved(key)?;
        let (parents, name) = split(key);
        match open_dir(root, parents) {
            Ok(dir) => Ok(Some(Entry { dir, name: name.to_owned() })),
            Err(err) if is_missing(&err) => Ok(None),
            Err(err) => Err(map_error(key, err)),
        }
    }

    /// The directory of `key` beneath `root`, created (with `mode`) where missing, one component at a time relative
    /// to the one before.
    pub(crate) fn create(root: &OwnedFd, key: &str, mode: Option<u32>) -> Result<Entry> {
        check_not_reserved(key)?;
        let (parents, name) = split(key);
        let mut dir = rustix::io::dup(root).map_err(|err| map_error(key, err.into()))?;
        for component in parents.split('/').filter(|c| !c.is_empty()) {
            dir = make_dir(&dir, component, mode.unwrap_or(DEFAULT_DIR_MODE)).map_err(|err| {
                match err.raw_os_error() {
                    // A file where a directory is needed: the key cannot be created, as on a file system.
                    Some(code) if code == Errno::NOTDIR.raw_os_error() => {
                        Error::already_exists(NAME, key).with_source("a file is where a directory of the name must be")
                    }
                    _ => map_error(key, err),
                }
            })?;
        }
        Ok(Entry { dir, name: name.to_owned() })
    }

    /// What is at the entry now.
    pub(crate) fn found(&self) -> io::Result<Found> {
        match rustix::fs::statat(&self.dir, self.name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(match rustix::fs::FileType::from_raw_mode(stat.st_mode) {
                rustix::fs::FileType::RegularFile => Found::File,
                rustix::fs::FileType::Directory => Found::Dir,
                rustix::fs::FileType::Symlink => Found::Link,
                _ => Found::Other,
            }),
            Err(Errno::NOENT) => Ok(Found::Missing),
            Err(err) => Err(err.into()),
        }
    }
}

/// The mode of a key's directory when no `dir_mode` is set: others may list and read it, never write to it.
pub(crate) const DEFAULT_DIR_MODE: u32 = 0o755;

/// The directory `name` in `parent`, open, created with exactly `mode` where missing, whatever the process umask:
/// it is made private first and given its mode through its own descriptor, so it is never wider for a moment.
pub(crate) fn make_dir(parent: &OwnedFd, name: &str, mode: u32) -> io::Result<OwnedFd> {
    let created = match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(err) => return Err(err.into()),
    };
    let dir = open_dir(parent, name)?;
    if created {
        rustix::fs::fchmod(&dir, Mode::from_raw_mode(mode))?;
    }
    Ok(dir)
}

/// Open a directory beneath `dir`, for `*at` calls and reading. A symbolic link anywhere on the way is `ELOOP`
/// (`O_DIRECTORY` is not asked for: with it, a final link would read as "not a directory"), anything else that is
/// not a directory `ENOTDIR`.
pub(crate) fn open_dir(dir: &OwnedFd, relative: &str) -> io::Result<OwnedFd> {
    if relative.is_empty() {
        return Ok(rustix::io::dup(dir)?);
    }
    let opened = open_beneath(dir, relative, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?;
    if rustix::fs::FileType::from_raw_mode(rustix::fs::fstat(&opened)?.st_mode) != rustix::fs::FileType::Directory {
        return Err(Errno::NOTDIR.into());
    }
    Ok(opened)
}

/// Open the regular file `key` beneath `root` for reading, or `NotFound`.
pub(crate) fn open_file(root: &OwnedFd, key: &str) -> Result<std::fs::File> {
    check_not_reserved(key)?;
    // Non-blocking, so a FIFO placed under a key cannot hang the open; a regular file reads the same either way.
    let fd = open_beneath(root, key, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())
        .map_err(|err| if is_missing(&err) { Error::not_found(NAME, key) } else { map_error(key, err) })?;
    let file = std::fs::File::from(fd);
    let is_file = file.metadata().map_err(|err| Error::from_io(NAME, Some(key), err))?.is_file();
    if !is_file {
        return Err(Error::not_found(NAME, key));
    }
    Ok(file)
}

/// [`open_file`] only if it needs no disk access: every path component is in the kernel's lookup cache
/// (`RESOLVE_CACHED`), so the open cannot wait for the disk. `None` when it would, or on any error: the caller then
/// opens the file the usual way, off the async threads, and reports what went wrong.
pub(crate) fn open_file_cached(root: &OwnedFd, key: &str) -> Option<std::fs::File> {
    if check_not_reserved(key).is_err() {
        return None;
    }
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = rustix::fs::openat2(root, key, flags, Mode::empty(), BENEATH | ResolveFlags::CACHED).ok()?;
    Some(std::fs::File::from(fd))
}

fn split(key: &str) -> (&str, &str) {
    key.rsplit_once('/').unwrap_or(("", key))
}

fn is_missing(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(code) if code == Errno::NOENT.raw_os_error() || code == Errno::NOTDIR.raw_os_error())
}

/// A refused symbolic link or escape as `PermissionDenied`, anything else as its I/O kind.
pub(crate) fn map_error(key: &str, err: io::Error) -> Error {
    match err.raw_os_error() {
        Some(code) if code == Errno::LOOP.raw_os_error() || code == Errno::XDEV.raw_os_error() => {
            let message = format!(
                "a component of `{key}` is a symbolic link; the fs backend never follows links out of its root"
            );
            Error::permission_denied(NAME, Some(key), message, Some(err.into()))
        }
        _ => Error::from_io(NAME, Some(key), err),
    }
}

/// Open the root directory itself (following a link to it is fine: that is where the backend was pointed).
pub(crate) fn open_root(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

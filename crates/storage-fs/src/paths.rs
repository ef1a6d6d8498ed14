//! Confinement: turn a validated key into a path under the root, refusing symlinks on the way.

use std::io;
use std::path::{Path, PathBuf};

use storage_core::{Error, Result};

use crate::NAME;

/// The top-level directory the backend keeps its own files in (temporary files, a signing key). Not a valid key.
pub const RESERVED_DIR: &str = ".storage";

/// What a path lookup found for the final component.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    File,
    Dir,
    /// Nothing there; `parent_exists` says whether the directory that would hold it does.
    Missing {
        parent_exists: bool,
    },
}

/// The path of `key` under `root`. Every existing component is checked with `symlink_metadata`, so a symlink inside
/// the root (which could point anywhere) is refused, never followed. Keys reaching here passed `validate_key`, so
/// they have no `..`, no absolute part, no backslash and no NUL.
pub(crate) fn resolve(root: &Path, key: &str) -> Result<(PathBuf, Found)> {
    if key == RESERVED_DIR || key.starts_with(".storage/") {
        return Err(Error::invalid_name(
            key,
            "`.storage/` is reserved by the fs backend for its metadata; choose another top-level name",
        ));
    }
    let mut path = root.to_path_buf();
    let segments: Vec<&str> = key.split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        path.push(segment);
        let last = index + 1 == segments.len();
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let message = format!("`{}` is a symbolic link; the fs backend never follows links", path.display());
                return Err(Error::permission_denied(NAME, Some(key), message, None));
            }
            Ok(meta) if last => return Ok((path, if meta.is_dir() { Found::Dir } else { Found::File })),
            Ok(meta) if meta.is_dir() => {}
            // A file where a directory is needed: nothing can exist below it.
            Ok(_) => return Ok((with_rest(path, &segments[index + 1..]), Found::Missing { parent_exists: false })),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Ok((with_rest(path, &segments[index + 1..]), Found::Missing { parent_exists: last }));
            }
            Err(err) => return Err(Error::from_io(NAME, Some(key), err)),
        }
    }
    unreachable!("a validated key has at least one segment")
}

/// `path` followed by the remaining segments (`Path::join` of an empty path would add a trailing slash).
fn with_rest(mut path: PathBuf, rest: &[&str]) -> PathBuf {
    path.extend(rest);
    path
}

/// Resolve for reading: the path of an existing regular file, or `NotFound`.
pub(crate) fn existing_file(root: &Path, key: &str) -> Result<PathBuf> {
    match resolve(root, key)? {
        (path, Found::File) => Ok(path),
        _ => Err(Error::not_found(NAME, key)),
    }
}

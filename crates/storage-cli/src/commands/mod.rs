//! One function per command, by family; `main`'s table calls them. What several share (local files, reads that
//! fail mid-stream) is here.

mod files;
mod s3;
mod serve;
mod transfer;
mod urls;

use std::path::Path;

use storage_config::Built;

pub(crate) use self::files::{get, ls, put, rm, stat};
pub(crate) use self::s3::{gc, s3_policy};
pub(crate) use self::serve::{serve, share};
pub(crate) use self::transfer::{copy, migrate, move_file};
pub(crate) use self::urls::{upload_url, url};
use crate::Result;
use crate::error::CliError;

/// The size of a local file to upload, or an error that says plainly what is wrong with the path.
pub(crate) fn local_size(path: &Path) -> Result<u64> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(meta.len()),
        Ok(_) => Err(CliError::local(shown, "is not a regular file; give a file to upload", None)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Err(CliError::NoLocalFile { path: shown.to_string() })
        }
        Err(err) => Err(CliError::local(shown, "cannot read it", Some(err))),
    }
}

pub(crate) fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .ok_or_else(|| CliError::Usage(format!("`{}` has no file name; give the name to use", path.display())))
}

/// A failed read of `name` from the storage, mid-stream.
pub(crate) fn storage_io(built: &Built, name: &str, err: std::io::Error) -> CliError {
    storage_io_of(&built.storage, name, err)
}

/// A failed read of `name` from `storage`, mid-stream.
pub(crate) fn storage_io_of(storage: &storage_core::Storage, name: &str, err: std::io::Error) -> CliError {
    let backend = storage.backend().name();
    storage_core::Error::from_io(backend, Some(name), err).during(storage_core::Operation::Read).into()
}

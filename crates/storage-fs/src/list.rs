//! Listing a directory tree in the byte order of keys, as S3 lists, a batch at a time.
//!
//! Within a directory, entries are sorted by their name with a `/` appended to directories: that is the order of
//! the keys they contain (`a-b` < `a/x` because `-` < `/`), so a depth-first walk yields keys in global byte order.

use std::path::PathBuf;

use storage_core::{Error, ListEntry, ListOptions, Result};

use crate::paths::{Found, RESERVED_DIR, resolve};
use crate::{NAME, meta, object_meta};

struct Level {
    /// The key prefix of this directory: `""` for the root, else `dir/`.
    dir_key: String,
    path: PathBuf,
    /// Names and whether they are directories, in key order, reversed so `pop` yields the next one.
    entries: Vec<(String, bool)>,
}

pub(crate) struct Walker {
    root: PathBuf,
    /// Whether files carry metadata records, whose MD5 becomes the listed ETag.
    attributes: bool,
    options: ListOptions,
    stack: Vec<Level>,
    started: bool,
}

impl Walker {
    pub(crate) fn new(root: PathBuf, attributes: bool, options: ListOptions) -> Self {
        Self { root, attributes, options, stack: Vec::new(), started: false }
    }

    /// Up to `max` more entries; empty when the listing is done.
    pub(crate) fn next_batch(&mut self, max: usize) -> Result<Vec<ListEntry>> {
        if !self.started {
            self.started = true;
            self.start()?;
        }
        let prefix = self.options.prefix.clone();
        let offset = self.options.offset.clone();
        let after_offset = |key: &str| offset.as_deref().is_none_or(|offset| key > offset);
        let mut out = Vec::new();
        while out.len() < max {
            let Some(level) = self.stack.last_mut() else { break };
            let Some((name, is_dir)) = level.entries.pop() else {
                self.stack.pop();
                continue;
            };
            let key = format!("{}{name}", level.dir_key);
            let path = level.path.join(&name);
            if !is_dir {
                if key.starts_with(&prefix) && after_offset(&key) {
                    // Gone since the directory was read: skip it, as S3 would after a concurrent delete.
                    if let Ok(meta) = std::fs::symlink_metadata(&path) {
                        let record = if self.attributes { meta::read_path(&path).ok().flatten() } else { None };
                        let md5 = record.as_ref().and_then(|record| record.md5(&meta));
                        out.push(ListEntry::Object(object_meta(&key, &meta, md5)));
                    }
                }
                continue;
            }
            let dir_key = format!("{key}/");
            let relevant = dir_key.starts_with(&prefix) || prefix.starts_with(&dir_key);
            // Every key below `dir_key` sorts before an offset that is past it and not inside it.
            let all_before_offset =
                offset.as_deref().is_some_and(|offset| offset > dir_key.as_str() && !offset.starts_with(&dir_key));
            if !relevant || all_before_offset {
                continue;
            }
            if self.options.delimiter && dir_key.starts_with(&prefix) {
                if after_offset(&dir_key) && holds_a_file(&path) {
                    out.push(ListEntry::Prefix(dir_key));
                }
                continue;
            }
            self.stack.push(read_level(dir_key, path)?);
        }
        Ok(out)
    }

    /// Begin at the deepest directory the prefix names in full.
    fn start(&mut self) -> Result<()> {
        let dir_key = match self.options.prefix.rfind('/') {
            Some(at) => self.options.prefix[..=at].to_owned(),
            None => String::new(),
        };
        let path = if dir_key.is_empty() {
            self.root.clone()
        } else {
            match resolve(&self.root, dir_key.trim_end_matches('/'))? {
                (path, Found::Dir) => path,
                _ => return Ok(()),
            }
        };
        self.stack.push(read_level(dir_key, path)?);
        Ok(())
    }
}

fn read_level(dir_key: String, path: PathBuf) -> Result<Level> {
    let read = std::fs::read_dir(&path);
    let entries = match read {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Level { dir_key, path, entries: vec![] }),
        Err(err) => return Err(Error::from_io(NAME, Some(&dir_key), err)),
    };
    let mut listed: Vec<(String, bool)> = Vec::new();
    for entry in entries.flatten() {
        // Names that are not UTF-8 cannot be keys; symlinks and special files are never objects.
        let Ok(name) = entry.file_name().into_string() else { continue };
        let Ok(kind) = entry.file_type() else { continue };
        if dir_key.is_empty() && name == RESERVED_DIR {
            continue;
        }
        if kind.is_dir() || kind.is_file() {
            listed.push((name, kind.is_dir()));
        }
    }
    let sort_key = |(name, is_dir): &(String, bool)| if *is_dir { format!("{name}/") } else { name.clone() };
    listed.sort_by_cached_key(sort_key);
    listed.reverse();
    Ok(Level { dir_key, path, entries: listed })
}

/// Whether a directory holds a regular file somewhere below it (S3 has no empty "directories").
fn holds_a_file(path: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(path) else { return false };
    entries.flatten().any(|entry| match entry.file_type() {
        Ok(kind) if kind.is_file() => true,
        Ok(kind) if kind.is_dir() => holds_a_file(&entry.path()),
        _ => false,
    })
}

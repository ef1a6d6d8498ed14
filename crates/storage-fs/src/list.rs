//! Listing a directory tree in the byte order of keys, as S3 lists, a batch at a time.
//!
//! Within a directory, entries are sorted by their name with a `/` appended to directories: that is the order of
//! the keys they contain (`a-b` < `a/x` because `-` < `/`), so a depth-first walk yields keys in global byte order.
//! Every directory and file is opened relative to its open parent, never by path and never through a link (as in
//! `paths.rs`), so a directory swapped for a link mid-walk cannot lead the listing out of the root.

use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use storage_core::{Error, ListEntry, ListOptions, Result};

use crate::paths::{RESERVED_DIR, open_beneath, open_dir};
use crate::{NAME, meta, object_meta};

struct Level {
    /// The key prefix of this directory: `""` for the root, else `dir/`.
    dir_key: String,
    dir: OwnedFd,
    /// Names and whether they are directories, in key order, reversed so `pop` yields the next one.
    entries: Vec<(String, bool)>,
}

pub(crate) struct Walker {
    root: OwnedFd,
    /// Whether files carry metadata records, whose MD5 becomes the listed ETag.
    attributes: bool,
    options: ListOptions,
    stack: Vec<Level>,
    started: bool,
}

impl Walker {
    pub(crate) fn new(root: OwnedFd, attributes: bool, options: ListOptions) -> Self {
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
            if !is_dir {
                if key.starts_with(&prefix) && after_offset(&key) {
                    // Gone (or replaced by something else) since the directory was read: skip it, as S3 would.
                    if let Some(object) = describe(&level.dir, &name, &key, self.attributes) {
                        out.push(ListEntry::Object(object));
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
            let Ok(dir) = open_dir(&level.dir, &name) else { continue };
            if self.options.delimiter && dir_key.starts_with(&prefix) {
                if after_offset(&dir_key) && holds_a_file(&dir) {
                    out.push(ListEntry::Prefix(dir_key));
                }
                continue;
            }
            self.stack.push(read_level(dir_key, dir)?);
        }
        Ok(out)
    }

    /// Begin at the deepest directory the prefix names in full.
    fn start(&mut self) -> Result<()> {
        let dir_key = match self.options.prefix.rfind('/') {
            Some(at) => self.options.prefix[..=at].to_owned(),
            None => String::new(),
        };
        // Nothing there (or a link, which is never followed): nothing to list.
        if let Ok(dir) = open_dir(&self.root, dir_key.trim_end_matches('/')) {
            self.stack.push(read_level(dir_key, dir)?);
        }
        Ok(())
    }
}

/// The listing facts of the file `name` in `dir`, opened without following a link; `None` if it is not a file now.
fn describe(dir: &OwnedFd, name: &str, key: &str, attributes: bool) -> Option<storage_core::ObjectMeta> {
    let fd = open_beneath(dir, name, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()).ok()?;
    let file = std::fs::File::from(fd);
    let stat = file.metadata().ok().filter(std::fs::Metadata::is_file)?;
    let record = if attributes { meta::read(&file).ok().flatten() } else { None };
    let md5 = record.as_ref().and_then(|record| record.md5(&stat));
    Some(object_meta(key, &stat, md5))
}

/// Names in `dir` and whether each is a directory; links and special files are never objects.
fn entries(dir: &OwnedFd) -> std::io::Result<Vec<(String, bool)>> {
    let mut listed = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        // Names that are not UTF-8 cannot be keys.
        let Ok(name) = entry.file_name().to_str() else { continue };
        if name == "." || name == ".." {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::Unknown => match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => FileType::from_raw_mode(stat.st_mode),
                Err(_) => continue,
            },
            known => known,
        };
        match kind {
            FileType::Directory => listed.push((name.to_owned(), true)),
            FileType::RegularFile => listed.push((name.to_owned(), false)),
            _ => {}
        }
    }
    Ok(listed)
}

fn read_level(dir_key: String, dir: OwnedFd) -> Result<Level> {
    let mut listed = entries(&dir).map_err(|err| Error::from_io(NAME, Some(&dir_key), err))?;
    if dir_key.is_empty() {
        listed.retain(|(name, _)| name != RESERVED_DIR);
    }
    let sort_key = |(name, is_dir): &(String, bool)| if *is_dir { format!("{name}/") } else { name.clone() };
    listed.sort_by_cached_key(sort_key);
    listed.reverse();
    Ok(Level { dir_key, dir, entries: listed })
}

/// Whether a directory holds a regular file somewhere below it (S3 has no empty "directories").
fn holds_a_file(dir: &OwnedFd) -> bool {
    let Ok(listed) = entries(dir) else { return false };
    listed.iter().any(|(name, is_dir)| !is_dir || open_dir(dir, name).is_ok_and(|below| holds_a_file(&below)))
}

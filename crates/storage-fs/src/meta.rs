//! Lossless metadata on disk: each file's attributes, ACL and MD5 in one extended attribute of the file itself.
//!
//! The record (`user.storage.meta`, JSON) is set on the temporary file before it is renamed into place, so data and
//! metadata are published by one rename: a new file never carries an old file's metadata, whatever inode it reuses,
//! and several processes writing one key can never pair one's bytes with another's attributes. An update (`set_acl`)
//! rewrites the one attribute of the open file, so it is atomic too. Files placed by hand have no record: their type
//! is guessed from the name and they are `private`.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use rustix::fd::AsFd;
use serde::{Deserialize, Serialize};
use storage_core::{Acl, Attributes, guess_content_type};

/// The extended attribute holding the record.
pub(crate) const XATTR: &str = "user.storage.meta";

/// What a file's extended attribute says about it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(rename = "cache", default, skip_serializing_if = "Option::is_none")]
    cache_control: Option<String>,
    #[serde(rename = "disposition", default, skip_serializing_if = "Option::is_none")]
    content_disposition: Option<String>,
    #[serde(rename = "encoding", default, skip_serializing_if = "Option::is_none")]
    content_encoding: Option<String>,
    #[serde(rename = "language", default, skip_serializing_if = "Option::is_none")]
    content_language: Option<String>,
    #[serde(rename = "meta", default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acl: Option<String>,
    /// The MD5 of the bytes, with the size and modification time the file had when it was taken: a file another
    /// program changed in place no longer matches, and its MD5 is not trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sum: Option<Checksum>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checksum {
    md5: String,
    size: u64,
    mtime: i128,
}

impl Record {
    /// The record of a new object. A content type equal to the one guessed from the name is left out.
    pub(crate) fn new(key: &str, attributes: &Attributes, acl: Option<Acl>) -> Record {
        Record {
            content_type: attributes.content_type.clone().filter(|ct| *ct != guess_content_type(key)),
            cache_control: attributes.cache_control.clone(),
            content_disposition: attributes.content_disposition.clone(),
            content_encoding: attributes.content_encoding.clone(),
            content_language: attributes.content_language.clone(),
            metadata: attributes.metadata.clone(),
            acl: acl.filter(|acl| *acl != Acl::Private).map(|acl| acl.as_str().to_owned()),
            sum: None,
        }
    }

    /// This record for the object's copy or new name `to`: a content type guessed from `from` is written out when
    /// `to` would guess another, so the object keeps its type. `None` when nothing changes.
    pub(crate) fn moved(&self, from: &str, to: &str) -> Option<Record> {
        let guessed = guess_content_type(from);
        (self.content_type.is_none() && guessed != guess_content_type(to))
            .then(|| Record { content_type: Some(guessed), ..self.clone() })
    }

    /// The attributes of the object under `key`.
    pub(crate) fn attributes(&self, key: &str) -> Attributes {
        let mut attributes = Attributes::default();
        attributes.content_type = Some(self.content_type.clone().unwrap_or_else(|| guess_content_type(key)));
        attributes.cache_control.clone_from(&self.cache_control);
        attributes.content_disposition.clone_from(&self.content_disposition);
        attributes.content_encoding.clone_from(&self.content_encoding);
        attributes.content_language.clone_from(&self.content_language);
        attributes.metadata.clone_from(&self.metadata);
        attributes
    }

    /// The object's canned ACL; `private` when none was given.
    pub(crate) fn acl(&self) -> Acl {
        self.acl.as_deref().and_then(|acl| acl.parse().ok()).unwrap_or(Acl::Private)
    }

    pub(crate) fn set_acl(&mut self, acl: Acl) {
        self.acl = (acl != Acl::Private).then(|| acl.as_str().to_owned());
    }

    /// The same record with other attributes for the object under `key` (its ACL and checksum stay).
    pub(crate) fn with_attributes(&self, key: &str, attributes: &Attributes) -> Record {
        Record { acl: self.acl.clone(), sum: self.sum.clone(), ..Record::new(key, attributes, None) }
    }

    /// Remember `md5` as the checksum of the file as `stat` describes it now.
    pub(crate) fn set_md5(&mut self, md5: [u8; 16], file: &std::fs::Metadata) {
        self.sum = Some(Checksum { md5: hex(&md5), size: file.len(), mtime: mtime_nanos(file) });
    }

    /// The MD5 of the file, if it was taken when the file was written and the file has not changed since.
    pub(crate) fn md5(&self, file: &std::fs::Metadata) -> Option<&str> {
        let sum = self.sum.as_ref()?;
        (sum.size == file.len() && sum.mtime == mtime_nanos(file)).then_some(sum.md5.as_str())
    }
}

fn mtime_nanos(file: &std::fs::Metadata) -> i128 {
    i128::from(file.mtime()) * 1_000_000_000 + i128::from(file.mtime_nsec())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Set the record on an open file (the temporary file before it is published, or the file `set_acl` opened).
pub(crate) fn write(file: impl AsFd, record: &Record) -> io::Result<()> {
    let json = serde_json::to_vec(record).map_err(io::Error::other)?;
    rustix::fs::fsetxattr(file, XATTR, &json, rustix::fs::XattrFlags::empty()).map_err(io::Error::from)
}

/// The record of an open file: `None` for a file without one (placed by hand) or with one this version cannot read.
pub(crate) fn read(file: impl AsFd) -> io::Result<Option<Record>> {
    let file = file.as_fd();
    parse(read_raw(|buf| rustix::fs::fgetxattr(file, XATTR, buf), || rustix::fs::fgetxattr_query(file, XATTR)))
}

fn read_raw(
    get: impl Fn(&mut [u8]) -> rustix::io::Result<usize>,
    query: impl Fn() -> rustix::io::Result<usize>,
) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 1024];
    loop {
        match get(&mut buf) {
            Ok(len) => {
                buf.truncate(len);
                return Ok(Some(buf));
            }
            Err(rustix::io::Errno::NODATA) => return Ok(None),
            // Larger than the buffer: ask for its size (it may change again in between, hence the loop).
            Err(rustix::io::Errno::RANGE) => buf = vec![0u8; query()?.max(buf.len() * 2)],
            Err(err) => return Err(err.into()),
        }
    }
}

fn parse(raw: io::Result<Option<Vec<u8>>>) -> io::Result<Option<Record>> {
    Ok(raw?.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Whether the file system under `dir` keeps user extended attributes: set one on a new temporary file.
pub(crate) fn probe(dir: &Path) -> io::Result<()> {
    let file = tempfile::tempfile_in(dir)?;
    rustix::fs::fsetxattr(&file, "user.storage.probe", b"1", rustix::fs::XattrFlags::empty()).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_record_is_small_and_reads_back_the_defaults() {
        let record = Record::new("a.pdf", &Attributes::default().with_content_type("application/pdf"), None);
        assert_eq!(record, Record::default(), "a guessed type and `private` need no words");
        let attributes = record.attributes("a.pdf");
        assert_eq!(attributes.content_type.as_deref(), Some("application/pdf"));
        assert_eq!(record.acl(), Acl::Private);
    }

    #[test]
    fn the_checksum_is_trusted_only_for_the_file_it_was_taken_of() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let mut record = Record::default();
        record.set_md5([7; 16], &std::fs::metadata(&path).unwrap());
        assert_eq!(record.md5(&std::fs::metadata(&path).unwrap()), Some("07070707070707070707070707070707"));
        std::fs::write(&path, b"abcd").unwrap();
        assert_eq!(record.md5(&std::fs::metadata(&path).unwrap()), None, "changed in place by another program");
    }

    #[test]
    fn records_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        probe(dir.path()).unwrap();
        let file = std::fs::File::create(dir.path().join("f")).unwrap();
        assert_eq!(read(&file).unwrap(), None, "a file placed by hand has no record");
        let mut record = Record::new("f", &Attributes::default().with_metadata("k", "v".repeat(3000)), None);
        record.set_acl(Acl::PublicRead);
        write(&file, &record).unwrap();
        assert_eq!(read(&file).unwrap(), Some(record), "larger than the first buffer");
    }
}

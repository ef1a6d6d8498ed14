//! Plain data shared by backends and the storage handle: attributes, metadata, ACLs, ranges, listing entries.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// HTTP-visible attributes stored with an object. Every backend keeps all of them, so moving objects between
/// backends loses nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attributes {
    /// `Content-Type`, e.g. `application/pdf`.
    pub content_type: Option<String>,
    /// `Cache-Control`, e.g. `max-age=86400`.
    pub cache_control: Option<String>,
    /// `Content-Disposition`, e.g. `attachment; filename="report.pdf"`.
    pub content_disposition: Option<String>,
    /// `Content-Encoding`, e.g. `gzip`.
    pub content_encoding: Option<String>,
    /// `Content-Language`, e.g. `en`.
    pub content_language: Option<String>,
    /// User metadata (`x-amz-meta-*` on S3). Keys are lowercase ASCII.
    pub metadata: BTreeMap<String, String>,
}

impl Attributes {
    /// These attributes with `Content-Type` set.
    pub fn with_content_type(mut self, value: impl Into<String>) -> Self {
        self.content_type = Some(value.into());
        self
    }
    /// These attributes with `Cache-Control` set.
    pub fn with_cache_control(mut self, value: impl Into<String>) -> Self {
        self.cache_control = Some(value.into());
        self
    }
    /// These attributes with `Content-Disposition` set.
    pub fn with_content_disposition(mut self, value: impl Into<String>) -> Self {
        self.content_disposition = Some(value.into());
        self
    }
    /// These attributes with `Content-Encoding` set.
    pub fn with_content_encoding(mut self, value: impl Into<String>) -> Self {
        self.content_encoding = Some(value.into());
        self
    }
    /// These attributes with `Content-Language` set.
    pub fn with_content_language(mut self, value: impl Into<String>) -> Self {
        self.content_language = Some(value.into());
        self
    }
    /// These attributes with one more user metadata entry (`x-amz-meta-KEY` on S3).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// `over`'s attributes where set, these elsewhere; user metadata merged entry by entry, `over`'s winning.
    pub fn overlay(self, over: Attributes) -> Attributes {
        let mut metadata = self.metadata;
        metadata.extend(over.metadata);
        Attributes {
            content_type: over.content_type.or(self.content_type),
            cache_control: over.cache_control.or(self.cache_control),
            content_disposition: over.content_disposition.or(self.content_disposition),
            content_encoding: over.content_encoding.or(self.content_encoding),
            content_language: over.content_language.or(self.content_language),
            metadata,
        }
    }

    /// Whether these attributes can be stored with `key` on every backend: exactly one media type, header values
    /// without control characters, metadata names of lowercase ASCII letters, digits, `-` or `_`, and printable
    /// ASCII metadata values (S3 sends them as headers). `InvalidArgument` naming `key` otherwise.
    pub fn validate(&self, key: &str) -> Result<()> {
        if let Some(content_type) = &self.content_type {
            crate::content_type::check(key, "content type", content_type)?;
        }
        let headers = [
            ("cache-control", &self.cache_control),
            ("content-disposition", &self.content_disposition),
            ("content-encoding", &self.content_encoding),
            ("content-language", &self.content_language),
        ];
        for (field, value) in headers {
            if let Some(value) = value {
                check_header_value(key, field, value)?;
            }
        }
        for (name, value) in &self.metadata {
            let valid_name = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
            if !valid_name {
                return Err(Error::invalid_argument(
                    Some(key),
                    format!("metadata name {name:?} must be lowercase ASCII letters, digits, `-` or `_`"),
                ));
            }
            if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                return Err(Error::invalid_argument(
                    Some(key),
                    format!(
                        "metadata {name:?} must be printable ASCII (S3 sends it as a header); percent-encode other text"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether any attribute but user metadata is set (what a backend without attributes cannot keep).
    pub(crate) fn has_headers(&self) -> bool {
        Attributes { metadata: BTreeMap::new(), ..self.clone() } != Attributes::default()
    }
}

/// A header value a backend can send: no control characters (a newline would end the header).
fn check_header_value(key: &str, field: &str, value: &str) -> Result<()> {
    if value.chars().any(char::is_control) {
        return Err(Error::invalid_argument(
            Some(key),
            format!("the {field} value contains a control character; remove it"),
        ));
    }
    Ok(())
}

/// What a listing or a `head` knows about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectMeta {
    /// The object's key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written.
    pub last_modified: DateTime<Utc>,
    /// An opaque version tag: equal tags mean equal content on the same backend.
    pub etag: Option<String>,
}

impl ObjectMeta {
    /// The listing facts of one object.
    pub fn new(key: impl Into<String>, size: u64, last_modified: DateTime<Utc>, etag: Option<String>) -> Self {
        Self { key: key.into(), size, last_modified, etag }
    }
}

/// Everything known about one object: its listing data and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metadata {
    /// Key, size, modification time and tag.
    pub meta: ObjectMeta,
    /// The attributes stored with it.
    pub attributes: Attributes,
}

impl Metadata {
    /// An object's metadata and attributes.
    pub fn new(meta: ObjectMeta, attributes: Attributes) -> Self {
        Self { meta, attributes }
    }
    /// The object's key.
    pub fn key(&self) -> &str {
        &self.meta.key
    }
    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.meta.size
    }
    /// Its content type, if stored.
    pub fn content_type(&self) -> Option<&str> {
        self.attributes.content_type.as_deref()
    }
}

/// S3's canned ACLs. A storage sends none unless asked: buckets created since 2023 reject ACLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Acl {
    /// Only the owner has access (`private`).
    Private,
    /// Anyone may read it (`public-read`).
    PublicRead,
    /// Anyone may read and write it (`public-read-write`).
    PublicReadWrite,
    /// Any authenticated AWS user may read it (`authenticated-read`).
    AuthenticatedRead,
    /// EC2 may read it for AMI bundles (`aws-exec-read`).
    AwsExecRead,
    /// The bucket owner may read it (`bucket-owner-read`).
    BucketOwnerRead,
    /// The bucket owner has full control (`bucket-owner-full-control`).
    BucketOwnerFullControl,
}

impl Acl {
    /// Every canned ACL, in S3's order.
    pub const ALL: [Acl; 7] = [
        Acl::Private,
        Acl::PublicRead,
        Acl::PublicReadWrite,
        Acl::AuthenticatedRead,
        Acl::AwsExecRead,
        Acl::BucketOwnerRead,
        Acl::BucketOwnerFullControl,
    ];

    /// The header value S3 uses (`x-amz-acl`).
    pub fn as_str(self) -> &'static str {
        match self {
            Acl::Private => "private",
            Acl::PublicRead => "public-read",
            Acl::PublicReadWrite => "public-read-write",
            Acl::AuthenticatedRead => "authenticated-read",
            Acl::AwsExecRead => "aws-exec-read",
            Acl::BucketOwnerRead => "bucket-owner-read",
            Acl::BucketOwnerFullControl => "bucket-owner-full-control",
        }
    }

    /// Whether anyone may read the object without signing.
    pub fn is_public_read(self) -> bool {
        matches!(self, Acl::PublicRead | Acl::PublicReadWrite)
    }
}

/// Which files of a storage anyone may read at their plain URLs, without a signature.
///
/// A file is private unless proven public: its own ACL grants public read, or, on a backend that keeps no per-file
/// ACLs, the storage itself is declared public. [`crate::Storage::is_public`] applies this rule for servers of plain
/// URLs; a server that holds a file's ACL already applies [`PublicReads::allows`] itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PublicReads {
    /// Only files whose own ACL grants public read; where the backend keeps no ACLs, none.
    #[default]
    PerFileAcl,
    /// Every file of a storage of public files, on a backend that keeps no per-file ACLs (where it keeps them, each
    /// file's ACL still decides).
    Everything,
}

/// What a backend knows of one file's ACL, for [`PublicReads::allows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAcl {
    /// The backend keeps per-file ACLs; this is the file's (`None`: saved without one, so private).
    Kept(Option<Acl>),
    /// The backend keeps no per-file ACLs.
    NotKept,
}

impl PublicReads {
    /// Whether a file with this ACL may be read without a signature.
    pub fn allows(self, file_acl: FileAcl) -> bool {
        match file_acl {
            FileAcl::Kept(acl) => acl.is_some_and(Acl::is_public_read),
            FileAcl::NotKept => self == PublicReads::Everything,
        }
    }
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Acl {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Acl::ALL.into_iter().find(|acl| acl.as_str() == s).ok_or_else(|| {
            // The value is not a key: it is quoted in the message, which lists the valid ones.
            let valid = Acl::ALL.map(Acl::as_str).join(", ");
            Error::invalid_argument(None, format!("{s:?} is not a canned ACL; use one of {valid}"))
        })
    }
}

/// A byte range to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `start..end`, end exclusive.
    Bounded {
        /// The first byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// From `start` to the end of the object.
    From(u64),
    /// The last `n` bytes.
    Suffix(u64),
}

impl From<Range<u64>> for ByteRange {
    fn from(range: Range<u64>) -> Self {
        ByteRange::Bounded { start: range.start, end: range.end }
    }
}

impl From<std::ops::RangeFrom<u64>> for ByteRange {
    fn from(range: std::ops::RangeFrom<u64>) -> Self {
        ByteRange::From(range.start)
    }
}

impl ByteRange {
    /// The concrete range within an object of `size` bytes, or `None` when it selects nothing that exists
    /// (HTTP's 416). An end past the object is clamped, as HTTP does.
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        let range = match self {
            ByteRange::Bounded { start, end } => start..end.min(size),
            ByteRange::From(start) => start..size,
            ByteRange::Suffix(n) => size.saturating_sub(n)..size,
        };
        let valid = range.start < range.end || (size == 0 && range.start == 0);
        valid.then_some(range)
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    /// An object.
    Object(ObjectMeta),
    /// A common prefix ("directory") of a delimited listing, ending with `/`.
    Prefix(String),
}

impl ListEntry {
    /// The key or prefix, which is also the listing's sort key.
    pub fn key(&self) -> &str {
        match self {
            ListEntry::Object(meta) => &meta.key,
            ListEntry::Prefix(prefix) => prefix,
        }
    }
}

//! Direct uploads: an [`UploadPolicy`] says what a browser may upload (where, how large, of which type, with which
//! checksum, ACL and attributes, until when), and the storage turns it into an HTML form ([`UploadForm`]) that
//! the backend enforces: S3 by its POST policy, disk and memory storages by `storage_http::SignedUrlService`.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::{Acl, Attributes};

/// The form field that carries the file; every other field must come before it.
pub const FILE_FIELD: &str = "file";

/// What a backend whose PUT links sign no request header answers for one that would fix the content type, size or
/// MD5 (Azure's SAS: see [`Capabilities::presign_write_with_headers`](crate::Capabilities::presign_write_with_headers)).
pub const UNSIGNED_PUT_HEADERS: &str = "upload URLs that fix the content type, size or MD5 (its signature covers no \
    request header, so a client could send others; leave them out of the policy, or check the upload after it lands)";

/// What a backend whose forms cannot refuse a taken name (S3: a POST has no condition on the key's absence) answers
/// a create-only form with, and the two ways out: a name nobody else can hold, or replacing.
pub const CREATE_ONLY_FORMS: &str = "create-only upload forms (its POST cannot refuse a taken name, so a second \
    post would replace the first): give the form a prefix with a fresh random segment, e.g. `uploads/<random>/`, and \
    allow overwriting there (`UploadPolicy::allowing_overwrite`, `storage upload-url --overwrite`)";

/// Where an upload may land.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadKey {
    /// Exactly this key.
    Exact(String),
    /// Any key under this prefix; the form's `key` field is the prefix followed by `${filename}`, which the server
    /// replaces with the uploaded file's name (a script may also set the field to another key under the prefix).
    Prefix(String),
}

/// Which content types an upload may have.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentTypeRule {
    /// Exactly this type (the form carries it); the only way to allow an active type such as `text/html`.
    Exact(String),
    /// Any single type of this top-level type, e.g. `image/` (`image/png`, never `image/png,text/html` nor
    /// `imagefoo/x`), except active ones (`image/svg+xml`); the browser sends the file's own type.
    Prefix(String),
}

/// A checksum the uploaded bytes must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Checksum {
    /// The MD5 of the bytes (`Content-MD5`).
    Md5([u8; 16]),
    /// The SHA-256 of the bytes.
    Sha256([u8; 32]),
}

/// What the browser gets after a successful upload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SuccessAction {
    /// This status (200, 201 or 204; S3's default is 204).
    Status(u16),
    /// A `303 See Other` to this URL, with `key` (and, where known, `etag`) added to its query.
    Redirect(String),
}

/// What a browser may upload with one form, until the policy expires. Create-only by default: a taken name is
/// refused (412 on disk and memory storages); S3's forms cannot refuse one, so there a create-only form is
/// `Unsupported` ([`CREATE_ONLY_FORMS`]) and a form needs [`UploadPolicy::allowing_overwrite`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadPolicy {
    /// Where the upload lands.
    pub key: UploadKey,
    /// Refuse a name that is taken (the default) rather than replace it.
    pub create_only: bool,
    /// The allowed sizes in bytes, both ends included; any size when `None`.
    pub size: Option<RangeInclusive<u64>>,
    /// The allowed content types; any when `None`.
    pub content_type: Option<ContentTypeRule>,
    /// The checksum the bytes must have.
    pub checksum: Option<Checksum>,
    /// The canned ACL of the stored file.
    pub acl: Option<Acl>,
    /// Attributes of the stored file besides its content type (cache control, disposition, user metadata).
    pub attributes: Attributes,
    /// How long the form works.
    pub expires_in: Duration,
    /// The answer to a successful upload.
    pub success: SuccessAction,
}

impl UploadPolicy {
    /// An upload to exactly `key`, for 10 minutes, create-only, answered with 204.
    pub fn exact(key: impl Into<String>) -> Self {
        Self::new(UploadKey::Exact(key.into()))
    }

    /// An upload to any key under `prefix` (e.g. `uploads/alice/`), for 10 minutes, create-only.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self::new(UploadKey::Prefix(prefix.into()))
    }

    fn new(key: UploadKey) -> Self {
        Self {
            key,
            create_only: true,
            size: None,
            content_type: None,
            checksum: None,
            acl: None,
            attributes: Attributes::default(),
            expires_in: Duration::from_secs(600),
            success: SuccessAction::Status(204),
        }
    }

    /// The form works this long.
    pub fn expires_in(mut self, expires_in: Duration) -> Self {
        self.expires_in = expires_in;
        self
    }

    /// Sizes in this range only, e.g. `1..=10 << 20`.
    pub fn with_size(mut self, size: RangeInclusive<u64>) -> Self {
        self.size = Some(size);
        self
    }

    /// Exactly this many bytes.
    pub fn with_exact_size(self, size: u64) -> Self {
        self.with_size(size..=size)
    }

    /// Exactly this content type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(ContentTypeRule::Exact(content_type.into()));
        self
    }

    /// Any single content type of the top-level type `prefix`, e.g. `image/`, except the active ones a browser
    /// would run script in (`image/svg+xml`): name those exactly with [`UploadPolicy::with_content_type`].
    pub fn with_content_type_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.content_type = Some(ContentTypeRule::Prefix(prefix.into()));
        self
    }

    /// The bytes must have this checksum.
    pub fn with_checksum(mut self, checksum: Checksum) -> Self {
        self.checksum = Some(checksum);
        self
    }

    /// The stored file gets this canned ACL.
    pub fn with_acl(mut self, acl: Acl) -> Self {
        self.acl = Some(acl);
        self
    }

    /// The stored file gets these attributes (its content type comes from the upload).
    pub fn with_attributes(mut self, attributes: Attributes) -> Self {
        self.attributes = attributes;
        self
    }

    /// Replace a file of the same name instead of refusing the upload.
    pub fn allowing_overwrite(mut self) -> Self {
        self.create_only = false;
        self
    }

    /// After a successful upload, send the browser to `url` (with `key` added to its query).
    pub fn with_success_redirect(mut self, url: impl Into<String>) -> Self {
        self.success = SuccessAction::Redirect(url.into());
        self
    }

    /// Answer a successful upload with `status` (200, 201 or 204).
    pub fn with_success_status(mut self, status: u16) -> Self {
        self.success = SuccessAction::Status(status);
        self
    }

    /// Whether an upload may land at `key`.
    pub fn allows_key(&self, key: &str) -> bool {
        match &self.key {
            UploadKey::Exact(exact) => key == exact,
            UploadKey::Prefix(prefix) => key.len() > prefix.len() && key.starts_with(prefix.as_str()),
        }
    }

    /// Whether an upload may have `content_type`.
    pub fn allows_content_type(&self, content_type: &str) -> bool {
        match &self.content_type {
            None => true,
            Some(ContentTypeRule::Exact(exact)) => {
                content_type == exact && crate::ContentType::parse(content_type).is_ok()
            }
            Some(ContentTypeRule::Prefix(prefix)) => crate::content_type::matches_prefix(prefix, content_type),
        }
    }

    /// The largest size allowed, if any.
    pub fn max_size(&self) -> Option<u64> {
        self.size.as_ref().map(|size| *size.end())
    }

    /// The smallest size allowed (0 without a range).
    pub fn min_size(&self) -> u64 {
        self.size.as_ref().map_or(0, |size| *size.start())
    }

    /// The value of the form's `key` field: the exact key, or the prefix followed by `${filename}`.
    pub fn key_field(&self) -> String {
        match &self.key {
            UploadKey::Exact(key) => key.clone(),
            UploadKey::Prefix(prefix) => format!("{prefix}${{filename}}"),
        }
    }

    /// The key or prefix, checked as a storage name (a prefix must end with `/` or be a name's beginning).
    pub(crate) fn validate(&self) -> crate::Result<()> {
        match &self.key {
            UploadKey::Exact(key) => crate::validate_key(key),
            UploadKey::Prefix(prefix) if prefix.is_empty() => Ok(()),
            UploadKey::Prefix(prefix) => crate::validate_key(&format!("{prefix}x")),
        }?;
        match &self.content_type {
            Some(ContentTypeRule::Exact(exact)) => {
                crate::content_type::check(&self.key_field(), "content type", exact)?;
            }
            Some(ContentTypeRule::Prefix(prefix)) => crate::content_type::check_prefix(prefix)?,
            None => {}
        }
        if let Some(size) = &self.size
            && size.start() > size.end()
        {
            return Err(crate::Error::invalid_argument(
                None,
                format!("the upload size range {size:?} is empty; give min..=max with min <= max"),
            ));
        }
        if let SuccessAction::Status(status) = self.success
            && !matches!(status, 200 | 201 | 204)
        {
            return Err(crate::Error::invalid_argument(
                None,
                format!("an upload's success status is 200, 201 or 204, not {status}"),
            ));
        }
        Ok(())
    }
}

impl UploadPolicy {
    /// The one content type a POST form fixes for this policy (S3's and GCS's): the exact rule's, else the type
    /// `Storage::save` would give the name (the default type under a prefix), never one the page chooses. A type
    /// prefix is `Unsupported` on `backend`: a `starts-with` condition on the type also admits a list such as
    /// `image/png,text/html`, which browsers read as HTML, and neither server has a condition that admits one type of
    /// a family and nothing else.
    pub fn form_content_type(&self, backend: &str) -> crate::Result<String> {
        match (&self.content_type, &self.key) {
            (Some(ContentTypeRule::Exact(content_type)), _) => Ok(content_type.clone()),
            (Some(ContentTypeRule::Prefix(_)), _) => Err(crate::Error::unsupported(
                backend,
                "content type prefixes on POST uploads (a starts-with condition also admits a list such as \
                 image/png,text/html, which browsers read as HTML); name the exact type with \
                 UploadPolicy::with_content_type",
            )),
            (None, UploadKey::Exact(key)) => Ok(crate::guess_content_type(key)),
            (None, UploadKey::Prefix(_)) => Ok(crate::DEFAULT_CONTENT_TYPE.to_owned()),
        }
    }
}

/// What a presigned PUT signs to enforce an [`UploadPolicy`] ([`UploadPolicy::as_put`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PutTerms<'a> {
    /// The one key the PUT writes.
    pub key: &'a str,
    /// A signed `Content-Length`: the policy's exact size.
    pub content_length: Option<u64>,
    /// A signed `Content-Type`: the policy's exact type.
    pub content_type: Option<String>,
    /// A signed `Content-MD5`.
    pub content_md5: Option<[u8; 16]>,
}

impl UploadPolicy {
    /// What a PUT must sign to enforce this policy, when one can: one exact key, an exact size, an exact content
    /// type, an MD5. A key prefix, a size range, a type prefix, attributes or a success action need a form
    /// (`InvalidArgument` says so); a SHA-256 is `Unsupported` on `backend`'s PUTs. The ACL and create-only are the
    /// storage's to add.
    pub(crate) fn as_put(&self, backend: &str) -> crate::Result<PutTerms<'_>> {
        let form_only = |what: &str| {
            Err(crate::Error::invalid_argument(
                Some(&self.key_field()),
                format!("a PUT cannot enforce {what}; use upload_form for this policy"),
            ))
        };
        let UploadKey::Exact(key) = &self.key else { return form_only("a key prefix") };
        let content_length = match &self.size {
            None => None,
            Some(size) if size.start() == size.end() => Some(*size.start()),
            Some(_) => return form_only("a size range (only an exact size)"),
        };
        let content_type = match &self.content_type {
            None => None,
            Some(ContentTypeRule::Exact(content_type)) => Some(content_type.clone()),
            Some(ContentTypeRule::Prefix(_)) => return form_only("a content type prefix"),
        };
        let content_md5 = match self.checksum {
            None => None,
            Some(Checksum::Md5(md5)) => Some(md5),
            Some(_) => return Err(crate::Error::unsupported(backend, "SHA-256 checksums on a PUT; use MD5")),
        };
        if self.attributes != Attributes::default() {
            return form_only("attributes");
        }
        if self.success != SuccessAction::Status(204) {
            return form_only("a success action");
        }
        Ok(PutTerms { key, content_length, content_type, content_md5 })
    }
}

/// An HTML form for one direct upload: `POST` to `url` as `multipart/form-data`, with `fields` in this order and
/// then the file in the field named [`FILE_FIELD`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadForm {
    /// Where the form posts.
    pub url: String,
    /// The form's fields, in order, before the file.
    pub fields: Vec<(String, String)>,
}

impl UploadForm {
    /// A form posting `fields` to `url`.
    pub fn new(url: impl Into<String>, fields: Vec<(String, String)>) -> Self {
        Self { url: url.into(), fields }
    }

    /// The method: always `POST`.
    pub fn method(&self) -> &'static str {
        "POST"
    }

    /// The value of one field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(field, _)| field.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

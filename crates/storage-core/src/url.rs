//! URL policy: how a storage answers `url` and `temporary_url`, and the response headers it asks signers for.

use std::time::Duration;

use crate::backend::Method;
use crate::error::{Error, Result};
use crate::signing::encode_query_value;
use crate::types::Acl;

/// Django-storages' `querystring_expire` default: one hour.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(3600);

/// What `Storage::url` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    /// The backend's public URL (`querystring_auth = False`).
    Public,
    /// A temporary URL valid this long (`querystring_auth = True`): the private-files setting.
    Signed {
        /// How long each URL works.
        expires: Duration,
    },
}

/// Options of one temporary URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UrlOptions {
    /// What the URL allows.
    pub method: Method,
    /// GET: the browser saves the response under this name (`Content-Disposition: attachment`).
    pub download_name: Option<String>,
    /// GET: with `download_name`, ask the browser to display rather than save (`inline`).
    pub inline: bool,
    /// GET: the `Content-Type` the response carries instead of the stored one.
    pub response_content_type: Option<String>,
    /// PUT: the `Content-Type` the client must send.
    pub content_type: Option<String>,
    /// PUT: the ACL the upload gets; defaults to the storage's default ACL.
    pub acl: Option<Acl>,
}

impl UrlOptions {
    /// A download URL.
    pub fn get() -> Self {
        Self::default()
    }
    /// An upload URL.
    pub fn put() -> Self {
        Self { method: Method::Put, ..Self::default() }
    }
    /// GET: the name a browser saves the download under (`Content-Disposition: attachment`).
    pub fn with_download_name(mut self, name: impl Into<String>) -> Self {
        self.download_name = Some(name.into());
        self
    }
    /// GET: show the file in the browser (`inline`) instead of downloading it.
    pub fn with_inline(mut self, inline: bool) -> Self {
        self.inline = inline;
        self
    }
    /// GET: the `Content-Type` the response carries, whatever is stored.
    pub fn with_response_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.response_content_type = Some(content_type.into());
        self
    }
    /// PUT: the `Content-Type` the upload must declare.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }
    /// PUT: the canned ACL the upload sets.
    pub fn with_acl(mut self, acl: Acl) -> Self {
        self.acl = Some(acl);
        self
    }
}

/// Whether a browser saves a download or shows it: the type of a `Content-Disposition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Disposition {
    /// Save it as a file (`attachment`).
    Attachment,
    /// Show it in the browser (`inline`).
    Inline,
}

impl Disposition {
    /// `inline` when `inline` is set, as [`UrlOptions::inline`] says; `attachment` otherwise.
    pub fn inline_if(inline: bool) -> Self {
        if inline { Disposition::Inline } else { Disposition::Attachment }
    }
}

/// A `Content-Disposition` value naming `filename`, with an ASCII fallback and the exact UTF-8 name (RFC 6266).
pub fn content_disposition(filename: &str, disposition: Disposition) -> Result<String> {
    if filename.is_empty() || filename.chars().any(char::is_control) {
        return Err(Error::invalid_argument(
            Some(filename),
            "the download name must be non-empty and free of control characters",
        ));
    }
    let kind = match disposition {
        Disposition::Inline => "inline",
        Disposition::Attachment => "attachment",
    };
    let fallback: String =
        filename.chars().map(|c| if c.is_ascii() && c != '"' && c != '\\' { c } else { '_' }).collect();
    if fallback == filename {
        return Ok(format!("{kind}; filename=\"{filename}\""));
    }
    Ok(format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{}", encode_query_value(filename)))
}

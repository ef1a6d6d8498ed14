//! Content types: every type a storage stores, signs or serves is exactly one media type, parsed with the `mime`
//! crate, and whether a browser would run script in it is decided on the parsed type, in one place.
//!
//! A browser reads `image/png,text/html` as HTML, so a check on the text before the first `;` (or a plain
//! `starts_with("image/")`) lets an upload choose an active type. Here a list, a parameter that does not parse, a
//! wildcard, whitespace outside the parameters or any byte outside printable ASCII is refused.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Fallback content type when neither the caller nor the name's extension gives one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// The content type for a name's extension, or `application/octet-stream`.
pub fn guess_content_type(name: &str) -> String {
    mime_guess::from_path(name).first_raw().unwrap_or(DEFAULT_CONTENT_TYPE).to_owned()
}

/// The longest content type accepted, in bytes: far above any real type with its parameters.
pub const MAX_CONTENT_TYPE_LEN: usize = 1024;

/// Subtype fragments of types a browser shows as a document that may run script, or hands to a plugin or viewer
/// that may (HTML, XHTML, XML and every `+xml`, SVG, JavaScript/ECMAScript, XSLT, PDF, Flash and FutureSplash, HTML
/// components and applications, WML, SGML, VRML). A denylist can miss a type, so every served response is sandboxed
/// as well ([`INERT_POLICY`]); these get the fuller [`SANDBOX_POLICY`].
const ACTIVE_SUBTYPE_FRAGMENTS: &[&str] = &[
    "html",
    "xml",
    "script",
    "svg",
    "xsl",
    "pdf",
    "flash",
    "futuresplash",
    "x-component",
    "hta",
    "wml",
    "sgml",
    "vrml",
];

/// Top-level types a browser may render as a document made of other documents (`multipart/x-mixed-replace`, MHTML).
const ACTIVE_TOP_LEVEL_TYPES: &[&str] = &["multipart", "message"];

/// Exactly one media type, e.g. `image/png` or `text/plain; charset=utf-8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// The text as given (it parsed as one media type).
    text: String,
    mime: mime::Mime,
}

/// Why a text is not exactly one media type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidContentType(String);

impl ContentType {
    /// Parse `text` as exactly one media type.
    pub fn parse(text: &str) -> std::result::Result<Self, InvalidContentType> {
        let invalid = |reason: &str| Err(InvalidContentType(reason.to_owned()));
        if text.is_empty() {
            return invalid("it is empty");
        }
        if text.len() > MAX_CONTENT_TYPE_LEN {
            return invalid("it is longer than 1024 bytes");
        }
        if let Some(byte) = text.bytes().find(|byte| !(0x20..0x7f).contains(byte)) {
            let what = if byte.is_ascii_control() { "a control character" } else { "a byte outside printable ASCII" };
            return invalid(what);
        }
        // A browser splits a header on commas (quoted or not) and may take any of the types: one type, no list.
        if text.contains(',') {
            return invalid("it is a list: it has a comma");
        }
        let mime = mime::Mime::from_str(text).map_err(|err| InvalidContentType(format!("it does not parse: {err}")))?;
        if mime.subtype().as_str().is_empty() {
            return invalid("it has no subtype");
        }
        if mime.type_() == mime::STAR || mime.subtype() == mime::STAR {
            return invalid("it has a wildcard");
        }
        Ok(Self { text: text.to_owned(), mime })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The type and subtype, lowercase, without parameters, e.g. `image/svg+xml`.
    pub fn essence(&self) -> &str {
        self.mime.essence_str()
    }

    /// The type as served: the essence lowercase, then each parameter as `; name=value` (the name lowercase, the
    /// value quoted when it is not a token), so what a browser reads is what was parsed, not the stored spelling.
    pub fn normalized(&self) -> String {
        let mut normalized = self.essence().to_owned();
        for (name, value) in self.mime.params() {
            let value = value.as_str();
            let is_token = !value.is_empty()
                && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte));
            if is_token {
                normalized.push_str(&format!("; {}={value}", name.as_str()));
            } else {
                let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
                normalized.push_str(&format!("; {}=\"{quoted}\"", name.as_str()));
            }
        }
        normalized
    }

    /// The top-level type, lowercase, e.g. `image`.
    pub fn top_level(&self) -> &str {
        self.mime.type_().as_str()
    }

    /// Whether a browser shown this type inline may run script in it (HTML, SVG, XML and `+xml`, JavaScript, PDF,
    /// multipart documents, …): such a response needs a sandbox, and a type prefix never admits it.
    pub fn is_active(&self) -> bool {
        let essence = self.essence();
        let subtype = essence.split_once('/').map_or(essence, |(_, subtype)| subtype);
        ACTIVE_TOP_LEVEL_TYPES.contains(&self.top_level())
            || ACTIVE_SUBTYPE_FRAGMENTS.iter().any(|fragment| subtype.contains(fragment))
    }
}

impl FromStr for ContentType {
    type Err = InvalidContentType;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The `Content-Security-Policy` of a response whose type is active: no script runs, nothing loads, the page gets
/// an opaque origin.
pub const SANDBOX_POLICY: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// The `Content-Security-Policy` of every other served response: no script runs and the document gets an opaque
/// origin, whatever a browser makes of the type. Nothing more, so a browser's own media document (an image or video
/// shown alone) still loads what it shows.
pub const INERT_POLICY: &str = "sandbox";

/// How a served response presents a stored (or signed override) content type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServedType {
    /// The `Content-Type` to send: the parsed type, normalized ([`ContentType::normalized`]).
    pub content_type: String,
    /// The response needs [`SANDBOX_POLICY`] as its `Content-Security-Policy`: a browser would run script in it.
    pub active: bool,
    /// The response must be `Content-Disposition: attachment`: the stored type did not parse, so it is sent as
    /// `application/octet-stream` and saved, never shown.
    pub force_attachment: bool,
}

impl ServedType {
    /// The presentation of `stored` (`application/octet-stream` when there is none).
    pub fn of(stored: Option<&str>) -> Self {
        let stored = stored.unwrap_or(DEFAULT_CONTENT_TYPE);
        match ContentType::parse(stored) {
            Ok(parsed) => {
                Self { content_type: parsed.normalized(), active: parsed.is_active(), force_attachment: false }
            }
            Err(_) => Self { content_type: DEFAULT_CONTENT_TYPE.to_owned(), active: false, force_attachment: true },
        }
    }

    /// The `Content-Security-Policy` to send with it, on every response: [`SANDBOX_POLICY`] for an active type,
    /// [`INERT_POLICY`] for any other.
    pub fn content_security_policy(&self) -> &'static str {
        if self.active { SANDBOX_POLICY } else { INERT_POLICY }
    }
}

/// Check a type-prefix rule's prefix: one top-level type and a slash, e.g. `image/`.
pub fn validate_prefix(prefix: &str) -> std::result::Result<(), InvalidContentType> {
    let top = prefix.strip_suffix('/').unwrap_or_default();
    let valid = ContentType::parse(&format!("{top}/x")).is_ok_and(|parsed| parsed.top_level().len() == top.len());
    if !valid {
        return Err(InvalidContentType(format!(
            "the content type prefix {prefix:?} is not one top-level type and a slash; give e.g. `image/`, or an \
             exact type"
        )));
    }
    Ok(())
}

/// [`validate_prefix`] as a storage error.
pub(crate) fn check_prefix(prefix: &str) -> Result<()> {
    validate_prefix(prefix).map_err(|reason| Error::invalid_argument(None, reason.to_string()))
}

/// Whether `content_type` is under `prefix` (checked with [`check_prefix`]): one media type of that top-level
/// type, and not an active one (those must be named exactly).
pub(crate) fn matches_prefix(prefix: &str, content_type: &str) -> bool {
    let top = prefix.strip_suffix('/').unwrap_or(prefix);
    ContentType::parse(content_type)
        .is_ok_and(|parsed| parsed.top_level().eq_ignore_ascii_case(top) && !parsed.is_active())
}

/// `value` as the `field` of `key` (e.g. "content type"): exactly one media type, else `InvalidArgument` saying so.
pub(crate) fn check(key: &str, field: &str, value: &str) -> Result<ContentType> {
    ContentType::parse(value).map_err(|reason| {
        Error::invalid_argument(
            Some(key),
            format!(
                "the {field} {value:?} is not exactly one media type ({reason}); give one type such as `image/png`"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_CONTENT_TYPE, guess_content_type};

    #[test]
    fn guesses_content_types() {
        assert_eq!(guess_content_type("a/report.pdf"), "application/pdf");
        assert_eq!(guess_content_type("index.html"), "text/html");
        assert_eq!(guess_content_type("noext"), DEFAULT_CONTENT_TYPE);
    }
}

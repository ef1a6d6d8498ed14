//! HTTP preconditions on a stored object (RFC 9110 §13), decided on its metadata alone, before a byte is read: the
//! one evaluation every server of this project's links uses (`storage-http`, `MemoryBackend::fetch`).
//!
//! The order is RFC 9110 §13.2.2's: `If-Match` (strong comparison), else `If-Unmodified-Since`, failing with 412;
//! then `If-None-Match` (weak comparison), else `If-Modified-Since` (ignored when later than the server's clock),
//! answering 304; then `If-Range` decides whether a
//! `Range` applies. Header values are untrusted: a malformed `If-Match` fails (nothing is served on a precondition
//! the server cannot check), a malformed `If-None-Match`, date or `If-Range` is ignored (the whole object is always a
//! correct answer).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::types::ObjectMeta;

/// The conditional headers of a `GET` or `HEAD`, as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    if_match: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Vec<String>,
    if_unmodified_since: Vec<String>,
    if_range: Vec<String>,
}

/// What the preconditions of a `GET` or `HEAD` decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Serve the object (or the range, see [`Conditions::range_applies`]).
    Proceed,
    /// 304: the client's copy is current.
    NotModified,
    /// 412: the object is not in the state the client requires.
    Failed,
}

impl Conditions {
    /// The conditions among `headers` (names in any case). A list header sent on several lines is one list
    /// (RFC 9110 §5.3); a date or `If-Range` sent twice is invalid, so ignored.
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut conditions = Conditions::default();
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value).into_owned();
            let join = |list: &mut Option<String>| match list {
                Some(joined) => *joined = format!("{joined}, {value}"),
                None => *list = Some(value.clone()),
            };
            match name.to_ascii_lowercase().as_str() {
                "if-match" => join(&mut conditions.if_match),
                "if-none-match" => join(&mut conditions.if_none_match),
                "if-modified-since" => conditions.if_modified_since.push(value),
                "if-unmodified-since" => conditions.if_unmodified_since.push(value),
                "if-range" => conditions.if_range.push(value),
                _ => {}
            }
        }
        conditions
    }

    /// Whether the request carries no precondition (so the metadata need not be read first).
    pub fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }

    /// Steps 1 to 4 of RFC 9110 §13.2.2 for a `GET` or `HEAD` of an existing object.
    pub fn evaluate(&self, meta: &ObjectMeta) -> Precondition {
        let own = meta.etag.as_deref().map(own_tag);
        let modified = meta.last_modified.timestamp();
        match &self.if_match {
            Some(list) => {
                let holds = match parse_tag_list(list) {
                    TagList::Any => true,
                    TagList::Tags(tags) => own.as_ref().is_some_and(|own| tags.iter().any(|tag| tag.strong_eq(own))),
                    TagList::Invalid => false,
                };
                if !holds {
                    return Precondition::Failed;
                }
            }
            None => {
                if single_date(&self.if_unmodified_since).is_some_and(|since| modified > since) {
                    return Precondition::Failed;
                }
            }
        }
        match &self.if_none_match {
            Some(list) => {
                let matches = match parse_tag_list(list) {
                    TagList::Any => true,
                    TagList::Tags(tags) => own.as_ref().is_some_and(|own| tags.iter().any(|tag| tag.weak_eq(own))),
                    TagList::Invalid => false,
                };
                if matches {
                    return Precondition::NotModified;
                }
            }
            None => {
                // A date later than the server's clock is invalid, so ignored (RFC 9110 §13.1.3).
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |now| now.as_secs());
                let since =
                    single_date(&self.if_modified_since).filter(|since| u64::try_from(*since).is_ok_and(|s| s <= now));
                if since.is_some_and(|since| modified <= since) {
                    return Precondition::NotModified;
                }
            }
        }
        Precondition::Proceed
    }

    /// Step 5: whether a `Range` applies, i.e. `If-Range` (if any) names this version: its strong tag, or exactly its
    /// last-modified date. Otherwise the whole object is sent.
    pub fn range_applies(&self, meta: &ObjectMeta) -> bool {
        let value = match self.if_range.as_slice() {
            [] => return true,
            [value] => value.trim(),
            _ => return false,
        };
        if value.starts_with('"') || value.starts_with("W/") {
            let own = meta.etag.as_deref().map(own_tag);
            return match parse_tag_list(value) {
                TagList::Tags(tags) if tags.len() == 1 => own.is_some_and(|own| tags[0].strong_eq(&own)),
                _ => false,
            };
        }
        parse_http_date(value) == Some(meta.last_modified.timestamp())
    }
}

/// An entity tag: weak or strong, and its opaque part (quotes included).
#[derive(Debug, Clone, PartialEq, Eq)]
struct EntityTag {
    weak: bool,
    opaque: String,
}

impl EntityTag {
    fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    fn weak_eq(&self, other: &EntityTag) -> bool {
        self.opaque == other.opaque
    }
}

/// The object's own tag; one stored without quotes is read as if quoted.
fn own_tag(etag: &str) -> EntityTag {
    match parse_tag_list(etag) {
        TagList::Tags(mut tags) if tags.len() == 1 => tags.remove(0),
        _ => EntityTag { weak: false, opaque: format!("\"{etag}\"") },
    }
}

#[derive(Debug)]
enum TagList {
    /// `*`: any current representation.
    Any,
    Tags(Vec<EntityTag>),
    Invalid,
}

/// `*` or a comma-separated list of entity tags (RFC 9110 §8.8.3 and §5.6.1: empty members and optional whitespace
/// allowed; an opaque tag may contain commas). A `*` among tags is read as `*`, as browsers never send it but some
/// clients do.
fn parse_tag_list(value: &str) -> TagList {
    let bytes = value.as_bytes();
    let mut tags = Vec::new();
    let mut any = false;
    let mut at = 0;
    let skip_whitespace = |at: &mut usize| {
        while bytes.get(*at).is_some_and(|b| *b == b' ' || *b == b'\t') {
            *at += 1;
        }
    };
    loop {
        while bytes.get(at).is_some_and(|b| matches!(b, b' ' | b'\t' | b',')) {
            at += 1;
        }
        if at == bytes.len() {
            break;
        }
        if bytes[at] == b'*' {
            any = true;
            at += 1;
        } else {
            let weak = bytes[at..].starts_with(b"W/");
            if weak {
                at += 2;
            }
            if bytes.get(at) != Some(&b'"') {
                return TagList::Invalid;
            }
            let Some(length) = bytes[at + 1..].iter().position(|b| *b == b'"') else { return TagList::Invalid };
            let inner = &bytes[at + 1..at + 1 + length];
            // etagc: visible characters but the quote, and obs-text.
            if inner.iter().any(|b| *b < 0x21 || *b == 0x7f) {
                return TagList::Invalid;
            }
            tags.push(EntityTag { weak, opaque: value[at..at + length + 2].to_owned() });
            at += length + 2;
        }
        skip_whitespace(&mut at);
        match bytes.get(at) {
            None | Some(b',') => {}
            Some(_) => return TagList::Invalid,
        }
    }
    match (any, tags.is_empty()) {
        (true, _) => TagList::Any,
        (false, true) => TagList::Invalid,
        (false, false) => TagList::Tags(tags),
    }
}

/// The date of a date header sent exactly once, in seconds since the epoch (the precision HTTP dates have).
fn single_date(values: &[String]) -> Option<i64> {
    match values {
        [value] => parse_http_date(value),
        _ => None,
    }
}

/// An HTTP date (IMF-fixdate, or the obsolete RFC 850 and asctime forms), in seconds since the epoch.
pub fn parse_http_date(value: &str) -> Option<i64> {
    let time: SystemTime = httpdate::parse_http_date(value.trim()).ok()?;
    i64::try_from(time.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()
}

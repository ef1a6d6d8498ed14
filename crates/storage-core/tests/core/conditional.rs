//! HTTP preconditions: arbitrary header values never panic, and well-formed ones are decided as RFC 9110 §13.2.2
//! orders them, checked against a model of the RFC over the same structure (`fuzz_conditional_headers`).

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use storage_core::{Conditions, ObjectMeta, Precondition};

const OWN_TAG: &str = "\"5d41402abc4b2a76\"";
const LAST_MODIFIED: i64 = 1_700_000_000;

fn object() -> ObjectMeta {
    ObjectMeta::new("a.txt", 5, Utc.timestamp_opt(LAST_MODIFIED, 0).unwrap(), Some(OWN_TAG.to_owned()))
}

fn date(seconds: i64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds as u64))
}

/// One member of an entity-tag list.
#[derive(Debug, Clone)]
enum Tag {
    Own { weak: bool },
    Other { weak: bool, opaque: String },
    Any,
}

impl Tag {
    fn render(&self) -> String {
        let weak = |weak: bool| if weak { "W/" } else { "" };
        match self {
            Tag::Own { weak: is_weak } => format!("{}{OWN_TAG}", weak(*is_weak)),
            Tag::Other { weak: is_weak, opaque } => format!("{}\"{opaque}\"", weak(*is_weak)),
            Tag::Any => "*".to_owned(),
        }
    }
}

fn tag() -> impl Strategy<Value = Tag> {
    prop_oneof![
        any::<bool>().prop_map(|weak| Tag::Own { weak }),
        (any::<bool>(), "[!#-~]{0,12}").prop_map(|(weak, opaque)| Tag::Other { weak, opaque }),
        Just(Tag::Any),
    ]
    .prop_filter(
        "another tag, not ours",
        |tag| !matches!(tag, Tag::Other { opaque, .. } if format!("\"{opaque}\"") == OWN_TAG),
    )
}

/// Well-formed conditions: tag lists, and dates around the last change.
#[derive(Debug, Clone)]
struct Wellformed {
    if_match: Option<Vec<Tag>>,
    if_unmodified_since: Option<i64>,
    if_none_match: Option<Vec<Tag>>,
    if_modified_since: Option<i64>,
    if_range: Option<Tag>,
    separator: &'static str,
}

fn wellformed() -> impl Strategy<Value = Wellformed> {
    let list = || proptest::option::of(proptest::collection::vec(tag(), 1..4));
    let when = || proptest::option::of((-2i64..=2).prop_map(|days| LAST_MODIFIED + days * 86_400));
    (list(), when(), list(), when(), proptest::option::of(tag()), prop::sample::select(vec![",", ", ", " ,\t", ",,"]))
        .prop_map(|(if_match, if_unmodified_since, if_none_match, if_modified_since, if_range, separator)| Wellformed {
            if_match,
            if_unmodified_since,
            if_none_match,
            if_modified_since,
            if_range,
            separator,
        })
}

impl Wellformed {
    fn headers(&self) -> Vec<(&'static str, String)> {
        let list = |tags: &Vec<Tag>| tags.iter().map(Tag::render).collect::<Vec<_>>().join(self.separator);
        let mut headers = Vec::new();
        headers.extend(self.if_match.as_ref().map(|tags| ("If-Match", list(tags))));
        headers.extend(self.if_unmodified_since.map(|at| ("if-unmodified-since", date(at))));
        headers.extend(self.if_none_match.as_ref().map(|tags| ("IF-NONE-MATCH", list(tags))));
        headers.extend(self.if_modified_since.map(|at| ("if-modified-since", date(at))));
        headers.extend(self.if_range.as_ref().map(|tag| ("if-range", tag.render())));
        headers
    }

    /// RFC 9110 §13.2.2, step by step, on the structure rather than the text.
    fn model(&self) -> (Precondition, bool) {
        let strong_own = |tags: &Vec<Tag>| tags.iter().any(|tag| matches!(tag, Tag::Any | Tag::Own { weak: false }));
        let weak_own = |tags: &Vec<Tag>| tags.iter().any(|tag| matches!(tag, Tag::Any | Tag::Own { .. }));
        let decided = match (&self.if_match, self.if_unmodified_since) {
            (Some(tags), _) if !strong_own(tags) => Some(Precondition::Failed),
            (None, Some(since)) if LAST_MODIFIED > since => Some(Precondition::Failed),
            _ => None,
        };
        let decided = decided.or(match (&self.if_none_match, self.if_modified_since) {
            (Some(tags), _) if weak_own(tags) => Some(Precondition::NotModified),
            (None, Some(since)) if LAST_MODIFIED <= since => Some(Precondition::NotModified),
            _ => None,
        });
        let range = match &self.if_range {
            None => true,
            Some(tag) => matches!(tag, Tag::Own { weak: false }),
        };
        (decided.unwrap_or(Precondition::Proceed), range)
    }
}

fn conditions(headers: &[(&'static str, Vec<u8>)]) -> Conditions {
    Conditions::from_headers(headers.iter().map(|(name, value)| (*name, value.as_slice())))
}

const NAMES: [&str; 5] = ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range"];

proptest! {
    /// Arbitrary values never panic, and never turn into a condition that was not sent; well-formed ones are decided
    /// as the RFC's model decides them.
    #[test]
    fn fuzz_conditional_headers(
        raw in proptest::collection::vec((prop::sample::select(NAMES.to_vec()), proptest::collection::vec(any::<u8>(), 0..64)), 0..6),
        wellformed in wellformed(),
    ) {
        let meta = object();
        let raw_conditions = conditions(&raw);
        let decided = raw_conditions.evaluate(&meta);
        let _ = raw_conditions.range_applies(&meta);
        let sent = |name: &str| raw.iter().any(|(sent, _)| *sent == name);
        if decided == Precondition::Failed {
            prop_assert!(sent("if-match") || sent("if-unmodified-since"), "412 without If-Match or If-Unmodified-Since");
        }
        if decided == Precondition::NotModified {
            prop_assert!(sent("if-none-match") || sent("if-modified-since"), "304 without If-None-Match or -Modified-Since");
        }
        if !sent("if-range") {
            prop_assert!(raw_conditions.range_applies(&meta));
        }

        let headers: Vec<(&'static str, Vec<u8>)> =
            wellformed.headers().into_iter().map(|(name, value)| (name, value.into_bytes())).collect();
        let parsed = conditions(&headers);
        let (expected, range) = wellformed.model();
        prop_assert_eq!(parsed.evaluate(&meta), expected, "{:?}", headers);
        prop_assert_eq!(parsed.range_applies(&meta), range, "{:?}", headers);
    }
}

#[test]
fn an_opaque_tag_may_hold_a_comma_and_a_stored_tag_without_quotes_is_read_quoted() {
    let with_comma = ObjectMeta::new("a", 1, Utc.timestamp_opt(LAST_MODIFIED, 0).unwrap(), Some("\"a,b\"".into()));
    let if_match = |value: &str| conditions(&[("if-match", value.as_bytes().to_vec())]);
    assert_eq!(if_match("\"x\", \"a,b\"").evaluate(&with_comma), Precondition::Proceed);
    assert_eq!(if_match("\"a\"").evaluate(&with_comma), Precondition::Failed);
    let bare = ObjectMeta::new("a", 1, Utc.timestamp_opt(LAST_MODIFIED, 0).unwrap(), Some("abc".into()));
    assert_eq!(if_match("\"abc\"").evaluate(&bare), Precondition::Proceed);
    assert_eq!(if_match("\"abc").evaluate(&bare), Precondition::Failed, "an unterminated tag matches nothing");
}

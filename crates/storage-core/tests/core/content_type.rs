//! Content types: exactly one media type or refused, active types decided on the parsed type, and type-prefix rules
//! that match whole top-level types and never admit an active type.

use proptest::prelude::*;
use storage_core::{ContentType, ServedType, UploadPolicy};

/// Types a browser runs script in (or hands to a viewer that may): never admitted by a prefix, always sandboxed.
const ACTIVE: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/mathml+xml",
    "application/vnd.example+xml",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "text/ecmascript",
    "application/ecmascript",
    "text/xsl",
    "application/xslt+xml",
    "application/pdf",
    "application/x-shockwave-flash",
    "text/x-component",
    "multipart/x-mixed-replace",
    "message/rfc822",
];

const INERT: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "image/avif",
    "text/plain",
    "text/csv",
    "application/json",
    "application/octet-stream",
    "application/zip",
    "video/mp4",
];

#[test]
fn one_media_type_parses_with_its_parameters_and_any_case() {
    for text in [
        "image/png",
        "IMAGE/PNG",
        "Image/Png",
        "text/plain; charset=utf-8",
        "text/plain;charset=UTF-8",
        "text/plain; charset=\"utf-8\"",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "multipart/form-data; boundary=abc",
    ] {
        let parsed = ContentType::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!(parsed.as_str(), text, "kept as given");
        assert_eq!(ContentType::parse(parsed.as_str()).unwrap(), parsed, "round-trips");
    }
    assert_eq!(ContentType::parse("IMAGE/SVG+XML").unwrap().essence(), "image/svg+xml");
}

#[test]
fn lists_bad_parameters_control_characters_and_stray_whitespace_are_refused() {
    for text in [
        "image/png,text/html",
        "text/plain, text/html",
        "image/png;a=\"x,text/html\"",
        "image/png;text/html",
        "image/png; charset",
        "image/png; =x",
        "image/png; a=\"unterminated",
        "image/png\r\nx-injected: 1",
        "image/png\0",
        "image/png\ttext/html",
        "image/\x7fpng",
        " image/png",
        "image/png ",
        "image /png",
        "image/ png",
        "image/png text/html",
        "image/pngé",
        "image/png; a=\"é\"",
        "image",
        "image/",
        "/png",
        "",
        "*/*",
        "image/*",
        "image/png/html",
    ] {
        assert!(ContentType::parse(text).is_err(), "{text:?} is not one media type");
        assert!(!UploadPolicy::exact("k").with_content_type(text).allows_content_type(text), "{text:?} exactly");
    }
    assert!(ContentType::parse(&format!("text/plain; a={}", "b".repeat(1100))).is_err(), "too long");
}

#[test]
fn active_types_are_decided_on_the_parsed_type_including_xml_suffixes() {
    for text in ACTIVE {
        assert!(ContentType::parse(text).unwrap().is_active(), "{text}");
        assert!(ContentType::parse(&text.to_ascii_uppercase()).unwrap().is_active(), "{text} in capitals");
        assert!(ContentType::parse(&format!("{text}; charset=utf-8")).unwrap().is_active(), "{text} with a parameter");
    }
    for text in INERT {
        assert!(!ContentType::parse(text).unwrap().is_active(), "{text}");
    }
}

#[test]
fn a_type_prefix_matches_whole_top_level_types_and_never_an_active_one() {
    let images = UploadPolicy::exact("k").with_content_type_prefix("image/");
    for allowed in ["image/png", "image/webp", "IMAGE/PNG", "image/png; q=1"] {
        assert!(images.allows_content_type(allowed), "{allowed}");
    }
    for refused in [
        "image/png,text/html",
        "image/png, text/html",
        "imagefoo/x",
        "image/svg+xml",
        "IMAGE/SVG+XML",
        "image/svg+xml; charset=utf-8",
        "image/",
        "image",
        "text/html",
    ] {
        assert!(!images.allows_content_type(refused), "{refused}");
    }
    let texts = UploadPolicy::exact("k").with_content_type_prefix("text/");
    for active in ACTIVE {
        assert!(!texts.allows_content_type(active), "{active} under text/");
        let top = active.split('/').next().unwrap();
        let under_own_top = UploadPolicy::exact("k").with_content_type_prefix(format!("{top}/"));
        assert!(!under_own_top.allows_content_type(active), "{active} under {top}/");
        let exact = UploadPolicy::exact("k").with_content_type(*active);
        assert!(exact.allows_content_type(active), "{active} named exactly");
    }
    assert!(texts.allows_content_type("text/plain"));
}

#[test]
fn an_unparsable_stored_type_is_served_as_an_octet_stream_attachment() {
    let served = ServedType::of(Some("image/png,text/html"));
    assert_eq!(served.content_type, "application/octet-stream");
    assert!(served.force_attachment && !served.active);
    let html = ServedType::of(Some("Text/HTML; charset=utf-8"));
    assert!(html.active && !html.force_attachment);
    let png = ServedType::of(Some("image/png"));
    assert!(!png.active && !png.force_attachment);
    assert_eq!(ServedType::of(None).content_type, "application/octet-stream");
}

/// Pieces of near-miss types: real and confusable top-level types and subtypes, separators browsers split on.
fn near_miss() -> impl Strategy<Value = String> {
    let top = prop::sample::select(vec!["image", "IMAGE", "text", "application", "imagefoo", "*", "", "multipart"]);
    let subtype = prop::sample::select(vec![
        "png",
        "html",
        "HTML",
        "svg+xml",
        "x-javascript",
        "pdf",
        "xhtml+xml",
        "rss+xml",
        "*",
        "",
        "webp",
    ]);
    let parameter = prop::sample::select(vec![
        "",
        ";",
        "; charset=utf-8",
        ";a=\"x,text/html\"",
        "; a=\"b\"",
        "; a",
        ";;",
        "; a=b c",
        ";a=\"\u{e9}\"",
    ]);
    let separator =
        prop::sample::select(vec![",", ", ", ";", " ", "\t", "\r\n", "\0", "/", "+", "", "\u{85}", "\u{a0}"]);
    let one = (top, subtype, parameter).prop_map(|(top, subtype, parameter)| format!("{top}/{subtype}{parameter}"));
    prop::collection::vec((one, separator), 1..4)
        .prop_map(|parts| parts.into_iter().map(|(one, separator)| format!("{one}{separator}")).collect())
}

proptest! {
    #[test]
    fn fuzz_content_type(
        text in prop_oneof![any::<String>(), near_miss(), prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())],
        prefix in prop::sample::select(vec!["image/", "text/", "application/", "multipart/"]),
    ) {
        let parsed = ContentType::parse(&text);
        let allowed_by_prefix = UploadPolicy::exact("k").with_content_type_prefix(prefix).allows_content_type(&text);
        let served = ServedType::of(Some(&text));
        match parsed {
            Err(_) => {
                prop_assert!(!allowed_by_prefix, "a prefix admitted {text:?}, which is not one media type");
                prop_assert!(served.force_attachment && served.content_type == "application/octet-stream");
            }
            Ok(parsed) => {
                // Exactly one media type: no list, no control or non-ASCII byte, and it round-trips.
                prop_assert!(!text.contains(',') && text.bytes().all(|b| (0x20..0x7f).contains(&b)), "{text:?}");
                prop_assert_eq!(ContentType::parse(parsed.as_str()), Ok(parsed.clone()));
                prop_assert_eq!(parsed.as_str(), text.as_str());
                let essence = text.split(';').next().unwrap_or_default().to_ascii_lowercase();
                prop_assert_eq!(parsed.essence(), essence.as_str(), "the essence is the text before the parameters");
                prop_assert!(!served.force_attachment && served.active == parsed.is_active());
                if allowed_by_prefix {
                    prop_assert!(!parsed.is_active(), "a prefix admitted the active {text:?}");
                    prop_assert!(essence.starts_with(prefix), "{prefix} admitted {text:?}");
                    let independent = ["html", "xml", "script", "svg", "pdf"];
                    prop_assert!(!independent.iter().any(|word| essence.contains(word)), "{text:?}");
                }
            }
        }
    }
}

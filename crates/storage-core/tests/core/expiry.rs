//! The one duration parser and the one expiry rule: checked arithmetic, no zero, no wrap, no overflow of the clock.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use storage_core::signing::{SigningKey, UrlSigner};
use storage_core::{DEFAULT_MAX_EXPIRY, ErrorKind, Method, PresignRequest, UploadPolicy, parse_age, parse_duration};

/// The value of `text` in seconds, computed in u128 so that nothing wraps: what the parsers must agree with.
fn reference_seconds(text: &str) -> Option<u128> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return None;
    }
    if number.trim_start_matches('0').len() > 30 {
        return None; // far beyond u64, and beyond what u128 parses
    }
    let scale: u128 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    let seconds = number.parse::<u128>().ok()? * scale;
    (seconds <= u128::from(u64::MAX)).then_some(seconds)
}

/// Both entry points against the reference: an age is any value that fits, a duration one of at least a second.
fn check_against_reference(text: &str) -> Result<(), TestCaseError> {
    let seconds = |parsed: storage_core::Result<Duration>| parsed.ok().map(|duration| u128::from(duration.as_secs()));
    let expected = reference_seconds(text);
    prop_assert_eq!(seconds(parse_age(text)), expected, "age {:?}", text);
    prop_assert_eq!(seconds(parse_duration(text)), expected.filter(|seconds| *seconds > 0), "duration {:?}", text);
    Ok(())
}

#[test]
fn durations_in_every_unit_and_their_refusals() {
    for (text, seconds) in [("90", 90), ("30s", 30), ("10m", 600), ("2h", 7200), ("7d", 604_800), (" 1d ", 86_400)] {
        assert_eq!(parse_duration(text).unwrap(), Duration::from_secs(seconds), "{text}");
    }
    assert_eq!(parse_duration("18446744073709551615s").unwrap(), Duration::from_secs(u64::MAX));
    assert_eq!(parse_age("0s").unwrap(), Duration::ZERO, "an age may be zero: any age");
    assert!(parse_age("213503982334602d").is_err() && parse_age("-5m").is_err());
    let refused = [
        ("213503982334602d", "too long"),
        ("18446744073709551616", "too long"),
        ("307445734561825861m", "too long"),
        ("0", "at least one second"),
        ("0d", "at least one second"),
        ("-5m", "not a duration"),
        ("+5m", "not a duration"),
        ("", "not a duration"),
        ("5 m", "unknown unit"),
        ("5w", "unknown unit"),
        ("1.5h", "unknown unit"),
    ];
    for (text, says) in refused {
        let err = parse_duration(text).expect_err(text);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{text}");
        let message = err.to_string();
        assert!(message.contains(says) && message.contains(text.trim()), "{text:?} should say {says:?}: {message}");
    }
}

fn signer() -> UrlSigner {
    UrlSigner::new("http://127.0.0.1:8000/", SigningKey::new("k1", vec![7; 32]).unwrap())
}

#[test]
fn the_signer_refuses_past_its_maximum_and_past_the_clock_instead_of_panicking() {
    let eight_days = Duration::from_secs(8 * 86_400);
    let unlimited = signer().with_max_expiry(Duration::MAX);
    for (signer, expires, says) in [
        (signer(), eight_days, "longer than"),
        (signer(), Duration::ZERO, "at least one second"),
        (unlimited.clone(), Duration::from_secs(u64::MAX), "past what the clock"),
        (unlimited, Duration::MAX, "past what the clock"),
    ] {
        let err = signer.sign(&PresignRequest::new(Method::Get, "a.txt", expires), SystemTime::now()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains(says) && err.to_string().contains("a.txt"), "{err}");
        let form = signer.sign_upload(&UploadPolicy::exact("a.txt").expires_in(expires), SystemTime::now());
        assert_eq!(form.unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
    let signed = signer().sign(&PresignRequest::new(Method::Get, "a.txt", DEFAULT_MAX_EXPIRY), SystemTime::now());
    assert!(signed.is_ok(), "seven days is the default maximum itself");
    let raised = signer().with_max_expiry(Duration::from_secs(30 * 86_400));
    raised
        .sign(&PresignRequest::new(Method::Get, "a.txt", Duration::from_secs(30 * 86_400)), SystemTime::now())
        .unwrap();
}

/// Text near the grammar: digits (sometimes far too many), a unit or a near-miss, signs, spaces, dots.
fn near_miss() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        "[0-9]{1,3}",
        "[0-9]{15,22}",
        Just(u64::MAX.to_string()),
        Just("213503982334602".to_owned()),
        Just("0".to_owned()),
    ];
    let unit = prop_oneof![Just(""), Just("s"), Just("m"), Just("h"), Just("d"), Just("w"), Just("ms"), Just(" d")];
    let sign = prop_oneof![Just(""), Just(""), Just("-"), Just("+"), Just(" ")];
    (sign, number, unit, "[ .0-9]{0,2}").prop_map(|(sign, number, unit, tail)| format!("{sign}{number}{unit}{tail}"))
}

proptest! {
    #[test]
    fn fuzz_duration(text in prop_oneof![any::<String>(), near_miss(), "[0-9smhd -]{0,24}"]) {
        check_against_reference(&text)?;
    }

    #[test]
    fn fuzz_duration_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
        check_against_reference(&String::from_utf8_lossy(&bytes))?;
    }
}

//! `fuzz_range_header`: the `Range` parser over arbitrary and structure-aware values never panics, and a range it
//! accepts has digits only and never reaches outside the object it is resolved against.

use http::HeaderValue;
use proptest::prelude::*;
use storage_core::ByteRange;

use crate::{RangeHeader, parse_range};

/// `bytes=` specs built from numbers anywhere in `u64`, with and without either end, spaces, several ranges.
fn spec() -> impl Strategy<Value = String> {
    let number = prop_oneof![0u64..2048, Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()];
    let one = (
        proptest::option::of(number.clone()),
        proptest::option::of(number),
        prop::sample::select(vec!["", " "]),
        prop::sample::select(vec!["", "+"]),
    )
        .prop_map(|(start, end, space, sign)| {
            let text = |n: Option<u64>| n.map(|n| format!("{sign}{n}")).unwrap_or_default();
            format!("{space}{}{space}-{space}{}", text(start), text(end))
        });
    (prop::sample::select(vec!["bytes=", "bytes =", "Bytes=", "items=", ""]), proptest::collection::vec(one, 1..3))
        .prop_map(|(unit, ranges)| format!("{unit}{}", ranges.join(",")))
}

proptest! {
    #[test]
    fn fuzz_range_header(
        raw in proptest::collection::vec(any::<u8>(), 0..40),
        structured in spec(),
        size in prop_oneof![0u64..4096, any::<u64>()],
    ) {
        for value in [HeaderValue::from_bytes(&raw).ok(), HeaderValue::from_str(&structured).ok()].into_iter().flatten() {
            let RangeHeader::Single(range) = parse_range(&value) else { continue };
            prop_assert!(!value.as_bytes().contains(&b'+'), "{value:?}: a sign is not a digit");
            if let ByteRange::Bounded { start, end } = range {
                prop_assert!(start < end, "{value:?} parsed as an empty or reversed range {start}..{end}");
            }
            if let Some(resolved) = range.resolve(size) {
                prop_assert!(resolved.start <= resolved.end && resolved.end <= size, "{value:?} on {size} bytes: {resolved:?}");
            }
        }
    }
}

//! Metadata names as Azure takes them. Azure's metadata names must be C# identifiers (letters, digits and `_`, not
//! starting with a digit), where storage-core's are any lowercase ASCII (`origin-name`). Each name is written
//! reversibly: `_` doubles, and any other character outside `[a-z0-9]` (or a leading digit) becomes `_` and its two
//! hex digits (`origin-name` is `origin_2dname`). A stored name that is not such an encoding is read as it is.

use storage_core::Attributes;

/// The name as Azure stores it.
pub(crate) fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (index, byte) in name.bytes().enumerate() {
        match byte {
            b'_' => out.push_str("__"),
            b'0'..=b'9' if index == 0 => out.push_str(&format!("_{byte:02x}")),
            b'a'..=b'z' | b'0'..=b'9' => out.push(char::from(byte)),
            other => out.push_str(&format!("_{other:02x}")),
        }
    }
    out
}

/// The name a stored one encodes, or `None` when it is not an encoding (a blob written by another client).
pub(crate) fn decode(stored: &str) -> Option<String> {
    let mut out = Vec::with_capacity(stored.len());
    let mut bytes = stored.bytes();
    while let Some(byte) = bytes.next() {
        if byte != b'_' {
            out.push(byte);
            continue;
        }
        match bytes.next()? {
            b'_' => out.push(b'_'),
            high => {
                let hex = [high, bytes.next()?];
                let hex = std::str::from_utf8(&hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `attributes` with their metadata names encoded for Azure.
pub(crate) fn to_azure(mut attributes: Attributes) -> Attributes {
    attributes.metadata = attributes.metadata.into_iter().map(|(name, value)| (encode(&name), value)).collect();
    attributes
}

/// `attributes` as Azure gave them, with their metadata names decoded.
pub(crate) fn from_azure(mut attributes: Attributes) -> Attributes {
    attributes.metadata =
        attributes.metadata.into_iter().map(|(stored, value)| (decode(&stored).unwrap_or(stored), value)).collect();
    attributes
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{decode, encode};

    fn is_identifier(name: &str) -> bool {
        let mut chars = name.chars();
        chars.next().is_none_or(|first| first.is_ascii_alphabetic() || first == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    #[test]
    fn names_become_identifiers_and_come_back() {
        for (name, stored) in [("owner", "owner"), ("origin-name", "origin_2dname"), ("a_b", "a__b"), ("1x", "_31x")] {
            assert_eq!(encode(name), stored);
            assert_eq!(decode(stored).as_deref(), Some(name));
        }
        assert_eq!(decode("broken_"), None, "a trailing escape is no encoding");
    }

    proptest! {
        /// Any name an attacker or another client stored decodes without panicking, and every name storage-core
        /// allows is written as a C# identifier and read back unchanged.
        #[test]
        fn fuzz_metadata_names(stored in any::<String>(), name in "[ -~]{1,40}") {
            let _ = decode(&stored);
            let encoded = encode(&name);
            prop_assert!(is_identifier(&encoded), "{encoded}");
            prop_assert_eq!(decode(&encoded), Some(name));
        }
    }
}

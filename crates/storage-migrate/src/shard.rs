//! Shards: splitting one migration over N processes by name, the way rclone's `--hash-filter K/N` does, so a fleet
//! that mixes the two tools splits a bucket the same way.
//!
//! A name's shard is the MD5 of its NFC-normalised, lower-cased form, the digest's first eight bytes read as a
//! little-endian `u64`, modulo N. Lower-casing is Go's `strings.ToLower` (per character, Unicode's simple mapping:
//! no final-sigma rule, `İ` becomes `i`), so two names that differ only in case or normalisation land in the same
//! shard, as they must on a case-insensitive or normalising target.

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};
use storage_core::{Error, Result};
use unicode_normalization::UnicodeNormalization;

/// Shard `index` of `count` (`K/N`, with `0 <= K < N`); [`Shard::ALL`] is the whole set.
///
/// ```
/// let shard: storage_migrate::Shard = "2/7".parse().unwrap();
/// assert_eq!((shard.index(), shard.count()), (2, 7));
/// assert!("7/7".parse::<storage_migrate::Shard>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// One shard that holds every name (`0/1`).
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; refused unless `count >= 1` and `index < count`.
    pub fn new(index: u64, count: u64) -> Result<Self> {
        if count == 0 {
            return Err(refused(&format!("{index}/{count}"), "N must be at least 1"));
        }
        if index >= count {
            return Err(refused(
                &format!("{index}/{count}"),
                &format!("K counts from 0, so it must be below N (0 to {})", count - 1),
            ));
        }
        Ok(Shard { index, count })
    }

    /// K, counting from 0 (a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`).
    pub fn index(self) -> u64 {
        self.index
    }

    /// N, the number of shards.
    pub fn count(self) -> u64 {
        self.count
    }

    /// Whether this is the only shard.
    pub fn is_all(self) -> bool {
        self.count == 1
    }

    /// Whether `name` (the key, relative to the storage's root) falls in this shard.
    pub fn contains(self, name: &str) -> bool {
        self.is_all() || shard_hash(name) % self.count == self.index
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::ALL
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `K/N` in decimal, such as `0/4` or `3/4`.
    fn from_str(text: &str) -> Result<Self> {
        let Some((index, count)) = text.split_once('/') else {
            return Err(refused(text, "write it as K/N, such as 0/4 (the first of four shards)"));
        };
        let number = |part: &str, which: &str| {
            // `u64::from_str` takes a leading `+`; a shard number is digits only.
            part.bytes()
                .all(|byte| byte.is_ascii_digit())
                .then(|| part.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| refused(text, &format!("{which} `{part}` is not a whole number")))
        };
        Shard::new(number(index, "K")?, number(count, "N")?)
    }
}

/// What [`Shard::from_str`] and [`Shard::new`] refuse: the shard given and why, one line.
fn refused(text: &str, reason: &str) -> Error {
    Error::invalid_argument(None, format!("shard `{text}` is not valid: {reason}"))
}

/// rclone's `--hash-filter` hash of `name`: MD5 of the NFC form, lower-cased, as a little-endian `u64`.
fn shard_hash(name: &str) -> u64 {
    let mut hasher = Md5::new();
    let mut buffer = [0u8; 4];
    for lower in name.nfc().flat_map(go_to_lower) {
        hasher.update(lower.encode_utf8(&mut buffer).as_bytes());
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// Go's `unicode.ToLower` on one character: Unicode's simple lower-case mapping. Rust's `char::to_lowercase` is the
/// full mapping, which differs only where it yields more than one character: `İ` (U+0130), whose simple mapping
/// is `i`.
fn go_to_lower(c: char) -> impl Iterator<Item = char> {
    let mut full = c.to_lowercase();
    let simple = if full.len() == 1 { full.next().unwrap_or(c) } else { 'i' };
    std::iter::once(simple)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_as_k_of_n_and_refuse_the_rest_with_the_reason() {
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::ALL);
        assert_eq!("3/4".parse::<Shard>().unwrap().to_string(), "3/4");
        for (text, reason) in [
            ("0/0", "N must be at least 1"),
            ("5/4", "K counts from 0, so it must be below N (0 to 3)"),
            ("4/4", "below N"),
            ("x/3", "K `x` is not a whole number"),
            ("1/y", "N `y` is not a whole number"),
            ("+1/3", "K `+1` is not a whole number"),
            ("-1/3", "K `-1` is not a whole number"),
            ("/3", "K `` is not a whole number"),
            ("3", "write it as K/N"),
            ("1/2/3", "N `2/3` is not a whole number"),
            ("1/99999999999999999999", "N `99999999999999999999` is not a whole number"),
        ] {
            let err = text.parse::<Shard>().unwrap_err();
            assert_eq!(err.kind(), storage_core::ErrorKind::InvalidArgument, "{text}");
            let message = err.to_string();
            assert!(message.contains(reason) && message.contains(&format!("`{text}`")), "{text}: {message}");
        }
    }

    /// Go's `norm.NFC` and `strings.ToLower` rules, as rclone's filter applies them (the differential against rclone
    /// itself is `storage-cli`'s `shards` test).
    #[test]
    fn the_hash_lower_cases_and_normalises_like_go() {
        // Case and normalisation never move a name to another shard.
        assert_eq!(shard_hash("Photos/IMG_0001.JPG"), shard_hash("photos/img_0001.jpg"));
        assert_eq!(shard_hash("cafe\u{301}.txt"), shard_hash("CAF\u{c9}.txt"));
        // Go maps `İ` to `i` alone, Rust's full mapping to `i` and a combining dot.
        assert_eq!(shard_hash("\u{130}stanbul"), shard_hash("istanbul"));
        // Go has no final-sigma rule: `Σ` at a word's end is `σ`, not `ς`.
        assert_eq!(shard_hash("ΟΔΟΣ"), shard_hash("οδοσ"));
        assert_ne!(shard_hash("ΟΔΟΣ"), shard_hash("οδος"));
        let digest = Md5::digest(b"a");
        assert_eq!(shard_hash("A"), u64::from_le_bytes(digest[..8].try_into().unwrap()));
    }

    proptest::proptest! {
        /// For any N and any set of names, every name is in exactly one of the N shards: the shards are disjoint
        /// and together cover the set.
        #[test]
        fn the_shards_of_any_set_are_disjoint_and_cover_it(
            count in 1u64..64,
            names in proptest::collection::btree_set("\\PC{1,40}", 0..200),
        ) {
            for name in &names {
                let homes = (0..count).filter(|&index| Shard::new(index, count).unwrap().contains(name)).count();
                proptest::prop_assert_eq!(homes, 1, "`{}` is in {} shards of {}", name, homes, count);
            }
        }
    }
}

//! Naming, checked against Django itself: `get_valid_name`, `storage_generate_filename` and the `AvailableNames` loop
//! give Django 5.2's answers for 10,000 generated names each (`STORAGE_DJANGO_CASES` for more), run through
//! `xtask/scripts/django_names.py` in the Python peer's virtualenv (`xtask/scripts/python-peer.sh`, from PyPI).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use storage_core::name::{AvailableNames, get_valid_name, storage_generate_filename};

/// Where Django's alternative names hold their random part (the script writes seven of these instead).
const RANDOM_MARK: char = '\u{e000}';

/// Inclusive ranges of code points to draw from: every general category, in blocks assigned by Unicode 6.1, so
/// Python 3.11's tables (Unicode 14) and ours agree on them.
const POOLS: &[(u32, u32)] = &[
    (0x00, 0x1f),       // Cc, including the separators U+001C-001F that Python's strip() removes
    (0x7f, 0x9f),       // Cc, with U+0085 (a space to Python)
    (0x20, 0x7e),       // ASCII: letters, digits, punctuation, symbols
    (0x20, 0x20),       // Zs: the one space that becomes `_`
    (0xa0, 0xa0),       // Zs
    (0x1680, 0x1680),   // Zs
    (0x2000, 0x200f),   // Zs, then Cf (zero-width space, joiners, direction marks)
    (0x2028, 0x202f),   // Zl, Zp, Cf, Zs
    (0x205f, 0x2064),   // Zs, Cf
    (0x3000, 0x3007),   // Zs, Po, So, Lm (々), Lo, Nl (〇)
    (0xfeff, 0xfeff),   // Cf: byte-order mark
    (0xad, 0xbf),       // Cf (soft hyphen), So, No (², ³, ¹, ¼, ½, ¾), Po, Pi, Pf
    (0xc0, 0x17f),      // Lu, Ll: Latin-1 and Latin Extended-A
    (0x1c4, 0x1cc),     // Lt: Dž, Lj, Nj
    (0x2b0, 0x2ff),     // Lm, Sk
    (0x300, 0x36f),     // Mn: combining diacritics (a decomposed accent)
    (0x370, 0x3ff),     // Greek
    (0x400, 0x48f),     // Cyrillic, with Me U+0488-0489
    (0x5d0, 0x5ea),     // Lo: Hebrew
    (0x610, 0x669),     // Mn, Lo, Nd: Arabic marks, letters, digits
    (0x900, 0x97f),     // Devanagari: Mn, Mc vowel signs, Lo, Nd
    (0xe01, 0xe5b),     // Thai: Lo, Mn marks, Nd
    (0x1f88, 0x1f8f),   // Lt: Greek with prosgegrammeni
    (0x2010, 0x2027),   // Pd, Pi, Pf, Po
    (0x203f, 0x2040),   // Pc: connectors other than `_`
    (0x2070, 0x2079),   // No: superscripts
    (0x20a0, 0x20b5),   // Sc
    (0x20d0, 0x20e0),   // Mn, Me
    (0x2160, 0x2188),   // Nl: Roman numerals
    (0x2200, 0x22ff),   // Sm
    (0x2460, 0x24ff),   // No, So: circled digits, circled letters (alphabetic to Unicode, not to Python)
    (0x4e00, 0x4fff),   // Lo: CJK
    (0xac00, 0xacff),   // Lo: Hangul
    (0xe001, 0xe0ff),   // Co: private use (U+E000 is the test's own mark)
    (0xfe33, 0xfe34),   // Pc
    (0xff10, 0xff5a),   // Nd, Lu, Ll: full-width
    (0x10400, 0x1044f), // Lu, Ll: Deseret
    (0x1d400, 0x1d4ff), // mathematical alphanumerics
    (0x1f600, 0x1f64f), // So: emoji
    (0x20000, 0x2a6d6), // Lo: CJK Extension B
];

/// The separators and dots that decide how a path splits, drawn often.
const STRUCTURE: &[&str] = &["/", "//", "\\", ".", "..", " ", "_", "-", ".txt", ".tar.gz", "a", "Z", "9", "\t"];

/// A deterministic generator (xorshift), so a failure names a case that reruns the same way.
struct Names(u64);

impl Names {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A name of up to 24 pieces: a character from a random pool, or a separator or dot sequence.
    fn name(&mut self) -> String {
        let pieces = self.below(25);
        let mut name = String::new();
        for _ in 0..pieces {
            if self.below(3) == 0 {
                name.push_str(STRUCTURE[self.below(STRUCTURE.len() as u64) as usize]);
            } else {
                let (low, high) = POOLS[self.below(POOLS.len() as u64) as usize];
                let code = low + self.below(u64::from(high - low + 1)) as u32;
                name.extend(char::from_u32(code));
            }
        }
        name
    }
}

/// Django's answer: a name, or the class of the exception it raised.
type Answer = Result<String, String>;

/// Runs every request through Django in one Python process.
fn django(requests: &[Value]) -> Vec<Answer> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../xtask/scripts");
    let peer = Command::new("bash").arg(format!("{root}/python-peer.sh")).output().expect("run python-peer.sh");
    assert!(peer.status.success(), "cannot install Django: {}", String::from_utf8_lossy(&peer.stderr));
    let python = String::from_utf8(peer.stdout).unwrap().trim().to_owned();
    let mut child = Command::new(python)
        .arg(format!("{root}/django_names.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start Django");
    let mut stdin = child.stdin.take().unwrap();
    let input: String = requests.iter().map(|request| format!("{request}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let answers: Vec<Answer> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|line| {
            let answer: Value = serde_json::from_str(&line.unwrap()).unwrap();
            match (&answer["ok"], &answer["err"]) {
                (Value::String(name), _) => Ok(name.clone()),
                (_, Value::String(class)) => Err(class.clone()),
                _ => panic!("not an answer: {answer}"),
            }
        })
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success(), "django_names.py failed");
    assert_eq!(answers.len(), requests.len(), "one answer a request");
    answers
}

/// Ours equals Django's, where Django's random part matches seven ASCII alphanumerics of ours.
fn same(ours: &storage_core::Result<String>, theirs: &Answer) -> bool {
    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) => {
            let (ours, theirs): (Vec<char>, Vec<char>) = (ours.chars().collect(), theirs.chars().collect());
            ours.len() == theirs.len()
                && ours.iter().zip(&theirs).all(|(o, t)| o == t || (*t == RANDOM_MARK && o.is_ascii_alphanumeric()))
        }
        (Err(_), Err(class)) => class == "SuspiciousFileOperation",
        _ => false,
    }
}

/// Django's `get_available_name` over a storage where the original name exists when `taken`, and the first `extra`
/// other names asked about exist: the same script as the Python side's.
fn available(name: &str, max_length: Option<usize>, taken: bool, mut extra: u64) -> storage_core::Result<String> {
    let original = name.replace('\\', "/");
    let mut names = AvailableNames::new(name, max_length)?;
    loop {
        let candidate = names.next_candidate()?;
        let exists = if candidate == original {
            taken
        } else if extra > 0 {
            extra -= 1;
            true
        } else {
            false
        };
        if !exists {
            return Ok(candidate);
        }
    }
}

fn cases() -> usize {
    std::env::var("STORAGE_DJANGO_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

#[test]
fn naming_matches_django_5_2_on_generated_names() {
    let mut names = Names(0x5eed_d1a0_9000_0001);
    let count = cases();
    let mut requests = Vec::new();
    let mut ours: Vec<storage_core::Result<String>> = Vec::new();
    for _ in 0..count {
        let name = names.name();
        ours.push(get_valid_name(&name));
        requests.push(json!({"fn": "valid", "name": name}));
    }
    for _ in 0..count {
        let name = names.name();
        ours.push(storage_generate_filename(&name));
        requests.push(json!({"fn": "generate", "name": name}));
    }
    for _ in 0..count {
        let name = names.name();
        let max_length = match names.below(4) {
            0 => None,
            _ => Some(names.below(48) as usize),
        };
        let (taken, extra) = (names.below(2) == 0, names.below(3));
        ours.push(available(&name, max_length, taken, extra));
        requests
            .push(json!({"fn": "available", "name": name, "max_length": max_length, "taken": taken, "extra": extra}));
    }
    let theirs = django(&requests);
    let differences: Vec<String> = requests
        .iter()
        .zip(ours.iter().zip(&theirs))
        .filter(|(_, (ours, theirs))| !same(ours, theirs))
        .map(|(request, (ours, theirs))| format!("{request}: ours {ours:?}, Django {theirs:?}"))
        .collect();
    assert!(
        differences.is_empty(),
        "{} of {} names differ from Django, the first ones:\n{}",
        differences.len(),
        requests.len(),
        differences.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

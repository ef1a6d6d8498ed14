//! What the command prints: a line of text per result, or with `--json` one JSON value per result (and errors as
//! JSON on standard error); hints for a person at a terminal.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::error::{CliError, one_line};

/// How results are printed: `--json` or text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// A line of text per result, for a person.
    Text,
    /// One JSON value per result, for a script.
    Json,
}

impl Output {
    /// `--json`'s choice.
    pub(crate) fn chosen_by(json: bool) -> Output {
        if json { Output::Json } else { Output::Text }
    }

    /// One result: `text` for a person, `value` for a script.
    pub(crate) fn print(self, text: impl Display, value: Value) {
        match self {
            Output::Text => println!("{text}"),
            Output::Json => println!("{value}"),
        }
    }

    /// A result that only a script is told of: as text, the command says nothing when it succeeds.
    pub(crate) fn print_json(self, value: Value) {
        if self == Output::Json {
            println!("{value}");
        }
    }

    /// The error that ended `command`, on standard error: one line, or JSON.
    pub(crate) fn error(self, err: &CliError, command: &str) {
        match self {
            Output::Text => eprintln!("{}", one_line(err)),
            Output::Json => eprintln!("{}", err.to_json(command)),
        }
    }
}

/// `name: value` lines and the same pairs as a JSON object: the headers of a presigned PUT, the fields of a form.
pub(crate) fn pairs(pairs: &[(String, String)]) -> (impl Iterator<Item = String> + '_, serde_json::Map<String, Value>) {
    let lines = pairs.iter().map(|(name, value)| format!("{name}: {value}"));
    (lines, pairs.iter().map(|(name, value)| (name.clone(), Value::from(value.as_str()))).collect())
}

/// Print `hint` on a terminal's standard error once per terminal session, remembered by a marker file in
/// `$XDG_RUNTIME_DIR` (else the embedded default's `.storage/`). Scripts, whose standard error is no terminal, never
/// see it.
pub(crate) fn say_once_per_session(topic: &str, hint: &str) {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return;
    }
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(storage_config::DEFAULT_LOCATION).join(storage_fs::RESERVED_DIR));
    let marker = dir.join(format!("storage-hint-{topic}-{}", terminal_session().unwrap_or(0)));
    // Created only if absent, so two commands racing in one session print it once.
    if std::fs::OpenOptions::new().write(true).create_new(true).open(&marker).is_ok() {
        eprintln!("storage: {hint}");
    }
}

/// The session of this process (the terminal's login shell and everything started from it), from `/proc`.
pub(crate) fn terminal_session() -> Option<u32> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name in parentheses: state, parent, process group, session.
    stat.rsplit_once(')')?.1.split_whitespace().nth(3)?.parse().ok()
}

/// `10m`, `2h`, `90s`: a duration in the largest unit that states it exactly, as `--expires` takes it.
pub(crate) fn short_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (count, unit) = [(86_400, "d"), (3_600, "h"), (60, "m")]
        .into_iter()
        .find(|(size, _)| seconds >= *size && seconds % size == 0)
        .map_or((seconds, "s"), |(size, unit)| (seconds / size, unit));
    format!("{count}{unit}")
}

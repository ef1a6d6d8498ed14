//! Names to migrate that come from somewhere else than a listing of the source: a list of names, read as rclone's
//! `--files-from` reads one, for [`crate::migrate_names`]. A shard given one lists nothing.

use futures::Stream;
use storage_core::{Error, Result, validate_key};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// The longest line a list of names may hold: a name is at most 1024 bytes, with room for indentation around it.
pub const MAX_LIST_LINE_BYTES: usize = 4096;

/// The names in `reader`, one a line, read as rclone's `--files-from` reads them: spaces around a name and `/` at
/// its ends are dropped, and empty lines and lines starting with `#` or `;` are skipped. Every name is checked as a
/// key; a bad one, a line that is not UTF-8 or one longer than [`MAX_LIST_LINE_BYTES`] ends the stream with an
/// error naming `origin` and the line's number. Lines are read one at a time, so a list of any length streams.
pub fn names_from_list<R>(reader: R, origin: &str) -> impl Stream<Item = Result<String>> + Send + use<R>
where
    R: AsyncBufRead + Unpin + Send,
{
    let state = (reader, 0usize, Vec::new(), origin.to_owned(), false);
    futures::stream::unfold(state, |(mut reader, mut number, mut line, origin, failed)| async move {
        if failed {
            return None;
        }
        loop {
            number += 1;
            line.clear();
            let limit = MAX_LIST_LINE_BYTES as u64 + 1;
            let read = (&mut reader).take(limit).read_until(b'\n', &mut line).await;
            match read {
                Ok(0) => return None,
                Ok(_) => {}
                Err(err) => {
                    let err = Error::invalid_argument(None, format!("{origin}: reading line {number} failed: {err}"));
                    return Some((Err(err), (reader, number, line, origin, true)));
                }
            }
            match name_on_line(&line) {
                Ok(None) => continue,
                Ok(Some(name)) => return Some((Ok(name), (reader, number, line, origin, false))),
                Err(reason) => {
                    let err = Error::invalid_argument(None, format!("{origin} line {number}: {reason}"));
                    return Some((Err(err), (reader, number, line, origin, true)));
                }
            }
        }
    })
}

/// The name on one line (with its `\n`), `None` for a blank line or a comment, or why the line is refused.
fn name_on_line(line: &[u8]) -> std::result::Result<Option<String>, String> {
    if line.len() > MAX_LIST_LINE_BYTES && !line.ends_with(b"\n") {
        return Err(format!("the line is longer than {MAX_LIST_LINE_BYTES} bytes; write one name a line"));
    }
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|_| "the line is not UTF-8; names are UTF-8 text".to_owned())?;
    let text = text.trim();
    if text.is_empty() || text.starts_with(['#', ';']) {
        return Ok(None);
    }
    let name = text.trim_matches('/');
    validate_key(name).map_err(|err| format!("`{name}` is not a valid name: {}", err.message().unwrap_or("")))?;
    Ok(Some(name.to_owned()))
}

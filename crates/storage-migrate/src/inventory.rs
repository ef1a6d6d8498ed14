//! An S3 Inventory as the names to migrate: its `manifest.json` and CSV (gzip) data files, read from any storage, so
//! a shard of a bucket of hundreds of millions of objects lists nothing to find its part.
//!
//! The manifest is AWS's documented format (`sourceBucket`, `destinationBucket`, `fileFormat`, `fileSchema`,
//! `files[] {key, size, MD5checksum}`); each `files[].key` is a name in the storage the manifest is read from. A data
//! file is streamed to a temporary file while its MD5 is computed, and only a file whose size and MD5 match the
//! manifest's is read, a row at a time (gunzip, then the `csv` crate); its `Key` column is URL-encoded, as S3
//! writes it. Nothing is held in memory but one row and the channel of names ahead of the copies.
//!
//! What a manifest written by someone else can make us do is bounded: at most [`MAX_MANIFEST_BYTES`] of manifest,
//! [`MAX_INVENTORY_FILES`] data files of at most [`MAX_DATA_FILE_BYTES`], rows of [`MAX_INVENTORY_LINE_BYTES`] and
//! [`MAX_INVENTORY_ROWS`] rows in all.

use std::io::{BufRead, BufReader, Read, Seek, Write};

use futures::{Stream, TryStreamExt};
use md5::{Digest, Md5};
use serde::Deserialize;
use storage_core::{Error, Result, Storage, validate_key};
use tokio::sync::mpsc;

/// The largest manifest read: AWS's list one data file per ~100 MB of rows, so 16 MiB is room for ~100,000 files.
pub const MAX_MANIFEST_BYTES: usize = 16 << 20;
/// The most data files one manifest may list.
pub const MAX_INVENTORY_FILES: usize = 100_000;
/// The largest data file fetched (to a temporary file, to check its MD5 before a row is used): S3 writes them far
/// smaller, so this only bounds the disk a forged manifest can make us fill.
pub const MAX_DATA_FILE_BYTES: u64 = 8 << 30;
/// The longest CSV row once unzipped (newlines in quoted fields included): a row holds a URL-encoded key of at most 1024 bytes (3 bytes a byte at
/// most) and a few short columns.
pub const MAX_INVENTORY_LINE_BYTES: usize = 8 << 10;
/// The most rows one inventory may hold: S3 Batch Operations' own limit for one job (20 billion objects).
pub const MAX_INVENTORY_ROWS: u64 = 20_000_000_000;

/// Names queued between the reading thread and the copies.
const NAMES_AHEAD: usize = 1024;

/// `manifest.json`, as S3 Inventory writes it (unknown fields, such as `version`, are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    /// The bucket inventoried; reported, never used as a name.
    #[serde(rename = "sourceBucket")]
    _source_bucket: String,
    /// Where S3 wrote the inventory (an ARN); the data files are read from the manifest's own storage instead.
    #[serde(rename = "destinationBucket")]
    _destination_bucket: String,
    file_format: String,
    file_schema: String,
    files: Vec<DataFile>,
}

/// One data file of the manifest.
#[derive(Debug, Clone, Deserialize)]
struct DataFile {
    key: String,
    size: u64,
    #[serde(rename = "MD5checksum")]
    md5_checksum: String,
}

/// A manifest that can be read: CSV, with a `Key` column, and data files within the bounds.
#[derive(Debug)]
struct Checked {
    key_column: usize,
    files: Vec<DataFile>,
}

/// Parse and check `bytes` as a manifest; `origin` names it in errors.
fn parse_manifest(bytes: &[u8], origin: &str) -> Result<Checked> {
    let refuse = |reason: String| Error::invalid_argument(None, format!("inventory manifest `{origin}`: {reason}"));
    let manifest: Manifest = serde_json::from_slice(bytes)
        .map_err(|err| refuse(format!("not an S3 Inventory manifest.json ({err}); give the manifest's name")))?;
    if manifest.file_format != "CSV" {
        return Err(refuse(format!(
            "its fileFormat is `{}`; only CSV inventories can be read, so configure the inventory as CSV",
            shortened(&manifest.file_format)
        )));
    }
    let key_column = manifest
        .file_schema
        .split(',')
        .position(|column| column.trim() == "Key")
        .ok_or_else(|| refuse("its fileSchema has no `Key` column".to_owned()))?;
    if manifest.files.len() > MAX_INVENTORY_FILES {
        return Err(refuse(format!("it lists more than {MAX_INVENTORY_FILES} data files; split the inventory")));
    }
    for file in &manifest.files {
        validate_key(&file.key).map_err(|err| {
            let reason = shortened(err.message().unwrap_or(""));
            refuse(format!("data file `{}` is not a valid name: {reason}", shortened(&file.key)))
        })?;
        if file.size > MAX_DATA_FILE_BYTES {
            return Err(refuse(format!("data file `{}` is larger than {MAX_DATA_FILE_BYTES} bytes", file.key)));
        }
        if file.md5_checksum.len() != 32 || !file.md5_checksum.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(refuse(format!("data file `{}` has no MD5checksum of 32 hex digits", file.key)));
        }
    }
    Ok(Checked { key_column, files: manifest.files })
}

/// The names of the S3 Inventory whose `manifest.json` is `manifest` in `storage`, row by row, data file by data
/// file; its data files are read from `storage` too. The manifest is read and checked before this returns; a data
/// file that differs from the manifest's size or MD5, or a row refused, ends the stream with an error.
pub async fn names_from_inventory(
    storage: &Storage,
    manifest: &str,
) -> Result<impl Stream<Item = Result<String>> + Send + use<>> {
    let checked = parse_manifest(&read_bounded(storage, manifest, MAX_MANIFEST_BYTES).await?, manifest)?;
    let (sender, receiver) = mpsc::channel(NAMES_AHEAD);
    let (storage, manifest) = (storage.clone(), manifest.to_owned());
    tokio::spawn(async move {
        let mut rows = 0;
        for file in checked.files {
            let sent = send_file_names(&storage, &manifest, &file, checked.key_column, rows, sender.clone()).await;
            match sent {
                Ok(Some(total)) => rows = total,
                Ok(None) => return, // the migration stopped reading
                Err(err) => {
                    let _ = sender.send(Err(err)).await;
                    return;
                }
            }
        }
    });
    Ok(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ))
}

/// `name` in `storage`, refused if it holds more than `limit` bytes.
async fn read_bounded(storage: &Storage, name: &str, limit: usize) -> Result<Vec<u8>> {
    let opened = storage.open(name).await?;
    let mut bytes = Vec::new();
    let mut stream = opened.stream;
    let backend = storage.backend().name().to_owned();
    while let Some(chunk) = stream.try_next().await.map_err(|err| Error::from_io(&backend, Some(name), err))? {
        if bytes.len() + chunk.len() > limit {
            return Err(Error::invalid_argument(
                Some(name),
                format!("inventory manifest `{name}` is larger than {limit} bytes; it is not an S3 Inventory manifest"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Fetch `file` to a temporary file, check its size and MD5, then send its names; the rows counted so far after
/// it, or `None` once nobody reads the names any more.
async fn send_file_names(
    storage: &Storage,
    manifest: &str,
    file: &DataFile,
    key_column: usize,
    rows_before: u64,
    sender: mpsc::Sender<Result<String>>,
) -> Result<Option<u64>> {
    let local = fetch_checked(storage, manifest, file).await?;
    let (manifest, key) = (manifest.to_owned(), file.key.clone());
    let read = tokio::task::spawn_blocking(move || {
        let mut rows = rows_before;
        let complete = names_in_data_file(local, key_column, |name| {
            rows += 1;
            if rows > MAX_INVENTORY_ROWS {
                return Err(format!("the inventory holds more than {MAX_INVENTORY_ROWS} rows"));
            }
            Ok(sender.blocking_send(Ok(name)).is_ok())
        });
        complete.map(|complete| complete.then_some(rows)).map_err(|reason| {
            Error::invalid_argument(None, format!("inventory `{manifest}`, data file `{key}`: {reason}"))
        })
    });
    read.await
        .map_err(|err| Error::backend("inventory", Some(&file.key), format!("reading the data file stopped: {err}")))?
}

/// `file` from `storage` in a temporary file, once its size and MD5 match the manifest's.
async fn fetch_checked(storage: &Storage, manifest: &str, file: &DataFile) -> Result<std::fs::File> {
    let refuse = |reason: &str| {
        Error::invalid_argument(
            Some(&file.key),
            format!("inventory `{manifest}`, data file `{}`: {reason}; regenerate the inventory", file.key),
        )
    };
    let io = |err: std::io::Error| Error::from_io("inventory", Some(&file.key), err);
    let mut local = tempfile::tempfile().map_err(io)?;
    let mut hasher = Md5::new();
    let mut size = 0u64;
    let mut stream = storage.open(&file.key).await?.stream;
    while let Some(chunk) = stream.try_next().await.map_err(io)? {
        size += chunk.len() as u64;
        if size > file.size {
            return Err(refuse("it is larger than the manifest's size"));
        }
        hasher.update(&chunk);
        local.write_all(&chunk).map_err(io)?;
    }
    if size != file.size {
        return Err(refuse("its size differs from the manifest's"));
    }
    if hex::encode(hasher.finalize()) != file.md5_checksum.to_ascii_lowercase() {
        return Err(refuse("its MD5 differs from the manifest's MD5checksum"));
    }
    local.rewind().map_err(io)?;
    Ok(local)
}

/// Each row's name of the gzip CSV `data`, given to `each` (which answers whether to go on); whether every row was
/// read, or why a row or the file is refused.
fn names_in_data_file(
    data: impl Read,
    key_column: usize,
    mut each: impl FnMut(String) -> std::result::Result<bool, String>,
) -> std::result::Result<bool, String> {
    let unzipped = RowBound { inner: BufReader::new(flate2::read::MultiGzDecoder::new(data)), run: 0, quoted: false };
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(unzipped);
    let mut record = csv::StringRecord::new();
    let mut line = 0u64;
    loop {
        line += 1;
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(true),
            Ok(true) => {}
            Err(err) => return Err(format!("row {line} cannot be read ({err})")),
        }
        let encoded = record.get(key_column).ok_or_else(|| format!("row {line} has no Key column"))?;
        let name = decode_key(encoded).ok_or_else(|| format!("row {line}: its Key is not URL-encoded UTF-8"))?;
        validate_key(&name).map_err(|err| {
            let reason = shortened(err.message().unwrap_or(""));
            format!("row {line}: `{}` is not a valid name: {reason}", shortened(&name))
        })?;
        if !each(name)? {
            return Ok(false);
        }
    }
}

/// The longest part of a name quoted in an error: enough to find the row, never a row's worth.
const QUOTED_CHARS: usize = 200;

/// `text` cut to [`QUOTED_CHARS`] characters (with `…` when cut), for an error message.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// An inventory's `Key` column: URL-encoded, with `+` for a space.
fn decode_key(encoded: &str) -> Option<String> {
    let spaced = encoded.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(|name| name.into_owned())
}

/// A reader that refuses a CSV row longer than [`MAX_INVENTORY_LINE_BYTES`], so a row never grows without bound: a
/// newline inside a quoted field does not end the row (a doubled `""` toggles twice, so it keeps the state).
struct RowBound<R> {
    inner: R,
    /// Bytes since the last newline outside quotes.
    run: usize,
    /// Inside a quoted field.
    quoted: bool,
}

impl<R: BufRead> Read for RowBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        for &byte in &buf[..read] {
            self.quoted ^= byte == b'"';
            self.run = if byte == b'\n' && !self.quoted { 0 } else { self.run + 1 };
            if self.run > MAX_INVENTORY_LINE_BYTES {
                let message = format!("a row is longer than {MAX_INVENTORY_LINE_BYTES} bytes");
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
            }
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text).unwrap();
        encoder.finish().unwrap()
    }

    fn names(data: &[u8], key_column: usize) -> std::result::Result<Vec<String>, String> {
        let mut names = Vec::new();
        names_in_data_file(data, key_column, |name| {
            names.push(name);
            Ok(true)
        })
        .map(|_| names)
    }

    #[test]
    fn rows_give_their_decoded_keys_and_refuse_what_is_not_a_name() {
        let csv = b"\"bucket\",\"photos/a+b%2Bc.jpg\",\"12\"\n\"bucket\",\"caf%C3%A9/%23tag.txt\",\"3\"\n";
        assert_eq!(names(&gzip(csv), 1).unwrap(), ["photos/a b+c.jpg", "café/#tag.txt"]);
        let bad = names(&gzip(b"\"bucket\",\"a/%2E%2E/etc\"\n"), 1).unwrap_err();
        assert!(bad.contains("row 1") && bad.contains("`a/../etc` is not a valid name"), "{bad}");
        let long = [b"b,".as_slice(), &vec![b'x'; MAX_INVENTORY_LINE_BYTES + 1], b"\n"].concat();
        assert!(names(&gzip(&long), 1).unwrap_err().contains("longer than"));
        assert!(names(&gzip(b"b\n"), 1).unwrap_err().contains("row 1 has no Key column"));
        assert!(names(b"not gzip", 1).is_err());
    }

    /// Newlines inside a quoted field do not end the row: a field of a million of them is refused once the row
    /// passes the bound, with a short error, rather than read whole and quoted back in the error.
    #[test]
    fn a_quoted_field_of_newlines_is_refused_at_the_row_bound_with_a_short_error() {
        let csv = [b"b,\"".as_slice(), &vec![b'\n'; 1 << 20], b"\"\n"].concat();
        let err = names(&gzip(&csv), 1).unwrap_err();
        assert!(err.contains("a row is longer than"), "{}", &err[..err.len().min(300)]);
        assert!(err.len() < 400, "the error is bounded, not {} bytes", err.len());
        let name = [b"b,\"".as_slice(), &vec![b'\x01'; MAX_INVENTORY_LINE_BYTES - 8], b"\"\n"].concat();
        let err = names(&gzip(&name), 1).unwrap_err();
        assert!(err.contains("is not a valid name") && err.len() < 600, "{} bytes: {}", err.len(), &err[..300]);
    }

    #[test]
    fn a_manifest_that_is_not_a_csv_inventory_within_bounds_is_refused() {
        let manifest = |format: &str, schema: &str, files: &str| {
            format!(
                r#"{{"sourceBucket":"media","destinationBucket":"arn:aws:s3:::inv","fileFormat":"{format}",
                "fileSchema":"{schema}","files":[{files}]}}"#
            )
        };
        let file = r#"{"key":"inv/data/1.csv.gz","size":10,"MD5checksum":"f11166069f1990abeb9c97ace9cdfabc"}"#;
        let good = parse_manifest(manifest("CSV", "Bucket, Key, Size", file).as_bytes(), "m").unwrap();
        assert_eq!((good.key_column, good.files.len()), (1, 1));
        for (text, said) in [
            (manifest("ORC", "Bucket, Key", file), "fileFormat is `ORC`"),
            (manifest("CSV", "Bucket, Size", file), "no `Key` column"),
            (manifest("CSV", "Key", &file.replace("inv/data", "../x")), "is not a valid name"),
            (manifest("CSV", "Key", &file.replace("f111", "zz11")), "32 hex digits"),
            (manifest("CSV", "Key", &file.replace(":10,", ":8589934593,")), "larger than 8589934592 bytes"),
            (manifest("CSV", "Key", &vec![file; MAX_INVENTORY_FILES + 1].join(",")), "more than 100000 data files"),
            ("{}".to_owned(), "not an S3 Inventory manifest.json"),
        ] {
            let err = parse_manifest(text.as_bytes(), "m").unwrap_err().to_string();
            assert!(err.contains(said), "{said}: {err}");
        }
    }

    proptest::proptest! {
        /// Arbitrary bytes, and manifests built from arbitrary parts, never panic the parser; whatever it accepts
        /// is a CSV manifest whose data files are valid names with an MD5 of 32 hex digits.
        #[test]
        fn fuzz_inventory_manifest(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            format in "CSV|ORC|csv|\\PC{0,4}",
            schema in "(Bucket|Key|Size|\\PC{0,6})(, ?(Bucket|Key|Size|\\PC{0,6})){0,4}",
            key in "\\PC{0,24}",
            md5 in "[0-9a-fA-Fz]{30,34}",
            size in proptest::num::u64::ANY,
        ) {
            let _ = parse_manifest(&bytes, "fuzz");
            let manifest = serde_json::json!({
                "sourceBucket": "b", "destinationBucket": "d", "fileFormat": format, "fileSchema": schema,
                "files": [{ "key": key, "size": size, "MD5checksum": md5 }],
            });
            if let Ok(checked) = parse_manifest(manifest.to_string().as_bytes(), "fuzz") {
                proptest::prop_assert_eq!(format.as_str(), "CSV");
                proptest::prop_assert!(validate_key(&checked.files[0].key).is_ok());
                proptest::prop_assert_eq!(checked.files[0].md5_checksum.len(), 32);
            }
        }

        /// Arbitrary bytes, gzip or not, and CSV rows with arbitrary keys never panic the reader; every name it
        /// gives is a valid key, decoded from its row.
        #[test]
        fn fuzz_inventory_data_file(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            keys in proptest::collection::vec("[\\PC%+\",\\n]{0,40}", 0..16),
        ) {
            let _ = names(&bytes, 1);
            let _ = names(&gzip(&bytes), 0);
            let csv: String = keys.iter().map(|key| format!("\"bucket\",{key},\"1\"\n")).collect();
            if let Ok(found) = names(&gzip(csv.as_bytes()), 1) {
                for name in found {
                    proptest::prop_assert!(validate_key(&name).is_ok(), "{:?}", name);
                }
            }
        }
    }
}

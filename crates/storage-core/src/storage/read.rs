//! Reading: whole objects, ranges and streams, metadata, and listings (flat, by page, or as Django's `listdir`).

use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};

use super::{Page, Storage, run};
use crate::backend::{GetResult, ListOptions};
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::name::validate_key;
use crate::types::{ByteRange, ListEntry, Metadata, ObjectMeta};

impl Storage {
    /// A streaming reader over the whole object.
    pub async fn open(&self, name: &str) -> Result<GetResult> {
        run(Operation::Open, async {
            validate_key(name)?;
            self.backend.get(name, None).await
        })
        .await
    }

    /// A streaming reader over part of the object.
    pub async fn open_range(&self, name: &str, range: impl Into<ByteRange>) -> Result<GetResult> {
        run(Operation::Open, async {
            validate_key(name)?;
            self.backend.get(name, Some(range.into())).await
        })
        .await
    }

    /// The whole object in memory. For large objects use [`Storage::open`].
    pub async fn read(&self, name: &str) -> Result<Bytes> {
        run(Operation::Read, async {
            let reader = self.open(name).await?;
            let mut buf = BytesMut::with_capacity(usize::try_from(reader.metadata.size()).unwrap_or(0));
            let mut stream = reader.stream;
            while let Some(chunk) =
                stream.try_next().await.map_err(|err| Error::from_io(self.backend_name(), Some(name), err))?
            {
                buf.extend_from_slice(&chunk);
            }
            Ok(buf.freeze())
        })
        .await
    }
    /// Whether `name` exists now (another writer may change that at once: saves never rely on it).
    pub async fn exists(&self, name: &str) -> Result<bool> {
        run(Operation::Exists, async {
            match self.metadata(name).await {
                Ok(_) => Ok(true),
                Err(err) if err.kind() == ErrorKind::NotFound => Ok(false),
                Err(err) => Err(err),
            }
        })
        .await
    }

    /// The size of `name` in bytes.
    pub async fn size(&self, name: &str) -> Result<u64> {
        run(Operation::Metadata, async { Ok(self.metadata(name).await?.size()) }).await
    }

    /// The metadata and attributes of `name`.
    pub async fn metadata(&self, name: &str) -> Result<Metadata> {
        run(Operation::Metadata, async {
            validate_key(name)?;
            self.backend.head(name).await
        })
        .await
    }

    /// Every object under `prefix` (a string prefix), recursively, in key order, fetched page by page.
    pub fn list(&self, prefix: &str) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list_entries(ListOptions::new(prefix))
            .try_filter_map(|entry| async move {
                Ok(match entry {
                    ListEntry::Object(meta) => Some(meta),
                    ListEntry::Prefix(_) => None,
                })
            })
            .boxed()
    }

    /// Objects and (with a delimiter) common prefixes, in key order.
    pub fn list_entries(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        if let Err(err) = validate_prefix(&options.prefix) {
            return futures::stream::once(async move { Err(err.during(Operation::List)) }).boxed();
        }
        let offset = options.offset.clone();
        // Backends may roll a common prefix up again when the offset is that prefix: drop what is not after it.
        self.backend
            .list(options)
            .try_filter(move |entry| {
                let keep = offset.as_deref().is_none_or(|offset| entry.key() > offset);
                async move { keep }
            })
            .map_err(|err| err.during(Operation::List))
            .boxed()
    }

    /// At most `page_size` entries after `options.offset`, and the offset of the next page.
    pub async fn list_page(&self, options: ListOptions, page_size: usize) -> Result<Page> {
        run(Operation::List, async {
            if page_size == 0 {
                return Err(Error::invalid_argument(Some(&options.prefix), "the page size must be at least 1"));
            }
            let mut entries: Vec<ListEntry> = self.list_entries(options).take(page_size + 1).try_collect().await?;
            let next_offset = if entries.len() > page_size {
                entries.truncate(page_size);
                entries.last().map(|entry| entry.key().to_owned())
            } else {
                None
            };
            Ok(Page { entries, next_offset })
        })
        .await
    }

    /// Django's `listdir`: the directories and files directly in `path`, as names relative to it.
    pub async fn listdir(&self, path: &str) -> Result<(Vec<String>, Vec<String>)> {
        run(Operation::List, async {
            let path = path.trim_end_matches('/');
            let prefix = if path.is_empty() { String::new() } else { format!("{path}/") };
            let entries: Vec<ListEntry> =
                self.list_entries(ListOptions::new(prefix.clone()).with_delimiter(true)).try_collect().await?;
            let (mut dirs, mut files) = (Vec::new(), Vec::new());
            for entry in entries {
                match entry {
                    ListEntry::Prefix(p) => dirs.push(p[prefix.len()..].trim_end_matches('/').to_owned()),
                    ListEntry::Object(meta) => files.push(meta.key[prefix.len()..].to_owned()),
                }
            }
            Ok((dirs, files))
        })
        .await
    }
}

/// A listing prefix is a valid key, optionally followed by one `/` (a partial last segment such as `pho` is fine).
fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    validate_key(prefix.strip_suffix('/').unwrap_or(prefix)).map_err(|err| match (err.kind(), err.message()) {
        (ErrorKind::InvalidName, Some(reason)) => Error::invalid_name(prefix, reason),
        _ => err,
    })
}

#[cfg(test)]
mod tests {
    use super::validate_prefix;

    #[test]
    fn prefixes() {
        for ok in ["", "a", "a/", "a/b", "a/b/", "ph"] {
            assert!(validate_prefix(ok).is_ok(), "{ok}");
        }
        for bad in ["/", "/a", "../", "a/../", "a\\b", "a//", "a/.."] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }
}

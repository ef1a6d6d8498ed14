//! Listing: object_store's paginated S3 listing, with objects and common prefixes merged into key order.

use futures::stream::{self, BoxStream, StreamExt};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use storage_core::{Backend, ErrorKind, ListEntry, ListOptions, Result};

use storage_object_store::attributes::to_meta;
use storage_object_store::placeholders::may_be_placeholder;

use crate::S3Backend;
use crate::errors::map_error;
use crate::placeholders::PROBE;

/// Every entry under `options.prefix`, page by page.
pub(crate) fn list(backend: S3Backend, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
    let prefix = format!("{}{}", backend.inner.prefix, options.prefix);
    let offset = options.offset.map(|offset| format!("{}{offset}", backend.inner.prefix));
    let delimiter = options.delimiter;
    let start = Some(PageState { token: None, first: true });
    stream::unfold(start, move |state| {
        let (backend, prefix, offset) = (backend.clone(), prefix.clone(), offset.clone());
        async move {
            let state = state?;
            if !state.first && state.token.is_none() {
                return None;
            }
            let options = PaginatedListOptions {
                offset: offset.clone(),
                delimiter: delimiter.then_some("/".into()),
                page_token: state.token.clone(),
                ..Default::default()
            };
            let listed =
                backend.inner.store.list_paginated(Some(prefix.as_str()).filter(|p| !p.is_empty()), options).await;
            match listed {
                Err(err) => Some((stream::iter(vec![Err(map_error(err, Some(&prefix)))]), None)),
                Ok(page) => {
                    let mut entries: Vec<Result<ListEntry>> = Vec::new();
                    for meta in &page.result.objects {
                        let Some(key) = backend.key_of(meta.location.as_ref()) else { continue };
                        if key.starts_with(PROBE) {
                            continue;
                        }
                        // A placeholder is a tiny object whose HEAD says what it is; it is not listed.
                        if may_be_placeholder(meta.size) {
                            match backend.head(key).await {
                                Err(err) if err.kind() == ErrorKind::NotFound => continue,
                                Err(err) => entries.push(Err(err)),
                                Ok(_) => {}
                            }
                        }
                        entries.push(Ok(ListEntry::Object(to_meta(key, meta))));
                    }
                    for common in &page.result.common_prefixes {
                        if let Some(key) = backend.key_of(common.as_ref()) {
                            entries.push(Ok(ListEntry::Prefix(format!("{key}/"))));
                        }
                    }
                    // S3 returns objects and common prefixes in separate lists: merge them into key order.
                    entries.sort_by(|a, b| match (a, b) {
                        (Ok(a), Ok(b)) => a.key().cmp(b.key()),
                        _ => std::cmp::Ordering::Equal,
                    });
                    Some((stream::iter(entries), Some(PageState { token: page.page_token, first: false })))
                }
            }
        }
    })
    .flatten()
    .boxed()
}

struct PageState {
    token: Option<String>,
    first: bool,
}

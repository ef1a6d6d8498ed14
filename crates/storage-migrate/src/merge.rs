//! The mirror's listing: the members' listings, each in key order, merged into one in key order.

use futures::stream::{BoxStream, StreamExt};
use storage_core::{ListEntry, Result};

/// Merge listings that are each in key order into one in key order, keeping the first stream's entry where
/// several have the same key (a common prefix is the same entry on every member).
pub(crate) fn merge_sorted(
    streams: Vec<BoxStream<'static, Result<ListEntry>>>,
) -> BoxStream<'static, Result<ListEntry>> {
    let heads: Vec<Option<Result<ListEntry>>> = streams.iter().map(|_| None).collect();
    let state = (streams.into_iter().map(|s| s.fuse()).collect::<Vec<_>>(), heads, false);
    futures::stream::unfold(state, |(mut streams, mut heads, failed)| async move {
        if failed {
            return None;
        }
        for (stream, head) in streams.iter_mut().zip(heads.iter_mut()) {
            if head.is_none() {
                *head = stream.next().await;
            }
        }
        if let Some(index) = heads.iter().position(|head| matches!(head, Some(Err(_)))) {
            let err = heads[index].take().expect("an error");
            return Some((err, (streams, heads, true)));
        }
        let smallest = heads
            .iter()
            .filter_map(|head| match head {
                Some(Ok(entry)) => Some(entry.key().to_owned()),
                _ => None,
            })
            .min()?;
        let mut first = None;
        for head in heads.iter_mut() {
            if matches!(head, Some(Ok(entry)) if entry.key() == smallest) {
                let entry = head.take().expect("a head");
                first.get_or_insert(entry);
            }
        }
        Some((first.expect("the smallest entry"), (streams, heads, false)))
    })
    .boxed()
}

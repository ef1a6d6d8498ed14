//! Streaming one object from a backend to another, and a live backfill's copy of one object, which never undoes a
//! write or a delete made through a mirror meanwhile. Shared by migrations and the mirror backend.

use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use md5::{Digest, Md5};
use storage_core::{Backend, Content, ErrorKind, GetResult, ObjectMeta, PutOptions, Result, WriteMode};

use crate::locks::KeyLocks;

/// Stream `from` on `source` to `to` on `target` with its attributes and, where both keep ACLs, its ACL; the MD5 of
/// the bytes sent. `opened` is a read of the whole object already made, so it need not be made again.
pub(crate) async fn copy_object(
    source: &dyn Backend,
    from: &str,
    target: &dyn Backend,
    to: &str,
    mode: WriteMode,
    opened: Option<GetResult>,
) -> Result<[u8; 16]> {
    let object = match opened {
        Some(object) => object,
        None => source.get(from, None).await?,
    };
    let acl = if source.capabilities().acl && target.capabilities().acl { Some(source.acl(from).await?) } else { None };
    let hasher = Arc::new(Mutex::new(Md5::new()));
    let hashing = hasher.clone();
    let stream = object.stream.inspect_ok(move |chunk| hashing.lock().expect("md5").update(chunk));
    let content = Content::from_stream(stream, Some(object.metadata.size()));
    target.put(to, content, PutOptions::new(mode, object.metadata.attributes, acl)).await?;
    let digest = hasher.lock().expect("md5").clone().finalize();
    Ok(digest.into())
}

/// What a live backfill of one object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backfilled {
    /// Copied; the MD5 of the bytes sent.
    Copied([u8; 16]),
    /// The target held the key already: a write through the mirror, newer than the source's object.
    Present,
    /// The source's object changed or went away while it was copied, so the copy was taken back.
    Withdrawn,
}

/// Copy `key` from `source` to `target` where the target lacks it, safely while an app writes to both through a
/// mirror (writes reach both, deletes reach the source before the target's last delete):
/// - the copy is create-only, so an object the app wrote to the target first is never replaced by an older one;
/// - the source is looked at again after the copy: if its object changed or went away meanwhile (an overwrite or a
///   delete through the mirror that this copy raced with), the copy is taken back unless the target holds something
///   newer by now. A copy taken back is what the source now holds, or gone with it; never a resurrected object.
///
/// `opened` is a read of the whole object already made; `locks`, a mirror storage's turns per key.
pub(crate) async fn backfill_one(
    source: &dyn Backend,
    target: &dyn Backend,
    key: &str,
    opened: Option<GetResult>,
    locks: Option<&KeyLocks>,
) -> Result<Backfilled> {
    let _turn = match locks {
        Some(locks) => Some(locks.lock(key).await),
        None => None,
    };
    let object = match opened {
        Some(object) => object,
        None => source.get(key, None).await?,
    };
    let read = object.metadata.meta.clone();
    let md5 = match copy_object(source, key, target, key, WriteMode::CreateOnly, Some(object)).await {
        Err(err) if err.kind() == ErrorKind::AlreadyExists => return Ok(Backfilled::Present),
        other => other?,
    };
    let written = target.head(key).await.map(|meta| meta.meta);
    let unchanged = match source.head(key).await {
        Ok(now) => same_version(&now.meta, &read),
        Err(err) if err.kind() == ErrorKind::NotFound => false,
        Err(err) => return Err(err),
    };
    if unchanged {
        return Ok(Backfilled::Copied(md5));
    }
    // Taken back only while the target still holds this copy: a newer write there stays.
    if let Ok(written) = written
        && let Ok(now) = target.head(key).await
        && same_version(&now.meta, &written)
    {
        target.delete(key).await?;
    }
    Ok(Backfilled::Withdrawn)
}

/// Whether two looks at one backend's object saw the same version of it.
pub(crate) fn same_version(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    a.etag == b.etag && a.size == b.size && a.last_modified == b.last_modified
}

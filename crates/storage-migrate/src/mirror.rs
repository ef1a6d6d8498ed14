//! A backend made of a primary and mirrors, for moving an app between backends without downtime: writes go to all,
//! reads see the union of what the members hold, URLs come from the primary.
//!
//! The move: mirror the new backend behind the old one, backfill with [`crate::migrate()`] in live mode, verify,
//! then flip, so the new one is primary and the old one a mirror that still answers what the backfill missed.
//!
//! The promise, over the union of the members: a name any member holds is taken. A create-only write (the `Unique`
//! and `Fail` policies) claims its name on every member with create-only writes and undoes its claims when one member
//! already holds the name, so a save through a mirror never replaces a file that any member holds unless the policy
//! is `Overwrite`. Writes reach the primary first and deletes reach it last, which is what lets a live backfill in
//! another process notice them (see [`crate::MigrateOptions::with_live`]).

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use storage_core::checksum::md5_from_etag;
use storage_core::upload::{UploadForm, UploadPolicy};
use storage_core::{
    Acl, Attributes, Backend, ByteRange, Capabilities, Content, Error, ErrorKind, GetResult, ListEntry, MirrorOutcome,
};
use storage_core::{ConditionalDelete, ListOptions, Metadata, Method, ObjectMeta, PresignRequest, PresignedRequest};
use storage_core::{PutOptions, PutResult, Result, Storage, WriteMode};

use crate::copy::{backfill_one, copy_object};
use crate::locks::KeyLocks;
use crate::merge::merge_sorted;
use crate::migrate::{MigrateOptions, MigrationReport, Progress, migrate_with};

/// A primary backend and its mirrors, as one [`Backend`] (wrap it in a [`Storage`] for the policy).
///
/// - **Names** are taken when any member holds them: `exists`, `metadata`, `list` and reads answer for the union
///   of the members (the primary's object wins where several hold one), and create-only writes claim the name on
///   every member, undoing the claims made when one member holds it already.
/// - **Writes** (put, copy, rename, set_acl) go to the primary first, then to every mirror. A failed primary write
///   fails the call and leaves the mirrors alone. A failed mirror write fails the call with [`ErrorKind::Mirror`]: a
///   create-only write is then undone everywhere, any other is kept by the primary.
/// - **Deletes** remove the object from the primary, then from the mirrors, then from the primary again, so a
///   backfill that copied it back in between is undone (see [`crate::MigrateOptions::with_live`]).
/// - **Reads** (get, head, acl) come from the primary, and from the mirrors in order when the primary answers
///   `NotFound`. With [`MirrorBackend::with_read_through`], an object found on a mirror is first copied to the
///   primary (create-only, so a newer write wins), and so is one a temporary URL is asked for.
/// - **URLs** come from the primary; without read-through, a temporary URL of an object only a mirror holds comes
///   from that mirror.
#[derive(Debug, Clone)]
pub struct MirrorBackend {
    primary: Arc<dyn Backend>,
    mirrors: Vec<Arc<dyn Backend>>,
    read_through: bool,
    name: String,
    /// Shared by clones: this process's deletes and backfill copies of one key take turns.
    locks: Arc<KeyLocks>,
}

impl MirrorBackend {
    /// A primary and the mirrors every write goes to as well.
    pub fn new(primary: Arc<dyn Backend>, mirrors: Vec<Arc<dyn Backend>>) -> Self {
        let name = std::iter::once(&primary).chain(&mirrors).map(|b| b.name()).collect::<Vec<_>>().join("+");
        Self { primary, mirrors, read_through: false, name: format!("mirror({name})"), locks: Arc::default() }
    }

    /// The mirror backend of two storages' backends (their policy is not used: wrap the result in a storage).
    pub fn of(primary: &Storage, mirrors: &[&Storage]) -> Self {
        Self::new(primary.backend().clone(), mirrors.iter().map(|s| s.backend().clone()).collect())
    }

    /// Copy an object found only on a mirror back to the primary when it is read.
    pub fn with_read_through(mut self, read_through: bool) -> Self {
        self.read_through = read_through;
        self
    }

    /// A storage over this backend with the default policy.
    pub fn storage(self) -> Storage {
        Storage::new(self)
    }

    /// Copy what each mirror holds and the primary lacks to the primary: [`crate::migrate()`] in live mode, from
    /// every mirror in turn, taking turns per key with this mirror storage's deletes, so a reader in this process
    /// never sees a deleted object come back even for a moment. A backfill in another process (`storage migrate
    /// --live`) is as safe for what is stored, but a reader may see such an object until that backfill takes its
    /// copy back.
    pub async fn backfill(
        &self,
        options: &MigrateOptions,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<MigrationReport> {
        let options = options.clone().with_live(true);
        let (primary, mut report) = (Storage::from_arc(self.primary.clone()), MigrationReport::default());
        for mirror in &self.mirrors {
            let mirror = Storage::from_arc(mirror.clone());
            report.absorb(migrate_with(&mirror, &primary, &options, progress, Some(&self.locks)).await?);
        }
        Ok(report)
    }

    /// The primary, then the mirrors.
    fn members(&self) -> impl Iterator<Item = &dyn Backend> {
        std::iter::once(self.primary.as_ref()).chain(self.mirrors.iter().map(|m| m.as_ref()))
    }

    fn mirror_error(&self, key: &str, mirror: &dyn Backend, outcome: MirrorOutcome, source: Error) -> Error {
        Error::mirror(self.primary.name(), mirror.name(), key, outcome, source)
    }

    /// Run `write` on every mirror; the first failure, after all were tried.
    async fn on_mirrors<'a, F, Fut>(&'a self, key: &str, write: F) -> Result<()>
    where
        F: Fn(&'a dyn Backend) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let mut first_failure = None;
        for mirror in &self.mirrors {
            if let Err(err) = write(mirror.as_ref()).await {
                first_failure
                    .get_or_insert_with(|| self.mirror_error(key, mirror.as_ref(), MirrorOutcome::PrimaryKept, err));
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// After the primary claimed `key` with a create-only write, claim it on every mirror with the create-only
    /// `write`. When a mirror already holds the name or fails, the claims made so far (the primary's too) are deleted
    /// again, so the name is left as it was: `AlreadyExists` for a taken name, [`ErrorKind::Mirror`] for a failure.
    async fn claim_on_mirrors<'a, F, Fut>(&'a self, key: &str, write: F) -> Result<()>
    where
        F: Fn(&'a dyn Backend) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        for (index, mirror) in self.mirrors.iter().enumerate() {
            let Err(err) = write(mirror.as_ref()).await else { continue };
            let undone = self.unclaim(key, 1 + index).await;
            return Err(match (err.kind(), undone) {
                (ErrorKind::AlreadyExists, Ok(())) => err,
                (ErrorKind::AlreadyExists, Err(undo)) => {
                    self.mirror_error(key, mirror.as_ref(), MirrorOutcome::PrimaryKept, undo)
                }
                (_, Err(_)) => self.mirror_error(key, mirror.as_ref(), MirrorOutcome::PrimaryKept, err),
                (_, Ok(())) => self.mirror_error(key, mirror.as_ref(), MirrorOutcome::Undone, err),
            });
        }
        Ok(())
    }

    /// Delete the claims of `key` made on the first `count` members.
    async fn unclaim(&self, key: &str, count: usize) -> Result<()> {
        for member in self.members().take(count) {
            member.delete(key).await?;
        }
        Ok(())
    }

    /// Run `change` on every member that holds `key`; `NotFound` only when none does.
    async fn on_holders<'a, F, Fut>(&'a self, key: &str, change: F) -> Result<()>
    where
        F: Fn(&'a dyn Backend) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let mut held = false;
        for (index, member) in self.members().enumerate() {
            match change(member).await {
                Ok(()) => held = true,
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(err) if index == 0 => return Err(err),
                Err(err) => {
                    let outcome = if held { MirrorOutcome::PrimaryKept } else { MirrorOutcome::Undone };
                    return Err(self.mirror_error(key, member, outcome, err));
                }
            }
        }
        if held { Ok(()) } else { Err(Error::not_found(&self.name, key)) }
    }

    /// The first member, primary first, whose `read` does not answer `NotFound`, and its index.
    async fn read_first<'a, T, F, Fut>(&'a self, read: F) -> Result<(T, usize)>
    where
        F: Fn(&'a dyn Backend) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut not_found = None;
        for (index, member) in self.members().enumerate() {
            match read(member).await {
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    not_found.get_or_insert(err);
                }
                other => return other.map(|value| (value, index)),
            }
        }
        Err(not_found.expect("the primary was asked"))
    }

    /// The member at `index` (0 is the primary).
    fn member(&self, index: usize) -> &dyn Backend {
        self.members().nth(index).expect("a member index")
    }

    /// Copy `key` from member `index` to the primary as a live backfill does: create-only, so a newer write wins,
    /// and taken back if the mirror's object changed meanwhile. `opened` is a read of the whole object already made.
    async fn copy_back(&self, key: &str, index: usize, opened: Option<GetResult>) -> Result<()> {
        backfill_one(self.member(index), self.primary.as_ref(), key, opened, None).await.map(drop)
    }

    /// `to` as a copy of `from` on `member`: natively when the member holds the same object as `holder` (the first
    /// member that holds `from`, whose object the union shows), else streamed from the holder.
    async fn copy_on(
        &self,
        member: &dyn Backend,
        holder: &dyn Backend,
        from: &str,
        to: &str,
        mode: WriteMode,
    ) -> Result<()> {
        if same_object(member, holder, from).await? {
            if mode == WriteMode::Overwrite || member.capabilities().copy_with_create_only {
                return member.copy(from, to, mode).await;
            }
            return copy_object(member, from, member, to, mode, None).await.map(drop);
        }
        copy_object(holder, from, member, to, mode, None).await.map(drop)
    }
}

/// Whether `member` holds the same object under `key` as `holder` does: the same backend, or the same size and MD5.
async fn same_object(member: &dyn Backend, holder: &dyn Backend, key: &str) -> Result<bool> {
    if std::ptr::addr_eq(member, holder) {
        return Ok(true);
    }
    let theirs = match member.head(key).await {
        Ok(theirs) => theirs.meta,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err),
    };
    let held = holder.head(key).await?.meta;
    let md5 = |meta: &ObjectMeta| meta.etag.as_deref().and_then(md5_from_etag);
    Ok(theirs.size == held.size && md5(&theirs).is_some() && md5(&theirs) == md5(&held))
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Backend for MirrorBackend {
    fn name(&self) -> &str {
        &self.name
    }

    /// The primary's URL abilities, and the write abilities every member has (every write must land everywhere).
    fn capabilities(&self) -> Capabilities {
        let mut capabilities = self.primary.capabilities();
        for mirror in &self.mirrors {
            let theirs = mirror.capabilities();
            capabilities.write_with_create_only &= theirs.write_with_create_only;
            capabilities.write_with_attributes &= theirs.write_with_attributes;
            capabilities.write_with_user_metadata &= theirs.write_with_user_metadata;
            capabilities.acl &= theirs.acl;
            capabilities.set_attributes &= theirs.set_attributes;
        }
        // A create-only copy is made of create-only claims on every member, natively or streamed.
        capabilities.copy_with_create_only = capabilities.write_with_create_only;
        capabilities
    }

    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        let (first, rewind) = content.tee();
        let result = self.primary.put(key, first, options.clone()).await?;
        let replay = rewind.rewind().await.map_err(|err| Error::from_io(self.primary.name(), Some(key), err))?;
        let (replay, options) = (&replay, &options);
        match options.mode {
            WriteMode::CreateOnly => {
                self.claim_on_mirrors(key, |mirror| async move {
                    mirror.put(key, replay.content(), options.clone()).await.map(drop)
                })
                .await?
            }
            WriteMode::Overwrite => {
                self.on_mirrors(key, |mirror| async move {
                    mirror.put(key, replay.content(), options.clone()).await.map(drop)
                })
                .await?
            }
        }
        Ok(result)
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        // A read that may copy back takes its turn with deletes from before it reads (see `KeyLocks`).
        let _turn = match self.read_through {
            true => Some(self.locks.lock(key).await),
            false => None,
        };
        let (result, index) = self.read_first(|member| member.get(key, range)).await?;
        if index == 0 || !self.read_through {
            return Ok(result);
        }
        // The whole object goes to the primary (through this read, unless it was a range), then is served from
        // there; if the copy was taken back (the mirror's object changed meanwhile), from wherever it is now.
        self.copy_back(key, index, range.is_none().then_some(result)).await?;
        Ok(self.read_first(|member| member.get(key, range)).await?.0)
    }

    async fn head(&self, key: &str) -> Result<Metadata> {
        Ok(self.read_first(|member| member.head(key)).await?.0)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let _turn = self.locks.lock(key).await;
        self.primary.delete(key).await?;
        self.on_mirrors(key, |mirror| mirror.delete(key)).await?;
        // A live backfill (mirror to primary) that read the object before the mirrors lost it may have copied it
        // to the primary since; the backfill also looks again, but only this delete knows it was meant.
        self.primary.delete(key).await
    }

    /// The primary's object decides (the mirrors hold copies of it, with their own tags): deleted there only while
    /// unchanged, then from the mirrors as `delete` does.
    async fn delete_if_unchanged(&self, key: &str, etag: &str) -> Result<ConditionalDelete> {
        let _turn = self.locks.lock(key).await;
        if self.primary.delete_if_unchanged(key, etag).await? == ConditionalDelete::Changed {
            return Ok(ConditionalDelete::Changed);
        }
        self.on_mirrors(key, |mirror| mirror.delete(key)).await?;
        self.primary.delete(key).await.map(|()| ConditionalDelete::Deleted)
    }

    /// The union of the members' listings, merged in key order; the primary's entry wins where several have one.
    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let streams: Vec<_> =
            std::iter::once(&self.primary).chain(&self.mirrors).map(|m| m.list(options.clone())).collect();
        merge_sorted(streams)
    }

    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        // The source may be on a mirror only: it is read from the first member that holds it.
        let (_, holder) = self.read_first(|member| member.head(from)).await?;
        let holder = self.member(holder);
        self.copy_on(self.primary.as_ref(), holder, from, to, mode).await?;
        let write = |mirror| self.copy_on(mirror, holder, from, to, mode);
        match mode {
            WriteMode::CreateOnly => self.claim_on_mirrors(to, write).await,
            WriteMode::Overwrite => self.on_mirrors(to, write).await,
        }
    }

    /// A copy, then a delete of the source, so the move is the same on every member whoever held the source.
    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        self.copy(from, to, mode).await?;
        self.delete(from).await
    }

    fn public_url(&self, key: &str) -> Result<String> {
        self.primary.public_url(key)
    }

    async fn upload_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        // Uploads land on the primary, as every write does; a live migration backfills them.
        self.primary.upload_form(policy).await
    }

    async fn presign(&self, request: &PresignRequest) -> Result<PresignedRequest> {
        if request.method != Method::Get {
            return self.primary.presign(request).await;
        }
        // The link must lead to the object: from the primary if it holds it (after read-through copied it there),
        // else from the mirror that does.
        let index = match self.read_first(|member| member.head(&request.key)).await {
            Ok((_, index)) => index,
            Err(err) if err.kind() == ErrorKind::NotFound => 0,
            Err(err) => return Err(err),
        };
        if index == 0 {
            return self.primary.presign(request).await;
        }
        if self.read_through {
            self.copy_back(&request.key, index, None).await?;
            return self.primary.presign(request).await;
        }
        self.member(index).presign(request).await
    }

    async fn set_acl(&self, key: &str, acl: Acl) -> Result<()> {
        self.on_holders(key, |member| member.set_acl(key, acl)).await
    }

    async fn acl(&self, key: &str) -> Result<Acl> {
        Ok(self.read_first(|member| member.acl(key)).await?.0)
    }

    async fn set_attributes(&self, key: &str, attributes: Attributes) -> Result<()> {
        self.on_holders(key, |member| member.set_attributes(key, attributes.clone())).await
    }
}

//! Any object_store backend (GCS, Azure, local files, in memory, a wrapped S3) through the same API, with the
//! capabilities its owner declares: [`ObjectStoreBackend`].
//!
//! Its `Storage`: `let storage = ObjectStoreBackend::new(Arc::new(InMemory::new()), "memory").storage();`.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
//!
//! It builds none of object_store's cloud clients: the application brings its store, with the features it needs.
//! The modules are public for the backends built on object_store (storage-s3 uses them): `attributes` (metadata,
//! attributes and the reads that return them), `placeholders` (the one name-claim implementation), `errors`
//! (object_store's error variants as the public error).

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, ObjectStore, ObjectStoreExt, PutMode, PutMultipartOptions, PutPayload, WriteMultipart,
};
use storage_core::{
    Backend, ByteRange, Capabilities, Content, Error, GetResult, ListEntry, ListOptions, Metadata, PutOptions,
    PutResult, Result, Storage, WriteMode, async_trait,
};

pub mod attributes;
pub mod errors;
pub mod placeholders;

use attributes::{to_meta, to_store_attributes};
use placeholders::{Claim, ClaimSite, DEFAULT_CLAIM_LIFETIME, create_only_upload, may_be_placeholder};

/// Saves larger than this are sent as multipart uploads, holding one part in memory at a time.
const PART_SIZE: usize = 8 << 20;

/// Where a claim's holder is told how to raise its lifetime.
const CLAIM_SETTING: &str = "ObjectStoreBackend::with_claim_lifetime";

/// A [`Backend`] over any `Arc<dyn ObjectStore>`.
///
/// It declares only what every object_store backend does (create-only puts and copies); declare more with
/// [`ObjectStoreBackend::with_capabilities`] for a store that keeps attributes (e.g. GCS, Azure, `InMemory`, but not
/// `LocalFileSystem`). Public URLs, presigning and ACLs need a backend of their own, such as storage-s3's.
/// Every error names the backend by the name it was given ([`ObjectStoreBackend::new`]) or, by default, the store's
/// own description ([`ObjectStoreBackend::from_store`]).
#[derive(Clone)]
pub struct ObjectStoreBackend {
    store: Arc<dyn ObjectStore>,
    name: String,
    capabilities: Capabilities,
    /// Over a file system (object_store's `LocalFileSystem`): see [`ObjectStoreBackend::with_filesystem_listing`].
    filesystem: bool,
    /// How long a create-only multipart save holds its name: see [`ObjectStoreBackend::with_claim_lifetime`].
    claim_lifetime: Duration,
}

/// Everything but the store: object_store's clients print their credentials in their own `Debug`.
impl std::fmt::Debug for ObjectStoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreBackend")
            .field("name", &self.name)
            .field("capabilities", &self.capabilities)
            .field("filesystem", &self.filesystem)
            .field("claim_lifetime", &self.claim_lifetime)
            .finish_non_exhaustive()
    }
}

impl ObjectStoreBackend {
    /// A backend over `store`; `name` appears in every error message (`gcs`, `azure`, `local`).
    pub fn new(store: Arc<dyn ObjectStore>, name: impl Into<String>) -> Self {
        let mut capabilities = Capabilities::none();
        capabilities.write_with_create_only = true;
        capabilities.copy_with_create_only = true;
        let claim_lifetime = DEFAULT_CLAIM_LIFETIME;
        Self { store, name: name.into(), capabilities, filesystem: false, claim_lifetime }
    }

    /// A backend over `store`, named in errors by the store's own description (`InMemory`,
    /// `LocalFileSystem(file:///srv/media/)`, `AmazonS3(bucket)`).
    pub fn from_store(store: Arc<dyn ObjectStore>) -> Self {
        let name = store.to_string();
        Self::new(store, name)
    }

    /// For a store over a file system (object_store's `LocalFileSystem`), which lists in no particular order and
    /// keeps empty directories: listings are collected and sorted (memory in proportion to their size), and a
    /// directory is listed only if it holds an object, as on S3. Overwriting copies stream the bytes instead of
    /// hard-linking (see `copy`). Cloud stores need none of this.
    pub fn with_filesystem_listing(mut self) -> Self {
        self.filesystem = true;
        self
    }

    /// Declare what the store can do beyond the basics. Only attribute capabilities are meaningful here.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities.write_with_attributes = capabilities.write_with_attributes;
        self.capabilities.write_with_user_metadata = capabilities.write_with_user_metadata;
        self
    }

    /// How long a create-only save too large for one request may take (default an hour): its placeholder holds the
    /// name that long, and a save that runs longer fails instead of completing, since the next writer may then take
    /// the name over.
    pub fn with_claim_lifetime(mut self, lifetime: Duration) -> Self {
        self.claim_lifetime = lifetime;
        self
    }

    /// A storage over this backend with the default policy.
    pub fn storage(&self) -> Storage {
        Storage::new(self.clone())
    }

    fn path(&self, key: &str) -> Result<Path> {
        Path::parse(key).map_err(|err| {
            Error::invalid_name(key, format!("not a valid object_store path: {err}")).on_backend(&self.name)
        })
    }

    /// The public error for a failure on `key` (or on no single object), naming this backend.
    fn error(&self, err: object_store::Error, key: Option<&str>) -> Error {
        errors::map_error(&self.name, err, key)
    }

    /// Where this backend writes its claims.
    fn claims<'a>(
        &'a self,
        put_options: &'a (dyn Fn(storage_core::Attributes) -> object_store::PutOptions + Send + Sync),
        map_error: &'a (dyn Fn(object_store::Error, &str) -> Error + Send + Sync),
    ) -> ClaimSite<'a> {
        ClaimSite { store: self.store.as_ref(), put_options, map_error }
    }

    fn put_options(&self, attributes: &storage_core::Attributes) -> object_store::PutOptions {
        object_store::PutOptions { attributes: self.attributes(attributes), ..Default::default() }
    }

    /// A large save: streamed as a multipart upload; create-only over a claim ([`create_only_upload`]).
    async fn put_multipart(
        &self,
        key: &str,
        first: Bytes,
        rest: storage_core::ByteStream,
        options: &PutOptions,
        name_claim: storage_core::NameClaim,
    ) -> Result<()> {
        let target = self.path(key)?;
        if options.mode == WriteMode::Overwrite {
            return self.upload_parts(key, &target, first, rest, options, None).await;
        }
        // On a store that keeps no attributes the placeholder cannot be marked, and shows until it is replaced.
        let put_options = |attributes: storage_core::Attributes| self.put_options(&attributes);
        let map_error = |err, key: &str| self.error(err, Some(key));
        let claims = self.claims(&put_options, &map_error);
        let upload = |held| self.upload_parts(key, &target, first, rest, options, Some(held));
        let release = |held| claims.release(&target, held);
        create_only_upload(claims.claim(&target, key, self.claim_lifetime), name_claim, upload, release).await
    }

    /// The bytes, as a multipart upload to `target` in overwrite mode, over `claim` if one holds the name.
    async fn upload_parts(
        &self,
        key: &str,
        target: &Path,
        first: Bytes,
        mut rest: storage_core::ByteStream,
        options: &PutOptions,
        claim: Option<Claim>,
    ) -> Result<()> {
        let multipart = PutMultipartOptions { attributes: self.attributes(&options.attributes), ..Default::default() };
        let upload =
            self.store.put_multipart_opts(target, multipart).await.map_err(|err| self.error(err, Some(key)))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        writer.put(first);
        let streamed: Result<()> = async {
            while let Some(chunk) = rest.try_next().await.map_err(|err| Error::from_io(&self.name, Some(key), err))? {
                writer.wait_for_capacity(2).await.map_err(|err| self.error(err, Some(key)))?;
                writer.put(chunk);
            }
            match claim {
                Some(claim) => claim.check_live(&self.name, key, CLAIM_SETTING),
                None => Ok(()),
            }
        }
        .await;
        if let Err(err) = streamed {
            let _ = writer.abort().await;
            return Err(err);
        }
        writer.finish().await.map(drop).map_err(|err| self.error(err, Some(key)))
    }

    fn attributes(&self, attributes: &storage_core::Attributes) -> object_store::Attributes {
        if self.capabilities.write_with_attributes { to_store_attributes(attributes) } else { Default::default() }
    }
}

/// Whether a listed object is one to show: anything but a placeholder, which only a HEAD tells from a small object.
async fn is_listed(store: &dyn ObjectStore, meta: &object_store::ObjectMeta) -> object_store::Result<bool> {
    if !may_be_placeholder(meta.size) {
        return Ok(true);
    }
    let options = object_store::GetOptions { head: true, ..Default::default() };
    match store.get_opts(&meta.location, options).await {
        Ok(head) => Ok(!placeholders::is_placeholder(&attributes::from_store_attributes(&head.attributes))),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(err) => Err(err),
    }
}

#[async_trait]
impl Backend for ObjectStoreBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn put(&self, key: &str, content: Content, options: PutOptions) -> Result<PutResult> {
        placeholders::refuse_claim_metadata(&self.name, key, &options.attributes)?;
        let name_claim = content.name_claim();
        let mut stream = content.into_stream().await.map_err(|err| Error::from_io(&self.name, Some(key), err))?;
        let mut head = BytesMut::new();
        while head.len() <= PART_SIZE {
            match stream.try_next().await.map_err(|err| Error::from_io(&self.name, Some(key), err))? {
                Some(chunk) => head.extend_from_slice(&chunk),
                None => return self.put_single(key, head.freeze(), &options).await,
            }
        }
        self.put_multipart(key, head.freeze(), stream, &options, name_claim).await?;
        Ok(PutResult::default())
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        let map_error = |err, key: &str| self.error(err, Some(key));
        attributes::get_object(self.store.as_ref(), &self.path(key)?, key, range, &self.name, map_error).await
    }

    async fn head(&self, key: &str) -> Result<Metadata> {
        attributes::head_object(self.store.as_ref(), &self.path(key)?, key, |err, key| self.error(err, Some(key))).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&self.path(key)?).await {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
            Err(err) => Err(self.error(err, Some(key))),
        }
    }

    fn list(&self, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        // object_store lists whole path segments: list the directory the prefix is in, then filter by the string.
        let dir = options.prefix.rfind('/').map(|at| options.prefix[..at].to_owned()).unwrap_or_default();
        let dir = (!dir.is_empty()).then(|| Path::parse(&dir)).transpose();
        let dir = match dir {
            Ok(dir) => dir,
            Err(err) => {
                let err = Error::invalid_name(&options.prefix, err.to_string()).on_backend(&self.name);
                return stream::once(async move { Err(err) }).boxed();
            }
        };
        let (prefix, offset) = (options.prefix.clone(), options.offset.clone());
        let keep = move |key: &str| key.starts_with(&prefix) && offset.as_deref().is_none_or(|offset| key > offset);
        // A listing error is on the prefix listed, in this backend.
        let (this, listed_prefix) = (self.clone(), options.prefix.clone());
        let failed = move |err| this.error(err, Some(&listed_prefix));
        let store = self.store.clone();
        if !options.delimiter {
            let listed = match (&options.offset, &dir) {
                (Some(offset), _) if Path::parse(offset).is_ok() => {
                    self.store.list_with_offset(dir.as_ref(), &Path::parse(offset).expect("checked"))
                }
                _ => self.store.list(dir.as_ref()),
            };
            let entries = listed.map_err(failed.clone()).try_filter_map(move |meta| {
                let (store, failed, kept) = (store.clone(), failed.clone(), keep(meta.location.as_ref()));
                async move {
                    let shown = kept && is_listed(store.as_ref(), &meta).await.map_err(failed)?;
                    Ok(shown.then(|| ListEntry::Object(to_meta(meta.location.as_ref(), &meta))))
                }
            });
            if !self.filesystem {
                return entries.boxed();
            }
            return stream::once(async move {
                let mut all: Vec<ListEntry> = entries.try_collect().await?;
                all.sort_by(|a, b| a.key().cmp(b.key()));
                Ok::<_, Error>(stream::iter(all.into_iter().map(Ok)))
            })
            .try_flatten()
            .boxed();
        }
        let check_prefixes = self.filesystem;
        stream::once(async move {
            let listed = store.list_with_delimiter(dir.as_ref()).await.map_err(failed.clone())?;
            let mut entries = Vec::new();
            for meta in &listed.objects {
                if keep(meta.location.as_ref()) && is_listed(store.as_ref(), meta).await.map_err(failed.clone())? {
                    entries.push(ListEntry::Object(to_meta(meta.location.as_ref(), meta)));
                }
            }
            for path in &listed.common_prefixes {
                let entry = ListEntry::Prefix(format!("{path}/"));
                if keep(entry.key()) && (!check_prefixes || store.list(Some(path)).next().await.is_some()) {
                    entries.push(entry);
                }
            }
            entries.sort_by(|a, b| a.key().cmp(b.key()));
            Ok::<_, Error>(stream::iter(entries.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn copy(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        let mode = match mode {
            WriteMode::Overwrite => CopyMode::Overwrite,
            WriteMode::CreateOnly => CopyMode::Create,
        };
        let (from_path, to_path) = (self.path(from)?, self.path(to)?);
        // Report a missing source as such before a taken target, as every backend does.
        let source = self.head(from).await?;
        if self.filesystem && mode == CopyMode::Overwrite {
            // LocalFileSystem hard-links the source to a staging name and renames that over the target. When the
            // target is already a hard link to the source (an earlier copy), the rename does nothing and leaves the
            // staging file behind as a stray object. A streamed copy writes a new file, which always replaces.
            let content = Content::from_stream(self.get(from, None).await?.stream, Some(source.size()));
            let options = PutOptions::new(WriteMode::Overwrite, Default::default(), None);
            return self.put(to, content, options).await.map(drop);
        }
        self.store
            .copy_opts(&from_path, &to_path, CopyOptions { mode, ..Default::default() })
            .await
            .map_err(|err| self.error(err, Some(to)))
    }

    async fn rename(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        if self.filesystem {
            return self.rename_file(from, to, mode).await;
        }
        self.copy(from, to, mode).await?;
        self.delete(from).await
    }
}

impl ObjectStoreBackend {
    /// A move on a file system: one `rename` (a hard link and an unlink when create-only), so the object keeps its
    /// file, and with it its ETag (inode, time and size), which is how a retried move tells that it already took
    /// effect. rename(2) between two links to one file does nothing: the source is then removed here.
    async fn rename_file(&self, from: &str, to: &str, mode: WriteMode) -> Result<()> {
        let (from_path, to_path) = (self.path(from)?, self.path(to)?);
        // Report a missing source as such before a taken target, as every backend does.
        let source = self.head(from).await?;
        let target_mode = match mode {
            WriteMode::Overwrite => object_store::RenameTargetMode::Overwrite,
            WriteMode::CreateOnly => object_store::RenameTargetMode::Create,
        };
        let options = object_store::RenameOptions { target_mode, ..Default::default() };
        self.store.rename_opts(&from_path, &to_path, options).await.map_err(|err| self.error(err, Some(to)))?;
        match self.head(from).await {
            Ok(left) if left.meta.etag.is_some() && left.meta.etag == source.meta.etag => self.delete(from).await,
            _ => Ok(()),
        }
    }

    /// One put of the whole object; a create-only one takes a dead claim over.
    async fn put_single(&self, key: &str, bytes: Bytes, options: &PutOptions) -> Result<PutResult> {
        let path = self.path(key)?;
        if options.mode == WriteMode::CreateOnly {
            let put_options = |attributes: storage_core::Attributes| self.put_options(&attributes);
            let map_error = |err, key: &str| self.error(err, Some(key));
            let claims = self.claims(&put_options, &map_error);
            let e_tag = claims.put_create_only(&path, key, bytes, options.attributes.clone()).await?;
            return Ok(PutResult::new(e_tag));
        }
        let put = object_store::PutOptions { mode: PutMode::Overwrite, ..self.put_options(&options.attributes) };
        let result = self.store.put_opts(&path, PutPayload::from(bytes), put).await;
        result.map(|put| PutResult::new(put.e_tag)).map_err(|err| self.error(err, Some(key)))
    }
}

//! Any object_store backend (GCS, Azure, local files, in memory, a wrapped S3) through the same API, with the
//! capabilities its owner declares.

use std::sync::Arc;

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

use crate::claim::create_only_upload;
use crate::convert::{map_error, to_meta, to_store_attributes};

/// Saves larger than this are sent as multipart uploads, holding one part in memory at a time.
const PART_SIZE: usize = 8 << 20;

/// A [`Backend`] over any `Arc<dyn ObjectStore>`.
///
/// It declares only what every object_store backend does (create-only puts and copies); declare more with
/// [`ObjectStoreBackend::with_capabilities`] for a store that keeps attributes (e.g. GCS, Azure, `InMemory`, but not
/// `LocalFileSystem`). Public URLs, presigning and ACLs need a backend of their own, such as [`crate::S3Backend`].
#[derive(Debug, Clone)]
pub struct ObjectStoreBackend {
    store: Arc<dyn ObjectStore>,
    name: String,
    capabilities: Capabilities,
    /// Over a file system (object_store's `LocalFileSystem`): see [`ObjectStoreBackend::with_filesystem_listing`].
    filesystem: bool,
}

impl ObjectStoreBackend {
    /// `name` appears in error messages (`gcs`, `azure`, `local`).
    pub fn new(store: Arc<dyn ObjectStore>, name: impl Into<String>) -> Self {
        let mut capabilities = Capabilities::none();
        capabilities.write_with_create_only = true;
        capabilities.copy_with_create_only = true;
        Self { store, name: name.into(), capabilities, filesystem: false }
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

    /// A storage over this backend with the default policy.
    pub fn storage(&self) -> Storage {
        Storage::new(self.clone())
    }

    fn path(&self, key: &str) -> Result<Path> {
        Path::parse(key).map_err(|err| {
            Error::invalid_name(key, format!("not a valid object_store path: {err}")).on_backend(&self.name)
        })
    }

    fn error(&self, err: object_store::Error, key: &str) -> Error {
        // Errors name this store, not S3.
        map_error(err, Some(key)).on_backend(&self.name)
    }

    /// A large save: streamed as a multipart upload; create-only through the crate's one strategy,
    /// [`create_only_upload`].
    async fn put_multipart(
        &self,
        key: &str,
        first: Bytes,
        rest: storage_core::ByteStream,
        options: &PutOptions,
        claim: storage_core::NameClaim,
    ) -> Result<()> {
        let target = self.path(key)?;
        if options.mode == WriteMode::Overwrite {
            return self.upload_parts(key, &target, first, rest, options).await;
        }
        let upload = |()| self.upload_parts(key, &target, first, rest, options);
        let placeholder = object_store::PutOptions {
            mode: PutMode::Create,
            attributes: self.attributes(&options.attributes),
            ..Default::default()
        };
        let take_name = async {
            self.store
                .put_opts(&target, PutPayload::default(), placeholder)
                .await
                .map(drop)
                .map_err(|err| self.error(err, key))
        };
        let release = async |()| {
            let _ = self.store.delete(&target).await;
        };
        create_only_upload(take_name, claim, upload, release).await
    }

    /// The bytes, as a multipart upload to `target` in overwrite mode.
    async fn upload_parts(
        &self,
        key: &str,
        target: &Path,
        first: Bytes,
        mut rest: storage_core::ByteStream,
        options: &PutOptions,
    ) -> Result<()> {
        let multipart = PutMultipartOptions { attributes: self.attributes(&options.attributes), ..Default::default() };
        let upload = self.store.put_multipart_opts(target, multipart).await.map_err(|err| self.error(err, key))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        writer.put(first);
        let streamed: Result<()> = async {
            while let Some(chunk) = rest.try_next().await.map_err(|err| Error::from_io(&self.name, Some(key), err))? {
                writer.wait_for_capacity(2).await.map_err(|err| self.error(err, key))?;
                writer.put(chunk);
            }
            Ok(())
        }
        .await;
        if let Err(err) = streamed {
            let _ = writer.abort().await;
            return Err(err);
        }
        writer.finish().await.map(drop).map_err(|err| self.error(err, key))
    }

    fn attributes(&self, attributes: &storage_core::Attributes) -> object_store::Attributes {
        if self.capabilities.write_with_attributes { to_store_attributes(attributes) } else { Default::default() }
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
        let claim = content.name_claim();
        let mut stream = content.into_stream().await.map_err(|err| Error::from_io(&self.name, Some(key), err))?;
        let mut head = BytesMut::new();
        while head.len() <= PART_SIZE {
            match stream.try_next().await.map_err(|err| Error::from_io(&self.name, Some(key), err))? {
                Some(chunk) => head.extend_from_slice(&chunk),
                None => {
                    let put = object_store::PutOptions {
                        mode: match options.mode {
                            WriteMode::Overwrite => PutMode::Overwrite,
                            WriteMode::CreateOnly => PutMode::Create,
                        },
                        attributes: self.attributes(&options.attributes),
                        ..Default::default()
                    };
                    let result = self.store.put_opts(&self.path(key)?, PutPayload::from(head.freeze()), put).await;
                    return result.map(|put| PutResult::new(put.e_tag)).map_err(|err| self.error(err, key));
                }
            }
        }
        self.put_multipart(key, head.freeze(), stream, &options, claim).await?;
        Ok(PutResult::default())
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResult> {
        crate::convert::get_object(self.store.as_ref(), &self.path(key)?, key, range, |err, key| self.error(err, key))
            .await
    }

    async fn head(&self, key: &str) -> Result<Metadata> {
        crate::convert::head_object(self.store.as_ref(), &self.path(key)?, key, |err, key| self.error(err, key)).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&self.path(key)?).await {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
            Err(err) => Err(self.error(err, key)),
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
        let (prefix, offset, name) = (options.prefix.clone(), options.offset.clone(), self.name.clone());
        let keep = move |key: &str| key.starts_with(&prefix) && offset.as_deref().is_none_or(|offset| key > offset);
        if !options.delimiter {
            let stream = match (&options.offset, &dir) {
                (Some(offset), _) if Path::parse(offset).is_ok() => {
                    self.store.list_with_offset(dir.as_ref(), &Path::parse(offset).expect("checked"))
                }
                _ => self.store.list(dir.as_ref()),
            };
            let entries = stream.map_err(move |err| map_error(err, Some(&name))).try_filter_map(move |meta| {
                let entry =
                    keep(meta.location.as_ref()).then(|| ListEntry::Object(to_meta(meta.location.as_ref(), &meta)));
                async move { Ok(entry) }
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
        let (store, check_prefixes) = (self.store.clone(), self.filesystem);
        stream::once(async move {
            let listed = store.list_with_delimiter(dir.as_ref()).await.map_err(|err| map_error(err, Some(&name)))?;
            let mut prefixes = Vec::new();
            for path in &listed.common_prefixes {
                if !check_prefixes || store.list(Some(path)).next().await.is_some() {
                    prefixes.push(ListEntry::Prefix(format!("{path}/")));
                }
            }
            let mut entries: Vec<ListEntry> = listed
                .objects
                .iter()
                .map(|meta| ListEntry::Object(to_meta(meta.location.as_ref(), meta)))
                .chain(prefixes)
                .filter(|entry| keep(entry.key()))
                .collect();
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
        let source = self.store.head(&from_path).await.map_err(|err| self.error(err, from))?;
        if self.filesystem && mode == CopyMode::Overwrite {
            // LocalFileSystem hard-links the source to a staging name and renames that over the target. When the
            // target is already a hard link to the source (an earlier copy), the rename does nothing and leaves the
            // staging file behind as a stray object. A streamed copy writes a new file, which always replaces.
            let content = Content::from_stream(self.get(from, None).await?.stream, Some(source.size));
            let options = PutOptions::new(WriteMode::Overwrite, Default::default(), None);
            return self.put(to, content, options).await.map(drop);
        }
        self.store
            .copy_opts(&from_path, &to_path, CopyOptions { mode, ..Default::default() })
            .await
            .map_err(|err| self.error(err, to))
    }
}

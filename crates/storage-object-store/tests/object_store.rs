//! The object_store adapter runs the whole suite over object_store's own backends: `InMemory` (which keeps
//! attributes) and `LocalFileSystem` (which does not, so the attribute cases check for `Unsupported`), the latter
//! also under `FaultLayer` and retries, as every backend does. Then what only the adapter shows: every error names the
//! backend it was given, and a placeholder claim is hidden and taken over once dead.

use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path;
use storage_conformance::Fixture;
use storage_core::{Backend, Capabilities, Content, ErrorKind, ListOptions, PutOptions, WriteMode};
use storage_object_store::ObjectStoreBackend;
use storage_object_store::placeholders::ClaimSite;

fn in_memory() -> ObjectStoreBackend {
    let mut capabilities = Capabilities::none();
    capabilities.write_with_attributes = true;
    capabilities.write_with_user_metadata = true;
    let store = Arc::new(object_store::memory::InMemory::new());
    ObjectStoreBackend::new(store, "object_store memory").with_capabilities(capabilities)
}

mod in_memory {
    use super::*;

    async fn fixture() -> Fixture {
        Fixture::new(in_memory())
    }

    storage_conformance::conformance_tests!(fixture);

    // Not under faults: `InMemory` gives a copy a new ETag, and `RetryLayer` tells a rename whose answer was lost
    // from a missing source by the target's ETag (the model test finds it). The file system runs under faults.
}

mod local_file_system {
    use super::*;

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).expect("local store");
        let backend = ObjectStoreBackend::new(Arc::new(store), "object_store local").with_filesystem_listing();
        Fixture::new(backend).keep_alive(dir)
    }

    storage_conformance::conformance_tests!(fixture);

    /// The whole suite again over retryable faults and retries: it must pass unchanged.
    mod under_faults {
        use storage_conformance::Fixture;

        async fn fixture() -> Fixture {
            storage_conformance::under_faults(super::fixture().await)
        }

        storage_conformance::conformance_tests!(fixture);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// A store every request to which fails as a cloud store's transport failure reaches object_store's users: a
/// `Generic` error.
mod failing {
    use futures::stream::{self, BoxStream, StreamExt};
    use object_store::path::Path;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
        PutOptions, PutPayload, PutResult, Result,
    };

    #[derive(Debug)]
    pub struct FailingStore;

    impl std::fmt::Display for FailingStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "FailingStore")
        }
    }

    fn failure() -> object_store::Error {
        object_store::Error::Generic { store: "Failing", source: "the connection was reset".into() }
    }

    #[async_trait::async_trait]
    impl ObjectStore for FailingStore {
        async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
            Err(failure())
        }

        async fn put_multipart_opts(&self, _: &Path, _: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
            Err(failure())
        }

        async fn get_opts(&self, _: &Path, _: GetOptions) -> Result<GetResult> {
            Err(failure())
        }

        fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
            locations.map(|_| Err(failure())).boxed()
        }

        fn list(&self, _: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            stream::once(async { Err(failure()) }).boxed()
        }

        async fn list_with_delimiter(&self, _: Option<&Path>) -> Result<ListResult> {
            Err(failure())
        }

        async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
            Err(failure())
        }
    }
}

/// Every failure names the backend the adapter was given, and the key (the prefix, for a listing): never `s3`,
/// and never the backend's name in the key's place.
#[test]
fn every_error_names_the_backend_it_was_given_and_the_key() {
    runtime().block_on(async {
        let backend = ObjectStoreBackend::new(Arc::new(failing::FailingStore), "gcs-media");
        let put = PutOptions::new(WriteMode::Overwrite, Default::default(), None);
        let mut errors = vec![
            ("put", backend.put("a.txt", Content::from("x"), put).await.unwrap_err()),
            ("get", backend.get("a.txt", None).await.err().unwrap()),
            ("head", backend.head("a.txt").await.unwrap_err()),
            ("delete", backend.delete("a.txt").await.unwrap_err()),
            ("copy", backend.copy("a.txt", "b.txt", WriteMode::Overwrite).await.unwrap_err()),
        ];
        for delimiter in [false, true] {
            let mut options = ListOptions::new("docs/a");
            options.delimiter = delimiter;
            let listed: Vec<_> = futures::StreamExt::collect(backend.list(options)).await;
            let err = listed.into_iter().find_map(Result::err).expect("a listing error");
            errors.push(("list", err));
        }
        for (operation, err) in errors {
            let message = err.to_string();
            assert_eq!(err.kind(), ErrorKind::Backend, "{operation}: {message}");
            assert!(message.contains("on the gcs-media backend") && !message.contains("s3"), "{operation}: {message}");
            let key = if operation == "list" { "docs/a" } else { "a.txt" };
            assert_eq!(err.key(), Some(key), "{operation}: {message}");
        }
    });
}

/// Without a name of its own, a backend is named by its store's description.
#[test]
fn a_backend_without_a_name_is_named_by_its_store() {
    let backend = ObjectStoreBackend::from_store(Arc::new(object_store::memory::InMemory::new()));
    assert_eq!(backend.name(), "InMemory");
    let backend = ObjectStoreBackend::from_store(Arc::new(failing::FailingStore));
    runtime().block_on(async {
        let err = backend.head("a.txt").await.unwrap_err();
        assert!(err.to_string().contains("on the FailingStore backend"), "{err}");
    });
}

/// A placeholder claim (what a create-only save too large for one request writes first) is shown by no read or
/// listing; one a killed process left is taken over by the next create-only write once its claim is dead, and a
/// live one keeps the name taken.
#[test]
fn a_dead_claim_is_taken_over_and_a_live_one_keeps_the_name() {
    runtime().block_on(async {
        let store: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let backend = ObjectStoreBackend::new(store.clone(), "memory");
        let map = |err, key: &str| storage_object_store::errors::map_error("memory", err, Some(key));
        let put_options = |attributes: storage_core::Attributes| object_store::PutOptions {
            attributes: storage_object_store::attributes::to_store_attributes(&attributes),
            ..Default::default()
        };
        let site = ClaimSite { store: store.as_ref(), put_options: &put_options, map_error: &map };
        // A killed holder's claim, of no lifetime: dead once its deadline (the next whole second) has passed.
        site.claim(&Path::from("dead.bin"), "dead.bin", Duration::ZERO).await.expect("claimed");
        site.claim(&Path::from("live.bin"), "live.bin", Duration::from_secs(3600)).await.expect("claimed");
        for key in ["dead.bin", "live.bin"] {
            assert!(backend.head(key).await.is_err_and(|err| err.kind() == ErrorKind::NotFound), "{key}");
        }
        let listed: Vec<_> = futures::StreamExt::collect(backend.list(ListOptions::new(""))).await;
        assert!(listed.is_empty(), "placeholders are never listed: {listed:?}");
        let create_only = || PutOptions::new(WriteMode::CreateOnly, Default::default(), None);
        let taken = backend.put("live.bin", Content::from("mine"), create_only()).await.unwrap_err();
        assert_eq!(taken.kind(), ErrorKind::AlreadyExists, "{taken}");
        // The dead claim's deadline is in whole seconds: wait for the condition, within a bound.
        let started = std::time::Instant::now();
        loop {
            match backend.put("dead.bin", Content::from("mine"), create_only()).await {
                Ok(_) => break,
                Err(err) if err.kind() == ErrorKind::AlreadyExists && started.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("the dead claim was not taken over: {err}"),
            }
        }
        assert_eq!(backend.storage().read("dead.bin").await.unwrap(), "mine".as_bytes());
    });
}

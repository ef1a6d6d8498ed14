//! The object_store adapter runs the whole suite over object_store's own backends: `InMemory` (which keeps
//! attributes) and `LocalFileSystem` (which does not, so the attribute cases check for `Unsupported`).

mod in_memory {
    use std::sync::Arc;

    use storage_conformance::Fixture;
    use storage_core::Capabilities;
    use storage_s3::ObjectStoreBackend;

    async fn fixture() -> Fixture {
        let mut capabilities = Capabilities::none();
        capabilities.write_with_attributes = true;
        capabilities.write_with_user_metadata = true;
        let store = Arc::new(object_store::memory::InMemory::new());
        Fixture::new(ObjectStoreBackend::new(store, "object_store memory").with_capabilities(capabilities))
    }

    storage_conformance::conformance_tests!(fixture);
}

mod local_file_system {
    use std::sync::Arc;

    use storage_conformance::Fixture;
    use storage_s3::ObjectStoreBackend;

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).expect("local store");
        let backend = ObjectStoreBackend::new(Arc::new(store), "object_store local").with_filesystem_listing();
        Fixture::new(backend).keep_alive(dir)
    }

    storage_conformance::conformance_tests!(fixture);
}

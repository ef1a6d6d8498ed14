//! The helpers every file of this test binary shares: runtimes, and an fs backend in a temp dir, served over real
//! HTTP, with a real HTTP client.

use std::sync::Arc;

use storage_conformance::{Fixture, ReqwestClient, ServerTask};
use storage_fs::FsBackend;

/// A backend in a fresh temp dir whose URLs are served by a `SignedUrlService` on 127.0.0.1.
pub struct Served {
    pub backend: FsBackend,
    pub dir: Arc<tempfile::TempDir>,
    pub server: Arc<ServerTask>,
}

pub async fn served() -> Served {
    served_by(|dir| FsBackend::new(dir)).await
}

/// As [`served`], over the backend `open` makes in the temp dir (e.g. one without attributes).
pub async fn served_by(open: fn(&std::path::Path) -> storage_core::Result<FsBackend>) -> Served {
    let dir = tempfile::tempdir().expect("temp dir");
    let (listener, signer) = storage_conformance::loopback_signer().await;
    let backend = open(dir.path()).expect("backend").with_url_signer(signer.clone());
    let server = storage_conformance::serve_links(listener, backend.storage(), signer);
    Served { backend, dir: Arc::new(dir), server: Arc::new(server) }
}

pub async fn fixture() -> Fixture {
    fixture_of(served().await)
}

/// The fixture of a storage without extended attributes (so without per-file ACLs), served the same way.
pub async fn fixture_without_attributes() -> Fixture {
    fixture_of(served_by(|dir| FsBackend::without_attributes(dir)).await)
}

fn fixture_of(served: Served) -> Fixture {
    Fixture::new(served.backend.clone())
        .with_http(ReqwestClient::default())
        .keep_alive(served.dir)
        .keep_alive(served.server)
}

/// A runtime on the test's own thread.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A runtime with two workers, for tests whose server and client must run at once.
pub fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

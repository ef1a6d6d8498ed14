//! Shared fixtures: an fs backend in a temp dir, served over real HTTP, and a real HTTP client.

use std::sync::Arc;

use storage_conformance::{Fixture, ReqwestClient};
use storage_core::signing::{SigningKey, UrlSigner};
use storage_fs::FsBackend;
use storage_http::SignedUrlService;

/// A backend in a fresh temp dir whose URLs are served by a `SignedUrlService` on 127.0.0.1.
pub struct Served {
    pub backend: FsBackend,
    pub dir: Arc<tempfile::TempDir>,
    pub server: Arc<ServerTask>,
}

/// Stops the server when dropped.
pub struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub async fn served() -> Served {
    served_by(|dir| FsBackend::new(dir)).await
}

/// As [`served`], over the backend `open` makes in the temp dir (e.g. one without attributes).
pub async fn served_by(open: fn(&std::path::Path) -> storage_core::Result<FsBackend>) -> Served {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let port = listener.local_addr().expect("local address").port();
    let signer = UrlSigner::new(format!("http://127.0.0.1:{port}/files/"), SigningKey::generate());
    let backend = open(dir.path()).expect("backend").with_url_signer(signer.clone());
    let service = SignedUrlService::new(backend.storage(), signer);
    let app = axum::Router::new().fallback_service(service);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Served { backend, dir: Arc::new(dir), server: Arc::new(ServerTask(task)) }
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

//! What browsers and CDNs expect of the service, over real HTTP on fs and memory storages: validators, 304s,
//! `If-Range`, 416 with the size, `HEAD` without a body, and `Cache-Control` that matches the URL.

use std::time::Duration;

use storage_core::signing::{SigningKey, UrlSigner};
use storage_core::{Acl, SaveOptions, Storage, UrlOptions};
use storage_http::SignedUrlService;

/// A storage of `kind` whose URLs a `SignedUrlService` answers on a fresh port; the temp dir lives as long as it.
async fn served(kind: &str, public_cache_control: Option<&str>) -> (Storage, Option<tempfile::TempDir>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let signer = UrlSigner::new(format!("http://127.0.0.1:{port}/files/"), SigningKey::generate());
    let (storage, dir) = match kind {
        "fs" => {
            let dir = tempfile::tempdir().unwrap();
            let backend = storage_fs::FsBackend::new(dir.path()).unwrap().with_url_signer(signer.clone());
            (backend.storage(), Some(dir))
        }
        _ => (storage_memory::MemoryBackend::with_signer(signer.clone()).storage(), None),
    };
    let mut service = SignedUrlService::new(storage.clone(), signer);
    if let Some(value) = public_cache_control {
        service = service.with_public_cache_control(value);
    }
    let app = axum::Router::new().fallback_service(service);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (storage, dir)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_requests_ranges_and_head_as_browsers_expect() {
    for kind in ["fs", "memory"] {
        let (storage, _dir) = served(kind, None).await;
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        storage.save("doc.bin", data.clone()).await.unwrap();
        let url = storage.temporary_url("doc.bin", Duration::from_secs(600), UrlOptions::get()).await.unwrap();

        let whole = get(&url, &[]).await;
        assert_eq!(whole.status(), 200, "{kind}");
        let (etag, modified) = (header(&whole, "etag").to_owned(), header(&whole, "last-modified").to_owned());
        let cache = header(&whole, "cache-control").to_owned();
        let max_age: u64 = cache.strip_prefix("private, max-age=").expect(&cache).parse().unwrap();
        assert!((590..=600).contains(&max_age), "{kind}: cached at most until the link expires: {cache}");

        for (name, value) in [
            ("if-none-match", etag.as_str()),
            ("if-none-match", "\"other\", *"),
            ("if-modified-since", modified.as_str()),
        ] {
            let cached = get(&url, &[(name, value)]).await;
            assert_eq!(cached.status(), 304, "{kind}: {name}: {value}");
            assert_eq!(header(&cached, "etag"), etag, "{kind}: a 304 names the version");
            assert!(cached.bytes().await.unwrap().is_empty(), "{kind}: a 304 has no body");
        }
        assert_eq!(get(&url, &[("if-none-match", "\"stale\"")]).await.status(), 200, "{kind}: another version");
        let older = "Mon, 01 Jan 2001 00:00:00 GMT";
        assert_eq!(get(&url, &[("if-modified-since", older)]).await.status(), 200, "{kind}: changed since");

        let partial = get(&url, &[("range", "bytes=10-19"), ("if-range", &etag)]).await;
        assert_eq!(partial.status(), 206, "{kind}: the range of the version the client holds");
        assert_eq!(partial.bytes().await.unwrap().as_ref(), &data[10..20]);
        let changed = get(&url, &[("range", "bytes=10-19"), ("if-range", "\"an-older-version\"")]).await;
        assert_eq!(changed.status(), 200, "{kind}: another version: the whole object");
        assert_eq!(changed.bytes().await.unwrap().len(), 1000);

        let outside = get(&url, &[("range", "bytes=5000-6000")]).await;
        assert_eq!(outside.status(), 416, "{kind}");
        assert_eq!(header(&outside, "content-range"), "bytes */1000", "{kind}: 416 says the size");

        let head = client().head(&url).send().await.unwrap();
        assert_eq!(head.status(), 200, "{kind}");
        assert_eq!(header(&head, "content-length"), "1000", "{kind}");
        assert_eq!(header(&head, "etag"), etag);
        assert!(head.bytes().await.unwrap().is_empty(), "{kind}: HEAD has no body");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_is_private_for_links_and_configurable_for_public_files() {
    for kind in ["fs", "memory"] {
        let (storage, _dir) = served(kind, Some("public, max-age=3600")).await;
        let public = SaveOptions::default().with_acl(Acl::PublicRead);
        storage.save_with("open.css", "body{}", public.clone()).await.unwrap();
        let own = public.with_attributes(storage_core::Attributes::default().with_cache_control("max-age=60"));
        storage.save_with("own.css", "p{}", own).await.unwrap();
        let (open, own) = (storage.url("open.css").await.unwrap(), storage.url("own.css").await.unwrap());
        assert!(!open.contains('?'), "{kind}: a plain URL: {open}");
        assert_eq!(header(&get(&open, &[]).await, "cache-control"), "public, max-age=3600", "{kind}");
        assert_eq!(header(&get(&own, &[]).await, "cache-control"), "max-age=60", "{kind}: its own wins");
        // A signed link is private whatever the object says: no shared cache keeps it.
        let link = storage.temporary_url("own.css", Duration::from_secs(60), UrlOptions::get()).await.unwrap();
        assert!(header(&get(&link, &[]).await, "cache-control").starts_with("private, max-age="), "{kind}");
    }
}

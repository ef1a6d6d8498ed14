//! The signed-URL HTTP service over real HTTP: ranges, headers that keep browsers safe, uploads, refusals.

use std::time::Duration;

use storage_core::signing::{SigningKey, UrlSigner};
use storage_core::{Acl, SaveOptions, UrlOptions};
use storage_fs::FsBackend;

use crate::support::{multi_thread_runtime, served};

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn signed(storage: &storage_core::Storage, name: &str) -> String {
    storage.temporary_url(name, Duration::from_secs(60), UrlOptions::get()).await.unwrap()
}

#[test]
fn range_requests() {
    multi_thread_runtime().block_on(async {
        let served = served().await;
        let storage = served.backend.storage();
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
        storage.save("r.bin", data.clone()).await.unwrap();
        let url = signed(&storage, "r.bin").await;
        let check = |range: &'static str, status: u16, expected: Option<(&'static str, std::ops::Range<usize>)>| {
            let (url, data) = (url.clone(), data.clone());
            async move {
                let response = client().get(&url).header("range", range).send().await.unwrap();
                assert_eq!(response.status().as_u16(), status, "{range}");
                if let Some((content_range, slice)) = expected {
                    assert_eq!(response.headers()["content-range"], content_range, "{range}");
                    assert_eq!(response.bytes().await.unwrap().as_ref(), &data[slice], "{range}");
                }
            }
        };
        check("bytes=10-19", 206, Some(("bytes 10-19/1000", 10..20))).await;
        check("bytes=990-", 206, Some(("bytes 990-999/1000", 990..1000))).await;
        check("bytes=-5", 206, Some(("bytes 995-999/1000", 995..1000))).await;
        check("bytes=995-5000", 206, Some(("bytes 995-999/1000", 995..1000))).await;
        check("bytes=2000-3000", 416, None).await;
        let whole = client().get(&url).header("range", "bytes=0-1,5-6").send().await.unwrap();
        assert_eq!((whole.status().as_u16(), whole.bytes().await.unwrap().len()), (200, 1000), "multiple ranges: all");
    });
}

#[test]
fn active_content_is_sandboxed_and_never_sniffed() {
    multi_thread_runtime().block_on(async {
        let served = served().await;
        let storage = served.backend.storage();
        for (name, body) in [("page.html", "<script>alert(1)</script>"), ("image.svg", "<svg onload=alert(1)/>")] {
            storage.save(name, body).await.unwrap();
            let response = client().get(signed(&storage, name).await).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let headers = response.headers();
            assert!(headers["content-security-policy"].to_str().unwrap().contains("sandbox"), "{name}");
            assert_eq!(headers["x-content-type-options"], "nosniff");
        }
        storage.save("photo.png", "png").await.unwrap();
        let response = client().get(signed(&storage, "photo.png").await).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "image/png");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["content-security-policy"], "sandbox", "images get the sandbox alone");
    });
}

#[test]
fn overrides_head_and_missing_objects() {
    multi_thread_runtime().block_on(async {
        let served = served().await;
        let storage = served.backend.storage();
        storage.save("doc.bin", "0123456789").await.unwrap();
        let options = UrlOptions::get().with_download_name("Report.pdf").with_response_content_type("application/pdf");
        let url = storage.temporary_url("doc.bin", Duration::from_secs(60), options).await.unwrap();
        let response = client().get(&url).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "application/pdf");
        assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"Report.pdf\"");
        let head = client().head(&url).send().await.unwrap();
        assert_eq!((head.status().as_u16(), head.headers()["content-length"].to_str().unwrap()), (200, "10"));
        assert!(head.bytes().await.unwrap().is_empty());

        let gone = signed(&storage, "doc.bin").await;
        storage.delete("doc.bin").await.unwrap();
        assert_eq!(client().get(&gone).send().await.unwrap().status(), 404, "valid signature, missing object");
        assert_eq!(client().delete(&gone).send().await.unwrap().status(), 405);
    });
}

#[test]
fn urls_signed_by_another_key_are_refused() {
    multi_thread_runtime().block_on(async {
        let served = served().await;
        let storage = served.backend.storage();
        storage.save("a.txt", "a").await.unwrap();
        let base = served.backend.signer().unwrap().unwrap().base_url().to_owned();
        let stranger = FsBackend::new(served.dir.path())
            .unwrap()
            .with_url_signer(UrlSigner::new(base, SigningKey::new("other", vec![3; 32]).unwrap()));
        let forged = signed(&stranger.storage(), "a.txt").await;
        assert_eq!(client().get(&forged).send().await.unwrap().status(), 403);
    });
}

#[test]
fn uploads_honour_the_signed_constraints() {
    multi_thread_runtime().block_on(async {
        let served = served().await;
        let storage = served.backend.storage();
        let options = UrlOptions::put().with_acl(Acl::PublicRead);
        let request = storage.presigned_request("up/file.txt", Duration::from_secs(60), options).await.unwrap();
        let sent = client().put(&request.url).header("content-type", "text/plain").body("hello").send().await.unwrap();
        assert_eq!(sent.status(), 201);
        assert_eq!(storage.read("up/file.txt").await.unwrap(), "hello");
        assert_eq!(storage.acl("up/file.txt").await.unwrap(), Acl::PublicRead, "the signed ACL applies");
        let again = client().put(&request.url).body("again").send().await.unwrap();
        assert_eq!(again.status(), 412, "the default unique policy makes upload URLs create-only");

        let overwriting = storage.clone().with_overwrite(storage_core::OverwritePolicy::Overwrite);
        let url = overwriting.temporary_url("up/file.txt", Duration::from_secs(60), UrlOptions::put()).await.unwrap();
        assert_eq!(client().put(&url).body("replaced").send().await.unwrap().status(), 201);
        assert_eq!(storage.read("up/file.txt").await.unwrap(), "replaced");
    });
}

#[test]
fn plain_urls_serve_only_public_objects() {
    multi_thread_runtime().block_on(async {
        let served = served().await;
        let storage = served.backend.storage();
        let public = storage.clone().with_default_acl(Some(Acl::PublicRead));
        public.save("media/logo.png", "png").await.unwrap();
        storage.save_with("media/secret.png", "s", SaveOptions::default().with_acl(Acl::Private)).await.unwrap();
        let logo = storage.url("media/logo.png").await.unwrap();
        assert!(!logo.contains('?'), "a public url is unsigned: {logo}");
        assert_eq!(client().get(&logo).send().await.unwrap().text().await.unwrap(), "png");
        let secret = storage.url("media/secret.png").await.unwrap();
        assert_eq!(client().get(&secret).send().await.unwrap().status(), 403);
        let missing = storage.url("media/missing.png").await.unwrap();
        assert_eq!(client().get(&missing).send().await.unwrap().status(), 404);
    });
}

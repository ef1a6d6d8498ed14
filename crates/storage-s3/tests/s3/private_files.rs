//! The seed's scenario on a real S3 server: private uploads, anonymous refusal, expiring signed access.

use std::time::Duration;

use bytes::Bytes;
use storage_core::{Acl, Content, ErrorKind, OverwritePolicy, SaveOptions, UrlOptions};

use crate::support::{backend, backend_with, config};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn anonymous() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[test]
fn a_private_upload_refuses_strangers_and_a_signed_link_works_until_it_expires() {
    runtime().block_on(async {
        let storage = backend().await.storage().private(Duration::from_secs(60));
        let name = storage.save("media/seekrit/test_file.pdf", b"%PDF secret").await.unwrap();
        assert_eq!(storage.acl(&name).await.unwrap(), Acl::Private);

        let plain = storage.clone().with_url_policy(storage_core::UrlPolicy::Public).url(&name).await.unwrap();
        let refused = anonymous().get(&plain).send().await.unwrap();
        assert_eq!(refused.status(), 403, "anonymous GET of a private object");
        assert!(refused.text().await.unwrap().contains("AccessDenied"));

        let (before, lifetime) = (std::time::SystemTime::now(), Duration::from_secs(10));
        let link = storage.temporary_url(&name, lifetime, UrlOptions::get()).await.unwrap();
        let issued = before..std::time::SystemTime::now();
        let fetched = anonymous().get(&link).send().await.unwrap();
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.bytes().await.unwrap(), "%PDF secret");
        let status = || async { anonymous().get(&link).send().await.unwrap().status().as_u16() };
        storage_conformance::watch_link_expire(issued, lifetime, status).await;
    });
}

#[test]
fn every_part_of_a_presigned_url_is_tamper_proof() {
    runtime().block_on(async {
        let storage = backend().await.storage();
        storage.save("doc.txt", "content").await.unwrap();
        let options = UrlOptions::get().with_download_name("doc.txt");
        let url = storage.temporary_url("doc.txt", Duration::from_secs(60), options).await.unwrap();
        assert_eq!(anonymous().get(&url).send().await.unwrap().status(), 200);
        let change = |from: &str, to: &str| {
            let changed = url.replacen(from, to, 1);
            assert_ne!(changed, url, "{from} is in {url}");
            changed
        };
        let expires_at = url.find("X-Amz-Expires=").unwrap() + "X-Amz-Expires=".len();
        let signature_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len() + 3;
        let flip = |at: usize| {
            let old = url.as_bytes()[at];
            let new = if old == b'1' { '2' } else { '1' };
            format!("{}{new}{}", &url[..at], &url[at + 1..])
        };
        for (what, forged) in [
            ("signature", flip(signature_at)),
            ("expiry", flip(expires_at)),
            ("key", change("doc.txt?", "Doc.txt?")),
            ("override", change("attachment", "inline")),
            ("credential", change("X-Amz-Credential=storage-test", "X-Amz-Credential=storage-tesx")),
        ] {
            let status = anonymous().get(&forged).send().await.unwrap().status();
            assert_eq!(status, 403, "changing the {what} must be refused: {forged}");
        }
    });
}

#[test]
fn public_read_is_public_and_the_acl_can_be_switched() {
    runtime().block_on(async {
        let storage = backend().await.storage();
        storage.save_with("logo.png", "png", SaveOptions::default().with_acl(Acl::PublicRead)).await.unwrap();
        let url = storage.url("logo.png").await.unwrap();
        assert_eq!(anonymous().get(&url).send().await.unwrap().status(), 200);
        storage.set_acl("logo.png", Acl::Private).await.unwrap();
        assert_eq!(anonymous().get(&url).send().await.unwrap().status(), 403);
        storage.set_acl("logo.png", Acl::PublicRead).await.unwrap();
        assert_eq!(anonymous().get(&url).send().await.unwrap().status(), 200);
    });
}

#[test]
fn presigned_uploads_enforce_type_acl_and_create_only() {
    runtime().block_on(async {
        let storage = backend().await.storage();
        let options = UrlOptions::put().with_content_type("text/plain").with_acl(Acl::PublicRead);
        let request = storage.presigned_request("up.txt", Duration::from_secs(60), options).await.unwrap();
        let send = |headers: Vec<(String, String)>, body: &'static str| {
            let url = request.url.clone();
            async move {
                let mut builder = anonymous().put(&url).body(body);
                for (name, value) in headers {
                    builder = builder.header(name, value);
                }
                builder.send().await.unwrap().status().as_u16()
            }
        };
        let without_acl: Vec<_> = request.headers.iter().filter(|(n, _)| n != "x-amz-acl").cloned().collect();
        assert_eq!(send(without_acl, "no acl").await, 403, "a signed header left out");
        assert_eq!(send(request.headers.clone(), "first").await, 200);
        assert_eq!(storage.read("up.txt").await.unwrap(), "first");
        assert_eq!(storage.acl("up.txt").await.unwrap(), Acl::PublicRead);
        assert_eq!(send(request.headers.clone(), "second").await, 412, "create-only: If-None-Match is signed");
        assert_eq!(storage.read("up.txt").await.unwrap(), "first");
    });
}

#[test]
fn large_saves_use_multipart_and_stay_create_only() {
    runtime().block_on(async {
        // Two parts in flight of three, from chunks that straddle the part boundaries.
        let config = config().with_multipart(5 << 20, 5 << 20).with_part_concurrency(2);
        let storage = backend_with(config).await.storage();
        let data: Bytes = (0..(12u32 << 20)).map(|i| (i % 253) as u8).collect::<Vec<u8>>().into();
        let stream = |data: Bytes| {
            Content::from_stream(
                futures::stream::iter(
                    data.chunks(768 << 10).map(|c| Ok(Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
                ),
                None,
            )
        };
        let private = SaveOptions::default().with_acl(Acl::Private).with_content_type("application/x-test");
        let first = storage.save_with("big.bin", stream(data.clone()), private.clone()).await.unwrap();
        assert_eq!(first, "big.bin");
        assert!(storage.read("big.bin").await.unwrap() == data, "three parts reassembled");
        let metadata = storage.metadata("big.bin").await.unwrap();
        assert_eq!(metadata.content_type(), Some("application/x-test"), "attributes set on the multipart upload");
        assert_eq!(storage.acl("big.bin").await.unwrap(), Acl::Private);

        let failing = storage.clone().with_overwrite(OverwritePolicy::Fail);
        let err = failing.save("big.bin", stream(data.clone())).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "the name was claimed create-only first: {err}");
        assert!(storage.read("big.bin").await.unwrap() == data, "the original is untouched");
        let second = storage.save("big.bin", stream(data.clone())).await.unwrap();
        assert_ne!(second, "big.bin", "unique policy: an alternative name");
        assert!(storage.read(&second).await.unwrap() == data);
    });
}

/// object_store copies `PutOptions::extensions` into the HTTP request's extensions — undocumented, so pinned here:
/// if it stopped, the ACL would silently not be sent and this public-read save would come back private.
#[test]
fn put_extensions_reach_the_http_service() {
    runtime().block_on(async {
        let storage = backend().await.storage();
        for (name, acl) in
            [("a.txt", Acl::PublicRead), ("b.txt", Acl::AuthenticatedRead), ("c.txt", Acl::PublicReadWrite)]
        {
            storage.save_with(name, "x", SaveOptions::default().with_acl(acl)).await.unwrap();
            assert_eq!(storage.acl(name).await.unwrap(), acl, "{name}");
        }
    });
}

#[test]
fn wrong_credentials_are_refused_and_never_echoed() {
    runtime().block_on(async {
        let secret = "not-the-secret-0123456789";
        let config = config().with_credentials("storage-test-access-key", secret);
        let storage = storage_s3::S3Backend::new(config.clone()).unwrap().storage();
        let err = storage.save("x.txt", "x").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        let mut chain = format!("{err} {err:?}");
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            chain.push_str(&format!(" {cause} {cause:?}"));
            source = cause.source();
        }
        assert!(!chain.contains(secret), "the secret leaked into an error: {chain}");
        let debug = format!("{config:?}");
        assert!(!debug.contains(secret) && debug.contains("<redacted>"), "{debug}");
    });
}

#[test]
fn expiry_beyond_seven_days_is_refused_with_the_limit() {
    runtime().block_on(async {
        let storage = backend().await.storage();
        storage.save("a.txt", "a").await.unwrap();
        let eight_days = Duration::from_secs(8 * 24 * 3600);
        let err = storage.temporary_url("a.txt", eight_days, UrlOptions::get()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains("604800"), "{err}");
    });
}

#[test]
fn urls_can_be_signed_for_a_public_host() {
    runtime().block_on(async {
        // The server is reached as 127.0.0.1 internally; clients reach it as localhost. The signature must be
        // computed for the host the client uses, or the server refuses it.
        let internal = config();
        let public = internal.endpoint.clone().unwrap().replace("127.0.0.1", "localhost");
        let storage = backend_with(internal.with_public_endpoint(public)).await.storage();
        storage.save("shared.txt", "shared").await.unwrap();
        let url = storage.temporary_url("shared.txt", Duration::from_secs(60), UrlOptions::get()).await.unwrap();
        assert!(url.starts_with("http://localhost:"), "{url}");
        let fetched = anonymous().get(&url).send().await.unwrap();
        assert_eq!(fetched.status(), 200);
        let moved = url.replacen("localhost", "127.0.0.1", 1);
        assert_eq!(anonymous().get(&moved).send().await.unwrap().status(), 403, "signed for the public host only");
    });
}

#[test]
fn object_parameters_apply_to_single_and_multipart_saves() {
    runtime().block_on(async {
        let kms_key = crate::support::server()["STORAGE_S3_KMS_KEY_ID"].clone();
        let config = config()
            .with_multipart(5 << 20, 5 << 20)
            .with_storage_class("STANDARD")
            .with_tag("project", "storage")
            .with_tag("tier", "test & more")
            .with_server_side_encryption(storage_s3::ServerSideEncryption::Kms { key_id: kms_key });
        let backend = backend_with(config).await;
        let storage = backend.storage();
        let big: Bytes = vec![7u8; 6 << 20].into();
        let big = Content::from_stream(futures::stream::iter([Ok(big)]), None);
        for (name, content) in [("small.txt", Content::from("small")), ("big.bin", big)] {
            storage.save(name, content).await.unwrap();
            let tags = backend.tags(name).await.unwrap();
            assert_eq!(tags, [("project".into(), "storage".into()), ("tier".into(), "test & more".into())], "{name}");
            let url = storage.temporary_url(name, Duration::from_secs(60), UrlOptions::get()).await.unwrap();
            let response = anonymous().get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200, "{name}");
            let encryption =
                response.headers().get("x-amz-server-side-encryption").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(encryption.as_deref(), Some("aws:kms"), "{name} is encrypted with the KMS key");
        }
        assert_eq!(storage.read("small.txt").await.unwrap(), "small", "and decrypts on read");
    });
}

#[test]
fn gzip_compresses_the_listed_types_only() {
    runtime().block_on(async {
        let mut gzipped = config();
        gzipped.gzip = true;
        let storage = backend_with(gzipped).await.storage();
        let css: String = (0..5000).map(|i| format!(".c{} {{ margin: 0 }}\n", i % 50)).collect();
        storage.save("static/site.css", css.clone()).await.unwrap();
        storage.save("static/logo.png", "not text").await.unwrap();
        let css_meta = storage.metadata("static/site.css").await.unwrap();
        assert_eq!(css_meta.attributes.content_encoding.as_deref(), Some("gzip"));
        assert!(css_meta.size() < css.len() as u64 / 5, "stored compressed: {} of {}", css_meta.size(), css.len());
        let stored = storage.read("static/site.css").await.unwrap();
        let mut decoded = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&stored[..]), &mut decoded).unwrap();
        assert_eq!(decoded, css, "a browser (or a gzip reader) gets the original back");
        let png = storage.metadata("static/logo.png").await.unwrap();
        assert_eq!(png.attributes.content_encoding, None, "other types are stored as they are");
        assert_eq!(storage.read("static/logo.png").await.unwrap(), "not text");
    });
}

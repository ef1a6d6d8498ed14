//! The seed's scenario on Azurite: private blobs refuse strangers, SAS links that Azurite itself verifies (valid,
//! tampered, expired, used for another method), response overrides, create-only PUT links, a public container, and
//! errors that never show the account key or a signature.

use base64::Engine as _;
use std::time::{Duration, SystemTime};

use storage_core::{ErrorKind, OverwritePolicy, UploadPolicy, UrlOptions, UrlPolicy};

use crate::support::{anonymous, backend, backend_with, config, public_config, runtime};

#[test]
fn a_private_blob_refuses_strangers_and_a_sas_link_works_until_it_expires() {
    runtime().block_on(async {
        let storage = backend().await.storage().private(Duration::from_secs(60));
        let name = storage.save("media/seekrit/test_file.pdf", b"%PDF secret").await.unwrap();
        assert_eq!(storage.acl(&name).await.unwrap_err().kind(), ErrorKind::Unsupported, "no per-blob ACLs");
        let plain = storage.clone().with_url_policy(UrlPolicy::Public).url(&name).await;
        assert_eq!(plain.unwrap_err().kind(), ErrorKind::Unsupported, "a private container has no public URLs");

        let (before, lifetime) = (SystemTime::now(), Duration::from_secs(10));
        let link = storage.temporary_url(&name, lifetime, UrlOptions::get()).await.unwrap();
        let issued = before..SystemTime::now();
        let unsigned = link.split('?').next().unwrap().to_owned();
        let refused = anonymous().get(&unsigned).send().await.unwrap().status().as_u16();
        assert!(matches!(refused, 403 | 404), "anonymous GET of a private blob: {refused}");
        let fetched = anonymous().get(&link).send().await.unwrap();
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.bytes().await.unwrap(), "%PDF secret");
        let status = || async { anonymous().get(&link).send().await.unwrap().status().as_u16() };
        storage_conformance::watch_link_expire(issued, lifetime, status).await;
    });
}

#[test]
fn every_part_of_a_sas_link_is_tamper_proof() {
    runtime().block_on(async {
        let storage = backend().await.storage();
        storage.save("doc.txt", "content").await.unwrap();
        let options = UrlOptions::get().with_download_name("doc.txt").with_response_content_type("text/csv");
        let url = storage.temporary_url("doc.txt", Duration::from_secs(60), options).await.unwrap();
        let served = anonymous().get(&url).send().await.unwrap();
        assert_eq!(served.status(), 200);
        let header = |name: &str| served.headers().get(name).map(|value| value.to_str().unwrap().to_owned());
        assert_eq!(header("content-type").as_deref(), Some("text/csv"), "rsct is served");
        assert!(header("content-disposition").unwrap().contains("doc.txt"), "rscd is served");
        let change = |from: &str, to: &str| {
            let changed = url.replacen(from, to, 1);
            assert_ne!(changed, url, "{from} is in {url}");
            changed
        };
        let flip_after = |marker: &str, offset: usize| {
            let at = url.find(marker).unwrap_or_else(|| panic!("{marker} is in {url}")) + marker.len() + offset;
            let old = url.as_bytes()[at];
            let new = if old == b'1' { '2' } else { '1' };
            format!("{}{new}{}", &url[..at], &url[at + 1..])
        };
        for (what, forged) in [
            ("signature", flip_after("sig=", 3)),
            ("expiry", flip_after("se=", 3)),
            ("key", change("doc.txt?", "Doc.txt?")),
            ("disposition override", change("attachment", "inline")),
            ("type override", change("rsct=text%2Fcsv", "rsct=text%2Fhtml")),
            ("permission", change("sp=r", "sp=w")),
        ] {
            let status = anonymous().get(&forged).send().await.unwrap().status();
            assert_eq!(status, 403, "changing the {what} must be refused: {forged}");
        }
        let put = anonymous().put(&url).header("x-ms-blob-type", "BlockBlob").body("replaced").send().await.unwrap();
        assert_eq!(put.status(), 403, "a read link used for PUT");
        assert_eq!(storage.read("doc.txt").await.unwrap(), "content");
    });
}

#[test]
fn put_links_are_create_only_unless_the_storage_overwrites() {
    runtime().block_on(async {
        let backend = backend().await;
        let storage = backend.storage();
        let request = storage.presigned_request("up.txt", Duration::from_secs(60), UrlOptions::put()).await.unwrap();
        let send = |body: &'static str| {
            let mut put = anonymous().put(&request.url).body(body);
            for (name, value) in &request.headers {
                put = put.header(name, value);
            }
            put.send()
        };
        assert_eq!(send("first").await.unwrap().status(), 201);
        let again = send("second").await.unwrap().status().as_u16();
        assert!(matches!(again, 403 | 409), "a create-only link onto a taken name: {again}");
        assert_eq!(storage.read("up.txt").await.unwrap(), "first");

        let overwriting = backend.storage().with_overwrite(OverwritePolicy::Overwrite);
        let request =
            overwriting.presigned_request("up.txt", Duration::from_secs(60), UrlOptions::put()).await.unwrap();
        let mut put = anonymous().put(&request.url).body("third");
        for (name, value) in &request.headers {
            put = put.header(name, value);
        }
        assert_eq!(put.send().await.unwrap().status(), 201, "an overwriting storage's link replaces");
        assert_eq!(storage.read("up.txt").await.unwrap(), "third");
    });
}

#[test]
fn upload_urls_fix_only_what_a_sas_can_enforce() {
    runtime().block_on(async {
        let storage = backend().await.storage();
        let request = storage.upload_url(&UploadPolicy::exact("inbox/a.bin")).await.unwrap();
        assert!(request.url.contains("sp=c"), "an upload url is create-only: {}", request.url);
        for (what, policy) in [
            ("a size", UploadPolicy::exact("inbox/b.bin").with_exact_size(3)),
            ("a content type", UploadPolicy::exact("inbox/b.bin").with_content_type("text/plain")),
            ("an MD5", UploadPolicy::exact("inbox/b.bin").with_checksum(storage_core::Checksum::Md5([0; 16]))),
        ] {
            let err = storage.upload_url(&policy).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported, "{what}: {err}");
            assert!(err.to_string().contains("signature covers no request header"), "{what}: the reason: {err}");
        }
        let err = storage.upload_form(&UploadPolicy::exact("inbox/c.bin")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "no POST policy on Azure: {err}");
    });
}

#[test]
fn a_public_container_serves_plain_urls_to_anyone() {
    runtime().block_on(async {
        let storage = backend_with(public_config()).await.storage().with_url_policy(UrlPolicy::Public);
        assert!(storage.capabilities().public_url);
        let name = storage.save("avatars/a.png", "png").await.unwrap();
        let url = storage.url(&name).await.unwrap();
        assert!(!url.contains("sig="), "a plain url: {url}");
        let fetched = anonymous().get(&url).send().await.unwrap();
        assert_eq!(fetched.status(), 200, "anonymous GET in a public container");
        assert_eq!(fetched.bytes().await.unwrap(), "png");
    });
}

#[test]
fn wrong_keys_are_refused_and_no_error_shows_the_key_or_a_signature() {
    runtime().block_on(async {
        let storage = backend().await.storage();
        storage.save("doc.txt", "content").await.unwrap();
        let link = storage.temporary_url("doc.txt", Duration::from_secs(60), UrlOptions::get()).await.unwrap();
        let signature = url::Url::parse(&link)
            .unwrap()
            .query_pairs()
            .find(|(name, _)| name == "sig")
            .map(|(_, value)| value.into_owned())
            .unwrap();

        let real_key = crate::support::server()["STORAGE_AZURE_ACCESS_KEY"].clone();
        let wrong_key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk=";
        let mut wrong = config();
        wrong.access_key = Some(storage_azure::AccountKey::new(wrong_key));
        let stranger = storage_azure::AzureBackend::new(wrong.clone()).unwrap().storage();
        let mut chain = String::new();
        for err in [
            stranger.save("x.txt", "x").await.unwrap_err(),
            stranger.read("doc.txt").await.unwrap_err(),
            stranger.save("big.bin", vec![7u8; 9 << 20]).await.unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
            chain.push_str(&format!("{err} {err:?}"));
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                chain.push_str(&format!(" {cause} {cause:?}"));
                source = cause.source();
            }
        }
        for secret in [wrong_key, real_key.as_str(), signature.as_str()] {
            assert!(!chain.contains(secret), "a secret leaked into an error: {chain}");
        }
        // object_store's Azure client prints its key in its own `Debug`, decoded, as a list of bytes: the backend's
        // and its storage's never show it, in either form.
        let debug = format!("{wrong:?} {:?} {storage:?} {stranger:?}", config());
        assert!(!debug.contains(wrong_key) && !debug.contains(&real_key) && debug.contains("<redacted>"), "{debug}");
        for key in [wrong_key, real_key.as_str()] {
            let bytes = base64::engine::general_purpose::STANDARD.decode(key).unwrap();
            let listed = format!("{:?}", &bytes[..8]);
            assert!(!debug.contains(listed.trim_end_matches(']')), "the key's bytes leaked into a Debug: {debug}");
        }
    });
}

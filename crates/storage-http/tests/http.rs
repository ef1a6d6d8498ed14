//! What browsers and CDNs expect of the service, over real HTTP on fs and memory storages: validators, 304s,
//! `If-Range`, 416 with the size, `HEAD` without a body, and `Cache-Control` that matches the URL.

use std::time::Duration;

use storage_core::signing::{SigningKey, UrlSigner};
use storage_core::{Acl, PublicReads, SaveOptions, Storage, UrlOptions};
use storage_http::{Server, SignedUrlService};

/// A storage of `kind` whose URLs a `SignedUrlService` answers on a fresh port; the temp dir lives as long as it.
async fn served(kind: &str, public_cache_control: Option<&str>) -> (Storage, Option<tempfile::TempDir>) {
    served_by(Server::default(), kind, public_cache_control).await
}

/// [`served`], by `server`.
async fn served_by(
    server: Server,
    kind: &str,
    public_cache_control: Option<&str>,
) -> (Storage, Option<tempfile::TempDir>) {
    served_with(server, kind, |service| match public_cache_control {
        Some(value) => service.with_public_cache_control(value),
        None => service,
    })
    .await
}

/// [`served_by`], its service set up by `configure`.
async fn served_with(
    server: Server,
    kind: &str,
    configure: impl FnOnce(SignedUrlService) -> SignedUrlService,
) -> (Storage, Option<tempfile::TempDir>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let signer = UrlSigner::new(format!("http://127.0.0.1:{port}/files/"), SigningKey::generate());
    let (storage, dir) = match kind {
        "fs" => {
            let dir = tempfile::tempdir().unwrap();
            let backend = storage_fs::FsBackend::new(dir.path()).unwrap().with_url_signer(signer.clone());
            (backend.storage(), Some(dir))
        }
        "fs without acls" | "fs without acls, declared public" => {
            let dir = tempfile::tempdir().unwrap();
            let backend =
                storage_fs::FsBackend::without_attributes(dir.path()).unwrap().with_url_signer(signer.clone());
            let storage = match kind {
                "fs without acls" => backend.storage(),
                _ => backend.storage().with_public_reads(PublicReads::Everything),
            };
            (storage, Some(dir))
        }
        _ => (storage_memory::MemoryBackend::with_signer(signer.clone()).storage(), None),
    };
    let service = configure(SignedUrlService::new(storage.clone(), signer));
    let app = axum::Router::new().fallback_service(service);
    tokio::spawn(server.serve(listener, app, std::future::pending()));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_size_and_range_comes_back_exact() {
    // Small ranges are read at once, larger ones streamed: both sides of that line, whole and in part.
    for kind in ["fs", "memory"] {
        let (storage, _dir) = served(kind, None).await;
        let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
        storage.save("big.bin", data.clone()).await.unwrap();
        storage.save("empty.bin", Vec::new()).await.unwrap();
        let link = |name: &'static str| {
            let storage = storage.clone();
            async move { storage.temporary_url(name, Duration::from_secs(60), UrlOptions::get()).await.unwrap() }
        };
        let url = link("big.bin").await;
        assert!(get(&url, &[]).await.bytes().await.unwrap() == data, "{kind}: the whole object differs");
        for (range, expected) in [
            ("bytes=300000-300099", &data[300_000..300_100]),
            ("bytes=1000-", &data[1000..]),
            ("bytes=-70000", &data[530_000..]),
            ("bytes=0-299999", &data[..300_000]),
        ] {
            let partial = get(&url, &[("range", range)]).await;
            assert_eq!(partial.status(), 206, "{kind}: {range}");
            assert!(partial.bytes().await.unwrap() == expected, "{kind}: {range} differs");
        }
        // A range that is not digits only is invalid, so ignored: the whole object.
        for range in ["bytes=+1-2", "bytes=1-+2", "bytes=-+5", "bytes=+5-"] {
            let whole = get(&url, &[("range", range)]).await;
            assert_eq!(whole.status(), 200, "{kind}: {range}");
            assert!(whole.bytes().await.unwrap() == data, "{kind}: {range}: not the whole object");
        }
        let empty = get(&link("empty.bin").await, &[]).await;
        assert_eq!((empty.status().as_u16(), header(&empty, "content-length")), (200, "0"), "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_and_h2c_serve_several_requests_on_one_connection() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    for kind in ["fs", "memory"] {
        let (storage, _dir) = served(kind, None).await;
        storage.save("a.txt", "first file").await.unwrap();
        storage.save("b.txt", "second").await.unwrap();
        let urls = [
            storage.temporary_url("a.txt", Duration::from_secs(60), UrlOptions::get()).await.unwrap(),
            storage.temporary_url("b.txt", Duration::from_secs(60), UrlOptions::get()).await.unwrap(),
        ];

        // HTTP/1.1: two requests, one after the other, on one TCP connection.
        let address = urls[0].trim_start_matches("http://").split('/').next().unwrap().to_owned();
        let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let mut connection = tokio::io::BufReader::new(stream);
        for (url, body) in urls.iter().zip(["first file", "second"]) {
            let target = &url[url.find("/files/").unwrap()..];
            let request = format!("GET {target} HTTP/1.1\r\nHost: {address}\r\n\r\n");
            connection.get_mut().write_all(request.as_bytes()).await.unwrap();
            let mut length = None;
            let mut status = String::new();
            connection.read_line(&mut status).await.unwrap();
            assert!(status.starts_with("HTTP/1.1 200"), "{kind}: {status}");
            loop {
                let mut line = String::new();
                connection.read_line(&mut line).await.unwrap();
                if line == "\r\n" {
                    break;
                }
                assert!(!line.to_ascii_lowercase().starts_with("connection: close"), "{kind}: kept open");
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = Some(value.trim().parse::<usize>().unwrap());
                }
            }
            let mut received = vec![0; length.expect("a content length")];
            connection.read_exact(&mut received).await.unwrap();
            assert_eq!(received, body.as_bytes(), "{kind}: the answer on the same connection");
        }

        // HTTP/2 without TLS (prior knowledge), several requests multiplexed on one connection.
        let h2 = reqwest::Client::builder().no_proxy().http2_prior_knowledge().build().unwrap();
        let answers =
            futures::future::join_all(urls.iter().cycle().take(6).map(|url| h2.get(url.as_str()).send())).await;
        for (answer, body) in answers.into_iter().zip(["first file", "second"].iter().cycle()) {
            let answer = answer.unwrap();
            assert_eq!((answer.version(), answer.status().as_u16()), (reqwest::Version::HTTP_2, 200), "{kind}");
            assert_eq!(answer.text().await.unwrap(), *body, "{kind}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_uploads_are_enforced_while_they_stream_in() {
    for kind in ["fs", "memory"] {
        let (storage, dir) = served(kind, None).await;
        storage_conformance::direct_uploads(&storage, "forms").await;
        storage_conformance::upload_urls(&storage, "puts").await;
        if let Some(dir) = dir {
            // No refused upload left a temporary file behind.
            let temp = dir.path().join(".storage/tmp");
            let left: Vec<_> =
                std::fs::read_dir(&temp).map(|dir| dir.flatten().map(|e| e.path()).collect()).unwrap_or_default();
            assert!(left.is_empty(), "temporary files left: {left:?}");
        }
    }
}

/// A `multipart/form-data` body by hand, so a part's type can be anything a client sends: `fields` in order, then
/// the file with `file_type` (none when `None`).
fn raw_form(fields: &[(String, String)], file_type: Option<&str>, data: &str) -> (String, String) {
    let boundary = "content-type-test-boundary";
    let mut body = String::new();
    for (name, value) in fields {
        body += &format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
    }
    body += &format!("--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"page.png\"\r\n");
    if let Some(file_type) = file_type {
        body += &format!("content-type: {file_type}\r\n");
    }
    body += &format!("\r\n{data}\r\n--{boundary}--\r\n");
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_list_is_refused_at_the_put_link_and_the_form_and_an_unparsable_stored_type_downloads() {
    use storage_core::{Attributes, PutOptions, UploadPolicy, WriteMode};
    let html = "<script>document.title='ran'</script>";
    for kind in ["fs", "memory"] {
        let (storage, _dir) = served(kind, None).await;
        for (case, list) in [("image/png,text/html", "image/png,text/html"), ("with a space", "text/plain, text/html")]
        {
            // A PUT link that signs no type: the request's type is stored as sent, so it must be one media type.
            let link = storage.presigned_request("notes/a.txt", Duration::from_secs(600), UrlOptions::put()).await;
            let link = link.unwrap().url;
            let answer = client().put(&link).header("content-type", list).body(html).send().await.unwrap();
            assert_eq!(answer.status(), 400, "{kind}: a PUT link with {case}");
            assert!(!storage.exists("notes/a.txt").await.unwrap(), "{kind}: {case}: nothing stored");

            // A form under `image/`: the `Content-Type` field, and the file part's own type without a field.
            let images = UploadPolicy::prefix("uploads/").with_content_type_prefix("image/").with_size(0..=1 << 20);
            let any_type = UploadPolicy::prefix("uploads/");
            for (policy, field, part) in [(&images, Some(list), Some("image/png")), (&any_type, None, Some(list))] {
                let form = storage.upload_form(policy).await.unwrap();
                let mut fields = form.fields.clone();
                fields.extend(field.map(|list| ("Content-Type".to_owned(), list.to_owned())));
                let (content_type, body) = raw_form(&fields, part, html);
                let answer =
                    client().post(&form.url).header("content-type", content_type).body(body).send().await.unwrap();
                assert_eq!(answer.status(), 400, "{kind}: a form with {case} (field {field:?}, part {part:?})");
                assert!(!storage.exists("uploads/page.png").await.unwrap(), "{kind}: {case}: nothing stored");
            }
        }

        // Below the policy, straight through the backend: a stored type that does not parse is only downloaded.
        let attributes = Attributes::default().with_content_type("image/png,text/html");
        let options = PutOptions::new(WriteMode::Overwrite, attributes, None);
        storage.backend().put("legacy.png", html.into(), options).await.unwrap();
        let link = storage.temporary_url("legacy.png", Duration::from_secs(600), UrlOptions::get()).await.unwrap();
        let answer = get(&link, &[]).await;
        assert_eq!(answer.status(), 200, "{kind}");
        assert_eq!(header(&answer, "content-type"), "application/octet-stream", "{kind}");
        assert_eq!(header(&answer, "content-disposition"), "attachment", "{kind}");
        assert_eq!(header(&answer, "x-content-type-options"), "nosniff", "{kind}");
    }
}

/// Without per-file ACLs, a plain URL serves only when the storage itself is declared public; a signed link always.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_acls_only_a_storage_declared_public_serves_plain_urls() {
    // A storage not declared public says nothing of what exists: a missing file is refused as a stored one is.
    for (kind, plain_status, missing_status) in
        [("fs without acls", 403, 403), ("fs without acls, declared public", 200, 404)]
    {
        let (storage, _dir) = served(kind, None).await;
        let name = storage.save("docs/secret.txt", "secret").await.unwrap();
        let plain = storage.url(&name).await.unwrap();
        assert!(!plain.contains('?'), "{kind}: a plain URL: {plain}");
        assert_eq!(get(&plain, &[]).await.status(), plain_status, "{kind}");
        assert_eq!(get(&format!("{plain}.missing"), &[]).await.status(), missing_status, "{kind}: a missing file");
        let link = storage.temporary_url(&name, Duration::from_secs(60), UrlOptions::get()).await.unwrap();
        assert_eq!(get(&link, &[]).await.status(), 200, "{kind}: a signed link");
    }
}

/// Every signed or public answer is sandboxed, whatever the type: the types a denylist of active ones once missed
/// get the fuller policy, an image the sandbox alone (so a browser's own media document still loads it), and the type
/// is sent as parsed, not as stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_type_is_sandboxed_and_normalized() {
    const FULL: &str = storage_core::content_type::SANDBOX_POLICY;
    let cases = [
        ("text/vnd.wap.wml", "text/vnd.wap.wml", FULL),
        ("application/hta", "application/hta", FULL),
        ("application/futuresplash", "application/futuresplash", FULL),
        ("text/x-sgml", "text/x-sgml", FULL),
        ("x-world/x-vrml", "x-world/x-vrml", FULL),
        ("IMAGE/PNG", "image/png", "sandbox"),
        ("video/mp4", "video/mp4", "sandbox"),
        ("Text/Plain;Charset=\"utf-8\"", "text/plain; charset=utf-8", "sandbox"),
        ("text/plain;a=\"b c\"", "text/plain; a=\"b c\"", "sandbox"),
    ];
    for kind in ["fs", "memory"] {
        let (storage, _dir) = served(kind, None).await;
        for (stored, sent, policy) in cases {
            let options = SaveOptions::default().with_content_type(stored).with_acl(Acl::PublicRead);
            let name = storage.save_with("file", "<script>alert(1)</script>", options).await.unwrap();
            let signed = storage.temporary_url(&name, Duration::from_secs(60), UrlOptions::get()).await.unwrap();
            for url in [signed, storage.url(&name).await.unwrap()] {
                let response = get(&url, &[]).await;
                assert_eq!(response.status(), 200, "{kind} {stored}");
                assert_eq!(header(&response, "content-security-policy"), policy, "{kind} {stored} {url}");
                assert_eq!(header(&response, "content-type"), sent, "{kind} {stored}");
            }
        }
    }
    let memory = storage_memory::MemoryBackend::new();
    let storage = memory.storage();
    for (stored, sent, policy) in cases {
        let options = SaveOptions::default().with_content_type(stored);
        let name = storage.save_with("file", "<script>alert(1)</script>", options).await.unwrap();
        let url = storage.temporary_url(&name, Duration::from_secs(60), UrlOptions::get()).await.unwrap();
        let answer = memory.fetch("GET", &url, &[], bytes::Bytes::new());
        assert_eq!(answer.header("content-security-policy"), Some(policy), "memory fetch {stored}");
        assert_eq!(answer.header("content-type"), Some(sent), "memory fetch {stored}");
    }
}

/// One GET or HEAD with its conditional headers, and the status RFC 9110 §13.2.2 orders (`E` is the object's ETag,
/// `LM` its Last-Modified, `OLD` a date before it, `NEW` one after).
const PRECONDITIONS: &[(&[(&str, &str)], u16)] = &[
    (&[], 200),
    (&[("if-match", "E")], 200),
    (&[("if-match", "\"other\"")], 412),
    (&[("if-match", "*")], 200),
    (&[("if-match", "W/E")], 412),
    (&[("if-match", "\"other\", E")], 200),
    (&[("if-match", "\"other\""), ("if-match", "E")], 200),
    (&[("if-match", "not a tag")], 412),
    (&[("if-unmodified-since", "OLD")], 412),
    (&[("if-unmodified-since", "LM")], 200),
    (&[("if-unmodified-since", "NEW")], 200),
    (&[("if-unmodified-since", "not a date")], 200),
    (&[("if-match", "E"), ("if-unmodified-since", "OLD")], 200),
    (&[("if-none-match", "E")], 304),
    (&[("if-none-match", "W/E")], 304),
    (&[("if-none-match", "\"other\"")], 200),
    (&[("if-none-match", "*")], 304),
    (&[("if-none-match", "\"other\", *")], 304),
    (&[("if-modified-since", "LM")], 304),
    (&[("if-modified-since", "OLD")], 200),
    // A date later than the server's clock is invalid, so ignored (RFC 9110 §13.1.3).
    (&[("if-modified-since", "NEW")], 200),
    (&[("if-modified-since", "Fri, 01 Jan 9999 00:00:00 GMT")], 200),
    (&[("if-none-match", "\"other\""), ("if-modified-since", "LM")], 200),
    (&[("if-match", "\"other\""), ("if-none-match", "E")], 412),
    (&[("if-unmodified-since", "OLD"), ("if-none-match", "E")], 412),
    (&[("if-match", "E"), ("if-none-match", "E")], 304),
    (&[("range", "bytes=0-9"), ("if-range", "E")], 206),
    (&[("range", "bytes=0-9"), ("if-range", "\"other\"")], 200),
    (&[("range", "bytes=0-9"), ("if-range", "W/E")], 200),
    (&[("range", "bytes=0-9"), ("if-range", "LM")], 206),
    (&[("range", "bytes=0-9"), ("if-range", "OLD")], 200),
    (&[("range", "bytes=0-9"), ("if-match", "\"other\"")], 412),
    (&[("range", "bytes=0-9"), ("if-none-match", "E")], 304),
];

/// `value` with `E`, `W/E`, `LM`, `OLD` and `NEW` replaced by the object's validators and dates around them.
fn with_validators(value: &str, etag: &str, modified: &str) -> String {
    let last = httpdate::parse_http_date(modified).unwrap();
    let newer = httpdate::fmt_http_date(last + Duration::from_secs(86_400));
    match value {
        "LM" => modified.to_owned(),
        "OLD" => "Mon, 01 Jan 2001 00:00:00 GMT".to_owned(),
        "NEW" => newer,
        "W/E" => format!("W/{etag}"),
        // No other value in the table holds a capital E.
        _ => value.replace('E', etag),
    }
}

/// The table above on fs and memory, through signed and public links, by GET and HEAD, and on the memory backend's
/// own `fetch` (which serves no ranges: its answer to a 206 row is the whole object, 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preconditions_are_evaluated_in_the_order_of_rfc_9110() {
    for kind in ["fs", "memory"] {
        let (storage, _dir) = served(kind, None).await;
        let data: Vec<u8> = (0..100u8).collect();
        storage.save_with("open.bin", data.clone(), SaveOptions::default().with_acl(Acl::PublicRead)).await.unwrap();
        let signed = storage.temporary_url("open.bin", Duration::from_secs(600), UrlOptions::get()).await.unwrap();
        let public = storage.url("open.bin").await.unwrap();
        let whole = get(&signed, &[]).await;
        let (etag, modified) = (header(&whole, "etag").to_owned(), header(&whole, "last-modified").to_owned());
        for (conditions, expected) in PRECONDITIONS {
            let sent: Vec<(&str, String)> =
                conditions.iter().map(|(name, value)| (*name, with_validators(value, &etag, &modified))).collect();
            for url in [&signed, &public] {
                for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
                    let mut request = client().request(method.clone(), url.as_str());
                    for (name, value) in &sent {
                        request = request.header(*name, value);
                    }
                    let status = request.send().await.unwrap().status().as_u16();
                    assert_eq!(status, *expected, "{kind} {method} {url} {sent:?}");
                }
            }
        }
    }
    let memory = storage_memory::MemoryBackend::new();
    let storage = memory.storage();
    storage
        .save_with("open.bin", b"0123456789".to_vec(), SaveOptions::default().with_acl(Acl::PublicRead))
        .await
        .unwrap();
    let signed = storage.temporary_url("open.bin", Duration::from_secs(600), UrlOptions::get()).await.unwrap();
    let public = storage.url("open.bin").await.unwrap();
    let whole = memory.fetch("GET", &signed, &[], bytes::Bytes::new());
    let etag = whole.header("etag").unwrap().to_owned();
    let modified = httpdate::fmt_http_date(storage.metadata("open.bin").await.unwrap().meta.last_modified.into());
    for (conditions, expected) in PRECONDITIONS {
        let sent: Vec<(&str, String)> =
            conditions.iter().map(|(name, value)| (*name, with_validators(value, &etag, &modified))).collect();
        let headers: Vec<(&str, &str)> = sent.iter().map(|(name, value)| (*name, value.as_str())).collect();
        for url in [&signed, &public] {
            let status = memory.fetch("GET", url, &headers, bytes::Bytes::new()).status;
            assert_eq!(status, *expected, "memory fetch {url} {sent:?}");
        }
    }
}

/// One request for a link: method, URL, headers and body.
type LinkRequest = (&'static str, String, Vec<(&'static str, String)>, &'static [u8]);

/// What a server answered, for comparison: status, headers in order (a signed link's `max-age` left out, since the
/// second it is computed in may differ) and body.
type Answered = (u16, Vec<(String, String)>, bytes::Bytes);

fn without_max_age(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    let age = |value: &str| value.strip_prefix("private, max-age=").and_then(|left| left.parse::<u64>().ok());
    for (name, value) in &headers {
        if let Some(left) = age(value).filter(|_| name == "cache-control") {
            assert!((598..=600).contains(&left), "a link signed for 600 s is cached for {left} s");
        }
    }
    headers.into_iter().filter(|(name, value)| !(name == "cache-control" && age(value).is_some())).collect()
}

async fn through_the_service(service: &SignedUrlService, (method, url, headers, body): &LinkRequest) -> Answered {
    use http_body_util::BodyExt as _;
    let mut request = http::Request::builder().method(*method).uri(url.as_str());
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let request = request.body(http_body_util::Full::new(bytes::Bytes::from_static(body))).unwrap();
    let response = service.handle(request).await;
    let status = response.status().as_u16();
    let headers =
        response.headers().iter().map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned())).collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, without_max_age(headers), body)
}

fn through_memory_fetch(
    memory: &storage_memory::MemoryBackend,
    (method, url, headers, body): &LinkRequest,
) -> Answered {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let answer = memory.fetch(method, url, &headers, bytes::Bytes::from_static(body));
    (answer.status, without_max_age(answer.headers), answer.body)
}

/// The keys and bytes a memory backend holds.
fn contents(memory: &storage_memory::MemoryBackend, storage: &Storage) -> Vec<(String, bytes::Bytes)> {
    let read = |key: String| futures::executor::block_on(storage.read(&key)).map(|bytes| (key, bytes)).unwrap();
    memory.keys().into_iter().map(read).collect()
}

/// `MemoryBackend::fetch` is not a second server of links: for the same signed requests (GET, HEAD, ranges,
/// preconditions, expired and tampered links, plain URLs, PUTs of the signed size and MD5 and of others, a taken
/// name, a type list, a JSON-preferring client) it answers the status, headers and body the HTTP service answers,
/// and stores what the service stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_fetch_answers_every_link_request_as_the_http_service_does() {
    use md5::Digest as _;
    use storage_core::{Checksum, Method, PresignRequest, UploadPolicy};
    let memory = storage_memory::MemoryBackend::new();
    let storage = memory.storage();
    let service = SignedUrlService::new(storage.clone(), memory.signer().clone());
    let page = SaveOptions::default().with_content_type("Text/HTML; Charset=UTF-8");
    storage.save_with("page.html", "<p>0123456789</p>", page).await.unwrap();
    storage.save_with("open.txt", "open", SaveOptions::default().with_acl(Acl::PublicRead)).await.unwrap();
    storage.save("taken.txt", "taken").await.unwrap();
    let minutes = Duration::from_secs(600);
    let options = UrlOptions::get().with_download_name("Page.html");
    let link = storage.temporary_url("page.html", minutes, options).await.unwrap();
    let etag = storage.metadata("page.html").await.unwrap().meta.etag.unwrap();
    let past = std::time::SystemTime::now() - Duration::from_secs(3600);
    let expired = memory.signer().sign(&PresignRequest::new(Method::Get, "page.html", minutes), past).unwrap();
    let missing = storage.temporary_url("missing.txt", minutes, UrlOptions::get()).await.unwrap();
    let md5: [u8; 16] = md5::Md5::digest(b"hello").into();
    let sized = UploadPolicy::exact("new.txt").with_exact_size(5).with_checksum(Checksum::Md5(md5));
    let put = storage.upload_url(&sized).await.unwrap().url;
    let typed = UploadPolicy::exact("typed.txt").with_content_type("text/plain");
    let typed = storage.upload_url(&typed).await.unwrap().url;
    let onto_taken = storage.upload_url(&UploadPolicy::exact("taken.txt")).await.unwrap().url;
    let json = ("accept", "application/json".to_owned());
    let requests: Vec<LinkRequest> = vec![
        ("GET", link.clone(), vec![], b""),
        ("HEAD", link.clone(), vec![], b""),
        ("GET", link.clone(), vec![("range", "bytes=3-6".into())], b""),
        ("GET", link.clone(), vec![("range", "bytes=-4".into())], b""),
        ("GET", link.clone(), vec![("range", "bytes=100-".into())], b""),
        ("GET", link.clone(), vec![("range", "bytes=1-2,4-5".into())], b""),
        ("GET", link.clone(), vec![("if-none-match", etag.clone())], b""),
        ("GET", link.clone(), vec![("if-match", "\"other\"".into())], b""),
        ("GET", link.clone(), vec![("if-range", "\"other\"".into()), ("range", "bytes=0-1".into())], b""),
        ("GET", link.clone(), vec![("if-modified-since", "Sun, 06 Nov 2994 08:49:37 GMT".into())], b""),
        ("GET", link.replace("page", "Page"), vec![], b""),
        ("GET", expired, vec![], b""),
        ("GET", missing, vec![], b""),
        ("PUT", link.clone(), vec![], b"hello"),
        ("DELETE", link.clone(), vec![], b""),
        ("GET", memory.signer().plain_url("open.txt"), vec![], b""),
        ("HEAD", memory.signer().plain_url("open.txt"), vec![], b""),
        ("GET", memory.signer().plain_url("page.html"), vec![], b""),
        ("GET", memory.signer().plain_url("nothing.txt"), vec![], b""),
        ("PUT", memory.signer().plain_url("open.txt"), vec![], b"x"),
        ("PUT", put.clone(), vec![], b"hello"),
        ("PUT", put.clone(), vec![], b"hello, world"),
        ("PUT", put.clone(), vec![json.clone()], b"hell"),
        ("PUT", put.clone(), vec![], b"HELLO"),
        ("PUT", put.replace("new", "old"), vec![], b"hello"),
        ("PUT", typed.clone(), vec![("content-type", "text/plain".into())], b"typed"),
        ("PUT", typed.clone(), vec![("content-type", "text/html".into())], b"typed"),
        ("PUT", typed, vec![("content-type", "text/plain, text/html".into()), json], b"typed"),
        ("PUT", onto_taken, vec![], b"again"),
    ];
    let mut statuses = Vec::new();
    for request in &requests {
        let before = memory.keys();
        let served = through_the_service(&service, request).await;
        let stored_by_service = contents(&memory, &storage);
        for key in memory.keys().into_iter().filter(|key| !before.contains(key)) {
            storage.delete(&key).await.unwrap();
        }
        let fetched = through_memory_fetch(&memory, request);
        statuses.push(fetched.0);
        assert_eq!(
            served, fetched,
            "{} {} {:?}: the service (left) and memory's fetch (right)",
            request.0, request.1, request.2
        );
        assert_eq!(stored_by_service, contents(&memory, &storage), "{} {}: what each stored", request.0, request.1);
        for key in memory.keys().into_iter().filter(|key| !before.contains(key)) {
            storage.delete(&key).await.unwrap();
        }
    }
    assert!(statuses.contains(&201) && statuses.contains(&206) && statuses.contains(&304), "{statuses:?}");
}

/// The address and request target of a signed URL, for requests written by hand on a raw socket.
fn address_and_target(url: &str) -> (String, String) {
    let rest = url.trim_start_matches("http://");
    let slash = rest.find('/').unwrap();
    (rest[..slash].to_owned(), rest[slash..].to_owned())
}

/// One file in a memory storage served by `server`: its storage, signed URL, and that URL's address and target.
async fn served_file(server: Server, contents: &'static str) -> (Storage, String, String, String) {
    let (storage, _) = served_by(server, "memory", None).await;
    storage.save("a.txt", contents).await.unwrap();
    let url = storage.temporary_url("a.txt", Duration::from_secs(600), UrlOptions::get()).await.unwrap();
    let (address, target) = address_and_target(&url);
    (storage, url, address, target)
}

/// Everything the server sends until it closes the connection (or resets it).
fn read_until_closed(mut reader: tokio::net::tcp::OwnedReadHalf) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut received = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut received).await;
        received
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_or_silent_client_is_closed_within_30s_while_others_are_served() {
    use tokio::io::AsyncWriteExt;
    let (_storage, url, address, target) = served_file(Server::default(), "served meanwhile").await;

    let silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    let silent_closed = read_until_closed(silent.into_split().0);
    let (reader, mut trickle) = tokio::net::TcpStream::connect(&address).await.unwrap().into_split();
    let trickler_closed = read_until_closed(reader);
    trickle.write_all(format!("GET {target} HTTP/1.1\r\n").as_bytes()).await.unwrap();
    // One header line every 2 s, for at most 30 s, until the server closes the connection.
    for line in 0..15 {
        if trickler_closed.is_finished() {
            break;
        }
        let normal = get(&url, &[]).await;
        assert_eq!(normal.status(), 200, "a normal client is served while one trickles");
        assert_eq!(normal.text().await.unwrap(), "served meanwhile");
        tokio::time::sleep(Duration::from_secs(2)).await;
        if trickle.write_all(format!("x-trickle-{line}: 1\r\n").as_bytes()).await.is_err() {
            break;
        }
    }
    assert!(trickler_closed.is_finished() || trickle.write_all(b"x: 1\r\n").await.is_err(), "closed within 30 s");
    let answer = trickler_closed.await.unwrap();
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "the trickled request is not served");
    let silent = tokio::time::timeout(Duration::from_secs(10), silent_closed).await;
    assert!(silent.is_ok(), "a client that sends nothing is closed as soon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_until_an_idle_one_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::default().with_max_connections(2).with_header_timeout(Duration::from_secs(1));
    let (_storage, _url, address, target) = served_file(server, "hello").await;
    let request = format!("GET {target} HTTP/1.1\r\nHost: {address}\r\n\r\n");

    // Two kept-alive connections take both slots, each after one answered request.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
        connection.write_all(request.as_bytes()).await.unwrap();
        let mut answer = vec![0; 4096];
        let read = connection.read(&mut answer).await.unwrap();
        assert!(answer[..read].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..read]));
        held.push(connection);
    }
    // A third waits to be accepted; it is answered once the server closes an idle one.
    let mut waiting = tokio::net::TcpStream::connect(&address).await.unwrap();
    waiting.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let read = waiting.read(&mut answer).await.unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..read]));
    // A plain non-blocking read asks the kernel itself: 0 bytes is the server's FIN, already delivered.
    let at_eof = |connection: tokio::net::TcpStream| {
        let mut connection = connection.into_std().unwrap();
        connection.set_nonblocking(true).unwrap();
        matches!(std::io::Read::read(&mut connection, &mut [0; 16]), Ok(0))
    };
    let closed = held.into_iter().map(at_eof).filter(|closed| *closed).count();
    assert!(closed >= 1, "the third connection was served only after an idle one was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_on_a_request_that_uploads_nothing_is_refused() {
    let (_storage, url, address, target) = served_file(Server::default(), "hello").await;
    // Only the head is sent: the answer comes before any of the body, so no unread body can reset the connection.
    let (reader, mut writer) = tokio::net::TcpStream::connect(&address).await.unwrap().into_split();
    let head = format!("GET {target} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 1048576\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut writer, head.as_bytes()).await.unwrap();
    // Bounded, should a server wait for the body it was promised.
    let answer = tokio::time::timeout(Duration::from_secs(30), read_until_closed(reader)).await;
    let answer = String::from_utf8(answer.expect("the server answers at once").unwrap()).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("a GET request may send at most 16384 bytes"), "{answer}");
    // The body was left unread, so the connection ends with the answer, and a pooling client is told so.
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    assert_eq!(client().get(&url).body("small").send().await.unwrap().status(), 200, "a small body is ignored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_connection_idle_after_its_requests_is_closed() {
    let server = Server::default().with_idle_timeout(Duration::from_secs(1));
    let (_storage, _url, address, target) = served_file(server, "hello").await;
    let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(tcp);
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{address}{target}")).body(String::new()).unwrap();
    assert_eq!(sender.send_request(request).await.unwrap().status(), 200);
    // The client answers every ping, so only the server's idle timeout can end the connection.
    let ended = tokio::time::timeout(Duration::from_secs(30), connection).await;
    assert!(ended.is_ok(), "an h2 connection with no request for its idle timeout is closed by the server");
}

/// The head of a form POST to `address` that declares a body of `length` bytes.
fn form_head(address: &str, length: usize) -> String {
    format!(
        "POST /files/ HTTP/1.1\r\nHost: {address}\r\nContent-Type: multipart/form-data; boundary=B\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

/// The first bytes the server sends on `connection` (none if it closes it), or `None` if it sends nothing within
/// `bound`.
async fn first_answer(connection: &mut tokio::net::TcpStream, bound: Duration) -> Option<String> {
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(bound, tokio::io::AsyncReadExt::read(connection, &mut answer)).await.ok()?;
    Some(String::from_utf8_lossy(&answer[..read.unwrap_or(0)]).into_owned())
}

/// A client that declares a body and sends none is answered or closed once the body timeout passes, on a form POST
/// and on a PUT link, while an upload that sends a chunk every quarter timeout (a margin a loaded machine keeps),
/// longer in all than the timeout, is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_closed_within_the_body_timeout_while_a_slow_steady_upload_succeeds() {
    use tokio::io::AsyncWriteExt;
    let timeout = Duration::from_secs(4);
    let (storage, _url, address, _target) = served_file(Server::default().with_body_timeout(timeout), "x").await;
    let put = storage.temporary_url("steady.bin", Duration::from_secs(600), UrlOptions::put()).await.unwrap();
    let (_, put_target) = address_and_target(&put);
    let put_head =
        |length: usize| format!("PUT {put_target} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {length}\r\n\r\n");

    let mut stalled = Vec::new();
    for head in [form_head(&address, 100), put_head(100)] {
        let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
        connection.write_all(head.as_bytes()).await.unwrap();
        stalled.push((head, connection));
    }
    let mut steady = tokio::net::TcpStream::connect(&address).await.unwrap();
    steady.write_all(put_head(5).as_bytes()).await.unwrap();
    for byte in b"abcde" {
        tokio::time::sleep(timeout / 4).await;
        steady.write_all(&[*byte]).await.unwrap();
    }
    let answer = first_answer(&mut steady, Duration::from_secs(30)).await.expect("the steady upload is answered");
    assert!(answer.starts_with("HTTP/1.1 201"), "a slow but steady upload is stored: {answer}");
    assert_eq!(storage.read("steady.bin").await.unwrap().as_ref(), b"abcde");
    // The steady upload took 2.5 timeouts: the stalled ones have long been answered or closed (bounded generously).
    for (head, mut connection) in stalled {
        let answer = first_answer(&mut connection, Duration::from_secs(30)).await;
        assert!(answer.is_some(), "a stalled body holds its connection: {head}");
        assert!(!answer.unwrap().starts_with("HTTP/1.1 2"), "a stalled upload is not stored: {head}");
    }
}

/// Connections whose bodies stall are closed, so with every slot held by one a new client is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_on_every_connection_slot_shut_out_no_client() {
    use tokio::io::AsyncWriteExt;
    let server = Server::default().with_max_connections(2).with_body_timeout(Duration::from_secs(1));
    let (_storage, url, address, target) = served_file(server, "served").await;
    let get_request = format!("GET {target} HTTP/1.1\r\nHost: {address}\r\n\r\n");
    let mut held = Vec::new();
    for _ in 0..2 {
        // An answered request first proves the connection holds a slot; then a form whose body never comes.
        let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
        connection.write_all(get_request.as_bytes()).await.unwrap();
        let answer = first_answer(&mut connection, Duration::from_secs(30)).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        connection.write_all(form_head(&address, 100).as_bytes()).await.unwrap();
        held.push(connection);
    }
    let served = tokio::time::timeout(Duration::from_secs(30), get(&url, &[])).await;
    let response = served.expect("a client is served while stalled bodies hold every slot");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "served");
}

/// A form that trickles its fields, each byte within the body timeout, is answered 408 at the form deadline: nothing
/// holds a request for long before its signature is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_trickling_its_fields_is_refused_at_the_form_deadline() {
    use tokio::io::AsyncWriteExt;
    let deadline = Duration::from_secs(2);
    let server = Server::default().with_body_timeout(Duration::from_secs(10));
    let (storage, _dir) = served_with(server, "memory", |service| service.with_form_deadline(deadline)).await;
    let (address, _) = address_and_target(&storage.url("any").await.unwrap());
    let (reader, mut writer) = tokio::net::TcpStream::connect(&address).await.unwrap().into_split();
    let answered = tokio::spawn(async move {
        let mut reader = reader;
        let mut answer = vec![0; 4096];
        let read = tokio::io::AsyncReadExt::read(&mut reader, &mut answer).await.unwrap_or(0);
        String::from_utf8_lossy(&answer[..read]).into_owned()
    });
    writer.write_all(form_head(&address, 10_000).as_bytes()).await.unwrap();
    writer.write_all(b"--B\r\ncontent-disposition: form-data; name=\"policy\"\r\n\r\n").await.unwrap();
    // A byte every 250 ms, far within the body timeout, for at most ten deadlines.
    for _ in 0..80 {
        if answered.is_finished() || writer.write_all(b"a").await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(answered.is_finished(), "the form was still read ten deadlines after it began");
    let answer = answered.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive in time"), "{answer}");
}

/// Over h2 too: a stream whose body never comes is answered at the body timeout, and the connection, idle after it,
/// is closed rather than held open by the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_stream_whose_body_never_comes_does_not_hold_its_connection() {
    let server = Server::default().with_idle_timeout(Duration::from_secs(1)).with_body_timeout(Duration::from_secs(1));
    let (storage, _url, address, _target) = served_file(server, "hello").await;
    let put = storage.temporary_url("never.bin", Duration::from_secs(600), UrlOptions::put()).await.unwrap();
    let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(tcp);
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.unwrap();
    let connection = tokio::spawn(connection);
    let never = futures::stream::pending::<Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>>();
    let request = http::Request::put(put).body(http_body_util::StreamBody::new(never)).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request)).await;
    let answer = answer.expect("a stream whose body never comes is answered");
    assert!(answer.is_err() || !answer.unwrap().status().is_success(), "nothing is stored");
    let ended = tokio::time::timeout(Duration::from_secs(30), connection).await;
    assert!(ended.is_ok(), "the connection is closed once idle, the stalled stream ended");
}

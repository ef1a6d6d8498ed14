//! The direct-upload table: the same cases on every storage with upload forms (memory and disk through
//! `storage_http::SignedUrlService`, S3 by its POST policy). A browser is played by reqwest posting the form's
//! fields in order and then the file; each case checks the answer's class and, above all, what is stored.

use std::time::{Duration, SystemTime};

use storage_core::{Acl, Attributes, Checksum, ErrorKind, Storage, UploadForm, UploadPolicy};

/// One post of a form: its fields (some replaced or added, as a browser or an attacker would), then the file.
async fn post(
    form: &UploadForm,
    replace: &[(&str, &str)],
    file_name: &str,
    content_type: &str,
    data: Vec<u8>,
) -> reqwest::Response {
    let mut multipart = reqwest::multipart::Form::new();
    let mut fields = form.fields.clone();
    for (name, value) in replace {
        match fields.iter_mut().find(|(field, _)| field.eq_ignore_ascii_case(name)) {
            Some(field) => field.1 = (*value).to_owned(),
            None => fields.insert(1, ((*name).to_owned(), (*value).to_owned())),
        }
    }
    for (name, value) in fields {
        multipart = multipart.text(name, value);
    }
    let file = reqwest::multipart::Part::bytes(data).file_name(file_name.to_owned()).mime_str(content_type).unwrap();
    multipart = multipart.part(storage_core::upload::FILE_FIELD, file);
    let client = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    client.post(&form.url).multipart(multipart).send().await.unwrap()
}

fn accepted(response: &reqwest::Response) -> bool {
    response.status().is_success() || response.status() == 303
}

fn refused(response: &reqwest::Response) -> bool {
    response.status().is_client_error()
}

async fn absent(storage: &Storage, name: &str) -> bool {
    !storage.exists(name).await.unwrap()
}

/// An expired policy is refused and stores nothing. No time is guessed: the form is posted again and again, each time
/// to a fresh key under `prefix`, until the server refuses it, which must not come before the policy could have
/// expired nor later than a minute after; an upload accepted once the policy has surely expired fails the case.
async fn expired_policy_cases(
    storage: &Storage,
    prefix: &str,
    limits_only: &(dyn Fn(UploadPolicy) -> UploadPolicy + Sync),
    data: &[u8],
) {
    // Longer than the clock slack, so that a refusal while the policy is surely valid fails the case.
    let lifetime = crate::EXPIRY_CLOCK_SLACK + Duration::from_secs(1);
    let policy = UploadPolicy::prefix(prefix).with_size(100..=1000).with_content_type("image/png");
    let requested = SystemTime::now();
    let form = storage.upload_form(&limits_only(policy).expires_in(lifetime)).await.unwrap();
    let issued = requested..SystemTime::now();
    let (earliest_expiry, latest_expiry) = (issued.start + lifetime, issued.end + lifetime);
    let deadline = latest_expiry + Duration::from_secs(60);
    for attempt in 0.. {
        // The form's key is the prefix and `${filename}`: each post names its file anew.
        let file_name = format!("{attempt}.png");
        let key = format!("{prefix}{file_name}");
        let sent = SystemTime::now();
        let answer = post(&form, &[], &file_name, "image/png", data.to_vec()).await;
        if refused(&answer) {
            let answered = SystemTime::now();
            let status = answer.status();
            let why = answer.text().await.unwrap_or_default();
            assert!(answered + crate::EXPIRY_CLOCK_SLACK >= earliest_expiry, "refused before expiry: {status} {why}");
            assert!(absent(storage, &key).await, "an expired policy stores nothing");
            return;
        }
        assert!(accepted(&answer), "a policy within its lifetime: {}", answer.status());
        assert!(sent < latest_expiry + crate::EXPIRY_CLOCK_SLACK, "an upload was accepted after its policy expired");
        assert!(sent < deadline, "the expired policy was still accepted a minute later");
        // Not a guess at how long anything takes: the pace of the posting, until the condition holds.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Run every case under `root` (a fresh prefix) on `storage`.
pub async fn direct_uploads(storage: &Storage, root: &str) {
    let caps = storage.capabilities();
    let name = |leaf: &str| format!("{root}/{leaf}");
    let data = crate::test_bytes(41, 1000);
    let md5 = {
        use md5::Digest as _;
        let digest: [u8; 16] = md5::Md5::digest(&data).into();
        digest
    };
    // User metadata travels on every backend; Ceph 16 drops `Cache-Control` from a POST (AWS keeps it).
    let attributes = Attributes::default().with_metadata("owner", "alice");
    // The cases that test limits need no create-only: they ask for it where the forms can refuse a taken name, and
    // replace where they cannot (S3, whose POST has no condition). The cases that need it are declared below.
    let limits_only = |policy: UploadPolicy| {
        if caps.upload_form_with_create_only { policy } else { policy.allowing_overwrite() }
    };
    // Each refusal case breaks one condition only.
    let within = |key: &str| {
        let mut policy = UploadPolicy::exact(key)
            .with_size(100..=1000)
            .with_content_type("image/png")
            .with_attributes(attributes.clone());
        if caps.acl {
            policy = policy.with_acl(Acl::PublicRead);
        }
        limits_only(policy)
    };

    if !caps.upload_form {
        let form = storage.upload_form(&within(&name("ok.png"))).await;
        crate::cases::assert_kind(form, ErrorKind::Unsupported, "an upload form");
        return;
    }
    // Within every limit: stored with the type, attributes and ACL.
    let form = storage.upload_form(&within(&name("ok.png"))).await.unwrap();
    let answer = post(&form, &[], "photo.png", "image/png", data.clone()).await;
    assert!(accepted(&answer), "within limits: {}", answer.status());
    assert!(storage.read(&name("ok.png")).await.unwrap() == data, "the bytes");
    let stored = storage.metadata(&name("ok.png")).await.unwrap().attributes;
    assert_eq!(stored.content_type.as_deref(), Some("image/png"));
    assert_eq!(stored.metadata.get("owner").map(String::as_str), Some("alice"), "the attributes");
    if caps.acl {
        assert_eq!(storage.acl(&name("ok.png")).await.unwrap(), Acl::PublicRead, "the ACL");
    }

    // Refused, and nothing stored: one byte over, under the minimum, another type, another checksum.
    let over = crate::test_bytes(42, 1001);
    for (case, leaf, content_type, bytes) in [
        ("one byte over the maximum", "over.png", "image/png", over),
        ("under the minimum", "under.png", "image/png", data[..99].to_vec()),
        ("another type", "type.png", "text/html", data.clone()),
    ] {
        let form = storage.upload_form(&within(&name(leaf))).await.unwrap();
        let replace: Vec<(&str, &str)> =
            if content_type == "image/png" { vec![] } else { vec![("Content-Type", content_type)] };
        let answer = post(&form, &replace, leaf, content_type, bytes).await;
        assert!(refused(&answer), "{case}: {}", answer.status());
        assert!(absent(storage, &name(leaf)).await, "{case}: nothing is stored");
        // A refused upload holds no name: a new form for it works, and the right file lands.
        let again = storage.upload_form(&within(&name(leaf))).await.unwrap();
        let answer = post(&again, &[], leaf, "image/png", data.clone()).await;
        assert!(accepted(&answer), "{case}, then a new form for the name: {}", answer.status());
        assert!(storage.read(&name(leaf)).await.unwrap() == data, "{case}, then a new form: the bytes");
    }

    // A checksum: the right bytes are stored, others refused. S3 cannot check one on a POST (Ceph ignores
    // `Content-MD5` there), so its forms refuse the policy instead of promising what the server would not keep.
    let with_checksum = |leaf: &str| within(&name(leaf)).with_checksum(Checksum::Md5(md5));
    match storage.upload_form(&with_checksum("sum.png")).await {
        Err(err) => assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}"),
        Ok(form) => {
            let answer = post(&form, &[], "sum.png", "image/png", crate::test_bytes(43, 1000)).await;
            assert!(refused(&answer), "another checksum: {}", answer.status());
            assert!(absent(storage, &name("sum.png")).await, "another checksum: nothing is stored");
            let form = storage.upload_form(&with_checksum("right.png")).await.unwrap();
            let answer = post(&form, &[], "right.png", "image/png", data.clone()).await;
            assert!(accepted(&answer), "the right checksum: {}", answer.status());
            assert!(storage.read(&name("right.png")).await.unwrap() == data);
        }
    }

    // A list in the type field, which a browser reads as its active last type: refused by an exact type.
    for (leaf, list) in [("list.png", "image/png,text/html"), ("spaced.png", "image/png, text/html")] {
        let form = storage.upload_form(&within(&name(leaf))).await.unwrap();
        let answer = post(&form, &[("Content-Type", list)], leaf, "image/png", data.clone()).await;
        assert!(refused(&answer), "{list}: {}", answer.status());
        assert!(absent(storage, &name(leaf)).await, "{list}: nothing is stored");
    }

    // A type prefix admits single types of that top-level type and never a list or an active type. S3 has no
    // condition that says so (`starts-with` admits `image/png,text/html`): its forms refuse a prefix instead.
    let prefixed = UploadPolicy::prefix(name("typed/")).with_content_type_prefix("image/").allowing_overwrite();
    if storage.backend().name() == "s3" {
        let err = storage.upload_form(&prefixed).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("name the exact type"), "{err}");
    } else {
        let form = storage.upload_form(&prefixed).await.unwrap();
        let answer = post(&form, &[("Content-Type", "image/webp")], "dog.webp", "image/webp", data.clone()).await;
        assert!(accepted(&answer), "a type under the prefix: {}", answer.status());
        for (case, sent) in [
            ("a list", "image/png,text/html"),
            ("a list with a space", "image/png, text/html"),
            ("an active type", "image/svg+xml"),
            ("another top-level type", "imagefoo/png"),
        ] {
            let answer = post(&form, &[("Content-Type", sent)], "page.png", "image/png", data.clone()).await;
            assert!(refused(&answer), "{case} under image/: {}", answer.status());
            assert!(absent(storage, &name("typed/page.png")).await, "{case}: nothing is stored");
        }
    }

    // A key the browser completes under the allowed prefix.
    let images = UploadPolicy::prefix(name("images/")).with_content_type("image/webp").allowing_overwrite();
    let form = storage.upload_form(&images).await.unwrap();
    let answer = post(&form, &[("Content-Type", "image/webp")], "cat.webp", "image/webp", data.clone()).await;
    assert!(accepted(&answer), "a key under the prefix: {}", answer.status());
    let stored = storage.metadata(&name("images/cat.webp")).await.unwrap();
    assert_eq!(stored.attributes.content_type.as_deref(), Some("image/webp"), "stored as the file's name and type");

    // A key outside the prefix, and a tampered key on an exact policy.
    let outside = name("elsewhere/cat.webp");
    let answer =
        post(&form, &[("key", &outside), ("Content-Type", "image/webp")], "cat.webp", "image/webp", data.clone()).await;
    assert!(refused(&answer), "a key outside the prefix: {}", answer.status());
    assert!(absent(storage, &outside).await);
    let form = storage.upload_form(&within(&name("exact.png"))).await.unwrap();
    let tampered = name("other.png");
    let answer = post(&form, &[("key", &tampered)], "photo.png", "image/png", data.clone()).await;
    assert!(refused(&answer), "a tampered key: {}", answer.status());
    assert!(absent(storage, &tampered).await, "nothing at the tampered key");
    // The policy itself rewritten (here one character of it): its signature no longer matches.
    let form = storage.upload_form(&within(&name("forged.png"))).await.unwrap();
    let mut forged = form.field("policy").expect("a policy field").to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let answer = post(&form, &[("policy", &forged)], "photo.png", "image/png", data.clone()).await;
    assert!(refused(&answer), "a tampered policy: {}", answer.status());
    assert!(absent(storage, &name("forged.png")).await, "a tampered policy stores nothing");

    create_only_cases(storage, &name, &data).await;

    expired_policy_cases(storage, &name("late/"), &limits_only, &data).await;

    // Success by redirect: the browser is sent on, with the key.
    let policy =
        limits_only(UploadPolicy::exact(name("done.txt")).with_success_redirect("http://app.invalid/uploaded"));
    let form = storage.upload_form(&policy).await.unwrap();
    let answer = post(&form, &[], "done.txt", "text/plain", b"done".to_vec()).await;
    assert_eq!(answer.status(), 303, "redirected");
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("http://app.invalid/uploaded?") && location.contains("key="), "{location}");
    assert_eq!(storage.read(&name("done.txt")).await.unwrap().as_ref(), b"done");
}

/// The cases that need create-only forms (`Capabilities::upload_form_with_create_only`): a taken name is refused,
/// and a form posted twice keeps its first upload. A backend whose forms cannot refuse a taken name (S3) answers
/// `Unsupported` with the way out instead, and claims nothing: the name stays free for anyone.
async fn create_only_cases(storage: &Storage, name: &impl Fn(&str) -> String, data: &[u8]) {
    let create_only = |leaf: &str| UploadPolicy::exact(name(leaf)).with_size(1..=1000).with_content_type("image/png");
    storage.save(&name("taken.png"), b"first".as_slice()).await.unwrap();
    if storage.capabilities().upload_form_with_create_only {
        let form = storage.upload_form(&create_only("taken.png")).await.unwrap();
        let answer = post(&form, &[], "photo.png", "image/png", data.to_vec()).await;
        assert_eq!(answer.status(), 412, "a taken name");
        let form = storage.upload_form(&create_only("twice.png")).await.unwrap();
        let first = post(&form, &[], "photo.png", "image/png", data.to_vec()).await;
        assert!(accepted(&first), "the first post: {}", first.status());
        let second = post(&form, &[], "photo.png", "image/png", b"the second post".to_vec()).await;
        assert_eq!(second.status(), 412, "the same form posted again");
        assert!(storage.read(&name("twice.png")).await.unwrap() == data, "the first upload is kept");
    } else {
        for leaf in ["taken.png", "free.png"] {
            let err = storage.upload_form(&create_only(leaf)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported, "a create-only form for `{leaf}`: {err}");
            let message = err.to_string();
            assert!(message.contains("fresh random segment") && message.contains("allowing_overwrite"), "{message}");
        }
        let free = name("free.png");
        assert_eq!(storage.save(&free, b"mine".as_slice()).await.unwrap(), free, "no claim holds the name");
    }
    assert_eq!(storage.read(&name("taken.png")).await.unwrap().as_ref(), b"first", "the taken file is kept");
}

/// A presigned PUT with the headers it names; `content-length` always comes from the body, as a client sends it.
async fn put(request: &storage_core::PresignedRequest, body: Vec<u8>) -> reqwest::Response {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut put = client.put(&request.url).body(body);
    for (name, value) in &request.headers {
        if name != "content-length" {
            put = put.header(name, value);
        }
    }
    put.send().await.unwrap()
}

/// The PUT side of direct uploads (`Storage::upload_url`): an exact size and an MD5 signed into the URL are
/// enforced, a taken name is refused under create-only, and what a PUT cannot enforce is refused up front.
pub async fn upload_urls(storage: &Storage, root: &str) {
    let name = |leaf: &str| format!("{root}/{leaf}");
    let data = crate::test_bytes(51, 1000);
    let md5: [u8; 16] = {
        use md5::Digest as _;
        md5::Md5::digest(&data).into()
    };
    let exact = |leaf: &str| {
        UploadPolicy::exact(name(leaf))
            .with_exact_size(1000)
            .with_content_type("application/octet-stream")
            .with_checksum(Checksum::Md5(md5))
    };
    if !storage.capabilities().presign_write {
        crate::cases::assert_kind(storage.upload_url(&exact("put.bin")).await, ErrorKind::Unsupported, "an upload url");
        return;
    }
    if !storage.capabilities().presign_write_with_headers {
        // A size, type or MD5 a PUT link cannot enforce is refused; a link without them is create-only all the same.
        crate::cases::assert_kind(
            storage.upload_url(&exact("put.bin")).await,
            ErrorKind::Unsupported,
            "unsigned headers",
        );
        let request = storage.upload_url(&UploadPolicy::exact(name("put.bin"))).await.unwrap();
        assert!(put(&request, data.clone()).await.status().is_success(), "within the policy");
        assert!(storage.read(&name("put.bin")).await.unwrap() == data);
        let request = storage.upload_url(&UploadPolicy::exact(name("put.bin"))).await.unwrap();
        assert!(refused(&put(&request, vec![1]).await), "a taken name under create-only");
        assert!(storage.read(&name("put.bin")).await.unwrap() == data, "nothing was replaced");
        return;
    }
    let request = storage.upload_url(&exact("put.bin")).await.unwrap();
    let answer = put(&request, data.clone()).await;
    assert!(answer.status().is_success(), "within the policy: {}", answer.status());
    assert!(storage.read(&name("put.bin")).await.unwrap() == data);
    let stored = storage.metadata(&name("put.bin")).await.unwrap();
    assert_eq!(stored.attributes.content_type.as_deref(), Some("application/octet-stream"));

    let mut longer = data.clone();
    longer.push(0);
    let mut other = data.clone();
    other[500] ^= 1;
    // Each case breaks one condition only: the size case signs no MD5, which would refuse other bytes anyway.
    let size_only = UploadPolicy::exact(name("long.bin")).with_exact_size(1000);
    for (case, policy, leaf, body) in
        [("one byte more", size_only, "long.bin", longer), ("another MD5", exact("md5.bin"), "md5.bin", other)]
    {
        let request = storage.upload_url(&policy).await.unwrap();
        let answer = put(&request, body).await;
        assert!(refused(&answer), "{case}: {}", answer.status());
        assert!(absent(storage, &name(leaf)).await, "{case}: nothing is stored");
    }
    let request = storage.upload_url(&exact("put.bin")).await.unwrap();
    assert_eq!(put(&request, data.clone()).await.status(), 412, "a taken name under create-only");

    for (case, policy) in [
        ("a key prefix", UploadPolicy::prefix(name("inbox/"))),
        ("a size range", UploadPolicy::exact(name("r.bin")).with_size(1..=10)),
        ("a type prefix", UploadPolicy::exact(name("t.bin")).with_content_type_prefix("image/")),
    ] {
        let err = storage.upload_url(&policy).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{case}: {err}");
        assert!(err.to_string().contains("use upload_form"), "{case}: {err}");
    }
    let sha256 = UploadPolicy::exact(name("s.bin")).with_checksum(Checksum::Sha256([0; 32]));
    assert_eq!(storage.upload_url(&sha256).await.unwrap_err().kind(), ErrorKind::Unsupported);
}

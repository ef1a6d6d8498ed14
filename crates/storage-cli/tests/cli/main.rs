//! End-to-end tests of the real `storage` binary: the embedded default, a real Ceph RGW, `share`, bad input.

mod azure;
mod backends;
mod checkpoints;
mod errors;
mod expiry;
mod first_hour;
mod forms;
mod guide;
mod job;
mod migrate;
mod mirror;
mod newcomer;
mod shards;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

fn storage(dir: &Path, args: &[&str]) -> Output {
    storage_with_env(dir, args, &[])
}

#[track_caller]
fn storage_with_env(dir: &Path, args: &[&str], env: &[(String, String)]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_storage"))
        .args(args)
        .current_dir(dir)
        .env_remove("STORAGE_CONFIG")
        .envs(env.iter().cloned())
        .output()
        .expect("run the storage binary");
    assert_causes_said_once(&stderr(&output));
    output
}

/// The parts of an error line that say a cause: `: ` and ` - ` separate them.
fn causes(line: &str) -> Vec<&str> {
    line.split(": ").flat_map(|part| part.split(" - ")).map(str::trim).filter(|part| part.len() >= 8).collect()
}

/// Every line the command printed to standard error states each cause once. The run helpers call this on every
/// command the suite runs, so every error the suite produces is scanned, not only the table of `errors.rs`.
#[track_caller]
fn assert_causes_said_once(stderr: &str) {
    for line in stderr.lines().filter(|line| line.starts_with("storage: ")) {
        for cause in causes(line) {
            assert_eq!(line.matches(cause).count(), 1, "`{cause}` is said more than once: {line}");
        }
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[track_caller]
fn ok(output: Output) -> String {
    assert!(output.status.success(), "exit {:?}: {}", output.status.code(), stderr(&output));
    stdout(&output)
}

fn twenty_mib() -> Vec<u8> {
    storage_conformance::test_bytes(20, 20 << 20)
}

/// A plain HTTP client with no credentials, used synchronously.
struct Http(tokio::runtime::Runtime, reqwest::Client);

impl Http {
    fn status(&self, url: &str) -> Option<u16> {
        self.0.block_on(self.status_async(url))
    }
    async fn status_async(&self, url: &str) -> Option<u16> {
        self.1.get(url).send().await.ok().map(|r| r.status().as_u16())
    }
    fn body(&self, url: &str) -> Vec<u8> {
        self.0.block_on(async { self.1.get(url).send().await.unwrap().bytes().await.unwrap().to_vec() })
    }
}

fn http() -> Http {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    Http(runtime, reqwest::Client::builder().no_proxy().build().unwrap())
}

#[test]
fn put_and_get_a_large_file_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let data = twenty_mib();
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    assert_eq!(ok(storage(dir.path(), &["put", "big.bin", "archive/big.bin"])), "archive/big.bin");
    assert!(dir.path().join("storage-data/archive/big.bin").exists(), "the default lives in ./storage-data");
    ok(storage(dir.path(), &["get", "archive/big.bin", "copy.bin"]));
    assert!(std::fs::read(dir.path().join("copy.bin")).unwrap() == data, "20 MiB round trip");
    let listed = ok(storage(dir.path(), &["--json", "ls", "archive"]));
    let entry: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!((entry["name"].as_str(), entry["size"].as_u64()), (Some("archive/big.bin"), Some(20 << 20)));
    let key = dir.path().join("storage-data/.storage/signing-key");
    ok(storage(dir.path(), &["url", "archive/big.bin", "--expires", "1m"]));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the signing key is private to its owner");
    let first_key = std::fs::read_to_string(&key).unwrap();
    ok(storage(dir.path(), &["url", "archive/big.bin", "--expires", "1m"]));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), first_key, "the key is reused, not replaced");
}

#[test]
fn bad_input_gives_one_clear_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let check = |args: &[&str], code: i32, says: &str| {
        let output = storage(dir.path(), args);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {}", stderr(&output));
        let message = stderr(&output);
        assert!(message.contains(says), "{args:?} should say {says:?}: {message}");
        assert_eq!(message.lines().count(), 1, "one line: {message}");
    };
    check(&["put", "no-such-file.txt"], 3, "no-such-file.txt");
    check(&["get", "missing.txt"], 3, "missing.txt");
    check(&["--storage", "nowhere", "ls"], 1, "unknown storage `nowhere`");
    check(&["--storage", "s3://", "ls"], 1, "name the bucket");
    check(&["--storage", "ftp://host/x", "ls"], 1, "unknown scheme `ftp`");
    check(&["--config", "absent.toml", "ls"], 1, "absent.toml");
    std::fs::write(dir.path().join("broken.toml"), "[storages.default]\nbackend = 'fs'\nlocaton = 'x'\n").unwrap();
    check(&["--config", "broken.toml", "ls"], 1, "locaton");
    std::fs::write(dir.path().join("other.toml"), "[storages.default]\nbackend = 'ftp'\n").unwrap();
    check(&["--config", "other.toml", "ls"], 1, "unknown backend `ftp`");
    let usage = storage(dir.path(), &["put"]);
    assert_eq!(usage.status.code(), Some(2), "wrong usage");
    let stored = std::fs::read_dir(dir.path().join("storage-data"))
        .map(|d| d.flatten().filter(|e| e.file_name() != ".storage").count())
        .unwrap_or(0);
    assert_eq!(stored, 0, "nothing was stored");
    assert!(!dir.path().join("missing.txt").exists(), "a failed get leaves no local file");
}

#[test]
fn a_content_type_that_is_not_one_media_type_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("page.txt"), "<script>document.title='ran'</script>").unwrap();
    for list in ["image/png,text/html", "text/plain, text/html", "text/plain; charset"] {
        for args in [
            &["put", "page.txt", "--content-type", list][..],
            &["url", "notes/a.txt", "--method", "put", "--content-type", list],
            &["url", "page.txt", "--expires", "1m", "--content-type", list],
            &["upload-url", "uploads/", "--content-type", list],
        ] {
            let output = storage(dir.path(), args);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
            let message = stderr(&output);
            assert!(message.contains("--content-type") && message.contains("media type"), "{args:?}: {message}");
        }
    }
    for prefix in ["image/png/", "imag e/", "*/"] {
        let output = storage(dir.path(), &["upload-url", "uploads/", "--content-type", prefix]);
        assert_eq!(output.status.code(), Some(2), "{prefix}: {}", stderr(&output));
        assert!(stderr(&output).contains("--content-type"), "{prefix}: {}", stderr(&output));
    }
    let stored = std::fs::read_dir(dir.path().join("storage-data"))
        .map(|d| d.flatten().filter(|e| e.file_name() != ".storage").count())
        .unwrap_or(0);
    assert_eq!(stored, 0, "nothing was stored");
    let put = ok(storage(dir.path(), &["put", "page.txt", "--content-type", "text/plain; charset=utf-8"]));
    assert_eq!(put, "page.txt");
}

#[test]
fn named_storages_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("storage.toml"),
        "[storages.default]\nbackend = 'fs'\nlocation = 'public'\ncreate = true\nacl = 'public-read'\n\n[storages.private]\nurl = 'file:///PRIVATE?create=true'\nprivate = true\nexpires = '60s'\n"
            .replace("/PRIVATE", &dir.path().join("private").display().to_string()),
    )
    .unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    ok(storage(dir.path(), &["put", "a.txt"]));
    assert!(dir.path().join("public/a.txt").exists());
    assert_eq!(ok(storage(dir.path(), &["cp", "default:a.txt", "private:secret.txt"])), "secret.txt");
    assert!(dir.path().join("private/secret.txt").exists(), "copied between storages");
    let url = ok(storage(dir.path(), &["url", "private:secret.txt"]));
    assert!(url.contains("X-Storage-Signature="), "a private storage's url is signed: {url}");
    ok(storage(dir.path(), &["mv", "private:secret.txt", "private:moved.txt"]));
    assert!(dir.path().join("private/moved.txt").exists() && !dir.path().join("private/secret.txt").exists());
    let env = [("STORAGE_DEFAULT_LOCATION".to_owned(), "elsewhere".to_owned())];
    ok(storage_with_env(dir.path(), &["put", "a.txt"], &env));
    assert!(dir.path().join("elsewhere/a.txt").exists(), "environment overrides the file");
}

/// Writes `dir/storage.toml`: one disk storage, `default`, whose links point at `base_url` when given.
fn write_disk_config(dir: &Path, base_url: Option<&str>) {
    let mut config = "[storages.default]\nbackend = 'fs'\nlocation = 'data'\ncreate = true\n".to_owned();
    if let Some(base_url) = base_url {
        config.push_str(&format!("base_url = '{base_url}'\n"));
    }
    std::fs::write(dir.join("storage.toml"), config).unwrap();
}

/// A disk storage in a fresh directory, served by `storage serve` (for ten minutes at most) on the port the system
/// picked for it (`--listen 127.0.0.1:0`): the server says which once it listens, and only then does `storage.toml`
/// name that address as the base URL, so the links later commands print reach this server. Stopped when dropped.
struct Served {
    dir: tempfile::TempDir,
    port: u16,
    child: std::process::Child,
    client: Http,
}

impl Served {
    fn disk_storage() -> Served {
        let dir = tempfile::tempdir().unwrap();
        write_disk_config(dir.path(), None);
        let mut command = Command::new(env!("CARGO_BIN_EXE_storage"));
        command.args(["serve", "--listen", "127.0.0.1:0", "--serve-for", "10m"]).current_dir(dir.path());
        let (child, address) = serving(command);
        let port = address.rsplit(':').next().and_then(|port| port.parse().ok()).expect("a port");
        write_disk_config(dir.path(), Some(&format!("http://{address}/")));
        Served { dir, port, child, client: http() }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a serving `storage` command and returns it with the address it says it serves on (`storage: serving …
/// on http://ADDRESS/`), printed once its listener is bound; the rest of what it prints is read and dropped.
fn serving(mut command: Command) -> (std::process::Child, String) {
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.split(" on http://").nth(1).map(|rest| rest.split('/').next().unwrap_or(rest).to_owned()))
        .expect("`storage serve` said where it serves before it ended");
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
}

#[test]
fn share_serves_a_link_that_works_then_expires() {
    let dir = tempfile::tempdir().unwrap();
    write_disk_config(dir.path(), None);
    std::fs::write(dir.path().join("report.pdf"), b"%PDF shared").unwrap();
    let (before, lifetime) = (SystemTime::now(), Duration::from_secs(10));
    let mut child = Command::new(env!("CARGO_BIN_EXE_storage"))
        .args(["share", "report.pdf", "--expires", "10s", "--serve-for", "2m", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let issued = before..SystemTime::now();
    let link = line.trim().to_owned();
    assert!(link.starts_with("http://127.0.0.1:") && link.contains("/shared/report.pdf?"), "{link}");
    let client = http();
    // The server starts listening right after the link is printed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.status(&link).is_none() {
        assert!(Instant::now() < deadline, "`storage share` did not start serving");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(client.body(&link), b"%PDF shared", "the link works while it is fresh");
    let plain = link.split('?').next().unwrap().to_owned();
    assert_eq!(client.status(&plain), Some(403), "the file is private without the signature");
    let status = || async { client.status_async(&link).await.expect("the server is still up") };
    client.0.block_on(storage_conformance::watch_link_expire(issued, lifetime, status));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn serve_refuses_bodies_where_nothing_is_uploaded_and_closes_silent_clients() {
    let Served { dir, port, client, .. } = &Served::disk_storage();
    std::fs::write(dir.path().join("a.txt"), b"hello").unwrap();
    ok(storage(dir.path(), &["put", "a.txt", "--private"]));
    let link = ok(storage(dir.path(), &["url", "a.txt", "--expires", "10m"])).trim().to_owned();
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", *port)).unwrap();
    // Only the head is sent: the answer comes before any of the body, so no unread body can reset the connection.
    let mut refused = std::net::TcpStream::connect(("127.0.0.1", *port)).unwrap();
    // Bounded, should a server wait for the body it was promised.
    refused.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let target = &link[link.find("/a.txt").unwrap()..];
    let head = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048576\r\n\r\n");
    std::io::Write::write_all(&mut refused, head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut refused, &mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "a GET may not send a large body: {answer}");
    assert_eq!(client.body(&link), b"hello", "a plain GET is served");
    // The server closes a connection that sends nothing within its header timeout (20 s).
    silent.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let read = std::io::Read::read(&mut silent, &mut [0; 64]);
    assert!(matches!(read, Ok(0)), "a silent client is closed, not kept: {read:?}");
}

/// Post the form `upload-url --json` printed, then a file, as a browser does; the answer's status.
fn post_form(client: &Http, form: &serde_json::Value, file_name: &str, content_type: &str, data: Vec<u8>) -> u16 {
    let mut multipart = reqwest::multipart::Form::new();
    for (name, value) in form["fields"].as_object().unwrap() {
        multipart = multipart.text(name.clone(), value.as_str().unwrap().to_owned());
    }
    let file = reqwest::multipart::Part::bytes(data).file_name(file_name.to_owned()).mime_str(content_type).unwrap();
    multipart = multipart.part("file", file);
    let url = form["url"].as_str().unwrap();
    client.0.block_on(async { client.1.post(url).multipart(multipart).send().await.unwrap().status().as_u16() })
}

#[test]
fn upload_url_prints_a_form_that_serve_enforces() {
    let Served { dir, port, client, .. } = &Served::disk_storage();
    let printed =
        ok(storage(dir.path(), &["--json", "upload-url", "inbox/", "--max-size", "1KiB", "--content-type", "text/"]));
    let form: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        (form["method"].as_str(), form["url"].as_str()),
        (Some("POST"), Some(format!("http://127.0.0.1:{port}/").as_str()))
    );
    assert_eq!(form["fields"]["key"].as_str(), Some("inbox/${filename}"), "{form}");
    let human = ok(storage(dir.path(), &["upload-url", "inbox/a.txt", "--max-size", "10MiB"]));
    assert!(human.starts_with("POST http://") && human.contains("key: inbox/a.txt"), "{human}");
    let bad = storage(dir.path(), &["upload-url", "inbox/a.txt", "--max-size", "10 parsecs"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let put = ok(storage(dir.path(), &["upload-url", "inbox/b.txt", "--put", "--min-size", "5", "--max-size", "5"]));
    assert!(
        put.starts_with(&format!("PUT http://127.0.0.1:{port}/inbox/b.txt?")) && put.contains("content-length: 5"),
        "{put}"
    );
    let range = storage(dir.path(), &["upload-url", "inbox/b.txt", "--put", "--max-size", "5"]);
    assert!(stderr(&range).contains("drop --put for a form"), "{}", stderr(&range));

    assert_eq!(post_form(client, &form, "note.txt", "text/plain", b"a short note".to_vec()), 204);
    assert_eq!(ok(storage(dir.path(), &["get", "inbox/note.txt", "-"])), "a short note");
    assert_eq!(post_form(client, &form, "big.txt", "text/plain", vec![b'x'; 1025]), 413, "one byte over 1 KiB");
    assert_eq!(post_form(client, &form, "pic.png", "image/png", b"png".to_vec()), 400, "not a text type");
    assert_eq!(post_form(client, &form, "note.txt", "text/plain", b"again".to_vec()), 412, "create-only");
    let listed = ok(storage(dir.path(), &["ls", "inbox/"]));
    assert_eq!(listed.trim(), "inbox/note.txt", "only the accepted upload is stored");
}

#[test]
fn upload_url_on_s3_is_a_post_policy_rgw_enforces() {
    let rgw = Rgw::new();
    let dir = tempfile::tempdir().unwrap();
    let location =
        format!("cli-forms-{}", SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos());
    let url = rgw.url(&location);
    let form_args =
        ["--storage", &url, "--json", "upload-url", "doc.txt", "--max-size", "100", "--content-type", "text/plain"];
    // S3 has no conditional POST: a create-only form (the default) is refused, saying what to do instead.
    let create_only = storage_with_env(dir.path(), &form_args, &rgw.env);
    assert_eq!(create_only.status.code(), Some(1), "{}", stderr(&create_only));
    assert!(stderr(&create_only).contains("--overwrite"), "{}", stderr(&create_only));
    let printed = storage_with_env(dir.path(), &[&form_args[..], &["--overwrite"]].concat(), &rgw.env);
    let form: serde_json::Value = serde_json::from_str(&ok(printed)).unwrap();
    let client = http();
    assert_eq!(post_form(&client, &form, "doc.txt", "text/plain", vec![b'y'; 101]) / 100, 4, "over the limit");
    assert_eq!(post_form(&client, &form, "doc.txt", "text/plain", b"fits".to_vec()) / 100, 2, "within it");
    assert_eq!(ok(storage_with_env(dir.path(), &["--storage", &url, "get", "doc.txt", "-"], &rgw.env)), "fits");
}

/// The local RGW as the command sees it: its settings, credentials as `AWS_*` variables, the test bucket made.
struct Rgw {
    bucket: String,
    endpoint: String,
    region: String,
    env: Vec<(String, String)>,
    runtime: tokio::runtime::Runtime,
}

impl Rgw {
    fn new() -> Rgw {
        let server = storage_conformance::local_rgw();
        let env = vec![
            ("AWS_ACCESS_KEY_ID".to_owned(), server["STORAGE_S3_ACCESS_KEY_ID"].clone()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), server["STORAGE_S3_SECRET_ACCESS_KEY"].clone()),
        ];
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(storage_s3::S3Backend::new(backends::s3_config("")).unwrap().create_bucket()).unwrap();
        Rgw {
            bucket: server["STORAGE_S3_BUCKET"].clone(),
            endpoint: server["STORAGE_S3_ENDPOINT"].clone(),
            region: server["STORAGE_S3_REGION"].clone(),
            env,
            runtime,
        }
    }

    /// A storage URL for `location` in the test bucket, naming the gateway.
    fn url(&self, location: &str) -> String {
        format!("s3://{}/{location}?endpoint={}&region={}", self.bucket, self.endpoint, self.region)
    }
}

#[test]
fn private_files_on_s3_refuse_strangers_and_links_expire() {
    let rgw = Rgw::new();
    let env = &rgw.env;

    let dir = tempfile::tempdir().unwrap();
    let data = twenty_mib();
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    let url = rgw.url(&backends::unique_prefix());
    let run = |args: &[&str]| ok(storage_with_env(dir.path(), &[&["--storage", url.as_str()], args].concat(), env));
    assert_eq!(run(&["put", "big.bin", "--private"]), "big.bin");
    run(&["get", "big.bin", "back.bin"]);
    assert!(std::fs::read(dir.path().join("back.bin")).unwrap() == data, "20 MiB through RGW and back");
    assert!(run(&["stat", "big.bin"]).contains("acl: private"));

    let client = http();
    let working = run(&["url", "big.bin"]);
    assert_eq!(client.status(&working), Some(200), "`url` of a private object is a link that works");
    let plain = working.split('?').next().unwrap();
    assert_eq!(client.status(plain), Some(403), "the object's plain URL refuses an anonymous GET");
    let (before, lifetime) = (SystemTime::now(), Duration::from_secs(10));
    let link = run(&["url", "big.bin", "--expires", "10s"]);
    let issued = before..SystemTime::now();
    let status = || async { client.status_async(&link).await.expect("RGW answers") };
    client.0.block_on(storage_conformance::watch_link_expire(issued, lifetime, status));
    run(&["rm", "big.bin"]);

    let secret = "wrong-secret-never-printed-0123456789";
    let wrong = [env[0].clone(), ("AWS_SECRET_ACCESS_KEY".to_owned(), secret.to_owned())];
    let refused = storage_with_env(dir.path(), &["--storage", url.as_str(), "put", "back.bin"], &wrong);
    assert_eq!(refused.status.code(), Some(1));
    let message = stderr(&refused);
    assert!(message.contains("permission denied") && !message.contains(secret), "{message}");
    assert!(!stdout(&refused).contains(secret));
}

/// Web apps start several workers on one new directory at once: every one must come up, and all must sign with the
/// one key that ends up on disk.
#[test]
fn concurrent_first_use_creates_one_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    let workers: Vec<_> = (0..16)
        .map(|i| {
            let name = format!("f{i}.txt");
            std::fs::write(dir.path().join(&name), format!("file {i}")).unwrap();
            // Half store a file, half hand out an upload link (a download link needs the file): both need the key.
            let args =
                if i % 2 == 0 { vec!["put", &name] } else { vec!["url", &name, "--expires", "1h", "--method", "put"] };
            Command::new(env!("CARGO_BIN_EXE_storage"))
                .args(["--storage", "./d"])
                .args(args)
                .current_dir(dir.path())
                .env_remove("STORAGE_CONFIG")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = workers.into_iter().map(|worker| worker.wait_with_output().unwrap()).collect();
    let key = std::fs::read_to_string(dir.path().join("d/.storage/signing-key")).unwrap();
    let id = key.split(':').next().unwrap();
    for (i, output) in outputs.iter().enumerate() {
        let printed = ok(output.clone());
        if i % 2 == 1 {
            assert!(printed.contains(&format!("X-Storage-Key-Id={id}&")), "signed with the key on disk: {printed}");
        }
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("d/.storage/signing-key")).unwrap(), key, "never replaced");
}

#[test]
fn s3_policy_prints_the_public_prefix_and_iam_policies() {
    let dir = tempfile::tempdir().unwrap();
    let printed = ok(storage(dir.path(), &["s3", "policy", "--public-prefix", "media/open/", "--bucket", "shop"]));
    assert_eq!(printed.trim(), storage_s3::public_prefix_policy("shop", "media/open/").unwrap());
    // The bucket and location come from the storage when not given; acls=false drops the ACL actions.
    let iam = ok(storage(dir.path(), &["--storage", "s3://shop/media?acls=false", "s3", "policy", "--iam"]));
    assert_eq!(iam.trim(), storage_s3::iam_policy("shop", "media", storage_s3::AclActions::Omitted));
    let value: serde_json::Value = serde_json::from_str(&iam).unwrap();
    assert_eq!(value["Statement"][0]["Resource"], "arn:aws:s3:::shop/media/*");
    // A prefix that would open the whole bucket is refused with what to pass instead.
    let refused = storage(dir.path(), &["s3", "policy", "--public-prefix", "", "--bucket", "shop"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("media/open/"), "{}", stderr(&refused));
    let neither = storage(dir.path(), &["s3", "policy", "--bucket", "shop"]);
    assert!(!neither.status.success(), "one of --public-prefix and --iam is required");
}

/// A process killed during a large unique-name save on S3 leaves its placeholder: invisible, but holding the name.
/// `storage gc` removes it, and the name is free again.
#[test]
fn gc_removes_the_placeholder_a_killed_save_left() {
    use std::io::Write as _;
    let rgw = Rgw::new();
    let (env, runtime) = (&rgw.env, &rgw.runtime);
    let location = backends::unique_prefix();
    let backend = storage_s3::S3Backend::new(backends::s3_config(&location)).unwrap();
    let url = rgw.url(&location);
    let dir = tempfile::tempdir().unwrap();

    // 9 MiB on standard input, past the 8 MiB multipart threshold, then the pipe stays open: the save waits.
    let mut child = Command::new(env!("CARGO_BIN_EXE_storage"))
        .args(["--storage", url.as_str(), "put", "-", "video.mp4"])
        .current_dir(dir.path())
        .env_remove("STORAGE_CONFIG")
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.as_mut().unwrap().write_all(&storage_conformance::test_bytes(3, 9 << 20)).unwrap();
    // Wait until the placeholder holds the name: a raw GET of the key (a signed link does not look first) answers.
    let link = runtime
        .block_on(backend.storage().temporary_url("video.mp4", Duration::from_secs(600), Default::default()))
        .unwrap();
    let client = http();
    while client.status(&link) != Some(200) {
        assert!(child.try_wait().unwrap().is_none(), "the save ended before its placeholder was seen");
        std::thread::yield_now();
    }
    child.kill().unwrap(); // SIGKILL: no chance to release the name
    child.wait().unwrap();

    let storage = backend.storage();
    assert!(!runtime.block_on(storage.exists("video.mp4")).unwrap(), "a placeholder is never visible");
    let taken = runtime.block_on(storage.save("video.mp4", b"x")).unwrap();
    assert_ne!(taken, "video.mp4", "but it holds the name");
    let run = |args: &[&str]| ok(storage_with_env(dir.path(), &[&["--storage", url.as_str()], args].concat(), env));
    assert_eq!(run(&["gc"]), "0 placeholders removed", "a fresh one is left alone by default (it may be uploading)");
    let removed = run(&["gc", "--older-than", "0s"]);
    assert!(
        removed.contains("removed placeholder `video.mp4`") && removed.ends_with("1 placeholders removed"),
        "{removed}"
    );
    assert_eq!(runtime.block_on(storage.save("video.mp4", b"y")).unwrap(), "video.mp4", "the name is free again");
    assert_eq!(run(&["gc", "--older-than", "0s"]), "0 placeholders removed", "real files are never touched");
}

/// `AWS_ENDPOINT_URL` (with no endpoint in the settings) reaches every request: object_store's, the hand-signed ACL
/// requests and the presigned links, which must all name the same server.
#[test]
fn aws_endpoint_url_reaches_presigned_links_and_signed_requests() {
    let rgw = Rgw::new();
    let (bucket, endpoint) = (&rgw.bucket, &rgw.endpoint);
    let mut env = rgw.env.clone();
    env.extend([("AWS_ENDPOINT_URL".to_owned(), endpoint.clone()), ("AWS_REGION".to_owned(), rgw.region.clone())]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), b"through the environment's endpoint").unwrap();
    let url = format!("s3://{bucket}/{}", backends::unique_prefix());
    let run = |args: &[&str]| ok(storage_with_env(dir.path(), &[&["--storage", url.as_str()], args].concat(), &env));
    assert_eq!(run(&["put", "note.txt", "--acl", "public-read"]), "note.txt");
    assert!(run(&["stat", "note.txt"]).contains("acl: public-read"), "the ACL request reached the same server");
    let link = run(&["url", "note.txt", "--expires", "10m"]);
    assert!(link.starts_with(endpoint.as_str()), "the link names AWS_ENDPOINT_URL: {link}");
    assert_eq!(http().body(&link), b"through the environment's endpoint");
}

/// The endpoint a storage leaves out is read from the environment in one place (storage-s3) by one rule: an empty
/// `AWS_ENDPOINT_URL` counts as unset, and `AWS_ENDPOINT` is its older spelling. Once, storage-config read
/// `AWS_ENDPOINT_URL` itself, taking the empty value as the endpoint.
#[test]
fn an_empty_aws_endpoint_url_falls_back_to_aws_endpoint_in_every_request() {
    let rgw = Rgw::new();
    let (bucket, endpoint) = (&rgw.bucket, &rgw.endpoint);
    let mut env = rgw.env.clone();
    env.extend([
        ("AWS_ENDPOINT_URL".to_owned(), String::new()),
        ("AWS_ENDPOINT".to_owned(), endpoint.clone()),
        ("AWS_REGION".to_owned(), rgw.region.clone()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), b"through the older variable").unwrap();
    let url = format!("s3://{bucket}/{}", backends::unique_prefix());
    let run = |args: &[&str]| ok(storage_with_env(dir.path(), &[&["--storage", url.as_str()], args].concat(), &env));
    assert_eq!(run(&["put", "note.txt"]), "note.txt");
    let link = run(&["url", "note.txt", "--expires", "10m"]);
    assert!(link.starts_with(endpoint.as_str()), "the link names AWS_ENDPOINT: {link}");
    assert_eq!(http().body(&link), b"through the older variable");
}

/// object_store is given only the settings storage-s3 resolved and the credential chain's variables: an
/// `AWS_ENDPOINT_URL_S3` elsewhere does not take its requests away from the configured endpoint (where the links and
/// the hand-signed requests go), and `AWS_SKIP_SIGNATURE` does not leave them unsigned. Once, object_store read the
/// whole `AWS_*` environment again by its own rules.
#[test]
fn aws_variables_only_object_store_reads_do_not_redirect_or_unsign_its_requests() {
    let rgw = Rgw::new();
    let mut env = rgw.env.clone();
    // The gateway under a path that names a bucket which does not exist: any request sent there fails.
    let elsewhere = format!("{}/no-such-bucket-{}", rgw.endpoint, backends::unique_prefix());
    env.extend([("AWS_ENDPOINT_URL_S3".to_owned(), elsewhere), ("AWS_SKIP_SIGNATURE".to_owned(), "true".to_owned())]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), b"to the configured endpoint").unwrap();
    let url = rgw.url(&backends::unique_prefix());
    let run = |args: &[&str]| ok(storage_with_env(dir.path(), &[&["--storage", url.as_str()], args].concat(), &env));
    assert_eq!(run(&["put", "note.txt"]), "note.txt");
    let link = run(&["url", "note.txt", "--expires", "10m"]);
    assert!(link.starts_with(rgw.endpoint.as_str()), "the link names the configured endpoint: {link}");
    assert_eq!(http().body(&link), b"to the configured endpoint");
}

/// `RUST_LOG=debug` shows one span per storage operation, with its backend, operation, key and outcome, and never a
/// secret: not the S3 secret key, not the signature of a link.
#[test]
fn rust_log_debug_logs_one_span_per_operation_and_no_secret() {
    let rgw = Rgw::new();
    let secret = rgw.env[1].1.clone();
    let mut env = rgw.env.clone();
    env.push(("RUST_LOG".to_owned(), "debug".to_owned()));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("logged.txt"), b"traced").unwrap();
    let url = rgw.url(&backends::unique_prefix());
    let run = |args: &[&str]| storage_with_env(dir.path(), &[&["--storage", url.as_str()], args].concat(), &env);

    let put = run(&["put", "logged.txt"]);
    assert!(put.status.success(), "{}", stderr(&put));
    let log = String::from_utf8_lossy(&put.stderr).into_owned();
    let spans: Vec<&str> =
        log.lines().filter(|line| line.contains("storage{")).filter(|l| l.contains(" done")).collect();
    assert_eq!(spans.len(), 1, "one finished span for the one operation:\n{log}");
    for field in ["backend=\"s3\"", "operation=\"put\"", "key=\"logged.txt\"", "bytes=6", "outcome=\"ok\""] {
        assert!(spans[0].contains(field), "`{field}` in {}", spans[0]);
    }
    let link_run = run(&["url", "logged.txt", "--expires", "10m"]);
    let link = stdout(&link_run);
    let signature = link.split("X-Amz-Signature=").nth(1).expect("a signed link").to_owned();
    let link_log = String::from_utf8_lossy(&link_run.stderr).into_owned();
    assert!(link_log.contains("operation=\"presign_get\""), "{link_log}");
    for (what, text) in [("the put", &log), ("the link", &link_log)] {
        assert!(!text.contains(&secret), "the secret key in the log of {what}");
        assert!(!text.contains(&signature), "the link's signature in the log of {what}");
    }
}

//! Headless Chromium, driven through ChromeDriver's WebDriver API, logs in and downloads a private file, and uploads
//! one straight to the storage, confirming it with the app's token-carrying form.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Backend, RunningApp, Visitor, project_script, random_bytes};

/// Debian's Chromium and ChromeDriver, installed by the project's script when missing.
fn chromium() -> (String, String) {
    let output = Command::new("bash").arg(project_script("chromium.sh")).output().unwrap();
    assert!(output.status.success(), "cannot install Chromium: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let path =
        |name: &str| stdout.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix('=')).unwrap().to_owned();
    (path("CHROMIUM"), path("CHROMEDRIVER"))
}

/// One browser session; the driver and the browser stop when it is dropped.
struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start(downloads: &Path) -> Browser {
        let (chromium, chromedriver) = chromium();
        // On the port the system picks: ChromeDriver says which once it listens.
        let mut driver =
            Command::new(chromedriver).arg("--port=0").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let mut said = std::io::BufRead::lines(std::io::BufReader::new(driver.stdout.take().unwrap()));
        let port = said
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split("started successfully on port ").nth(1).map(|port| port.trim_end_matches('.').to_owned())
            })
            .expect("chromedriver says the port it listens on");
        std::thread::spawn(move || said.for_each(drop));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut browser = Browser { driver, http, session: format!("http://127.0.0.1:{port}/session") };
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                // No background traffic: this machine's network is closed and Chromium would retry forever.
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         format!("--user-data-dir={}", profile.keep().display())],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        }}});
        let created = browser.call("POST", "", capabilities).await;
        let id = created["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {created}"));
        browser.session = format!("{}/{id}", browser.session);
        browser
    }

    /// One WebDriver command; its `value`.
    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_call(method, path, body).await.unwrap_or_else(|error| panic!("WebDriver {method} {path}: {error}"))
    }

    /// One WebDriver command; its `value`, or the error WebDriver answered.
    async fn try_call(&self, method: &str, path: &str, body: Value) -> Result<Value, Value> {
        let url = format!("{}{path}", self.session);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        let value = answer["value"].clone();
        if value.get("error").is_some() { Err(value) } else { Ok(value) }
    }

    /// Log in on the app's front page as a demo user (password `<name>-demo-password`).
    async fn log_in(&self, app: &RunningApp, user: &str) {
        self.open(&format!("{}/", app.url)).await;
        self.type_into("#name", user).await;
        self.type_into("#password", &format!("{user}-demo-password")).await;
        self.click("#login").await;
        assert_eq!(self.wait_for_text("#user").await, user, "logged in");
    }

    async fn open(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self.call("POST", "/element", json!({"using": "css selector", "value": css})).await;
        found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).unwrap().to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.call("POST", &format!("/element/{element}/value"), json!({ "text": text })).await;
    }

    async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.call("POST", &format!("/element/{element}/click"), json!({})).await;
    }

    /// The text of the element `css` selects, once a page that has one is shown. A click that submits a form starts
    /// a navigation that WebDriver does not wait for, so the old page may still be there, or go away mid-lookup.
    async fn wait_for_text(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self.try_call("POST", "/element", json!({"using": "css selector", "value": css})).await;
            let element = found.ok().and_then(|found| Some(found.as_object()?.values().next()?.as_str()?.to_owned()));
            if let Some(element) = element {
                let text = self.try_call("GET", &format!("/element/{element}/text"), json!({})).await;
                if let Ok(Value::String(text)) = text {
                    return text;
                }
            }
            let url = self.call("GET", "/url", json!({})).await;
            assert!(Instant::now() < deadline, "no `{css}` appeared; the browser shows {url}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Wait for a finished download. Chromium creates an empty file under the final name when a download starts, writes
/// the bytes to `*.crdownload`, and renames that over the final name at the end: done is a non-empty file under the
/// name with no `.crdownload` beside it (the files downloaded here are never empty).
async fn downloaded(dir: &Path, name: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let present: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        let in_progress = present.iter().any(|file| file.to_string_lossy().ends_with(".crdownload"));
        let size = std::fs::metadata(dir.join(name)).map_or(0, |meta| meta.len());
        if !in_progress && size > 0 {
            return std::fs::read(dir.join(name)).unwrap();
        }
        assert!(Instant::now() < deadline, "no {name} in the download directory, only {present:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn check_browser_download(backend: Backend) {
    let app = RunningApp::start(backend).await;
    let bytes = random_bytes(200_000);
    let id = Visitor::logged_in(&app, "alice")
        .await
        .upload("Minutes", ("open.txt", b"public"), ("minutes.pdf", &bytes))
        .await;

    let downloads = tempfile::tempdir().unwrap();
    let browser = Browser::start(downloads.path()).await;
    browser.log_in(&app, "alice").await;
    browser.open(&format!("{}/documents/{id}", app.url)).await;
    browser.click("#private-link").await;
    assert!(downloaded(downloads.path(), "minutes.pdf").await == bytes, "the downloaded file has the exact bytes");
    browser.call("DELETE", "", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_logs_in_and_downloads_a_private_file_on_disk() {
    check_browser_download(Backend::Fs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_logs_in_and_downloads_a_private_file_on_s3() {
    check_browser_download(Backend::S3).await;
}

/// A private file uploaded by the browser straight to the storage (RGW, or the app's own URL service for a disk),
/// recorded by the app after the storage's redirect, then downloaded through the app's private link.
async fn check_browser_direct_upload(backend: Backend) {
    let app = RunningApp::start(backend).await;
    let bytes = random_bytes(150_000);
    let files = tempfile::tempdir().unwrap();
    let local = files.path().join("scan.pdf");
    std::fs::write(&local, &bytes).unwrap();

    let downloads = tempfile::tempdir().unwrap();
    let browser = Browser::start(downloads.path()).await;
    browser.log_in(&app, "alice").await;
    browser.open(&format!("{}/documents/direct", app.url)).await;
    // WebDriver sets a file input by typing the file's path into it.
    browser.type_into("#direct-file", &local.display().to_string()).await;
    browser.click("#direct-upload").await;
    // The storage's redirect lands on a confirmation: a GET changes nothing, its form posts with the session's token.
    assert_eq!(browser.wait_for_text("#direct-confirm").await, "Add it to my documents");
    browser.click("#direct-confirm").await;
    assert_eq!(browser.wait_for_text("#private-link").await, "Private file", "the app recorded the upload");
    browser.click("#private-link").await;
    assert!(downloaded(downloads.path(), "scan.pdf").await == bytes, "the downloaded file has the exact bytes");
    browser.call("DELETE", "", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_uploads_straight_to_the_disk_and_downloads_it() {
    check_browser_direct_upload(Backend::Fs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_uploads_straight_to_s3_and_downloads_it() {
    check_browser_direct_upload(Backend::S3).await;
}

/// The reproduced attack, in a real browser: a form under `image/` posted with `Content-Type=image/png,text/html`
/// and an HTML body whose script loads an image from a beacon. The upload is refused; a file stored with that type
/// below the policy (by an older version) is downloaded, never shown; an HTML file is sandboxed. Chromium never
/// asks the beacon for anything (a page's load waits for its images, and WebDriver waits for the load).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_never_runs_the_script_of_an_upload_with_a_type_list() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use storage_core::signing::{SigningKey, UrlSigner};
    use storage_core::{Attributes, PutOptions, UploadPolicy, UrlOptions, WriteMode};

    let hits = Arc::new(AtomicUsize::new(0));
    let beacon_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let beacon_port = beacon_listener.local_addr().unwrap().port();
    let counted = hits.clone();
    let beacon = axum::Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { axum::http::StatusCode::NO_CONTENT }
    });
    tokio::spawn(async move { axum::serve(beacon_listener, beacon).await.unwrap() });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let signer = UrlSigner::new(format!("http://127.0.0.1:{port}/files/"), SigningKey::generate());
    let storage = storage_memory::MemoryBackend::with_signer(signer.clone()).storage();
    let files = axum::Router::new().fallback_service(storage_http::SignedUrlService::new(storage.clone(), signer));
    tokio::spawn(async move { axum::serve(listener, files).await.unwrap() });
    let page = format!("<script>document.write('<img src=\"http://127.0.0.1:{beacon_port}/ran\">')</script>");

    let policy = UploadPolicy::prefix("uploads/").with_content_type_prefix("image/").with_size(0..=1 << 20);
    let form = storage.upload_form(&policy).await.unwrap();
    let mut multipart = reqwest::multipart::Form::new();
    for (name, value) in form.fields.iter().cloned().chain([("Content-Type".into(), "image/png,text/html".into())]) {
        multipart = multipart.text(name, value);
    }
    let file = reqwest::multipart::Part::text(page.clone()).file_name("page.png").mime_str("image/png").unwrap();
    multipart = multipart.part(storage_core::upload::FILE_FIELD, file);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let answer = client.post(&form.url).multipart(multipart).send().await.unwrap();
    assert_eq!(answer.status(), 400, "the reproduced upload is refused");
    assert!(!storage.exists("uploads/page.png").await.unwrap());

    let downloads = tempfile::tempdir().unwrap();
    let browser = Browser::start(downloads.path()).await;
    for (name, content_type) in [("page.html", "text/html"), ("legacy.png", "image/png,text/html")] {
        let options =
            PutOptions::new(WriteMode::Overwrite, Attributes::default().with_content_type(content_type), None);
        storage.backend().put(name, page.clone().into(), options).await.unwrap();
        let link = storage.temporary_url(name, Duration::from_secs(600), UrlOptions::get()).await.unwrap();
        browser.open(&link).await;
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no page ran its script");
    assert_eq!(downloaded(downloads.path(), "legacy.png").await, page.as_bytes(), "the unparsable type downloads");
    browser.call("DELETE", "", json!({})).await;
}

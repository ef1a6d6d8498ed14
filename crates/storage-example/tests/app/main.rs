//! The example app end to end: the real binary on the local disk and on the local Ceph RGW, driven over HTTP by a
//! plain client and by headless Chromium.

mod browser;
mod first_run;
mod guide;
mod security;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

const FS_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/fs.toml");
const S3_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/s3.toml");
/// Short, so the tests can watch a link expire, and long enough that a fresh link still works on a loaded machine.
const LINK_EXPIRY: Duration = Duration::from_secs(10);

/// The app's binary, running with one of the shipped configurations and environment overrides only.
#[derive(Debug)]
pub struct RunningApp {
    child: Child,
    pub url: String,
    /// The origin the app is configured to be reached at (its `--public-url`).
    pub origin: String,
    _dir: tempfile::TempDir,
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Fs,
    S3,
}

impl RunningApp {
    pub async fn start(backend: Backend) -> RunningApp {
        RunningApp::start_with_public_url(backend, None).await
    }

    /// The app, configured to be reached at `public_url` (else at its own address).
    pub async fn start_with_public_url(backend: Backend, public_url: Option<&str>) -> RunningApp {
        for _ in 0..PORT_ATTEMPTS {
            if let Some(app) = RunningApp::start_on(candidate_port(), backend, public_url).await {
                return app;
            }
        }
        panic!("the example app found no free port in {PORT_ATTEMPTS} attempts");
    }

    /// The app on `port`, once it says it listens; `None` when it could not take the port.
    async fn start_on(port: u16, backend: Backend, public_url: Option<&str>) -> Option<RunningApp> {
        let dir = tempfile::tempdir().unwrap();
        let origin = public_url.map_or_else(|| format!("http://127.0.0.1:{port}"), str::to_owned);
        let mut env: Vec<(String, String)> = Vec::new();
        let config = match backend {
            Backend::Fs => {
                for name in ["PUBLIC", "PRIVATE"] {
                    let location = dir.path().join(name.to_lowercase());
                    env.push((format!("STORAGE_{name}_LOCATION"), location.display().to_string()));
                    let base_url = format!("http://127.0.0.1:{port}/media/{}/", name.to_lowercase());
                    env.push((format!("STORAGE_{name}_BASE_URL"), base_url));
                }
                FS_CONFIG
            }
            Backend::S3 => {
                let rgw = storage_conformance::local_rgw();
                let prefix = format!("example/{}-{}", std::process::id(), port);
                for name in ["PUBLIC", "PRIVATE"] {
                    env.push((format!("STORAGE_{name}_LOCATION"), format!("{prefix}/{}", name.to_lowercase())));
                    env.push((format!("STORAGE_{name}_BUCKET"), rgw["STORAGE_S3_BUCKET"].clone()));
                    env.push((format!("STORAGE_{name}_ENDPOINT"), rgw["STORAGE_S3_ENDPOINT"].clone()));
                    env.push((format!("STORAGE_{name}_REGION"), rgw["STORAGE_S3_REGION"].clone()));
                }
                env.push(("AWS_ACCESS_KEY_ID".into(), rgw["STORAGE_S3_ACCESS_KEY_ID"].clone()));
                env.push(("AWS_SECRET_ACCESS_KEY".into(), rgw["STORAGE_S3_SECRET_ACCESS_KEY"].clone()));
                let bucket = storage_s3::S3Config::new(rgw["STORAGE_S3_BUCKET"].clone())
                    .with_endpoint(rgw["STORAGE_S3_ENDPOINT"].clone())
                    .with_region(rgw["STORAGE_S3_REGION"].clone())
                    .with_credentials(&rgw["STORAGE_S3_ACCESS_KEY_ID"], &rgw["STORAGE_S3_SECRET_ACCESS_KEY"]);
                storage_s3::S3Backend::new(bucket).unwrap().create_bucket().await.unwrap();
                S3_CONFIG
            }
        };
        let expiry = format!("{}s", LINK_EXPIRY.as_secs());
        let mut command = Command::new(env!("CARGO_BIN_EXE_storage-example"));
        command
            .args(["--config", config, "--listen", &format!("127.0.0.1:{port}"), "--link-expiry", &expiry])
            .args(["--public-url", &origin])
            .envs(env)
            // The app's temporary data directory (unused: the locations above are absolute) goes with the test's.
            .env("TMPDIR", dir.path())
            .current_dir(dir.path());
        let (child, _) = listening(command)?;
        Some(RunningApp { child, url: format!("http://127.0.0.1:{port}"), origin, _dir: dir })
    }
}

/// How many ports a test tries before it gives up starting the app.
const PORT_ATTEMPTS: usize = 5;

/// A port for the app, which must know it before it starts (its origin and its links name it): one the system just
/// handed out and took back. Another process may take it first, so the app is started with [`listening`], which
/// says whether this app holds it, and a test tries another port when it does not.
fn candidate_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the app (its standard output dropped) and waits for its startup line, `storage-example: listening on …`,
/// which it prints once its listener is bound: then the port is this app's, and nothing need be polled. `None` when
/// it ended without listening (another process held the port). The rest of what it prints goes to the test's own
/// standard error, read as it comes so its request log never fills the pipe.
fn listening(mut command: Command) -> Option<(Child, String)> {
    use std::io::BufRead as _;
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let startup = lines.by_ref().map_while(Result::ok).find(|line| line.contains("listening on"));
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(|line| eprintln!("{line}")));
    match startup {
        Some(line) => Some((child, line)),
        None => {
            let _ = child.wait();
            None
        }
    }
}

/// A plain HTTP client that does not follow redirects, logged in as one user (or nobody).
#[derive(Debug)]
pub struct Visitor {
    client: reqwest::Client,
    app: String,
    /// The `Origin` its posts carry: the app's, as a browser on the app's pages sends.
    origin: String,
    cookie: Option<String>,
    /// The session's CSRF token, from the hidden field of the app's forms.
    csrf: Option<String>,
}

impl Visitor {
    pub fn anonymous(app: &RunningApp) -> Visitor {
        let client = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Visitor { client, app: app.url.clone(), origin: app.origin.clone(), cookie: None, csrf: None }
    }

    pub async fn logged_in(app: &RunningApp, name: &str) -> Visitor {
        let mut visitor = Visitor::anonymous(app);
        let password = format!("{name}-demo-password");
        let response =
            visitor.post("/login").form(&[("name", name), ("password", password.as_str())]).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name} logs in");
        let cookie = response.headers()[reqwest::header::SET_COOKIE].to_str().unwrap();
        visitor.cookie = Some(cookie.split(';').next().unwrap().to_owned());
        let front = visitor.get("/").await.text().await.unwrap();
        visitor.csrf = Some(value_of(&front, "csrf").expect("the front page's forms carry the session's token"));
        visitor
    }

    /// A POST to the app, from the app's origin, with the session cookie if logged in.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.post(format!("{}{path}", self.app)).header(reqwest::header::ORIGIN, &self.origin);
        match &self.cookie {
            Some(cookie) => request.header(reqwest::header::COOKIE, cookie),
            None => request,
        }
    }

    /// The session's CSRF token.
    pub fn csrf(&self) -> &str {
        self.csrf.as_deref().expect("log in first")
    }

    pub async fn get(&self, path_or_url: &str) -> reqwest::Response {
        self.get_request(path_or_url).send().await.unwrap()
    }

    /// A GET with one header more.
    pub async fn get_with(&self, path: &str, name: reqwest::header::HeaderName, value: &str) -> reqwest::Response {
        self.get_request(path).header(name, value).send().await.unwrap()
    }

    fn get_request(&self, path_or_url: &str) -> reqwest::RequestBuilder {
        let url = if path_or_url.starts_with('/') { format!("{}{path_or_url}", self.app) } else { path_or_url.into() };
        let request = self.client.get(url);
        match &self.cookie {
            Some(cookie) => request.header(reqwest::header::COOKIE, cookie),
            None => request,
        }
    }

    /// Upload a document; its id.
    pub async fn upload(&self, title: &str, public: (&str, &[u8]), private: (&str, &[u8])) -> u64 {
        let part = |(name, bytes): (&str, &[u8])| Part::bytes(bytes.to_vec()).file_name(name.to_owned());
        let form = Form::new()
            .text("csrf", self.csrf().to_owned())
            .text("title", title.to_owned())
            .part("public_file", part(public))
            .part("private_file", part(private));
        let response = self.post("/documents").multipart(form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{:?}", response.text().await);
        let location = response.headers()[reqwest::header::LOCATION].to_str().unwrap();
        location.strip_prefix("/documents/").unwrap().parse().unwrap()
    }
}

/// The `href` of the element with this `id` in an HTML page.
pub fn href(html: &str, id: &str) -> Option<String> {
    attribute_after_id(html, id, "href")
}

/// The `value` of the element with this `id` in an HTML page.
pub fn value_of(html: &str, id: &str) -> Option<String> {
    attribute_after_id(html, id, "value")
}

/// The attribute written right after `id="…"` in the app's markup.
fn attribute_after_id(html: &str, id: &str, attribute: &str) -> Option<String> {
    let pattern = format!("id=\"{id}\" {attribute}=\"");
    let start = html.find(&pattern)? + pattern.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].replace("&amp;", "&"))
}

/// Different bytes for every call, so a test cannot pass by reading another test's file.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    storage_conformance::test_bytes(seed, len)
}

/// The whole private-files flow of the seed, on a running app.
async fn check_private_files(app: &RunningApp, backend: Backend) {
    let (alice, bob, carol) = (
        Visitor::logged_in(app, "alice").await,
        Visitor::logged_in(app, "bob").await,
        Visitor::logged_in(app, "carol").await,
    );
    let stranger = Visitor::anonymous(app);
    let public_bytes = random_bytes(10_000);
    let private_bytes = random_bytes(300_000);
    let id = alice.upload("Q3 report", ("notes.txt", &public_bytes), ("secret report.pdf", &private_bytes)).await;
    let download = format!("/documents/{id}/private");

    assert_eq!(stranger.get(&download).await.status(), StatusCode::FORBIDDEN, "anonymous users must log in");
    assert_eq!(bob.get(&download).await.status(), StatusCode::NOT_FOUND, "another user learns nothing");
    assert_eq!(alice.get("/documents/999/private").await.status(), StatusCode::NOT_FOUND);

    // The public file's URL works for anyone, unsigned.
    let page = alice.get(&format!("/documents/{id}")).await.text().await.unwrap();
    let public_url = href(&page, "public-link").expect("the document page links its public file");
    assert!(!public_url.contains('?'), "a public URL is not signed: {public_url}");
    let response = stranger.get(&public_url).await;
    assert_eq!(response.status(), StatusCode::OK, "{public_url}");
    assert!(response.bytes().await.unwrap() == public_bytes);

    // The owner and staff are redirected, temporarily, to a link that serves the exact bytes.
    for user in [&alice, &carol] {
        let response = user.get(&download).await;
        assert_eq!(response.status(), StatusCode::FOUND, "302, never a permanent redirect");
        let link = response.headers()[reqwest::header::LOCATION].to_str().unwrap().to_owned();
        let fetched = stranger.get(&link).await;
        assert_eq!(fetched.status(), StatusCode::OK, "{link}");
        let disposition = fetched.headers()[reqwest::header::CONTENT_DISPOSITION].to_str().unwrap().to_owned();
        assert!(disposition.starts_with("attachment") && disposition.contains("secret"), "{disposition}");
        assert!(fetched.bytes().await.unwrap() == private_bytes, "the exact bytes");
    }

    let before = std::time::SystemTime::now();
    let link = alice.get(&download).await.headers()[reqwest::header::LOCATION].to_str().unwrap().to_owned();
    let issued = before..std::time::SystemTime::now();
    if backend == Backend::S3 {
        assert!(link.contains(&format!("X-Amz-Expires={}", LINK_EXPIRY.as_secs())), "the configured expiry: {link}");
    }
    let plain = link.split('?').next().unwrap();
    assert_eq!(stranger.get(plain).await.status(), StatusCode::FORBIDDEN, "the private object's plain URL: {plain}");
    let tampered = link.replacen("secret", "secreT", 1);
    assert_eq!(stranger.get(&tampered).await.status(), StatusCode::FORBIDDEN, "a changed link: {tampered}");

    let status = || async { stranger.get(&link).await.status().as_u16() };
    storage_conformance::watch_link_expire(issued, LINK_EXPIRY, status).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_files_on_disk() {
    let app = RunningApp::start(Backend::Fs).await;
    check_private_files(&app, Backend::Fs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_files_on_s3() {
    let app = RunningApp::start(Backend::S3).await;
    check_private_files(&app, Backend::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_need_a_login_and_bad_logins_are_refused() {
    let app = RunningApp::start(Backend::Fs).await;
    let stranger = Visitor::anonymous(&app);
    let form = Form::new().text("title", "x");
    let response = stranger.post("/documents").multipart(form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response =
        stranger.post("/login").form(&[("name", "alice"), ("password", "bob-demo-password")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(reqwest::header::SET_COOKIE).is_none());
}

/// A script of the project's own tooling (`xtask/scripts`).
pub fn project_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../xtask/scripts").join(name)
}

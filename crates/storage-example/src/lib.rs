//! The example app: documents with a public and a private file, a login, and private downloads through links that
//! expire, on any backend, chosen by configuration alone. Run it: `cargo run -p storage-example -- --config FILE`.
//! Its two `Storage`s: `let app = AppState::from_config(&config, data_dir)?;`, then `app.public`, `app.private`.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
//!
//! The walk-through is `docs/guides/private-files.md`; its code blocks are compiled and run as tests of this crate.

#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, FromRequestParts, Multipart, OptionalFromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use storage_config::{BackendConfig, Config, StorageConfig, parse_duration};
use storage_core::{Content, Error, Storage, UploadTo, UrlOptions};
use storage_http::SignedUrlService;

/// One `tracing` event per request: method, path, status, time. Never the query, which holds a signed link's
/// signature.
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let started = std::time::Instant::now();
    let span = tracing::info_span!(target: "storage_example", "request", %method, path);
    let response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(
        || tracing::info!(target: "storage_example", status = response.status().as_u16(), elapsed_ms, "served"),
    );
    response
}

/// The private file's link lives this long unless `link_expiry` says otherwise: the seed's 60 seconds.
pub const DEFAULT_LINK_EXPIRY: Duration = Duration::from_secs(60);
/// The largest upload accepted. Uploads stream to the storage, so this bounds disk use, not memory.
pub const MAX_UPLOAD_BYTES: usize = 1 << 30;
/// The longest title, in characters; a longer one is refused (400), never stored or rendered.
pub const MAX_TITLE_CHARS: usize = 200;
/// The largest body of a form that uploads no file (log in, log out, confirm a direct upload).
pub const MAX_FORM_BYTES: usize = 16 * 1024;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/guides/private-files.md")]
pub struct PrivateFilesGuide;

/// The app's configuration file: `[app]` settings and the same `[storages.NAME]` tables as `storage.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The `[app]` table.
    #[serde(default)]
    pub app: AppSettings,
    /// Needs `public` and `private`.
    #[serde(default)]
    pub storages: BTreeMap<String, StorageConfig>,
}

/// The app's own settings: where it listens, how long links live, who may log in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    /// Where to listen, e.g. `127.0.0.1:8080` (also the host of disk storages' `base_url`).
    pub listen: Option<String>,
    /// The origin browsers reach the app at, e.g. `https://docs.example.com`: the target of the storage's redirect
    /// after a direct upload, the only `Origin` a form may be posted from, and `https` makes cookies `Secure`.
    /// Never taken from a request's `Host`. Default: `http://` and the listen address.
    pub public_url: Option<String>,
    /// How long the redirect target of a private download lives: `60s` (default), `5m`.
    pub link_expiry: Option<String>,
    /// The users who may log in.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// The directory relative storage locations are in, relative to the configuration file, kept across runs.
    /// Default: a fresh temporary directory, removed when the app stops, so a demo run leaves nothing behind.
    pub data_dir: Option<String>,
}

/// A user who may log in. Staff may download every private file; others only their own.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The login name.
    pub name: String,
    /// The password (a demo: stored in the configuration as given).
    pub password: String,
    /// Staff may download every private file.
    #[serde(default)]
    pub staff: bool,
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfig").field("name", &self.name).field("staff", &self.staff).finish_non_exhaustive()
    }
}

impl AppConfig {
    /// The configuration in `text` (TOML).
    pub fn parse(text: &str) -> Result<AppConfig, Error> {
        toml::from_str(text).map_err(|err| config_error(format!("invalid app configuration: {}", err.message())))
    }

    /// The configuration in the file at `path`.
    pub fn load(path: &Path) -> Result<AppConfig, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| config_error(format!("cannot read {}: {err}; pass --config FILE", path.display())))?;
        AppConfig::parse(&text).map_err(|err| config_error(format!("{}: {err}", path.display())))
    }

    /// How long private download links live.
    pub fn link_expiry(&self) -> Result<Duration, Error> {
        self.app.link_expiry.as_deref().map(parse_duration).transpose().map(|d| d.unwrap_or(DEFAULT_LINK_EXPIRY))
    }

    /// Where the app listens: `app.listen`, or `127.0.0.1:8080`.
    pub fn listen(&self) -> &str {
        self.app.listen.as_deref().unwrap_or("127.0.0.1:8080")
    }

    /// The directory relative storage locations are in: `app.data_dir` (relative to `config_dir`, the configuration
    /// file's directory), or else a fresh temporary directory.
    pub fn data_dir(&self, config_dir: &Path) -> Result<DataDir, Error> {
        match &self.app.data_dir {
            Some(dir) => Ok(DataDir::Configured(config_dir.join(dir))),
            None => {
                tempfile::Builder::new().prefix("storage-example-").tempdir().map(DataDir::Temporary).map_err(|err| {
                    config_error(format!("cannot create a temporary data directory: {err}; set app.data_dir instead"))
                })
            }
        }
    }

    /// Where each storage keeps its files, for the startup line: `public in /tmp/…/public, private in s3://b/private`.
    pub fn file_locations(&self, data_dir: &Path) -> String {
        let describe = |storage: &StorageConfig| -> String {
            match &storage.backend {
                BackendConfig::Fs(fs) => data_dir.join(&fs.location).display().to_string(),
                BackendConfig::S3(s3) => format!("s3://{}/{}", s3.bucket, s3.location.as_deref().unwrap_or_default()),
                other => format!("{}://", other.name()),
            }
        };
        let described: Vec<String> =
            self.storages.iter().map(|(name, storage)| format!("{name} in {}", describe(storage))).collect();
        described.join(", ")
    }

    /// The app's public origin (`scheme://host[:port]`, no path): `app.public_url`, or `http://` and the listen
    /// address.
    pub fn origin(&self) -> Result<Origin, Error> {
        match &self.app.public_url {
            Some(url) => Origin::parse(url),
            None => Origin::parse(&format!("http://{}", self.listen())),
        }
    }
}

/// Where relative storage locations are: `app.data_dir`, or a fresh temporary directory.
#[derive(Debug)]
pub enum DataDir {
    /// `app.data_dir`, resolved against the configuration file's directory.
    Configured(PathBuf),
    /// A fresh temporary directory, removed when this value is dropped.
    Temporary(tempfile::TempDir),
}

impl DataDir {
    /// The directory itself.
    pub fn path(&self) -> &Path {
        match self {
            DataDir::Configured(path) => path,
            DataDir::Temporary(dir) => dir.path(),
        }
    }
}

impl fmt::Display for DataDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataDir::Configured(path) => write!(f, "data dir {} (app.data_dir)", path.display()),
            DataDir::Temporary(dir) => {
                write!(
                    f,
                    "data dir {} is temporary, removed on exit (set app.data_dir to keep it)",
                    dir.path().display()
                )
            }
        }
    }
}

/// The origin browsers reach the app at, checked once at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    /// `url` as an origin: `http` or `https`, a host, and no user, path, query or fragment.
    pub fn parse(url: &str) -> Result<Origin, Error> {
        let refuse = |why: &str| {
            config_error(format!("app.public_url `{url}` {why}; give an origin such as https://docs.example.com"))
        };
        let parsed = url::Url::parse(url).map_err(|err| refuse(&format!("is not a URL ({err})")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(refuse("is not an http or https URL with a host"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refuse("carries credentials"));
        }
        if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(refuse("has a path, query or fragment"));
        }
        Ok(Origin(parsed.origin().ascii_serialization()))
    }

    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether browsers reach the app over TLS (then its cookies are `Secure`).
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

fn config_error(message: String) -> Error {
    Error::configuration("the example app", message)
}

/// A document: who uploaded it, and its two files (names in the `public` and `private` storages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Its number, in the app's URLs.
    pub id: u64,
    /// Who uploaded it.
    pub owner: String,
    /// Its title.
    pub title: String,
    /// The public file's name in the `public` storage.
    pub public_file: Option<String>,
    /// The private file's name in the `private` storage.
    pub private_file: Option<String>,
    /// The private file's name as uploaded, offered as the download name.
    pub private_filename: Option<String>,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's name.
    pub name: String,
    /// Whether the user is staff.
    pub staff: bool,
}

impl User {
    /// The seed's rule: staff, or the document's owner.
    pub fn may_download(&self, document: &Document) -> bool {
        self.staff || self.name == document.owner
    }
}

impl Document {
    /// Whether `user` (or an anonymous visitor) may learn that the document exists: its title, owner and page.
    /// A document with a private file is private: only those who may download that file see it.
    pub fn is_visible_to(&self, user: Option<&User>) -> bool {
        self.private_file.is_none() || user.is_some_and(|user| user.may_download(self))
    }
}

/// A logged-in browser: who, and the token its forms must carry (so another site cannot post them).
#[derive(Debug, Clone)]
struct Session {
    user: User,
    csrf: String,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// Public files: plain URLs anyone can fetch.
    pub public: Storage,
    /// Private files: saved `private`, reachable only through temporary URLs.
    pub private: Storage,
    /// How long a private download link lives.
    pub link_expiry: Duration,
    /// Where browsers reach the app.
    pub origin: Origin,
    users: Vec<UserConfig>,
    sessions: Mutex<HashMap<String, Session>>,
    documents: Mutex<Vec<Document>>,
    /// The private-storage prefixes handed out for direct uploads, and to whom.
    direct_uploads: Mutex<HashMap<String, String>>,
    /// Disk and memory storages' URL services, mounted under their `base_url` path.
    url_services: Vec<SignedUrlService>,
}

/// Where uploads go inside each storage (the seed's `upload_to='open/'` and `upload_to='seekrit/'`).
pub fn upload_to_public() -> UploadTo {
    UploadTo::from("open/%Y/%m/")
}
/// Where private uploads go: Django's `upload_to` of the seed's `FileField`.
pub fn upload_to_private() -> UploadTo {
    UploadTo::from("seekrit/%Y/%m/")
}

impl AppState {
    /// Build the two storages from the configuration. `base` resolves relative paths (the config file's directory).
    pub fn from_config(config: &AppConfig, base: &Path) -> Result<Arc<AppState>, Error> {
        let storages = Config { storages: config.storages.clone() };
        let mut url_services = Vec::new();
        let mut build = |name: &str| -> Result<Storage, Error> {
            let storage_config = storages
                .storage(name)?
                .ok_or_else(|| config_error(format!("the app needs a `[storages.{name}]` table")))?;
            let mut built = storage_config.build(name, base)?;
            // Each storage operation is one `tracing` span, as the requests that cause them are (see `router`).
            built.storage = built.storage.layer(storage_core::TracingLayer);
            if let Some(signer) = built.signer()? {
                // The disk's links point back at this app; serve them under their base URL's path.
                let service = SignedUrlService::new(built.storage.clone(), signer);
                let path = service.base_path();
                if path == "/" || url_services.iter().any(|taken: &SignedUrlService| taken.base_path() == path) {
                    return Err(config_error(format!(
                        "storage `{name}`: give `base_url` a path of its own, as http://127.0.0.1:8080/media/{name}/"
                    )));
                }
                url_services.push(service);
            }
            Ok(built.storage)
        };
        let public = build("public")?;
        let private = build("private")?;
        if !matches!(private.options().url_policy, storage_core::UrlPolicy::Signed { .. }) {
            return Err(config_error("storage `private`: set `private = true` so its files are never public".into()));
        }
        Ok(Arc::new(AppState {
            public,
            private,
            link_expiry: config.link_expiry()?,
            origin: config.origin()?,
            users: config.app.users.clone(),
            sessions: Mutex::default(),
            documents: Mutex::default(),
            direct_uploads: Mutex::default(),
            url_services,
        }))
    }

    /// The app's routes, with the disk storages' URL services mounted.
    pub fn router(self: &Arc<Self>) -> Router {
        let mut router = Router::new()
            .route("/", get(index))
            .route("/login", get(login_page).post(login))
            .route("/logout", post(logout))
            .route("/documents", post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)))
            .route("/documents/direct", get(direct_upload_page))
            .route("/documents/direct/done", get(direct_upload_confirmation).post(direct_upload_done))
            .route("/documents/{id}", get(document_page))
            .route("/documents/{id}/private", get(private_download))
            .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
            .layer(axum::middleware::from_fn_with_state(self.clone(), same_origin_posts_only));
        // The storages' URL services check signatures, not origins: a signed upload form may be posted from anywhere.
        for service in &self.url_services {
            router = router.route_service(&format!("{}{{*key}}", service.base_path()), service.clone());
            // Direct-upload forms post to the base path itself.
            router = router.route_service(service.base_path(), service.clone());
        }
        router.layer(axum::middleware::from_fn(log_request)).with_state(self.clone())
    }

    fn user(&self, name: &str, password: &str) -> Option<User> {
        use sha2::{Digest, Sha256};
        // Comparing digests keeps the time taken independent of how much of the password matched.
        let digest = |text: &str| Sha256::digest(text.as_bytes());
        self.users
            .iter()
            .find(|user| user.name == name && digest(&user.password) == digest(password))
            .map(|user| User { name: user.name.clone(), staff: user.staff })
    }

    /// The document numbered `id`.
    pub fn document(&self, id: u64) -> Option<Document> {
        self.documents.lock().expect("documents").iter().find(|doc| doc.id == id).cloned()
    }

    /// Every document, oldest first.
    pub fn documents(&self) -> Vec<Document> {
        self.documents.lock().expect("documents").clone()
    }

    /// Record a document whose files are already saved.
    pub fn add_document(&self, mut document: Document) -> Document {
        let mut documents = self.documents.lock().expect("documents");
        document.id = documents.len() as u64 + 1;
        documents.push(document.clone());
        document
    }

    /// The seed's `SecretFileView`: a redirect to a temporary URL of the private file, if `user` may have it.
    pub async fn private_file_url(&self, user: Option<&User>, id: u64) -> Result<String, Refusal> {
        let user = user.ok_or(Refusal::LoginRequired(LoginFor::Download))?;
        let document = self.document(id).ok_or(Refusal::NotFound)?;
        // A stranger learns nothing, not even that the document exists.
        if !user.may_download(&document) {
            return Err(Refusal::NotFound);
        }
        let name = document.private_file.as_deref().ok_or(Refusal::NotFound)?;
        let mut options = UrlOptions::get();
        if let Some(filename) = &document.private_filename {
            options = options.with_download_name(filename.as_str());
        }
        self.private.temporary_url(name, self.link_expiry, options).await.map_err(Refusal::Storage)
    }
}

impl AppState {
    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let token = session_token(headers)?;
        self.sessions.lock().expect("sessions").get(token).cloned()
    }

    /// Whether `token` is the CSRF token of the session the request's cookie names.
    fn is_session_csrf(&self, headers: &HeaderMap, token: &str) -> bool {
        use sha2::{Digest, Sha256};
        // Comparing digests keeps the time taken independent of how much of the token matched.
        self.session(headers).is_some_and(|session| Sha256::digest(&session.csrf) == Sha256::digest(token))
    }

    /// The session cookie's attributes: never sent by other sites' subrequests or posts (`SameSite=Lax`; `Strict`
    /// would drop it on the storage's redirect back after a direct upload), and only over TLS when the app is https.
    fn cookie_attributes(&self) -> &'static str {
        if self.origin.is_https() { "HttpOnly; SameSite=Lax; Secure; Path=/" } else { "HttpOnly; SameSite=Lax; Path=/" }
    }
}

/// Refuse a request that changes state (any method but `GET` and `HEAD`) unless its `Origin` is the app's own, so
/// no other site can post the app's forms with a visitor's cookie (login included, which has no session yet).
async fn same_origin_posts_only(
    State(app): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD) {
        return next.run(request).await;
    }
    if is_same_origin(request.headers(), &app.origin) {
        return next.run(request).await;
    }
    let origin = request.headers().get(header::ORIGIN).and_then(|origin| origin.to_str().ok());
    let message = format!(
        "{} {} refused: a form of this app is posted from {} only (the request's Origin is {}); use the app's own pages\n",
        request.method(),
        request.uri().path(),
        app.origin.as_str(),
        origin.unwrap_or("missing")
    );
    (StatusCode::FORBIDDEN, message).into_response()
}

/// Whether the request carries exactly one `Origin`, the app's: a second one could be read differently by a proxy.
fn is_same_origin(headers: &HeaderMap, origin: &Origin) -> bool {
    let mut origins = headers.get_all(header::ORIGIN).iter();
    origins.next().is_some_and(|first| first.as_bytes() == origin.as_str().as_bytes()) && origins.next().is_none()
}

/// 403 for a form without the session's CSRF token.
fn csrf_refusal() -> Response {
    (StatusCode::FORBIDDEN, "the form's session token is missing or stale; reload the page and submit it again\n")
        .into_response()
}

/// The hidden field that carries the session's CSRF token in every form that changes state.
fn csrf_field(session: &Session) -> String {
    format!("<input type=\"hidden\" name=\"{CSRF_FIELD}\" id=\"csrf\" value=\"{}\">", escape(&session.csrf))
}

/// The name of the CSRF token's form field.
const CSRF_FIELD: &str = "csrf";

/// What a visitor must log in for: each route's refusal names its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFor {
    /// Downloading a private file.
    Download,
    /// Uploading, through the app or straight to the storage, and adding the upload to one's documents.
    Upload,
}

/// Why a request is refused.
#[derive(Debug)]
pub enum Refusal {
    /// 403: nobody is logged in, and the route needs someone.
    LoginRequired(LoginFor),
    /// 404: no such document, no private file, or not this user's to see.
    NotFound,
    /// 500: the storage could not sign.
    Storage(Error),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::LoginRequired(LoginFor::Download) => {
                (StatusCode::FORBIDDEN, "log in to download private files\n").into_response()
            }
            Refusal::LoginRequired(LoginFor::Upload) => {
                (StatusCode::FORBIDDEN, "log in to upload files\n").into_response()
            }
            Refusal::NotFound => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
            Refusal::Storage(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
        }
    }
}

const SESSION_COOKIE: &str = "session";

/// The logged-in user of an upload route: extracted before the form's body is read, so an anonymous upload is
/// refused as such whatever it sends.
#[derive(Debug)]
struct Uploader(User);

impl FromRequestParts<Arc<AppState>> for Uploader {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let session = state.session(&parts.headers).ok_or(Refusal::LoginRequired(LoginFor::Upload))?;
        Ok(Uploader(session.user))
    }
}

impl OptionalFromRequestParts<Arc<AppState>> for User {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Option<Self>, Self::Rejection> {
        Ok(state.session(&parts.headers).map(|session| session.user))
    }
}

fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

fn redirect(status: StatusCode, location: &str) -> Response {
    (status, [(header::LOCATION, location.to_owned())]).into_response()
}

// ----- handlers ------------------------------------------------------------------------------------------------

async fn private_download(
    State(app): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<u64>,
    user: Option<User>,
) -> Response {
    match app.private_file_url(user.as_ref(), id).await {
        // 302: the target changes on every request and expires, so nothing may remember it.
        Ok(url) => redirect(StatusCode::FOUND, &url),
        Err(refusal) => refusal.into_response(),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(State(app): State<Arc<AppState>>, Form(form): Form<LoginForm>) -> Response {
    let Some(user) = app.user(&form.name, &form.password) else {
        return (
            StatusCode::UNAUTHORIZED,
            Html(page("Log in", &format!("<p>Wrong name or password.</p>{LOGIN_FORM}"))),
        )
            .into_response();
    };
    let token = new_session_token();
    app.sessions.lock().expect("sessions").insert(token.clone(), Session { user, csrf: new_session_token() });
    let cookie = format!("{SESSION_COOKIE}={token}; {}", app.cookie_attributes());
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/".to_owned())]).into_response()
}

fn new_session_token() -> String {
    use rand::RngExt;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(State(app): State<Arc<AppState>>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if !app.is_session_csrf(&headers, &form.csrf) {
        return csrf_refusal();
    }
    if let Some(token) = session_token(&headers) {
        app.sessions.lock().expect("sessions").remove(token);
    }
    let cookie = format!("{SESSION_COOKIE}=; Max-Age=0; {}", app.cookie_attributes());
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/".to_owned())]).into_response()
}

/// `POST /documents`: a multipart form with `csrf` first, then `title`, `public_file` and `private_file`, each file
/// streamed into its storage as it arrives. Nothing is stored before the session's token is checked.
async fn upload(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Uploader(user): Uploader,
    mut form: Multipart,
) -> Response {
    let token = match form.next_field().await {
        Ok(Some(field)) if field.name() == Some(CSRF_FIELD) => read_short_field(field, 256).await.ok(),
        _ => None,
    };
    if !token.is_some_and(|token| app.is_session_csrf(&headers, &token)) {
        return csrf_refusal();
    }
    let mut document = Document {
        id: 0,
        owner: user.name,
        title: String::new(),
        public_file: None,
        private_file: None,
        private_filename: None,
    };
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => return (StatusCode::BAD_REQUEST, format!("unreadable upload: {err}\n")).into_response(),
        };
        let field_name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(base_name).unwrap_or_default();
        let (storage, upload_to) = match field_name.as_str() {
            "title" => {
                match read_title(field).await {
                    Ok(title) => document.title = title,
                    Err(refusal) => return refusal,
                }
                continue;
            }
            "public_file" if !filename.is_empty() => (&app.public, upload_to_public()),
            "private_file" if !filename.is_empty() => (&app.private, upload_to_private()),
            _ => continue, // an empty file input, or a field this form does not have
        };
        let saved = async {
            let name = storage.generate_filename(&upload_to, &filename)?;
            save_streaming(storage, &name, field).await
        };
        match saved.await {
            Ok(name) if field_name == "public_file" => document.public_file = Some(name),
            Ok(name) => {
                document.private_file = Some(name);
                document.private_filename = Some(filename);
            }
            Err(err) => return (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response(),
        }
    }
    let document = app.add_document(document);
    redirect(StatusCode::SEE_OTHER, &format!("/documents/{}", document.id))
}

/// A form field of at most `max_bytes`, read without holding more; `Err` when longer or unreadable.
async fn read_short_field(
    mut field: axum::extract::multipart::Field<'_>,
    max_bytes: usize,
) -> Result<String, FieldError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|_| FieldError::Unreadable)? {
        if bytes.len() + chunk.len() > max_bytes {
            return Err(FieldError::TooLong);
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| FieldError::Unreadable)
}

/// Why a short field was not read.
enum FieldError {
    TooLong,
    Unreadable,
}

/// The `title` field: at most [`MAX_TITLE_CHARS`] characters, or a 400 that says so.
async fn read_title(field: axum::extract::multipart::Field<'_>) -> Result<String, Response> {
    let too_long = || {
        let message = format!("upload refused: the title is longer than {MAX_TITLE_CHARS} characters; shorten it\n");
        (StatusCode::BAD_REQUEST, message).into_response()
    };
    // A character is at most 4 bytes in UTF-8: no more is read than a title can take.
    match read_short_field(field, MAX_TITLE_CHARS * 4).await {
        Ok(title) if title.chars().count() <= MAX_TITLE_CHARS => Ok(title),
        Ok(_) | Err(FieldError::TooLong) => Err(too_long()),
        Err(FieldError::Unreadable) => {
            Err((StatusCode::BAD_REQUEST, "upload refused: the title is not readable UTF-8 text\n").into_response())
        }
    }
}

/// `GET /documents/direct`: a form that uploads the private file straight to the private storage (S3, or this app's
/// own URL service for a disk), never through the app: up to the app's upload limit, into a fresh prefix of the
/// user's; the storage then sends the browser back to `/documents/direct/done`.
async fn direct_upload_page(State(app): State<Arc<AppState>>, Uploader(user): Uploader) -> Response {
    let prefix = format!("seekrit/direct/{}/", new_session_token());
    let policy = storage_core::UploadPolicy::prefix(&prefix)
        .with_size(1..=MAX_UPLOAD_BYTES as u64)
        .allowing_overwrite() // a fresh prefix of random letters: nothing there to overwrite
        // The configured origin, never the request's `Host`: the redirect carries the key.
        .with_success_redirect(format!("{}/documents/direct/done", app.origin.as_str()));
    let form = match app.private.upload_form(&policy).await {
        Ok(form) => form,
        Err(err) => return Refusal::Storage(err).into_response(),
    };
    app.direct_uploads.lock().unwrap_or_else(|p| p.into_inner()).insert(prefix, user.name);
    let fields: String = form
        .fields
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(name), escape(value)))
        .collect();
    let body = format!(
        "<form id=\"direct\" method=\"post\" action=\"{action}\" enctype=\"multipart/form-data\">{fields}\
         <label>Private file <input type=\"file\" name=\"{file}\" id=\"direct-file\"></label> \
         <button id=\"direct-upload\">Upload</button></form>",
        action = escape(&form.url),
        file = storage_core::upload::FILE_FIELD,
    );
    Html(page("Direct upload", &body)).into_response()
}

#[derive(Deserialize)]
struct DirectUploadKey {
    key: String,
}

impl AppState {
    /// The private storage's name of `key`, if it lies under a prefix `user` was given.
    fn issued_name(&self, user: &User, key: &str) -> Option<String> {
        issued_name(&self.direct_uploads.lock().unwrap_or_else(|p| p.into_inner()), &user.name, key)
    }
}

/// The name from the first of `owner`'s prefixes in `issued` (prefix to owner) that `key` contains, from that
/// prefix on (S3 names the whole key in its redirect, with the storage's location before it), if it is a valid key:
/// `prefix/../elsewhere` is nobody's upload.
fn issued_name(issued: &HashMap<String, String>, owner: &str, key: &str) -> Option<String> {
    issued
        .iter()
        .filter(|(_, issued_to)| *issued_to == owner)
        .find_map(|(prefix, _)| key.find(prefix.as_str()).map(|at| key[at..].to_owned()))
        .filter(|name| storage_core::validate_key(name).is_ok())
}

/// `GET /documents/direct/done?key=…`: the storage's redirect after a direct upload lands here. A GET changes
/// nothing: it shows a form that posts the key back with the session's token.
async fn direct_upload_confirmation(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(done): axum::extract::Query<DirectUploadKey>,
) -> Response {
    let Some(session) = app.session(&headers) else { return Refusal::LoginRequired(LoginFor::Upload).into_response() };
    let Some(name) = app.issued_name(&session.user, &done.key) else { return Refusal::NotFound.into_response() };
    let body = format!(
        "<p>Uploaded {file}.</p><form method=\"post\" action=\"/documents/direct/done\">{csrf}\
         <input type=\"hidden\" name=\"key\" value=\"{key}\"><button id=\"direct-confirm\">Add it to my documents</button>\
         </form>",
        file = escape(&base_name(&name)),
        csrf = csrf_field(&session),
        key = escape(&done.key),
    );
    Html(page("Direct upload", &body)).into_response()
}

#[derive(Deserialize)]
struct DirectUploadDone {
    key: String,
    csrf: String,
}

/// `POST /documents/direct/done`: the confirmation of a direct upload. The key must be under a prefix this user was
/// given, and the file must be there; then the app records the document, as after an upload through it.
async fn direct_upload_done(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Uploader(user): Uploader,
    Form(done): Form<DirectUploadDone>,
) -> Response {
    if !app.is_session_csrf(&headers, &done.csrf) {
        return csrf_refusal();
    }
    let Some(name) = app.issued_name(&user, &done.key) else { return Refusal::NotFound.into_response() };
    match app.private.exists(&name).await {
        Ok(true) => {}
        Ok(false) => return Refusal::NotFound.into_response(),
        Err(err) => return Refusal::Storage(err).into_response(),
    }
    let filename = base_name(&name);
    let document = app.add_document(Document {
        id: 0,
        owner: user.name,
        title: filename.clone(),
        public_file: None,
        private_file: Some(name),
        private_filename: Some(filename),
    });
    redirect(StatusCode::SEE_OTHER, &format!("/documents/{}", document.id))
}

/// Save a multipart field without holding it in memory: its chunks go through a small channel while the save reads
/// them. (A field borrows the form, so it cannot be moved into the `'static` stream a save takes.)
async fn save_streaming(
    storage: &Storage,
    name: &str,
    mut field: axum::extract::multipart::Field<'_>,
) -> Result<String, Error> {
    let (mut sender, receiver) = futures::channel::mpsc::channel::<std::io::Result<Bytes>>(4);
    let pump = async move {
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(chunk)) => Ok(chunk),
                Ok(None) => break,
                Err(err) => Err(std::io::Error::other(err.to_string())),
            };
            let failed = chunk.is_err();
            if sender.send(chunk).await.is_err() || failed {
                break;
            }
        }
    };
    let (_, saved) = tokio::join!(pump, storage.save(name, Content::from_stream(receiver.boxed(), None)));
    saved
}

/// The last path component of a browser-supplied file name (some send `C:\Users\...\report.pdf`).
fn base_name(filename: &str) -> String {
    filename.rsplit(['/', '\\']).next().unwrap_or_default().to_owned()
}

async fn index(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Html<String> {
    let session = app.session(&headers);
    let mut body = match &session {
        Some(session) => format!(
            "<p>Logged in as <b id=\"user\">{name}</b>{staff}.</p><form method=\"post\" action=\"/logout\">{csrf}\
             <button>Log out</button></form>{UPLOAD_FORM_START}{csrf}{UPLOAD_FORM_END}",
            name = escape(&session.user.name),
            staff = if session.user.staff { " (staff)" } else { "" },
            csrf = csrf_field(session),
        ),
        None => LOGIN_FORM.to_owned(),
    };
    let user = session.map(|session| session.user);
    body.push_str("<h2>Documents</h2><ul>");
    for document in app.documents().iter().filter(|document| document.is_visible_to(user.as_ref())) {
        body.push_str(&format!(
            "<li><a href=\"/documents/{id}\">{title}</a> by {owner}</li>",
            id = document.id,
            title = escape(&document.title),
            owner = escape(&document.owner)
        ));
    }
    body.push_str("</ul>");
    Html(page("Documents", &body))
}

async fn login_page() -> Html<String> {
    Html(page("Log in", LOGIN_FORM))
}

async fn document_page(
    State(app): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<u64>,
    user: Option<User>,
) -> Response {
    let Some(document) = app.document(id).filter(|document| document.is_visible_to(user.as_ref())) else {
        return Refusal::NotFound.into_response();
    };
    let mut body = format!("<p>Uploaded by {}.</p><ul>", escape(&document.owner));
    if let Some(name) = &document.public_file {
        match app.public.url(name).await {
            Ok(url) => {
                body.push_str(&format!("<li><a id=\"public-link\" href=\"{}\">Public file</a></li>", escape(&url)))
            }
            Err(err) => return Refusal::Storage(err).into_response(),
        }
    }
    if document.private_file.is_some() {
        // The link goes to the app, which checks the user before handing out a temporary URL.
        body.push_str(&format!("<li><a id=\"private-link\" href=\"/documents/{id}/private\">Private file</a></li>"));
    }
    body.push_str("</ul><p><a href=\"/\">All documents</a></p>");
    Html(page(&document.title, &body)).into_response()
}

const LOGIN_FORM: &str = "<form method=\"post\" action=\"/login\"><label>Name <input name=\"name\" id=\"name\"></label> \
    <label>Password <input name=\"password\" id=\"password\" type=\"password\"></label> \
    <button id=\"login\">Log in</button></form>";

/// The upload form, around the CSRF field that must come first.
const UPLOAD_FORM_START: &str =
    "<h2>Upload</h2><form method=\"post\" action=\"/documents\" enctype=\"multipart/form-data\">";
const UPLOAD_FORM_END: &str = "\
    <label>Title <input name=\"title\" maxlength=\"200\"></label> <label>Public file <input type=\"file\" name=\"public_file\"></label> \
    <label>Private file <input type=\"file\" name=\"private_file\"></label> <button>Upload</button></form>\
    <p><a id=\"direct-link\" href=\"/documents/direct\">Upload a private file straight to storage</a></p>";

fn page(title: &str, body: &str) -> String {
    let title = escape(title);
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
    )
}

/// Text into HTML: user-supplied titles and names must not become markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "theme=dark; session=abc123; x=1".parse().unwrap());
        assert_eq!(session_token(&headers), Some("abc123"));
        headers.insert(header::COOKIE, "sessionx=abc".parse().unwrap());
        assert_eq!(session_token(&headers), None);
    }

    #[test]
    fn markup_in_titles_is_escaped() {
        assert_eq!(escape("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn browser_paths_lose_their_directories() {
        assert_eq!(base_name("C:\\Users\\ann\\report.pdf"), "report.pdf");
        assert_eq!(base_name("../../etc/passwd"), "passwd");
    }

    proptest::proptest! {
        /// Any `Origin` headers an attacker sends: only exactly one, byte for byte the app's, is accepted.
        #[test]
        fn fuzz_origin_header(
            values in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 0..3),
            near in "https?://(docs\\.example\\.com|evil\\.example|docs\\.example\\.com\\.evil)(:443|:8080)?/?",
        ) {
            let origin = Origin::parse("https://docs.example.com").unwrap();
            let twice = vec![b"https://docs.example.com".to_vec(); 2];
            for candidates in [values.clone(), vec![near.into_bytes()], twice] {
                let mut headers = HeaderMap::new();
                for value in &candidates {
                    if let Ok(value) = axum::http::HeaderValue::from_bytes(value) {
                        headers.append(header::ORIGIN, value);
                    }
                }
                let sent: Vec<_> = headers.get_all(header::ORIGIN).iter().map(|v| v.as_bytes().to_vec()).collect();
                let exact = sent == [b"https://docs.example.com".to_vec()];
                proptest::prop_assert_eq!(is_same_origin(&headers, &origin), exact, "{:?}", sent);
            }
        }

        /// Any key in the storage's redirect: the name found is always a valid key inside a prefix issued to that
        /// user, never `..` out of it.
        #[test]
        fn fuzz_direct_upload_key(
            key in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
            suffix in "([a-z%]{1,3}|\\.|\\.\\.|/|\\\\){0,8}",
            before in "[a-z/]{0,12}",
        ) {
            let issued = HashMap::from([
                ("seekrit/direct/aaaa/".to_owned(), "alice".to_owned()),
                ("seekrit/direct/bbbb/".to_owned(), "bob".to_owned()),
            ]);
            let key = String::from_utf8_lossy(&key).into_owned();
            let keys = [key, format!("{before}seekrit/direct/bbbb/{suffix}"), format!("{before}seekrit/direct/aaaa/{suffix}")];
            for key in keys {
                match issued_name(&issued, "alice", &key) {
                    Some(name) => {
                        proptest::prop_assert!(name.starts_with("seekrit/direct/aaaa/"), "{} from {}", name, key);
                        proptest::prop_assert!(key.ends_with(&name));
                        proptest::prop_assert!(storage_core::validate_key(&name).is_ok(), "{}", name);
                    }
                    None => {
                        let at = key.find("seekrit/direct/aaaa/");
                        let valid = at.is_some_and(|at| storage_core::validate_key(&key[at..]).is_ok());
                        proptest::prop_assert!(!valid, "{} refused", key);
                    }
                }
            }
        }
    }

    #[test]
    fn the_public_url_is_an_origin_and_nothing_more() {
        let origin = Origin::parse("HTTPS://Docs.Example.com:443/").unwrap();
        assert_eq!((origin.as_str(), origin.is_https()), ("https://docs.example.com", true));
        assert_eq!(Origin::parse("http://127.0.0.1:8080").unwrap().as_str(), "http://127.0.0.1:8080");
        for refused in ["docs.example.com", "ftp://docs.example.com", "https://a:b@docs.example.com", "https://x/app"] {
            let err = Origin::parse(refused).unwrap_err().to_string();
            assert!(err.contains("app.public_url") && err.contains("give an origin such as"), "{refused}: {err}");
        }
        let config = AppConfig::parse("[app]\nlisten = \"0.0.0.0:9000\"").unwrap();
        assert_eq!(config.origin().unwrap().as_str(), "http://0.0.0.0:9000", "by default, the listen address");
    }

    #[test]
    fn passwords_stay_out_of_debug() {
        let user = UserConfig { name: "ann".into(), password: "hunter2-secret".into(), staff: false };
        assert!(!format!("{user:?}").contains("hunter2"));
    }
}

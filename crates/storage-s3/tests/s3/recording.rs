//! A recording HTTP service in front of RGW, as its endpoint or as a proxy: it forwards every request unchanged (the
//! `Host` header too, so signatures hold) and remembers what each carried, so a test can assert what the backend
//! sends and never sends.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;

/// One forwarded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    /// Bytes of the request body, sent by the client.
    pub bytes_up: usize,
    /// Bytes of the response body, sent to the client.
    pub bytes_down: usize,
}

/// The running service: point a backend's endpoint at `endpoint`.
pub struct Recording {
    pub endpoint: String,
    log: Arc<Mutex<Vec<Recorded>>>,
    failures: Failures,
}

/// Answers to give instead of the server's.
type Failures = Arc<Mutex<Vec<Injection>>>;

/// An answer to give to the next requests of a method whose URL contains `part`, `left` more times.
struct Injection {
    method: &'static str,
    part: String,
    left: usize,
    status: u16,
    code: &'static str,
    delivery: Delivery,
}

/// Whether an injected answer replaces the server's or follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// The request never reaches the server.
    Instead,
    /// The request reaches the server first, its answer lost on the way back.
    AfterForwarding,
}

impl Recording {
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// Answer the next `times` requests whose URL contains `part` with `503 Service Unavailable`, as S3 does when
    /// it sheds load.
    pub fn fail_next(&self, part: &str, times: usize) {
        self.inject("", part, times, 503, "ServiceUnavailable", Delivery::Instead);
    }

    /// Answer the next `method` request whose URL contains `part` with `status` and an S3 error `code` instead of
    /// forwarding it: what another S3 would answer (AWS refusing a conditional completion with 412, say).
    pub fn answer_next(&self, method: &'static str, part: &str, status: u16, code: &'static str) {
        self.inject(method, part, 1, status, code, Delivery::Instead);
    }

    /// Forward the next `method` request whose URL contains `part`, but answer it with `status` and `code`, as when
    /// the server's answer is lost and a retry is refused by what the first attempt did.
    pub fn lose_answer_of_next(&self, method: &'static str, part: &str, status: u16, code: &'static str) {
        self.inject(method, part, 1, status, code, Delivery::AfterForwarding);
    }

    fn inject(
        &self,
        method: &'static str,
        part: &str,
        times: usize,
        status: u16,
        code: &'static str,
        delivery: Delivery,
    ) {
        let part = part.to_owned();
        self.failures.lock().unwrap().push(Injection { method, part, left: times, status, code, delivery });
    }
}

/// Headers that belong to one connection, not to the request.
const HOP_BY_HOP: [&str; 4] = ["content-length", "transfer-encoding", "connection", "keep-alive"];

/// Start a recording service that forwards to `upstream` (e.g. `http://127.0.0.1:7480`), on a fresh port.
pub async fn start(upstream: &str) -> Recording {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let failures = Failures::default();
    // A redirect is an answer to forward, not to follow (a form's success redirect names the app, not the server).
    let client = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let (upstream, recorded, failing) = (upstream.trim_end_matches('/').to_owned(), log.clone(), failures.clone());
    let app = axum::Router::new().fallback(move |request: Request| {
        let (client, upstream, log, failing) = (client.clone(), upstream.clone(), recorded.clone(), failing.clone());
        async move { forward(&client, &upstream, &log, &failing, request).await }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Recording { endpoint, log, failures }
}

async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    log: &Mutex<Vec<Recorded>>,
    failures: &Failures,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let injected = failures
        .lock()
        .unwrap()
        .iter_mut()
        .find(|injection| {
            injection.left > 0
                && path.contains(injection.part.as_str())
                && (injection.method.is_empty() || injection.method == parts.method.as_str())
        })
        .map(|injection| {
            injection.left -= 1;
            (injection.status, injection.code, injection.delivery)
        });
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let url = match parts.uri.authority() {
        Some(_) => parts.uri.to_string(),
        None => format!("{upstream}{path}"),
    };
    if let Some((status, code, delivery)) = injected {
        if delivery == Delivery::AfterForwarding {
            let _ = send(client, &parts, url, body.clone()).await;
        }
        log.lock().unwrap().push(Recorded {
            method: parts.method.to_string(),
            uri: format!("{path} (answered {status})"),
            headers,
            bytes_up: body.len(),
            bytes_down: 0,
        });
        let xml = format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>injected</Message></Error>");
        return Response::builder().status(status).body(Body::from(xml)).unwrap();
    }
    let answer = send(client, &parts, url, body.clone()).await;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        // The length goes back as sent: a HEAD's names the object's size, not its empty body's.
        if name == "content-length" || !HOP_BY_HOP.contains(&name.as_str()) {
            response = response.header(name, value);
        }
    }
    let answer_body = answer.bytes().await.unwrap();
    log.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        uri: path.to_owned(),
        headers,
        bytes_up: body.len(),
        bytes_down: answer_body.len(),
    });
    response.body(Body::from(answer_body)).unwrap()
}

/// Forward a request to `url` (as a proxy the request names the whole URL, in absolute form; as an endpoint, only
/// the path, which the caller joined to the upstream).
async fn send(
    client: &reqwest::Client,
    parts: &http::request::Parts,
    url: String,
    body: bytes::Bytes,
) -> reqwest::Response {
    let mut forwarded = client.request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        // The length goes along: a server wants it even for an empty body.
        if name == "content-length" || !HOP_BY_HOP.contains(&name.as_str()) {
            forwarded = forwarded.header(name, value);
        }
    }
    forwarded.send().await.unwrap()
}

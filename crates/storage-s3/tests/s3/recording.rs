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

/// Requests to answer with a 503 instead of forwarding: a part of the URL, and how many more times.
type Failures = Arc<Mutex<Vec<(String, usize)>>>;

impl Recording {
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// Answer the next `times` requests whose URL contains `part` with `503 Service Unavailable`, as S3 does when
    /// it sheds load.
    pub fn fail_next(&self, part: &str, times: usize) {
        self.failures.lock().unwrap().push((part.to_owned(), times));
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
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
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
    let fail = failures
        .lock()
        .unwrap()
        .iter_mut()
        .find(|(part, left)| *left > 0 && path.contains(part.as_str()))
        .map(|(_, left)| *left -= 1)
        .is_some();
    if fail {
        log.lock().unwrap().push(Recorded {
            method: parts.method.to_string(),
            uri: format!("{path} (answered 503)"),
            headers: Vec::new(),
            bytes_up: body.len(),
            bytes_down: 0,
        });
        let xml = "<?xml version=\"1.0\"?><Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>";
        return Response::builder().status(503).body(Body::from(xml)).unwrap();
    }
    // As a proxy, the request names the whole URL (absolute form); as an endpoint, only the path.
    let url = match parts.uri.authority() {
        Some(_) => parts.uri.to_string(),
        None => format!("{upstream}{path}"),
    };
    let mut forwarded = client.request(parts.method.clone(), url).body(body.clone());
    for (name, value) in &parts.headers {
        // The length goes along: a server wants it even for an empty body.
        if name == "content-length" || !HOP_BY_HOP.contains(&name.as_str()) {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = forwarded.send().await.unwrap();
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
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        bytes_up: body.len(),
        bytes_down: answer_body.len(),
    });
    response.body(Body::from(answer_body)).unwrap()
}

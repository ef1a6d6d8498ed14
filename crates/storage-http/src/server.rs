//! The one HTTP server of the project's commands and example app: hyper with its timeouts, a connection limit and
//! small bodies where nothing is uploaded, so a slow or greedy client cannot hold the server.
//!
//! What each setting guards against, and why it is hyper's own:
//! - **Header read timeout** (`http1().header_read_timeout`, 20 s by default; nginx's `client_header_timeout` is
//!   60 s): a client that trickles its request head, one line every few seconds, is closed. hyper starts this timer
//!   whenever it waits for a request head, including the next one on a kept-alive connection, so on HTTP/1.1 it is
//!   also the idle timeout between requests.
//! - **The first request** must begin within the same time on every connection, before hyper even knows whether it
//!   speaks HTTP/1.1 or h2 (a client that connects and sends nothing, or trickles the h2 preface).
//! - **h2 keep-alive** (`http2().keep_alive_interval` / `keep_alive_timeout`): a peer that stops answering pings is
//!   closed; `max_concurrent_streams` caps the requests one h2 connection runs at once.
//! - **Idle timeout** (75 s by default, nginx's `keepalive_timeout`): a connection on which no request has started
//!   for that long is shut down gracefully (hyper's `graceful_shutdown`: h2 says GOAWAY, requests in flight finish).
//!   hyper has no such timer for h2, whose pings a live but idle client answers; on HTTP/1.1 the header read timeout
//!   closes an idle connection sooner.
//! - **Body timeout** (20 s by default, nginx's `client_body_timeout` is 60 s): every request body, on HTTP/1.1 and
//!   h2, fails once no frame has arrived for that long while the handler waits for one (tower-http's `TimeoutBody`),
//!   so a client that declares a body and sends none is answered and closed; a slow but steady upload goes on.
//! - **Head buffer** (`http1().max_buf_size`, 64 KiB): what hyper holds of an unfinished request head, so a thousand
//!   clients each sending most of a huge head cannot take the server's memory.
//! - **Shutdown grace** (20 s by default): once a connection is shut down gracefully (idle, or the server stops),
//!   what is in flight has that long to finish before the connection is closed.
//! - **Concurrent connections** (1024 by default): a connection beyond the limit is not accepted and waits in the
//!   kernel's listen queue until one ends. Waiting rather than refusing serves a burst of real clients a little
//!   later instead of failing them, and every connection held is bounded by the timeouts above, so a wait is too.
//! - **Bodies on requests that upload nothing**: any method but `POST` and `PUT` (the upload methods) may send at
//!   most 16 KiB; a larger declared body is answered 413 before the handler runs, and a longer streamed one fails
//!   when read. Uploads keep the limits of their own routes (signed policies, the app's body limits).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tower_service::Service as _;

/// The limits of [`Server::serve`]; every default suits production, and each has a `with_*` method.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Server {
    /// How long a client may take to send a whole request head (and, on HTTP/1.1, to start the next request).
    pub header_timeout: Duration,
    /// How often an idle h2 connection is pinged, and how long the answer may take before it is closed.
    pub h2_keep_alive: Duration,
    /// How long a connection may go without starting a request before it is shut down gracefully.
    pub idle_timeout: Duration,
    /// How many connections are served at once; the next ones wait to be accepted.
    pub max_connections: usize,
    /// The most requests one h2 connection runs at once.
    pub max_h2_streams: u32,
    /// The largest body a request that uploads nothing (any method but `POST` and `PUT`) may send.
    pub max_body_without_upload: usize,
    /// How long a request body may go without a frame while the handler waits for one.
    pub body_timeout: Duration,
    /// How long the requests in flight may take to finish once a connection is shut down gracefully.
    pub shutdown_grace: Duration,
}

/// The most bytes hyper buffers of an HTTP/1.1 request head (its minimum is 8 KiB).
const MAX_HEAD_BUFFER: usize = 64 * 1024;

impl Default for Server {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(20),
            h2_keep_alive: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(75),
            max_connections: 1024,
            max_h2_streams: 128,
            max_body_without_upload: 16 * 1024,
            body_timeout: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

impl Server {
    /// The header read timeout (20 s by default).
    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// The h2 ping interval and answer timeout (20 s by default).
    pub fn with_h2_keep_alive(mut self, interval: Duration) -> Self {
        self.h2_keep_alive = interval;
        self
    }

    /// The idle timeout (75 s by default).
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The concurrent connection limit (1024 by default).
    pub fn with_max_connections(mut self, limit: usize) -> Self {
        self.max_connections = limit;
        self
    }

    /// The largest body of a request that uploads nothing (16 KiB by default).
    pub fn with_max_body_without_upload(mut self, bytes: usize) -> Self {
        self.max_body_without_upload = bytes;
        self
    }

    /// The body timeout: the longest wait for the next frame of a request body (20 s by default).
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// The shutdown grace: how long requests in flight may take once a connection is shut down (20 s by default).
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Serve `router` on `listener` until `shutdown` completes, then let the requests in flight finish.
    pub async fn serve(self, listener: TcpListener, router: axum::Router, shutdown: impl Future<Output = ()> + Send) {
        let router = router
            .layer(axum::middleware::from_fn_with_state(self.max_body_without_upload, limit_body))
            .layer(axum::middleware::map_response(close_after_refused_body));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(self.header_timeout).max_buf_size(MAX_HEAD_BUFFER);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(self.h2_keep_alive)
            .keep_alive_timeout(self.h2_keep_alive)
            .max_concurrent_streams(self.max_h2_streams);
        let builder = Arc::new(builder);
        let slots = Arc::new(Semaphore::new(self.max_connections.max(1)));
        let (stop, stopping) = watch::channel(false);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            // A slot first, then `accept`: connections beyond the limit wait in the listen queue.
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                () = &mut shutdown => break,
            };
            let tcp = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(err) if is_connection_error(&err) => continue,
                    // Out of file descriptors, say: wait for some to be freed rather than spin (as axum does).
                    Err(_) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let connection = Connection {
                builder: builder.clone(),
                router: router.clone(),
                header_timeout: self.header_timeout,
                idle_timeout: self.idle_timeout,
                body_timeout: self.body_timeout,
                shutdown_grace: self.shutdown_grace,
                stopping: stopping.clone(),
            };
            tokio::spawn(async move {
                connection.serve(tcp).await;
                drop(slot);
            });
        }
        drop(listener);
        let _ = stop.send(true);
        // Every connection holds a slot until it ends: holding them all means every connection has ended.
        let all = u32::try_from(self.max_connections.max(1)).unwrap_or(u32::MAX);
        let _ = slots.acquire_many(all).await;
    }
}

/// An accept error of one connection (reset before it was accepted), not of the listener.
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(err.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset)
}

/// What serving one accepted connection needs.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: axum::Router,
    header_timeout: Duration,
    idle_timeout: Duration,
    body_timeout: Duration,
    shutdown_grace: Duration,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    /// Serve `tcp` until either side closes it, its first request has not begun within the header timeout, no request
    /// has begun or been in flight for the idle timeout, or the server stops (in the last two cases the requests in
    /// flight get the shutdown grace to finish).
    async fn serve(mut self, tcp: TcpStream) {
        // Small answers go out at once: without TCP_NODELAY, Nagle's algorithm and delayed ACKs add ~40 ms to each.
        let _ = tcp.set_nodelay(true);
        let started = Arc::new(Notify::new());
        // Each request holds a clone until its response body is dropped: more than one means one is in flight.
        let in_flight = Arc::new(());
        let service = {
            // Weak, so the service itself does not count as a request in flight.
            let (started, router, in_flight) = (started.clone(), self.router.clone(), Arc::downgrade(&in_flight));
            let body_timeout = self.body_timeout;
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                started.notify_one();
                let mut router = router.clone();
                let request = request.map(|body| Body::new(tower_http::timeout::TimeoutBody::new(body_timeout, body)));
                let held = in_flight.upgrade();
                async move {
                    let response = router.call(request).await.into_response();
                    Ok::<_, Infallible>(response.map(|body| holding(body, held)))
                }
            })
        };
        let connection = self.builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => return,
            () = started.notified() => {}
            // Dropping the connection closes the socket.
            () = tokio::time::sleep(self.header_timeout) => return,
            _ = self.stopping.wait_for(|stop| *stop) => return,
        }
        loop {
            tokio::select! {
                _ = connection.as_mut() => return,
                // A request began: the idle time starts again.
                () = started.notified() => continue,
                // A long download or upload is not idle: the time starts again while one is in flight.
                () = tokio::time::sleep(self.idle_timeout) => {
                    if Arc::strong_count(&in_flight) > 1 {
                        continue;
                    }
                    break;
                }
                _ = self.stopping.wait_for(|stop| *stop) => break,
            }
        }
        connection.as_mut().graceful_shutdown();
        // Bounded: a request whose client stopped reading (or sending) must not hold the connection after it.
        let _ = tokio::time::timeout(self.shutdown_grace, connection).await;
    }
}

/// A 413 leaves the request's body unread, so the connection cannot carry another request: say so, or a client that
/// pools connections sends its next request on one the server is closing, and sees it cut.
async fn close_after_refused_body(mut response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    response
}

/// `body`, holding `token` until it is dropped: once sent whole, or with its connection.
fn holding(body: Body, token: Option<Arc<()>>) -> Body {
    Body::new(http_body_util::BodyExt::map_err(body, move |err| {
        let _held = &token;
        err
    }))
}

/// Answer 413 to a request that uploads nothing yet declares a body over `limit`, and cap a streamed one.
async fn limit_body(State(limit): State<usize>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::POST | Method::PUT) {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        let message = format!(
            "the request body is too large: a {} request may send at most {limit} bytes; send no body\n",
            request.method()
        );
        return (StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
    }
    next.run(request.map(|body| Body::new(http_body_util::Limited::new(body, limit)))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 64;

    /// What reached the handler: the body's length, or that reading it failed at the limit.
    async fn body_length(request: Request) -> String {
        match axum::body::to_bytes(request.into_body(), usize::MAX).await {
            Ok(bytes) => bytes.len().to_string(),
            Err(_) => "cut".to_owned(),
        }
    }

    proptest::proptest! {
        /// Any method (HEAD aside: its answer has no body to report in), any `Content-Length` bytes, any body: a
        /// request that uploads nothing never hands the handler more than the limit, and a declared length over it
        /// is answered 413; uploads pass whole.
        #[test]
        fn fuzz_body_limit(
            method in proptest::sample::select(vec!["GET", "DELETE", "OPTIONS", "PATCH", "TRACE", "POST", "PUT"]),
            declared in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..24)),
            length in proptest::option::of(0..200u64),
            body_len in 0..200usize,
        ) {
            let router = axum::Router::new()
                .fallback(body_length)
                .layer(axum::middleware::from_fn_with_state(LIMIT, limit_body));
            let mut request = http::Request::builder().method(method).uri("/any");
            if let Some(value) = declared.as_ref().and_then(|bytes| http::HeaderValue::from_bytes(bytes).ok()) {
                request = request.header(header::CONTENT_LENGTH, value);
            } else if let Some(length) = length {
                request = request.header(header::CONTENT_LENGTH, length);
            }
            let request = request.body(Body::from(vec![b'x'; body_len])).unwrap();
            let declared_length = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (status, reached) = runtime.block_on(async {
                let response = router.clone().call(request).await.into_response();
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
                (status, String::from_utf8_lossy(&body).into_owned())
            });
            if matches!(method, "POST" | "PUT") {
                proptest::prop_assert_eq!(reached, body_len.to_string(), "an upload passes whole");
            } else if declared_length.is_some_and(|length| length > LIMIT as u64) {
                proptest::prop_assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
            } else if body_len > LIMIT {
                proptest::prop_assert_eq!(reached, "cut", "{} bytes reached a {} handler", body_len, method);
            } else {
                proptest::prop_assert_eq!(reached, body_len.to_string());
            }
        }
    }
}

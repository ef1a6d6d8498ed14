"""Every call releases the GIL while Rust works: proven with an HTTP server written in Python, which can only answer
the storage's request if the calling thread let go of the GIL (a thread in Rust holding it would starve the server,
and the call would fail on its timeout instead)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import storage_rs


class NothingHere(BaseHTTPRequestHandler):
    """An S3 endpoint that holds no object: every HEAD and GET is 404, answered by Python code."""

    requests: list[str] = []

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        NothingHere.requests.append(self.path)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        """Quiet: the test asserts on `requests`."""


def test_a_call_waiting_on_the_network_lets_python_threads_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-only")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-only")
    server = ThreadingHTTPServer(("127.0.0.1", 0), NothingHere)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        storage = storage_rs.Storage(
            {
                "backend": "s3",
                "bucket": "gil",
                "endpoint": f"http://127.0.0.1:{server.server_address[1]}",
                "region": "us-east-1",
                "timeout": "5s",
            }
        )
        NothingHere.requests.clear()
        assert storage.exists("held/or/released.txt") is False
        assert NothingHere.requests == ["/gil/held/or/released.txt"]
    finally:
        server.shutdown()
        server.server_close()

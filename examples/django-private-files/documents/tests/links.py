"""What the tests need around signed links: a server for a disk storage's links (`storage serve`, as the README runs
it), a plain HTTP client that follows no redirect, and a watch of a link's expiry by condition, not by sleeping."""

import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from documents.tests.webdriver import DEADLINE_SECONDS, POLL_SECONDS

# The repository's root, three directories above the example's app.
ROOT = Path(__file__).resolve().parents[4]
# How far apart this process's clock and the one checking a link's expiry may be read: SigV4 dates are whole seconds,
# and the disk and memory signers round the expiry up to the next second (as storage-conformance's watch).
CLOCK_SLACK_SECONDS = 2
# How many ports `LinkServer` tries before it gives up.
PORT_ATTEMPTS = 5


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


PLAIN = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirects)


def status(url):
    """The HTTP status of a GET of `url`, its body read and dropped."""
    try:
        with PLAIN.open(url, timeout=DEADLINE_SECONDS) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as refused:
        refused.read()
        return refused.code


def get(url):
    """The status, headers and body of a GET of `url`, redirects not followed."""
    try:
        with PLAIN.open(url, timeout=DEADLINE_SECONDS) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers, refused.read()


def storage_command():
    """The `storage` command: STORAGE_BIN, else the workspace's debug build."""
    return os.environ.get("STORAGE_BIN") or str(ROOT / "target" / "debug" / "storage")


def free_port():
    """A port the system just handed out and took back: the link server must know it before it starts (the storage's
    `base_url` names it), so another process may take it first; `LinkServer.start` then tries another."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LinkServer:
    """`storage serve` for a disk storage's links and forms, started before the app signs anything (it reads or makes
    the storage's signing key as it starts, and the app then reads the same key)."""

    def __init__(self, process, base_url):
        self.process = process
        self.base_url = base_url

    @classmethod
    def start(cls, storage_url_for):
        """`storage_url_for(base_url)` is the storage URL whose links this server answers."""
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            base_url = f"http://127.0.0.1:{port}/"
            command = [storage_command(), "--storage", storage_url_for(base_url), "serve"]
            command += ["--listen", f"127.0.0.1:{port}"]
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            # It says `storage: serving … on http://ADDRESS/` once it listens; it ends at once if the port was taken.
            for line in process.stderr:
                if "storage: serving" in line:
                    threading.Thread(target=process.stderr.read, daemon=True).start()
                    return cls(process, base_url)
            process.wait()
        raise RuntimeError(f"`storage serve` found no free port in {PORT_ATTEMPTS} attempts")

    def stop(self):
        self.process.kill()
        self.process.wait()
        self.process.stderr.close()


def watch_link_expire(issued_from, issued_until, lifetime, url):
    """Watch a signed link expire: it must answer 200 at first, never 200 once it has surely expired, never 403 before
    it could have expired, and 403 within a minute of expiring. `issued_from`..`issued_until` are the times read just
    before the link was asked for and just after it came back (`time.time()`)."""
    earliest_expiry, latest_expiry = issued_from + lifetime, issued_until + lifetime
    deadline = time.monotonic() + lifetime + 60
    answers = 0
    while True:
        sent = time.time()
        code = status(url)
        answered = time.time()
        since = answered - issued_from
        if code == 200:
            assert sent < latest_expiry + CLOCK_SLACK_SECONDS, f"the link still works {since:.1f} s after it was issued"
        elif code == 403:
            assert answers > 0, f"the link was refused at its first use, {since:.1f} s after it was issued"
            assert answered + CLOCK_SLACK_SECONDS >= earliest_expiry, f"refused {since:.1f} s in, before it expired"
            return
        else:
            raise AssertionError(f"a signed link answered {code}, not 200 or 403")
        answers += 1
        assert time.monotonic() < deadline, f"the link still works {since:.1f} s after it was issued"
        # Not a guess at how long anything takes: the pace of the polling, until the condition holds.
        time.sleep(POLL_SECONDS)

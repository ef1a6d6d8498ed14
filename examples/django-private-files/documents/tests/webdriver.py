"""Headless Chromium driven through ChromeDriver's WebDriver API, as the Rust example's browser test drives it: Debian's
chromium and chromedriver (installed by the project's xtask/scripts/chromium.sh when missing), on ports the system
picks, every wait a poll for a condition under a deadline."""

import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

# The repository's scripts, two directories above this example.
SCRIPTS = Path(__file__).resolve().parents[4] / "xtask" / "scripts"
# How long a page, an element or a download may take on a loaded 2-core machine.
DEADLINE_SECONDS = 30
# The pace of every poll.
POLL_SECONDS = 0.1
# Never through a proxy: everything here is on loopback.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class WebDriverError(Exception):
    """What ChromeDriver answered instead of a value."""


def chromium():
    """The paths of Debian's Chromium and ChromeDriver (installed by the project's script when missing)."""
    said = subprocess.run(["bash", str(SCRIPTS / "chromium.sh")], capture_output=True, text=True, check=False)
    if said.returncode != 0:
        raise RuntimeError(f"cannot install Chromium: {said.stderr}")
    paths = dict(line.split("=", 1) for line in said.stdout.splitlines() if "=" in line)
    return paths["CHROMIUM"], paths["CHROMEDRIVER"]


def poll(what, condition):
    """`condition()`'s first true answer, polled until the deadline; fails saying `what()` otherwise."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        answer = condition()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what()} did not happen within {DEADLINE_SECONDS} s")
        time.sleep(POLL_SECONDS)


class Browser:
    """One headless Chromium session; `quit()` ends the session, the browser and the driver."""

    def __init__(self, downloads):
        binary, chromedriver = chromium()
        self.driver = subprocess.Popen(
            [chromedriver, "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        port = None
        for line in self.driver.stdout:
            if "started successfully on port " in line:
                port = line.split("started successfully on port ")[1].strip().rstrip(".")
                break
        if port is None:
            raise RuntimeError("chromedriver ended without saying its port")
        # Keep reading what it says, so its pipe never fills.
        threading.Thread(target=self.driver.stdout.read, daemon=True).start()
        self.session = f"http://127.0.0.1:{port}/session"
        self.profile = tempfile.TemporaryDirectory()
        capabilities = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": binary,
                        # No background traffic: this machine's network is closed and Chromium would retry forever.
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            f"--user-data-dir={self.profile.name}",
                        ],
                        "prefs": {
                            "download.default_directory": str(downloads),
                            "download.prompt_for_download": False,
                        },
                    },
                }
            }
        }
        created = self.call("POST", "", capabilities)
        self.session = f"{self.session}/{created['sessionId']}"

    def quit(self):
        try:
            self.call("DELETE", "")
        finally:
            self.driver.kill()
            self.driver.wait()
            self.profile.cleanup()

    def call(self, method, path, body=None):
        """One WebDriver command: its `value`, or WebDriverError with what the driver answered."""
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        request = urllib.request.Request(f"{self.session}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with DIRECT.open(request, timeout=DEADLINE_SECONDS) as answer:
                value = json.load(answer)["value"]
        except urllib.error.HTTPError as refused:
            value = json.load(refused)["value"]
        if isinstance(value, dict) and "error" in value:
            raise WebDriverError(value)
        return value

    def open(self, url):
        self.call("POST", "/url", {"url": url})

    def current_url(self):
        return self.call("GET", "/url")

    def element(self, css):
        found = self.call("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def type_into(self, css, text):
        self.call("POST", f"/element/{self.element(css)}/value", {"text": text})

    def click(self, css):
        self.call("POST", f"/element/{self.element(css)}/click", {})

    def wait_for_text(self, css):
        """The text of the element `css` selects, once a page that has one is shown. A click that submits a form
        starts a navigation WebDriver does not wait for: the old page may still be there, or go away mid-lookup."""

        def text():
            try:
                found = self.call("POST", "/element", {"using": "css selector", "value": css})
                return self.call("GET", f"/element/{next(iter(found.values()))}/text") or None
            except WebDriverError:
                return None

        return poll(lambda: f"an element `{css}` (the browser shows {self.current_url()})", text)

    def page_text(self):
        return self.call("POST", "/execute/sync", {"script": "return document.body.innerText", "args": []})

    def log_in(self, base_url, username, password):
        self.open(f"{base_url}/accounts/login/")
        self.type_into("#username", username)
        self.type_into("#password", password)
        self.click("#login")
        assert self.wait_for_text("#user") == username, "logged in"


def downloaded(directory, name):
    """The bytes of a finished download. Chromium creates an empty file under the final name when a download starts,
    writes to `*.crdownload` and renames that over the final name at the end: done is a non-empty file under the name
    with no `.crdownload` beside it (the files downloaded here are never empty)."""
    directory = Path(directory)

    def finished():
        present = [path.name for path in directory.iterdir()]
        target = directory / name
        if not any(file.endswith(".crdownload") for file in present) and target.exists() and target.stat().st_size:
            return target.read_bytes()
        return None

    return poll(lambda: f"the download of {name} (the directory holds {sorted(os.listdir(directory))})", finished)

"""The seed's flow in headless Chromium against the storage PRIVATE_STORAGE_URL names (disk, memory or S3): log in,
upload through the app and straight to the storage, download by the private link (the exact bytes), a stranger
refused, and the link refused once it has expired. Each run gets a fresh directory or S3 prefix."""

import secrets
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.test import LiveServerTestCase, override_settings

from documents.models import Document
from documents.storage import private_storage
from documents.tests.links import LinkServer, get, status, watch_link_expire
from documents.tests.webdriver import Browser, downloaded

# Short, so the test can watch a link expire without waiting the seed's 60 s, and long enough that a fresh link still
# works on a loaded machine (as the Rust example's tests).
SHORT_LINK_SECONDS = 8


def scheme():
    return urlsplit(settings.PRIVATE_STORAGE_URL).scheme


def under_fresh_prefix(storage_url):
    """`storage_url` with a fresh prefix of its own below the configured one (S3)."""
    parts = urlsplit(storage_url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/test-{secrets.token_hex(6)}"))


def storages_with_private_url(url):
    private = {**settings.STORAGES["private"], "OPTIONS": {**settings.STORAGES["private"]["OPTIONS"], "url": url}}
    return {**settings.STORAGES, "private": private}


# The test users' passwords need no slow hash.
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class PrivateFilesInChromium(LiveServerTestCase):
    host = "127.0.0.1"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.scratch = Path(cls.enterClassContext(tempfile.TemporaryDirectory()))
        cls.link_server = None
        if scheme() == "file":
            # A fresh directory; its links and forms answered by `storage serve`, as the README runs it.
            root = cls.scratch / "private"
            root.mkdir()
            cls.link_server = LinkServer.start(lambda base: f"file://{root}?create=true&base_url={base}")
            cls.addClassCleanup(cls.link_server.stop)
            url = f"file://{root}?create=true&base_url={cls.link_server.base_url}"
        elif scheme() == "s3":
            url = under_fresh_prefix(settings.PRIVATE_STORAGE_URL)
        else:
            url = settings.PRIVATE_STORAGE_URL
        cls.enterClassContext(override_settings(STORAGES=storages_with_private_url(url)))
        cls.downloads = cls.scratch / "downloads"
        cls.downloads.mkdir()
        cls.browser = Browser(cls.downloads)
        cls.addClassCleanup(cls.browser.quit)

    def setUp(self):
        self.alice = User.objects.create_user("alice", password="alice-test-password")
        self.bob = User.objects.create_user("bob", password="bob-test-password")
        self.addCleanup(self.delete_stored_files)

    def delete_stored_files(self):
        """Nothing stays behind in the storage (the test gateway's store is shared and in memory)."""
        for document in Document.objects.all():
            private_storage.delete(document.private_file.name)

    def local_file(self, name, size):
        content = secrets.token_bytes(size)
        path = self.scratch / name
        path.write_bytes(content)
        return path, content

    def document_shown(self):
        """The pk of the document page the browser shows."""
        self.browser.wait_for_text("#private-link")
        return int(urlsplit(self.browser.current_url()).path.strip("/").split("/")[1])

    def download(self, pk, name):
        self.browser.open(f"{self.live_server_url}/documents/{pk}/")
        self.browser.click("#private-link")
        return downloaded(self.downloads, name)

    def test_owner_uploads_and_downloads_a_stranger_is_refused_and_the_link_expires(self):
        browser = self.browser
        browser.log_in(self.live_server_url, "alice", "alice-test-password")

        # Through the app: Django's FileField saves it into the private storage.
        path, through_app = self.local_file("minutes.bin", 200_000)
        browser.type_into("#id_title", "Minutes")
        browser.type_into("#id_private_file", str(path))
        browser.click("#upload")
        saved = self.document_shown()
        self.assertEqual(self.download(saved, "minutes.bin"), through_app, "the downloaded file has the exact bytes")

        # Straight to the storage: the browser posts the file to it, the storage sends it back, the app records it.
        path, direct = self.local_file("scan.bin", 150_000)
        browser.open(f"{self.live_server_url}/documents/direct/")
        browser.type_into("#direct-file", str(path))
        browser.click("#direct-upload")
        self.assertEqual(browser.wait_for_text("#direct-confirm"), "Add it to my documents")
        browser.click("#direct-confirm")
        uploaded = self.document_shown()
        self.assertTrue(Document.objects.get(pk=uploaded).private_file.name.startswith("seekrit/direct/"))
        self.assertEqual(self.download(uploaded, "scan.bin"), direct, "the downloaded file has the exact bytes")

        # A stranger gets 404 from the private link, in the browser and without logging in at all.
        browser.click("#logout")
        browser.log_in(self.live_server_url, "bob", "bob-test-password")
        for pk in (saved, uploaded):
            browser.open(f"{self.live_server_url}/documents/{pk}/file")
            self.assertIn("Not Found", browser.page_text())
            self.assertEqual(status(f"{self.live_server_url}/documents/{pk}/file"), 404)
        self.assertEqual(sorted(p.name for p in self.downloads.iterdir()), ["minutes.bin", "scan.bin"])

        # The owner's link: 302 to a signed link; its plain URL refused; the link refused once it has expired.
        self.client.force_login(self.alice)
        with override_settings(PRIVATE_LINK_SECONDS=SHORT_LINK_SECONDS):
            issued_from = time.time()
            answer = self.client.get(f"/documents/{uploaded}/file")
            issued_until = time.time()
        self.assertEqual(answer.status_code, 302, "a temporary redirect, never a permanent one")
        self.assertIn("no-cache", answer.headers["Cache-Control"])
        # A memory storage's links are relative: Django answers them itself.
        link = urljoin(self.live_server_url, answer.headers["Location"])
        self.assertEqual(get(link.split("?")[0])[0], 403, "the private file's plain URL serves nothing")
        watch_link_expire(issued_from, issued_until, SHORT_LINK_SECONDS, link)

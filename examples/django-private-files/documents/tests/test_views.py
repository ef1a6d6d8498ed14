"""The app's doors without a browser, on the storage PRIVATE_STORAGE_URL names: who may have a private file, what a
direct upload may record, CSRF on every form that changes state, and no link's signature in the request log."""

import logging
import secrets
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.test import Client, TestCase, override_settings

from documents.models import Document
from documents.storage import private_storage
from documents.views import ISSUED_PREFIXES


def fresh_private_storage():
    """The configured private storage under a fresh location of its own (a disk's is a fresh directory below it)."""
    parts = urlsplit(settings.PRIVATE_STORAGE_URL)
    fresh = f"{parts.path.rstrip('/')}/test-{secrets.token_hex(6)}"
    url = urlunsplit(parts._replace(path=fresh)) if parts.scheme in ("file", "s3") else settings.PRIVATE_STORAGE_URL
    private = {**settings.STORAGES["private"], "OPTIONS": {**settings.STORAGES["private"]["OPTIONS"], "url": url}}
    return override_settings(STORAGES={**settings.STORAGES, "private": private})


# The test users' passwords need no slow hash.
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class Doors(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.enterClassContext(fresh_private_storage())

    def setUp(self):
        self.alice = User.objects.create_user("alice", password="alice-test-password")
        self.bob = User.objects.create_user("bob", password="bob-test-password")
        self.carol = User.objects.create_user("carol", password="carol-test-password", is_staff=True)
        name = private_storage.save("seekrit/minutes.bin", ContentFile(b"minutes"))
        self.addCleanup(private_storage.delete, name)
        self.document = Document.objects.create(owner=self.alice, title="Minutes", private_file=name)
        self.file_url = f"/documents/{self.document.pk}/file"

    def logged_in(self, user, **client_options):
        client = Client(**client_options)
        client.force_login(user)
        return client

    def test_only_the_owner_and_staff_are_redirected_to_a_link_that_expires(self):
        for user in (self.alice, self.carol):
            answer = self.logged_in(user).get(self.file_url)
            self.assertEqual(answer.status_code, 302, "a temporary redirect, never a permanent one")
            self.assertIn("no-cache", answer.headers["Cache-Control"], "nothing may remember a link that expires")
            link = answer.headers["Location"]
            self.assertIn("?", link, f"a signed link: {link}")
        self.assertEqual(self.logged_in(self.bob).get(self.file_url).status_code, 404, "a stranger learns nothing")
        self.assertEqual(Client().get(self.file_url).status_code, 404, "nor does an anonymous visitor")
        self.assertEqual(self.logged_in(self.bob).get(f"/documents/{self.document.pk}/").status_code, 404)

    def test_the_link_lives_the_seeds_60_seconds(self):
        self.assertEqual(settings.PRIVATE_LINK_SECONDS, 60)
        link = self.logged_in(self.alice).get(self.file_url).headers["Location"]
        if settings.PRIVATE_STORAGE_URL.startswith("s3:"):
            self.assertIn("X-Amz-Expires=60&", link + "&", link)

    def test_a_direct_upload_is_recorded_only_under_a_prefix_this_session_was_given(self):
        alice_user = self.alice
        alice = self.logged_in(alice_user)
        page = alice.get("/documents/direct/")
        self.assertEqual(page.status_code, 200)
        prefix = alice.session[ISSUED_PREFIXES][-1]
        self.assertTrue(prefix.startswith("seekrit/direct/"))
        uploaded = private_storage.save(f"{prefix}scan.bin", ContentFile(b"scan"))
        self.addCleanup(private_storage.delete, uploaded)

        # Another session, another user, a name outside the prefix or escaping it: nobody's upload.
        bob = self.logged_in(self.bob)
        self.assertEqual(bob.post("/documents/direct/done", {"key": uploaded}).status_code, 404)
        for key in ("seekrit/minutes.bin", f"{prefix}../../minutes.bin", f"{prefix}", f"{prefix}missing.bin"):
            self.assertEqual(alice.post("/documents/direct/done", {"key": key}).status_code, 404, key)
        self.assertEqual(Document.objects.filter(owner=alice_user).count(), 1)

        # S3's redirect names the whole key, the storage's location before it.
        confirm = alice.get("/documents/direct/done", {"key": f"somewhere/{uploaded}"})
        self.assertEqual(confirm.status_code, 200)
        self.assertEqual(Document.objects.filter(owner=alice_user).count(), 1, "a GET changes nothing")
        recorded = alice.post("/documents/direct/done", {"key": f"somewhere/{uploaded}"})
        self.assertEqual(recorded.status_code, 302)
        self.assertEqual(Document.objects.get(owner=alice_user, title="scan.bin").private_file.name, uploaded)

    def test_every_form_that_changes_state_needs_the_csrf_token(self):
        alice = self.logged_in(self.alice, enforce_csrf_checks=True)
        alice.get("/documents/direct/")
        prefix = alice.session[ISSUED_PREFIXES][-1]
        uploaded = private_storage.save(f"{prefix}scan.bin", ContentFile(b"scan"))
        self.addCleanup(private_storage.delete, uploaded)
        self.assertEqual(alice.post("/documents/direct/done", {"key": uploaded}).status_code, 403)
        upload = {"title": "t", "private_file": ContentFile(b"x", name="x.bin")}
        self.assertEqual(alice.post("/", upload).status_code, 403)
        self.assertEqual(Document.objects.count(), 1, "nothing recorded without the token")

    def test_the_request_log_never_holds_a_links_signature(self):
        link = self.logged_in(self.alice).get(self.file_url).headers["Location"]
        query = urlsplit(link).query
        with self.assertLogs("django.server", level="INFO") as logged:
            # As runserver's request handler logs a request line.
            logging.getLogger("django.server").info('"%s" %s %s', f"GET {urlsplit(link).path}?{query} HTTP/1.1", 200, 9)
        self.assertNotIn(query, "\n".join(logged.output))
        self.assertIn(urlsplit(link).path, "\n".join(logged.output))

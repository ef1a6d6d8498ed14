"""`storage_rs.django_links`: a memory storage's signed links answered by Django (the "linked" storage of settings.py,
mounted by link_urls.py), through Django's test client and its real middleware: the answers `storage serve` gives."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from conftest import fresh
from django.core.files.storage import storages
from django.test import Client

import storage_rs

# How long a link used to watch expiry lasts, and how long after it the test waits for the 403 at most.
SHORT_LINK_SECONDS = 1
EXPIRY_DEADLINE_SECONDS = 10
POLL_SECONDS = 0.05
# Larger than one chunk of the storage's streams, so the body is streamed in several.
LARGE = 3 * (1 << 20) + 17


def native() -> storage_rs.Storage:
    return storages["linked"].native


@pytest.fixture
def client(settings) -> Client:
    """A client that sends no CSRF token, through Django's CSRF middleware: only the view's exemption lets it upload."""
    settings.ROOT_URLCONF = "link_urls"
    settings.MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
    ]
    settings.INSTALLED_APPS = ["django.contrib.sessions"]
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    return Client(enforce_csrf_checks=True)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_signed_link_answers_200_with_the_bytes_streamed(client: Client) -> None:
    name = f"{fresh()}/report.bin"
    data = bytes(range(256)) * (LARGE // 256) + b"tail"
    native().save(name, data, content_type="application/octet-stream")
    url = native().url(name)
    assert urlsplit(url).path.startswith("/private-links/")
    response = client.get(url)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Length"] == str(len(data))
    assert response["Cache-Control"].startswith("private, max-age=")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert body(response) == data


def test_head_of_a_signed_link_gives_the_headers_without_the_body(client: Client) -> None:
    name = f"{fresh()}/a.txt"
    native().save(name, b"hello", content_type="text/plain")
    response = client.head(native().url(name))
    assert response.status_code == 200
    assert response["Content-Length"] == "5" and response["Content-Type"].startswith("text/plain")
    assert body(response) == b""


def test_a_range_of_a_signed_link_answers_206(client: Client) -> None:
    name = f"{fresh()}/a.txt"
    native().save(name, b"0123456789")
    response = client.get(native().url(name), headers={"Range": "bytes=2-4"})
    assert response.status_code == 206 and body(response) == b"234"
    assert response["Content-Range"] == "bytes 2-4/10"


def test_a_tampered_link_is_refused(client: Client) -> None:
    name = f"{fresh()}/a.txt"
    other = f"{fresh()}/b.txt"
    native().save(name, b"secret")
    native().save(other, b"other secret")
    url = native().url(name)
    path, query = url.split("?", 1)
    last = query[-1]
    tampered = [
        path + "?" + query[:-1] + ("A" if last != "A" else "B"),
        native().url(other).split("?", 1)[0] + "?" + query,
        path + "?" + query.replace("Expires=", "Expires=9"),
    ]
    for link in tampered:
        response = client.get(link)
        assert response.status_code == 403, link
        assert b"secret" not in body(response)


def test_a_request_that_is_not_valid_http_is_answered_400(client: Client) -> None:
    name = f"{fresh()}/a.txt"
    native().save(name, b"secret")
    path, query = native().url(name).split("?", 1)
    response = client.get(path, QUERY_STRING=query + "&bad query")
    assert response.status_code == 400 and body(response) == b""


def test_a_plain_url_of_a_private_file_is_refused(client: Client) -> None:
    name = f"{fresh()}/a.txt"
    native().save(name, b"secret")
    plain = native().url(name).split("?", 1)[0]
    response = client.get(plain)
    assert response.status_code == 403 and b"secret" not in body(response)
    assert client.get("/private-links/" + fresh() + "/missing.txt").status_code in (403, 404)


def test_an_expired_link_is_refused(client: Client) -> None:
    name = f"{fresh()}/a.txt"
    native().save(name, b"secret")
    link = native().url(name, expires=SHORT_LINK_SECONDS)
    assert client.get(link).status_code == 200
    deadline = time.monotonic() + SHORT_LINK_SECONDS + EXPIRY_DEADLINE_SECONDS
    while (status := client.get(link).status_code) == 200 and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)  # pacing a poll of the link's status
    assert status == 403


def test_a_signed_put_link_stores_the_upload_streamed_without_a_csrf_token(client: Client) -> None:
    name = f"{fresh()}/upload.bin"
    data = b"x" * LARGE
    signed = native().upload_url(name, size=len(data), content_type="application/octet-stream")
    assert signed["method"] == "PUT"
    headers = {key: value for key, value in signed["headers"].items() if key.lower() != "content-type"}
    response = client.put(signed["url"], data, content_type="application/octet-stream", headers=headers)
    assert response.status_code == 201, body(response)
    assert native().open(name).read() == data


def test_a_put_beyond_its_signature_stores_nothing(client: Client) -> None:
    name = f"{fresh()}/upload.bin"
    signed = native().upload_url(name, size=4, content_type="application/octet-stream")
    too_large = client.put(signed["url"], b"12345", content_type="application/octet-stream")
    assert too_large.status_code in (400, 413)
    other_type = client.put(signed["url"], b"1234", content_type="text/html")
    assert other_type.status_code == 403
    unsigned = client.put(signed["url"].split("?", 1)[0], b"1234", content_type="application/octet-stream")
    assert unsigned.status_code == 403
    assert not native().exists(name)


def test_a_signed_form_post_stores_the_file_without_a_csrf_token(client: Client) -> None:
    prefix = fresh()
    form = native().upload_form(prefix=f"{prefix}/", max_size=1024, content_type="text/plain")
    assert urlsplit(form["url"]).path == "/private-links/"
    fields = dict(form["fields"])
    fields["key"] = fields["key"].replace("${filename}", "note.txt")
    upload = ("note.txt", b"from a form", "text/plain")
    response = client.post(form["url"], {**fields, "file": _file(*upload)})
    assert response.status_code in (200, 201, 204, 303), body(response)
    assert native().open(f"{prefix}/note.txt").read() == b"from a form"


def test_a_form_post_with_a_tampered_policy_stores_nothing(client: Client) -> None:
    prefix = fresh()
    form = native().upload_form(prefix=f"{prefix}/", max_size=1024)
    fields = dict(form["fields"])
    fields["key"] = f"elsewhere-{prefix}/note.txt"
    response = client.post(form["url"], {**fields, "file": _file("note.txt", b"x", "text/plain")})
    assert response.status_code == 403
    assert not native().exists(f"elsewhere-{prefix}/note.txt")


def test_an_s3_storage_answers_its_own_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id-of-no-account")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-of-no-account")
    s3 = storage_rs.Storage({"backend": "s3", "bucket": "b", "region": "us-east-1", "endpoint": "http://127.0.0.1:9"})
    with pytest.raises(NotImplementedError, match="answer_link"):
        s3.answer_link("GET", "/a", [])


def _file(name: str, content: bytes, content_type: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type=content_type)

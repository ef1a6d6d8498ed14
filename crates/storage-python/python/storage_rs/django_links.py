"""A disk or memory storage's signed links answered by Django itself, so an app on memory (or on disk, without
`storage serve` beside it) can hand its links out and have them followed.

In the URLconf, mount the links under the path the storage's `base_url` names::

    STORAGES["private"] = {
        "BACKEND": "storage_rs.django.RustStorage",
        "OPTIONS": {"url": "memory://", "private": True, "expires": "60s", "base_url": "/private-links/"},
    }
    urlpatterns += link_urls("private-links/", "private")

Every answer is the one `storage serve` gives (the same Rust code decides it): a signed GET or HEAD streams the file,
a signed PUT or a signed form's POST stores the upload within the limits its signature carries, and anything else (a
tampered or expired link, a plain URL of a private file) is refused with 403. The view is exempt from CSRF because it
never reads the session or a cookie: a link's signature is its only credential, as on S3.
"""

from __future__ import annotations

from django.core.files.storage import Storage as DjangoStorage
from django.core.files.storage import storages
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils.encoding import escape_uri_path
from django.views.decorators.csrf import csrf_exempt

import storage_rs

# Requests whose body is an upload, streamed to the storage; other requests' bodies are never read.
UPLOAD_METHODS = ("PUT", "POST")


def _native(storage: str | DjangoStorage) -> storage_rs.Storage:
    """The `storage_rs.Storage` of a `STORAGES` alias or of a `RustStorage`."""
    django_storage = storages[storage] if isinstance(storage, str) else storage
    native = getattr(django_storage, "native", None)
    if not isinstance(native, storage_rs.Storage):
        raise TypeError(f"link answering needs a storage_rs.django.RustStorage, not {type(django_storage).__name__}")
    return native


@csrf_exempt
def serve(request: HttpRequest, name: str = "", *, storage: str | DjangoStorage) -> StreamingHttpResponse:
    """Answer one request for `storage`'s links (`name` is the part of the path below the prefix; the storage reads
    it from the path itself, still percent-encoded, as the signature covers it)."""
    native = _native(storage)
    # WSGI decodes the path; the signature covers the encoded one, which Django's escaping gives back.
    target = escape_uri_path(request.path)
    query = request.META.get("QUERY_STRING", "")
    if query:
        target += "?" + query
    headers = list(request.headers.items())
    body = request if request.method in UPLOAD_METHODS else None
    try:
        answer = native.answer_link(request.method or "GET", target, headers, body)
    except NotImplementedError as not_here:
        # An S3 storage answers its own links: nothing of it is served here.
        raise Http404("this storage's links are not answered by the app") from not_here
    response = StreamingHttpResponse(answer, status=answer.status)
    # The answer's own headers only: no HTML type Django would otherwise add to an empty refusal.
    del response["Content-Type"]
    for header, value in answer.headers:
        response[header] = value
    return response


def link_urls(prefix: str, storage: str | DjangoStorage) -> list[URLPattern]:
    """URL patterns answering `storage`'s links (a `STORAGES` alias or a `RustStorage`) under `prefix` (e.g.
    `"private-links/"`, the storage's `base_url` being `"/private-links/"`): the files below it, and the prefix
    itself, where its upload forms post."""
    if not prefix.endswith("/") or prefix.startswith("/"):
        raise ValueError(
            f"link_urls: the prefix {prefix!r} must end with `/` and not start with one, as Django's paths"
        )
    return [
        path(prefix, serve, {"storage": storage}, name="storage-rs-link-forms"),
        path(prefix + "<path:name>", serve, {"storage": storage}, name="storage-rs-links"),
    ]

"""Settings of the private-files example. The one setting that picks the storage is the environment variable
PRIVATE_STORAGE_URL (a disk directory by default; `memory://…` or `s3://bucket/prefix?…` otherwise): everything else
is the same on every backend."""

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent

# A real deployment sets its own; a demo run gets a fresh one, so no key is ever committed or shared.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# Where private files are kept, as one storage URL: the example's only backend switch.
#   file:///srv/private?create=true&base_url=http://127.0.0.1:8001/     (the default: ./private-files)
#   s3://bucket/private?endpoint=http://127.0.0.1:7480&region=us-east-1  (credentials from AWS_ACCESS_KEY_ID/…)
#   memory://
# A disk storage signs its links and forms itself; `storage serve` answers them at base_url (see the README). A memory
# storage's links and forms are answered by Django itself, under PRIVATE_LINKS_PATH (documents/urls.py mounts them).
PRIVATE_STORAGE_URL = os.environ.get(
    "PRIVATE_STORAGE_URL",
    f"file://{BASE_DIR / 'private-files'}?create=true&base_url=http://127.0.0.1:8001/",
)

# The seed's 60 seconds: how long the link a download redirects to lives.
PRIVATE_LINK_SECONDS = 60
# The largest private file a browser may upload straight to the storage.
DIRECT_UPLOAD_MAX_BYTES = 50 * 1024 * 1024

# Where Django answers a memory storage's links (storage_rs.django_links), unless its URL names a `base_url` of its own.
PRIVATE_LINKS_PATH = "/private-links/"
_private_url = urlsplit(PRIVATE_STORAGE_URL)
_answered_by_django = _private_url.scheme == "memory" and "base_url" not in parse_qs(_private_url.query)
PRIVATE_STORAGE_LINKS = {"base_url": PRIVATE_LINKS_PATH} if _answered_by_django else {}

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "private": {
        "BACKEND": "storage_rs.django.RustStorage",
        # Every file private: nothing is served without a signed link (S3 gets the `private` ACL where it has ACLs).
        "OPTIONS": {"url": PRIVATE_STORAGE_URL, "private": True, "expires": "60s", **PRIVATE_STORAGE_LINKS},
    },
}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "documents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "privatefiles.urls"
WSGI_APPLICATION = "privatefiles.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DATABASE", BASE_DIR / "db.sqlite3"),
    }
}

LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

# A signed link's query is a credential until it expires: the request log keeps paths, never a link's query.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"no_link_queries": {"()": "documents.logging.DropLinkQueries"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.server": {"handlers": ["console"], "filters": ["no_link_queries"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["console"], "filters": ["no_link_queries"], "level": "WARNING", "propagate": False},
    },
}

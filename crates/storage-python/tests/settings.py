"""The Django settings of storage_rs's tests: no database is needed, only the storage settings tests change."""

SECRET_KEY = "storage-rs-tests-only"
USE_TZ = True
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
STORAGES = {
    "default": {"BACKEND": "storage_rs.django.RustStorage", "OPTIONS": {"backend": "memory"}},
    "private": {
        "BACKEND": "storage_rs.django.RustStorage",
        "OPTIONS": {"backend": "memory", "private": True, "expires": "60s"},
    },
    # Private files whose links Django answers itself, under /private-links/ (test_links.py's URLconf).
    "linked": {
        "BACKEND": "storage_rs.django.RustStorage",
        "OPTIONS": {"backend": "memory", "private": True, "expires": "60s", "base_url": "/private-links/"},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

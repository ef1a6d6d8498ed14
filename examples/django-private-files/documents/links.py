"""The two things the views ask of the private storage beyond Django's API: a download link that expires
(`RustStorage.url` with options), and a form that uploads straight to the storage within limits (its `native`
`storage_rs.Storage`'s `upload_form`)."""

from datetime import timedelta

# The form field the file goes in, after every field the storage gave (S3's POST rule; storage-http's too).
FILE_FIELD = "file"


def download_link(storage, name, seconds, download_name):
    """A signed GET link to `name` that lives `seconds`, downloading as `download_name` (never shown inline)."""
    return storage.url(name, expires=timedelta(seconds=seconds), download_name=download_name)


def upload_form(storage, prefix, max_bytes, done_url):
    """A form that posts one file of 1 byte to `max_bytes` under `prefix` straight to the storage, which then
    redirects the browser to `done_url` with the stored key."""
    form = storage.native.upload_form(
        prefix=prefix,
        min_size=1,
        max_size=max_bytes,
        success_redirect=done_url,
        # A fresh prefix of random letters has nothing to overwrite (and S3 cannot make a form create-only).
        allow_overwrite=True,
    )
    return {"url": form["url"], "fields": form["fields"], "file_field": FILE_FIELD}

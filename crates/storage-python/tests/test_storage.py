"""The storage contract of `storage_rs.Storage` on memory, disk and the RGW: the same answers on every backend."""

from __future__ import annotations

import io
import sys
import unicodedata
from datetime import datetime, timedelta, timezone

import pytest

import storage_rs


def test_save_open_exists_delete_round_trip(storage: storage_rs.Storage) -> None:
    name = storage.save("docs/report.txt", b"quarterly numbers")
    assert name == "docs/report.txt"
    assert storage.exists(name)
    assert storage.size(name) == len(b"quarterly numbers")
    with storage.open(name) as file:
        assert file.read() == b"quarterly numbers"
    storage.delete(name)
    assert not storage.exists(name)
    storage.delete(name)  # a missing name is not an error, as in Django


def test_a_taken_name_gets_djangos_alternative_name(storage: storage_rs.Storage) -> None:
    first = storage.save("photo.jpg", b"one")
    second = storage.save("photo.jpg", b"two")
    assert first == "photo.jpg"
    assert second.startswith("photo_") and second.endswith(".jpg") and len(second) == len("photo_XXXXXXX.jpg")
    assert storage.open(first).read() == b"one"
    assert storage.open(second).read() == b"two"


def test_save_streams_file_objects_and_iterables(storage: storage_rs.Storage) -> None:
    body = bytes(range(256)) * 9000  # 2.3 MB: more than one chunk of the reader
    from_file = storage.save("big.bin", io.BytesIO(body), size=len(body))
    from_chunks = storage.save("chunks.bin", (body[i : i + 70000] for i in range(0, len(body), 70000)))
    from_text = storage.save("text.txt", io.StringIO("héllo"))
    assert storage.open(from_file).read() == body
    assert storage.open(from_chunks).read() == body
    assert storage.open(from_text).read() == "héllo".encode()


def test_a_failing_file_object_fails_the_save_and_stores_nothing(storage: storage_rs.Storage) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("disk unplugged")
            return b"x" * 1000

    with pytest.raises(OSError, match="disk unplugged"):
        storage.save("broken.bin", Broken())
    assert not storage.exists("broken.bin")


def test_open_seeks_with_ranged_reads(storage: storage_rs.Storage) -> None:
    body = b"".join(b"%06d\n" % i for i in range(100000))
    name = storage.save("lines.txt", body)
    with storage.open(name) as file:
        file.seek(700000)
        assert file.read(7) == body[700000:700007]
        file.seek(-7, io.SEEK_END)
        assert file.read() == body[-7:]
        file.seek(7)
        assert file.readline() == b"000001\n"
        assert file.tell() == 14
        assert file.seekable() and file.readable()


def test_listdir_size_and_metadata(storage: storage_rs.Storage) -> None:
    storage.save("a/one.txt", b"1")
    storage.save("a/b/two.txt", b"22")
    storage.save("a/b/c/three.txt", b"333")
    directories, files = storage.listdir("a")
    assert (sorted(directories), sorted(files)) == (["b"], ["one.txt"])
    assert storage.listdir("a/b/") == (["c"], ["two.txt"])
    metadata = storage.metadata("a/b/two.txt")
    assert metadata["size"] == 2 and metadata["name"] == "a/b/two.txt"
    assert metadata["last_modified"].tzinfo is not None
    assert abs(metadata["last_modified"] - datetime.now(timezone.utc)) < timedelta(minutes=5)


def test_copy_and_rename_keep_the_bytes(storage: storage_rs.Storage) -> None:
    name = storage.save("orig.txt", b"content")
    copied = storage.copy(name, "copy.txt")
    moved = storage.rename(copied, "moved.txt")
    assert (copied, moved) == ("copy.txt", "moved.txt")
    assert not storage.exists("copy.txt")
    assert storage.open(moved).read() == b"content"
    assert storage.open(name).read() == b"content"


def test_signed_urls_expire_and_carry_response_overrides(backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conftest import options_for

    storage = storage_rs.Storage(options_for(backend, tmp_path, private=True, expires="60s"))
    assert storage.url_expires == 60
    name = storage.save("secret.pdf", b"%PDF")
    plain = storage.url(name)
    overridden = storage.url(
        name, expires=timedelta(seconds=30), download_name="Résumé.pdf", response_content_type="application/pdf"
    )
    assert plain != overridden
    assert "R%C3%A9sum%C3%A9.pdf" in overridden.replace("%25", "%")
    assert "application%2Fpdf" in overridden


def test_upload_forms_and_put_links(storage: storage_rs.Storage) -> None:
    if storage.backend == "s3":
        # S3's forms can neither refuse a taken name nor safely allow a type prefix: the core says Unsupported.
        with pytest.raises(storage_rs.Unsupported):
            storage.upload_form(prefix="uploads/", max_size=1 << 20, content_type="image/", allow_overwrite=True)
        form = storage.upload_form(prefix="uploads/", max_size=1 << 20, content_type="image/png", allow_overwrite=True)
    else:
        form = storage.upload_form(prefix="uploads/", max_size=1 << 20, content_type="image/")
    assert form["method"] == "POST" and form["url"].startswith("http")
    assert dict(form["fields"])["key"].endswith("uploads/${filename}")
    request = storage.upload_url("uploads/exact.png", size=10, content_type="image/png")
    assert request["method"] == "PUT" and request["url"].startswith("http")
    with pytest.raises(ValueError):
        storage.upload_form(key="a", prefix="b/")


EVERY_CATEGORY = "".join(
    next(chr(c) for c in range(0x20, sys.maxunicode) if unicodedata.category(chr(c)) == category)
    for category in sorted({unicodedata.category(chr(c)) for c in range(0x20, 0x30000)} - {"Cc", "Cs", "Cn", "Co"})
)


@pytest.mark.parametrize("character", list(EVERY_CATEGORY), ids=lambda c: unicodedata.category(c))
def test_names_of_every_unicode_category_round_trip_or_are_refused_as_value_errors(
    storage: storage_rs.Storage, character: str
) -> None:
    name = f"u/{character}x{character}.txt"
    try:
        stored = storage.save(name, b"u")
    except ValueError as refused:
        assert isinstance(refused, storage_rs.InvalidName), refused
        return
    assert storage.open(stored).read() == b"u"
    assert stored in ["u/" + file for file in storage.listdir("u")[1]]


def test_max_length_truncates_alternative_names_as_django(storage: storage_rs.Storage) -> None:
    first = storage.save("long/abcdefghijklmnop.txt", b"1", max_length=30)
    second = storage.save("long/abcdefghijklmnop.txt", b"2", max_length=30)
    assert first == "long/abcdefghijklmnop.txt"
    assert len(second) <= 30 and second.startswith("long/abcdefghi") and second.endswith(".txt")
    with pytest.raises(ValueError):
        storage.save("long/abcdefghijklmnop.txt", b"3", max_length=8)


def test_errors_are_the_python_exceptions_django_code_catches(storage: storage_rs.Storage) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        storage.open("no/such/file.txt")
    assert isinstance(missing.value, storage_rs.StorageError) and missing.value.kind == "not_found"
    assert "no/such/file.txt" in str(missing.value)
    with pytest.raises(FileNotFoundError):
        storage.size("no/such/file.txt")
    for bad in ["../escape.txt", "/absolute.txt", "", "a/../b.txt", "nul\x00.txt"]:
        with pytest.raises(ValueError) as invalid:
            storage.save(bad, b"x")
        assert isinstance(invalid.value, storage_rs.InvalidName), bad
    with pytest.raises(TypeError):
        storage.save("x.txt", 42)  # type: ignore[arg-type]


def test_settings_are_read_by_storage_config_and_refused_with_the_key_named() -> None:
    with pytest.raises(storage_rs.ConfigurationError, match="expirs"):
        storage_rs.Storage({"backend": "memory", "expirs": "60s"})
    with pytest.raises(ValueError, match="backend"):
        storage_rs.Storage({"bakcend": "memory"})
    with pytest.raises(ValueError):
        storage_rs.Storage("ftp://nowhere/")
    assert storage_rs.Storage("memory://").backend == "memory"


def test_path_is_for_disk_storages_only(storage: storage_rs.Storage) -> None:
    name = storage.save("p.txt", b"p")
    if storage.backend == "fs":
        with open(storage.path(name), "rb") as local:
            assert local.read() == b"p"
    else:
        with pytest.raises(NotImplementedError):
            storage.path(name)


def test_no_secret_in_errors_reprs_or_urls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conftest import rgw, s3_options

    secret = rgw()["STORAGE_S3_SECRET_ACCESS_KEY"]
    storage = storage_rs.Storage(s3_options("secrets", private=True, expires="60s"))
    seen = [repr(storage), storage.url("some/file.txt")]
    for failing in (lambda: storage.open("no/such.txt"), lambda: storage.save("../bad", b"x")):
        with pytest.raises(storage_rs.StorageError) as failure:
            failing()
        seen += [str(failure.value), repr(failure.value)]
    disk = storage_rs.Storage({"backend": "fs", "location": str(tmp_path), "private": True})
    disk_url = disk.url(disk.save("k.txt", b"k"))
    key_line = (tmp_path / ".storage" / "signing-key").read_text().strip()
    key_secret = key_line.split(":", 1)[1]
    assert all(secret not in text for text in seen)
    assert key_secret not in disk_url and key_secret not in repr(disk)


def test_a_taken_name_under_overwrite_fail_is_a_file_exists_error(backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conftest import options_for

    storage = storage_rs.Storage(options_for(backend, tmp_path, overwrite="fail"))
    name = storage.save("once.txt", b"first")
    with pytest.raises(FileExistsError) as taken:
        storage.save(name, io.BytesIO(b"second"))
    assert isinstance(taken.value, storage_rs.AlreadyExists) and taken.value.kind == "already_exists"
    assert storage.open(name).read() == b"first"

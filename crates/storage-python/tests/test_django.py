"""`storage_rs.django.RustStorage` as Django uses it: settings, names, race-free saves, times, paths, async extras and
the private-file field."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import options_for
from django.core.files.base import ContentFile
from django.core.files.storage import Storage as DjangoBaseStorage
from django.core.files.storage import default_storage, storages
from django.utils.text import get_valid_filename

import storage_rs
from storage_rs.django import PrivateFileField, RustStorage, private_storage

SAVERS = 64


@pytest.fixture
def django_storage(backend: str, tmp_path: Path) -> RustStorage:
    return RustStorage(**options_for(backend, tmp_path))


def test_storages_setting_builds_a_rust_storage_from_its_options() -> None:
    assert default_storage.native.backend == "memory"
    storage = storages["default"]
    assert isinstance(storage, RustStorage) and storage.native.backend == "memory"
    path, args, kwargs = storage.deconstruct()
    assert (path, args, kwargs) == ("storage_rs.django.RustStorage", (), {"backend": "memory"})
    with pytest.raises(storage_rs.ConfigurationError, match="locaton"):
        RustStorage(backend="fs", locaton="/tmp")


def test_concurrent_saves_of_one_name_keep_every_file(django_storage: RustStorage) -> None:
    barrier = threading.Barrier(SAVERS)
    names: list[str] = []
    failures: list[BaseException] = []

    def save(index: int) -> None:
        try:
            barrier.wait()
            names.append(django_storage.save("race/report.txt", ContentFile(b"writer %d" % index)))
        except BaseException as failure:  # noqa: BLE001 - reported below, with every other thread's
            failures.append(failure)

    threads = [threading.Thread(target=save, args=(index,)) for index in range(SAVERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(set(names)) == SAVERS, "every save keeps its own file"
    contents = {django_storage.open(name).read() for name in names}
    assert contents == {b"writer %d" % index for index in range(SAVERS)}
    assert sorted(django_storage.listdir("race")[1]) == sorted(name.split("/")[1] for name in names)


class Probe(DjangoBaseStorage):
    """Django's own naming over a set of taken names: the reference the core's naming must equal."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken

    def exists(self, name: str) -> bool:
        return name in self.taken


NAMES = ["report.pdf", "a b/c d.txt", "dir/.hidden", "no_extension", "x.tar.gz", "ünï/cødé.txt", "deep/er/file.js"]


@pytest.mark.parametrize("name", NAMES)
def test_names_equal_djangos_own(django_storage: RustStorage, name: str) -> None:
    assert django_storage.get_valid_name(name.split("/")[-1]) == get_valid_filename(name.split("/")[-1])
    assert django_storage.generate_filename(name) == Probe(set()).generate_filename(name)
    assert django_storage.get_available_name(name) == Probe(set()).get_available_name(name) == name
    django_storage.save(name, ContentFile(b"taken"))
    ours = django_storage.get_available_name(name, max_length=40)
    theirs = Probe({name}).get_available_name(name, max_length=40)
    assert ours != name and same_shape(ours, theirs)


def same_shape(ours: str, theirs: str) -> bool:
    """Equal names, or alternative names equal but for their seven random characters."""
    if ours == theirs:
        return True
    root, _, tail = ours.rpartition("_")
    their_root, _, their_tail = theirs.rpartition("_")
    return root == their_root and len(tail) == len(their_tail) and tail[7:] == their_tail[7:]


def test_max_length_is_djangos_through_the_django_api(django_storage: RustStorage) -> None:
    name = "m/abcdefghijklmnopqrst.txt"  # 26 characters: too long for 25 even while free, as Django decides
    first = django_storage.save(name, ContentFile(b"1"), max_length=25)
    assert same_shape(first, Probe(set()).get_available_name(name, max_length=25))
    second = django_storage.save(name, ContentFile(b"2"), max_length=25)
    assert second != first and same_shape(second, Probe({first}).get_available_name(name, max_length=25))
    assert django_storage.save(name, ContentFile(b"3"), max_length=30) == name
    with pytest.raises(ValueError) as refused:
        django_storage.save(name, ContentFile(b"4"), max_length=5)
    with pytest.raises(Exception) as django_refused:
        Probe(set()).get_available_name(name, max_length=5)
    assert type(django_refused.value).__name__ == "SuspiciousFileOperation"
    assert isinstance(refused.value, storage_rs.InvalidName)


@pytest.mark.parametrize("use_tz", [True, False])
def test_times_follow_use_tz(django_storage: RustStorage, settings: Any, use_tz: bool) -> None:
    settings.USE_TZ = use_tz
    name = django_storage.save("times.txt", ContentFile(b"t"))
    modified = django_storage.get_modified_time(name)
    created = django_storage.get_created_time(name)
    assert (modified.tzinfo is not None) == use_tz
    assert (created.tzinfo is not None) == use_tz
    now = datetime.now().astimezone() if use_tz else datetime.now()
    assert abs((now - modified).total_seconds()) < 300
    if django_storage.native.backend == "fs":
        assert (django_storage.get_accessed_time(name).tzinfo is not None) == use_tz
    else:
        with pytest.raises(NotImplementedError):
            django_storage.get_accessed_time(name)


def test_path_works_on_disk_only(django_storage: RustStorage) -> None:
    name = django_storage.save("local.txt", ContentFile(b"here"))
    if django_storage.native.backend == "fs":
        assert Path(django_storage.path(name)).read_bytes() == b"here"
    else:
        with pytest.raises(NotImplementedError):
            django_storage.path(name)


def test_django_file_api_reads_and_errors(django_storage: RustStorage) -> None:
    name = django_storage.save("api.txt", ContentFile(b"line one\nline two\n"))
    with django_storage.open(name) as file:
        assert file.size == 18
        assert list(file.chunks(chunk_size=5))[0] == b"line "
    with django_storage.open(name) as file:
        assert [line for line in file] == [b"line one\n", b"line two\n"]
    with pytest.raises(FileNotFoundError):
        django_storage.open("missing.txt")
    with pytest.raises(ValueError):
        django_storage.open(name, "wb")


def test_async_extras(django_storage: RustStorage) -> None:
    async def flow() -> tuple[bool, bytes, str, bool]:
        name = await django_storage.asave("async.txt", ContentFile(b"async"))
        exists = await django_storage.aexists(name)
        file = await django_storage.aopen(name)
        body = file.read()
        await django_storage.adelete(name)
        return exists, body, name, await django_storage.aexists(name)

    assert asyncio.run(flow()) == (True, b"async", "async.txt", False)


def test_private_file_field_stores_on_the_private_storage_and_signs() -> None:
    field = PrivateFileField(upload_to="seekrit/")
    assert field.storage is storages["private"]
    assert field.generate_filename(None, "my cv.pdf") == "seekrit/my_cv.pdf"
    name = field.storage.save(field.generate_filename(None, "my cv.pdf"), ContentFile(b"%PDF"))
    url = field.storage.url(name)
    assert "X-Storage-Signature=" in url and "X-Storage-Expires=" in url
    name_, path, args, kwargs = field.deconstruct()
    assert path == "storage_rs.django.PrivateFileField" and "storage" not in kwargs
    with pytest.raises(ValueError, match="public URLs"):
        private_storage("default")

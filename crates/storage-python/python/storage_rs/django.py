"""`RustStorage`: a Django storage on the Rust core, and `PrivateFileField` for the files only a signed link opens.

Configured as Django's `STORAGES` asks::

    STORAGES = {
        "default": {
            "BACKEND": "storage_rs.django.RustStorage",
            "OPTIONS": {"url": "s3://bucket/media?region=eu-west-1", "private": True, "expires": "60s"},
        },
    }

The OPTIONS are the keys of a `storage.toml` table, read by the same Rust code, so a misspelt key is an error, not a
silent default. Names are storage-core's, proven equal to Django's by a differential test; but `save()` claims its
name with a create-only write instead of Django's exists-then-save, so concurrent saves of one name never overwrite
each other.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import Storage as DjangoStorage
from django.core.files.storage import storages
from django.db import models
from django.utils.deconstruct import deconstructible

import storage_rs


class RustFile(File):
    """A stored file opened for reading: Django's `File` over a streaming reader, with the size known at open."""

    def __init__(self, file: Any, name: str, size: int) -> None:
        super().__init__(file, name)
        self._size = size
        self.mode = "rb"

    @property
    def size(self) -> int:  # type: ignore[override]
        return self._size


def _content_size(content: Any) -> int | None:
    """The size Django knows for `content` without reading it, so S3 can pick a single PUT; None if unknown."""
    try:
        size = content.size
    except (AttributeError, OSError, ValueError):
        return None
    return size if isinstance(size, int) else None


def _rewound(content: Any) -> Any:
    """The file object to read `content` from, at its start (Django's `File.chunks()` also rewinds first)."""
    if hasattr(content, "seek") and callable(content.seek):
        try:
            content.seek(0)
        except (AttributeError, OSError, ValueError):
            pass
    return content


@deconstructible(path="storage_rs.django.RustStorage")
class RustStorage(DjangoStorage):
    """Django's storage API over `storage_rs.Storage`; `OPTIONS` are `storage.toml` keys (`url`, `backend`, ...)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._built = (os.getpid(), storage_rs.Storage(dict(options)))

    @property
    def _native(self) -> storage_rs.Storage:
        # A storage made before os.fork() (gunicorn --preload, uWSGI, Celery prefork) holds connections of the
        # parent's threads, which a forked worker lacks: each process builds its own from the same settings.
        pid, native = self._built
        if pid != os.getpid():
            native = storage_rs.Storage(dict(self._options))
            self._built = (os.getpid(), native)
        return native

    @property
    def native(self) -> storage_rs.Storage:
        """The `storage_rs.Storage` underneath, for what Django's API lacks (metadata, upload forms, copy)."""
        return self._native

    # Names: storage-core's, equal to Django's own.

    def get_valid_name(self, name: str) -> str:
        return storage_rs.get_valid_name(name)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return self._native.get_available_name(str(name), max_length)

    def generate_filename(self, filename: str) -> str:
        return self._native.generate_filename(str(filename))

    # Reading and writing.

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        """Store `content` under `name` or an alternative name, claimed atomically (never exists-then-save)."""
        if name is None:
            name = content.name
        if not hasattr(content, "chunks"):
            content = File(content, name)
        return self._native.save(
            str(name).replace("\\", "/"),
            _rewound(content),
            max_length=max_length,
            size=_content_size(content),
        )

    def _save(self, name: str, content: Any) -> str:
        return self._native.save(name, _rewound(content), size=_content_size(content))

    def _open(self, name: str, mode: str = "rb") -> RustFile:
        file = self._native.open(name, mode)
        return RustFile(file, name, file.raw.size)

    def delete(self, name: str) -> None:
        if not name:
            raise ValueError("The name must be given to delete().")
        self._native.delete(name)

    def exists(self, name: str) -> bool:
        return self._native.exists(name)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        return self._native.listdir(path)

    def size(self, name: str) -> int:
        return self._native.size(name)

    def url(self, name: str | None, **options: Any) -> str:
        """The storage's URL of `name`: signed for its expiry when private; options as `storage_rs.Storage.url`."""
        if name is None:
            raise ValueError("url: a name is needed")
        return self._native.url(name, **options)

    def path(self, name: str) -> str:
        """The local path of `name` on a disk storage; `NotImplementedError` elsewhere, as Django's storages."""
        return os.fspath(self._native.path(name))

    # Times: aware in UTC when USE_TZ, else naive local time, as Django's FileSystemStorage.

    def _datetime(self, moment: datetime) -> datetime:
        if settings.USE_TZ:
            return moment
        return datetime.fromtimestamp(moment.timestamp())

    def get_modified_time(self, name: str) -> datetime:
        return self._datetime(self._native.metadata(name)["last_modified"])

    def get_created_time(self, name: str) -> datetime:
        """On disk the file's ctime; elsewhere the last write, since objects are only ever written whole."""
        if self._native.backend == "fs":
            stat = os.stat(self.path(name))
            return self._datetime(datetime.fromtimestamp(stat.st_ctime).astimezone())
        return self.get_modified_time(name)

    def get_accessed_time(self, name: str) -> datetime:
        """On disk the file's atime; object stores keep no access time, so `NotImplementedError` there."""
        if self._native.backend != "fs":
            raise NotImplementedError(f"get_accessed_time: a {self._native.backend} storage keeps no access time")
        stat = os.stat(self.path(name))
        return self._datetime(datetime.fromtimestamp(stat.st_atime).astimezone())

    # Async extras: the GIL is released while Rust works, so a worker thread per call runs truly in parallel.

    async def asave(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        return await asyncio.to_thread(self.save, name, content, max_length)

    async def aopen(self, name: str, mode: str = "rb") -> File:
        return await asyncio.to_thread(self.open, name, mode)

    async def aurl(self, name: str, **options: Any) -> str:
        return await asyncio.to_thread(self.url, name, **options)

    async def aexists(self, name: str) -> bool:
        return await asyncio.to_thread(self.exists, name)

    async def adelete(self, name: str) -> None:
        await asyncio.to_thread(self.delete, name)

    async def asize(self, name: str) -> int:
        return await asyncio.to_thread(self.size, name)

    async def alistdir(self, path: str) -> tuple[list[str], list[str]]:
        return await asyncio.to_thread(self.listdir, path)


#: The `STORAGES` alias `PrivateFileField` stores in unless told otherwise.
PRIVATE_STORAGE_ALIAS = "private"


def private_storage(alias: str = PRIVATE_STORAGE_ALIAS) -> DjangoStorage:
    """The storage `STORAGES[alias]`, checked to be private: its `url()` must sign (`private = true` or `expires`)."""
    storage = storages[alias]
    if isinstance(storage, RustStorage) and storage.native.url_expires is None:
        raise ValueError(
            f'private_storage: STORAGES[{alias!r}] hands out public URLs; set "private": True and "expires" in its OPTIONS'
        )
    return storage


class PrivateFileField(models.FileField):
    """A `FileField` on the private storage (the seed's `S3PrivateFileField`): its files open only by signed links.

    The storage is `STORAGES[storage_alias]` (default `"private"`), looked up when the model class is made, as Django
    does for a callable storage; migrations record the alias, never a storage instance or its settings.
    """

    def __init__(self, *args: Any, storage_alias: str = PRIVATE_STORAGE_ALIAS, **kwargs: Any) -> None:
        self.storage_alias = storage_alias
        kwargs["storage"] = lambda: private_storage(storage_alias)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("storage", None)
        if self.storage_alias != PRIVATE_STORAGE_ALIAS:
            kwargs["storage_alias"] = self.storage_alias
        return name, path, args, kwargs


__all__ = ["PRIVATE_STORAGE_ALIAS", "PrivateFileField", "RustFile", "RustStorage", "private_storage"]

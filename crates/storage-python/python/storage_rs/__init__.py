"""storage_rs: the Rust storage core from Python, and (in `storage_rs.django`) a Django storage on it.

`Storage` is one storage on disk, in memory or on S3, built from a storage URL or a dict with the keys of
`storage.toml`. Its methods release the GIL while Rust works, so threads run in parallel; `open()` returns a
binary file object that streams and seeks with ranged reads.
"""

from __future__ import annotations

import io
from typing import Any

from storage_rs import _native
from storage_rs._native import get_valid_name
from storage_rs.errors import (
    AlreadyExists,
    ConfigurationError,
    InvalidArgument,
    InvalidName,
    NotFound,
    PermissionDenied,
    StorageError,
    Unsupported,
)

#: The read buffer of `Storage.open()`: one ranged stream feeds it, so bigger means fewer Python calls, not requests.
READ_BUFFER = 1 << 20


class StoredFile(io.RawIOBase):
    """A stored file as Python's raw binary I/O: `io.BufferedReader` gives it the whole file API (readline, ...)."""

    def __init__(self, reader: _native.Reader) -> None:
        super().__init__()
        self._reader = reader
        self.name = reader.name

    @property
    def size(self) -> int:
        """The size in bytes when the file was opened."""
        return self._reader.size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # Straight from Rust, without the copy readinto() makes.
        return self._reader.read(-1 if size is None else size)

    def readall(self) -> bytes:
        return self._reader.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self._reader.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._reader.tell()
        elif whence == io.SEEK_END:
            offset += self._reader.size
        if offset < 0:
            raise ValueError(f"seek: negative position {offset} in {self.name!r}")
        return self._reader.seek(offset)

    def tell(self) -> int:
        return self._reader.tell()

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()


class Storage(_native.Storage):
    """A storage on disk, in memory or on S3; see the README's "From Django" for the settings."""

    def open(self, name: str, mode: str = "rb") -> io.BufferedReader:  # type: ignore[override]
        """A buffered binary reader of `name`; only reading modes, since a save is one atomic write."""
        if mode not in ("r", "rb"):
            raise ValueError(f"open: mode {mode!r} is not supported; stored files are read-only, save() writes them")
        return io.BufferedReader(StoredFile(super().open(name)), buffer_size=READ_BUFFER)


__all__ = [
    "AlreadyExists",
    "ConfigurationError",
    "InvalidArgument",
    "InvalidName",
    "NotFound",
    "PermissionDenied",
    "Storage",
    "StorageError",
    "StoredFile",
    "Unsupported",
    "get_valid_name",
]

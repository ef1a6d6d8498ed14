"""Type stubs of the extension module `storage_rs._native` (the Rust side of storage_rs)."""

from collections.abc import Iterable, Iterator
from datetime import timedelta
from os import PathLike
from pathlib import Path
from typing import IO, Any, BinaryIO, TypedDict

Duration = float | int | timedelta
Content = bytes | bytearray | memoryview | str | IO[bytes] | IO[str] | Iterable[bytes | str]

class Metadata(TypedDict):
    name: str
    size: int
    last_modified: Any  # datetime, aware, UTC
    etag: str | None
    content_type: str | None
    cache_control: str | None
    content_disposition: str | None
    content_encoding: str | None
    content_language: str | None
    metadata: dict[str, str]

class UploadForm(TypedDict):
    url: str
    method: str
    fields: list[tuple[str, str]]

class PresignedRequest(TypedDict):
    method: str
    url: str
    headers: dict[str, str]

class Reader:
    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...
    def read(self, size: int = -1) -> bytes: ...
    def seek(self, offset: int) -> int: ...
    def tell(self) -> int: ...
    def close(self) -> None: ...

class LinkResponse:
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...
    def close(self) -> None: ...

class Storage:
    def __new__(cls, config: str | dict[str, Any], *, base: str | PathLike[str] | None = None) -> Storage: ...
    @property
    def backend(self) -> str: ...
    @property
    def url_expires(self) -> float | None: ...
    def save(
        self,
        name: str,
        content: Content,
        *,
        max_length: int | None = None,
        size: int | None = None,
        content_type: str | None = None,
    ) -> str: ...
    def open(self, name: str) -> Reader: ...
    def exists(self, name: str) -> bool: ...
    def delete(self, name: str) -> None: ...
    def size(self, name: str) -> int: ...
    def listdir(self, path: str) -> tuple[list[str], list[str]]: ...
    def metadata(self, name: str) -> Metadata: ...
    def url(
        self,
        name: str,
        *,
        expires: Duration | None = None,
        download_name: str | None = None,
        inline: bool = False,
        response_content_type: str | None = None,
    ) -> str: ...
    def upload_form(
        self,
        *,
        key: str | None = None,
        prefix: str | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        content_type: str | None = None,
        expires: Duration | None = None,
        allow_overwrite: bool = False,
        success_redirect: str | None = None,
    ) -> UploadForm: ...
    def upload_url(
        self,
        name: str,
        *,
        size: int | None = None,
        content_type: str | None = None,
        expires: Duration | None = None,
        allow_overwrite: bool = False,
    ) -> PresignedRequest: ...
    def copy(self, source: str, target: str) -> str: ...
    def rename(self, source: str, target: str) -> str: ...
    def get_available_name(self, name: str, max_length: int | None = None) -> str: ...
    def generate_filename(self, filename: str) -> str: ...
    def path(self, name: str) -> Path: ...
    def answer_link(
        self, method: str, target: str, headers: list[tuple[str, str]], body: BinaryIO | None = None
    ) -> LinkResponse: ...

def get_valid_name(name: str) -> str: ...

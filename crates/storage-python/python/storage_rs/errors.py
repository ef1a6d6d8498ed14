"""The exceptions of storage_rs: each is a `StorageError` and the builtin exception Django code already catches.

Django's own code and apps catch `FileNotFoundError` around `open()`, `FileExistsError` around create-only writes and
`ValueError` around names; deriving from both lets that code work unchanged while `except StorageError` still
catches every failure of this package. The message is the Rust one: lowercase, naming the operation, the name and
the backend, and never a secret.
"""


class StorageError(Exception):
    """Any failure of a storage operation; `kind` is storage-core's error kind (`not_found`, `backend`, ...)."""

    kind: str = "backend"


class NotFound(StorageError, FileNotFoundError):
    """The file does not exist."""


class AlreadyExists(StorageError, FileExistsError):
    """A create-only write met an existing file."""


class InvalidName(StorageError, ValueError):
    """The name is not a valid storage name (empty, absolute, `..`, a control character, ...)."""


class InvalidArgument(StorageError, ValueError):
    """An argument other than the name is out of range (an expiry, a size, a content type)."""


class Unsupported(StorageError, NotImplementedError):
    """The backend lacks the capability (a public URL on a private S3 storage, ACLs on disk, ...)."""


class PermissionDenied(StorageError, PermissionError):
    """The backend refused the operation for lack of permission."""


class ConfigurationError(StorageError, ValueError):
    """The storage settings are wrong (an unknown key, a bad URL, missing credentials)."""


__all__ = [
    "AlreadyExists",
    "ConfigurationError",
    "InvalidArgument",
    "InvalidName",
    "NotFound",
    "PermissionDenied",
    "StorageError",
    "Unsupported",
]

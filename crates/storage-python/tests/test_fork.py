"""A process forked after its storages were made (gunicorn `--preload`, uWSGI, Celery prefork): the parent's runtime
threads and connections are not in the child, so a call there must neither hang nor reach the parent's connections."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Callable
from pathlib import Path

from conftest import options_for
from django.core.files.base import ContentFile

import storage_rs
from storage_rs.django import RustStorage

# A child that hangs is killed by this alarm, so the test fails instead of the suite waiting forever.
CHILD_ALARM_SECONDS = 30


def in_a_forked_child(work: Callable[[], str]) -> str:
    """What `work` returns (or raises, as `error: Kind: message`) when run in a child forked from this process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        signal.alarm(CHILD_ALARM_SECONDS)
        try:
            outcome = work()
        except BaseException as err:  # noqa: BLE001 - the parent asserts on whatever the child met
            outcome = f"error: {type(err).__name__}: {err}"
        os.write(write, outcome.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        outcome = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"the forked child hung and was killed (signal {os.WTERMSIG(status)})"
    return outcome


def test_a_storage_made_before_a_fork_tells_the_child_to_make_its_own(backend: str, tmp_path: Path) -> None:
    storage = storage_rs.Storage(options_for(backend, tmp_path))
    storage.save("before.txt", io.BytesIO(b"made in the parent"))

    outcome = in_a_forked_child(lambda: str(storage.exists("before.txt")))

    assert outcome.startswith("error: ConfigurationError:") and "os.fork()" in outcome, outcome
    assert storage.exists("before.txt"), "the parent's storage still works"


def test_a_rust_storage_made_before_a_fork_works_in_the_forked_worker(backend: str, tmp_path: Path) -> None:
    django_storage = RustStorage(**options_for(backend, tmp_path))
    django_storage.save("before.txt", ContentFile(b"made in the parent"))

    def save_and_read() -> str:
        name = django_storage.save("child.txt", ContentFile(b"saved by the worker"))
        with django_storage.open(name) as file:
            return f"{name}={file.read().decode()}"

    assert in_a_forked_child(save_and_read) == "child.txt=saved by the worker"
    with django_storage.open("before.txt") as file:
        assert file.read() == b"made in the parent", "the parent's storage still works"

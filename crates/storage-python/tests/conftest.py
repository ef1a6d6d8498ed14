"""Fixtures: one storage per backend (memory, disk, the local Ceph RGW), each under a fresh name, and the RGW's settings.

The RGW is found as the Rust tests find it (storage_conformance::local_rgw): the STORAGE_S3_* variables, else
xtask/scripts/rgw.sh starts it. A missing gateway fails the RGW tests loudly, never skips them.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storage_rs

ROOT = Path(__file__).resolve().parents[3]
BACKENDS = ["memory", "fs", "s3"]


def fresh(prefix: str = "t") -> str:
    """A name no other test or run uses, so tests share the gateway's bucket without meeting."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


_rgw: dict[str, str] = {}


def rgw() -> dict[str, str]:
    """The gateway's STORAGE_S3_* settings; starts it through rgw.sh when the environment does not name one."""
    if not _rgw:
        found = {key: value for key, value in os.environ.items() if key.startswith("STORAGE_S3_")}
        if "STORAGE_S3_ENDPOINT" not in found:
            started = subprocess.run(
                ["bash", str(ROOT / "xtask/scripts/rgw.sh"), "start"], capture_output=True, text=True, check=False
            )
            assert started.returncode == 0, (
                "the RGW tests need a Ceph RGW and could not start one (run `cargo xtask s3 start` to see why):\n"
                + started.stderr
            )
            for line in started.stdout.splitlines():
                if line.startswith("export ") and "=" in line:
                    key, value = line[len("export ") :].split("=", 1)
                    found[key] = value
        _rgw.update(found)
        # storage-s3 and boto3 both read the standard variables.
        os.environ["AWS_ACCESS_KEY_ID"] = found["STORAGE_S3_ACCESS_KEY_ID"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = found["STORAGE_S3_SECRET_ACCESS_KEY"]
        # The gateway keeps its buckets in memory: a restarted one has none, so the test bucket is made here.
        client = boto3_client()
        try:
            client.create_bucket(Bucket=found["STORAGE_S3_BUCKET"])
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
    return _rgw


def boto3_client() -> Any:
    """boto3's S3 client on the gateway, as django-storages makes it."""
    import boto3

    return boto3.client("s3", endpoint_url=_rgw["STORAGE_S3_ENDPOINT"], region_name=_rgw["STORAGE_S3_REGION"])


def s3_options(location: str, **extra: Any) -> dict[str, Any]:
    """OPTIONS of an S3 storage on the gateway, under `location`."""
    settings = rgw()
    return {
        "backend": "s3",
        "bucket": settings["STORAGE_S3_BUCKET"],
        "location": location,
        "endpoint": settings["STORAGE_S3_ENDPOINT"],
        "region": settings["STORAGE_S3_REGION"],
        **extra,
    }


def options_for(backend: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """OPTIONS (storage.toml keys) of a fresh, empty storage of `backend`."""
    if backend == "memory":
        return {"backend": "memory", **extra}
    if backend == "fs":
        return {"backend": "fs", "location": str(tmp_path / fresh("media")), "create": True, **extra}
    return s3_options(fresh("py"), **extra)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def storage(backend: str, tmp_path: Path) -> Iterator[storage_rs.Storage]:
    yield storage_rs.Storage(options_for(backend, tmp_path))

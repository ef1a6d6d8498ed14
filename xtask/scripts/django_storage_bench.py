"""`cargo xtask bench django`: storage_rs's RustStorage (the release wheel) against django-storages' S3Storage + boto3,
both as Django storages in ONE Django process on the same gateway; the 1 GiB save and read runs each storage in a
subprocess of its own (`large ours|django`), so each peak RSS is that storage's. Reads STORAGE_S3_* and BENCH_TOKEN,
prints one `key=value` line per phase, and deletes everything it stored (the gateway's store is shared)."""

import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import django
from django.conf import settings

settings.configure(USE_TZ=True)
django.setup()

import boto3  # noqa: E402
import botocore.config  # noqa: E402
from django.core.files.base import ContentFile, File  # noqa: E402
from storages.backends.s3 import S3Storage  # noqa: E402
from storage_rs.django import RustStorage  # noqa: E402

SMALL_FILES = 2_000
THREADS = 32
URLS = 20_000
LISTED_FILES = 19_000
LISTED_DIRS = 10
IN_EACH_DIR = 100
LARGE = 1 << 30
CHUNK = 1 << 20
ROUNDS = 3


def env(name):
    try:
        return os.environ[name]
    except KeyError:
        sys.exit(f"{name} is not set; run through `cargo xtask bench django`")


def prefix(what):
    return f"bench-django/{env('BENCH_TOKEN')}/{what}"


def ours(location):
    """RustStorage with its defaults (unique names, claimed by create-only writes)."""
    query = f"endpoint={env('STORAGE_S3_ENDPOINT')}&region={env('STORAGE_S3_REGION')}"
    return RustStorage(url=f"s3://{env('STORAGE_S3_BUCKET')}/{location}?{query}")


def theirs(location):
    """S3Storage with its defaults (overwriting), one boto3 connection per thread as in a Django app."""
    return S3Storage(
        bucket_name=env("STORAGE_S3_BUCKET"),
        endpoint_url=env("STORAGE_S3_ENDPOINT"),
        region_name=env("STORAGE_S3_REGION"),
        access_key=env("STORAGE_S3_ACCESS_KEY_ID"),
        secret_key=env("STORAGE_S3_SECRET_ACCESS_KEY"),
        addressing_style="path",
        signature_version="s3v4",
        location=location,
        querystring_expire=60,
        # A client_config replaces the one django-storages builds from signature_version and addressing_style, so
        # they are given here too (without them boto3 signs SigV2 and addresses virtual hosts).
        client_config=botocore.config.Config(
            max_pool_connections=THREADS, signature_version="s3v4", s3={"addressing_style": "path"}
        ),
    )


def bucket():
    return boto3.session.Session().resource(
        "s3",
        endpoint_url=env("STORAGE_S3_ENDPOINT"),
        region_name=env("STORAGE_S3_REGION"),
        aws_access_key_id=env("STORAGE_S3_ACCESS_KEY_ID"),
        aws_secret_access_key=env("STORAGE_S3_SECRET_ACCESS_KEY"),
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    ).Bucket(env("STORAGE_S3_BUCKET"))


def remove(location):
    """Delete everything under `location`, a thousand keys a request."""
    bucket().objects.filter(Prefix=f"{location}/").delete()


def ms(started):
    return (time.perf_counter() - started) * 1000


def small():
    """2,000 saves of 4 KiB through Storage.save from 32 threads, rounds interleaved so a gateway that slows as it
    fills favours neither storage."""
    data = b"\x5a" * 4096
    times = {"ours": [], "django": []}
    for round in range(ROUNDS):
        for side, make in (("ours", ours), ("django", theirs)):
            location = prefix(f"small/{side}-{round}")
            target = make(location)
            with ThreadPoolExecutor(THREADS) as pool:
                if side == "django":
                    # Each thread makes its own boto3 session and client on first use; warm them up, untimed.
                    list(pool.map(lambda i: target.connection, range(THREADS * 4)))
                started = time.perf_counter()
                names = list(pool.map(lambda i: target.save(f"{i:05}.bin", ContentFile(data)), range(SMALL_FILES)))
                times[side].append(ms(started))
            assert len(set(names)) == SMALL_FILES, side
            remove(location)
    print(
        f"small_files={SMALL_FILES} small_threads={THREADS} small_ours_ms={statistics.median(times['ours']):.1f} "
        f"small_django_ms={statistics.median(times['django']):.1f}"
    )


def presign():
    """Storage.url of a private file (a 60-second presigned GET) on one thread, the Python call included; and
    boto3's generate_presigned_url alone, for context."""
    rates = {"ours": [], "django": [], "boto3": []}
    ours_storage, their_storage = ours(prefix("presign")), theirs(prefix("presign"))
    client = their_storage.connection.meta.client
    params = {"Bucket": env("STORAGE_S3_BUCKET"), "Key": f"{prefix('presign')}/file.bin"}
    expires = timedelta(seconds=60)
    calls = {
        "ours": lambda: ours_storage.url("file.bin", expires=expires),
        "django": lambda: their_storage.url("file.bin"),
        "boto3": lambda: client.generate_presigned_url("get_object", Params=params, ExpiresIn=60),
    }
    assert "X-Amz-Signature=" in calls["ours"]() and "X-Amz-Signature=" in calls["django"]()
    for _ in range(ROUNDS):
        for side, call in calls.items():
            started = time.perf_counter()
            for _ in range(URLS):
                call()
            rates[side].append(URLS / (time.perf_counter() - started))
    print(" ".join(f"presign_{side}_per_s={statistics.median(rate):.0f}" for side, rate in rates.items()))


def listing():
    """listdir of a directory of 19,000 files and 10 subdirectories of 100 (written by RustStorage, overwriting,
    64 threads), by each storage."""
    location = prefix("list")
    writer = ours(location)
    names = [f"file-{i:05}.txt" for i in range(LISTED_FILES)]
    names += [f"dir-{d}/file-{i:03}.txt" for d in range(LISTED_DIRS) for i in range(IN_EACH_DIR)]
    with ThreadPoolExecutor(64) as pool:
        list(pool.map(lambda name: writer.save(name, ContentFile(b"x")), names))
    times = {"ours": [], "django": []}
    try:
        for _ in range(ROUNDS):
            for side, make in (("ours", ours), ("django", theirs)):
                target = make(location)
                started = time.perf_counter()
                dirs, files = target.listdir("")
                times[side].append(ms(started))
                assert (len(dirs), len(files)) == (LISTED_DIRS, LISTED_FILES), (side, len(dirs), len(files))
    finally:
        remove(location)
    print(
        f"listdir_files={LISTED_FILES} listdir_dirs={LISTED_DIRS} listdir_ours_ms={statistics.median(times['ours']):.0f} "
        f"listdir_django_ms={statistics.median(times['django']):.0f}"
    )


class Generated:
    """A file-like object of `size` bytes made as they are read (a 1 MiB block over and over), so the source itself
    holds nothing but what a read asks for."""

    def __init__(self, size):
        self.size, self.position = size, 0
        # The byte at a position is always the same: boto3 reads a part twice (its checksum, then the request).
        self.blocks = os.urandom(CHUNK)
        self.closed = False

    def readable(self):
        return True

    def seekable(self):
        return True

    def close(self):
        self.closed = True

    def read(self, size=-1):
        """Exactly `size` bytes (or what is left), as a file does: s3transfer sizes its parts by what it reads."""
        left = self.size - self.position
        size = left if size is None or size < 0 else min(size, left)
        out = bytearray()
        while len(out) < size:
            start = self.position % CHUNK
            taken = min(CHUNK - start, size - len(out))
            out += self.blocks[start : start + taken]
            self.position += taken
        return bytes(out)

    def seek(self, offset, whence=0):
        self.position = {0: offset, 1: self.position + offset, 2: self.size + offset}[whence]
        return self.position

    def tell(self):
        return self.position


def rss_kib():
    """The resident set now and its peak so far (VmRSS, VmHWM), in KiB."""
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


def large(side):
    """One storage's 1 GiB save through a file object and read back in 1 MiB chunks, in this process alone: the
    times, the resident set before, and the peak after (their difference is what the storage held)."""
    location = prefix(f"large/{side}")
    target = {"ours": ours, "django": theirs}[side](location)
    before, _ = rss_kib()
    try:
        started = time.perf_counter()
        name = target.save("large.bin", File(Generated(LARGE), name="large.bin"))
        save_ms = ms(started)
        started, read = time.perf_counter(), 0
        with target.open(name, "rb") as stored:
            while chunk := stored.read(CHUNK):
                read += len(chunk)
        read_ms = ms(started)
        assert read == LARGE, read
    finally:
        remove(location)
    _, peak = rss_kib()
    print(f"save_ms={save_ms:.0f} read_ms={read_ms:.0f} rss_before_kib={before} peak_kib={peak}")


def large_apart():
    """`large` for each storage in a subprocess of its own, one after the other (one 1 GiB object at a time)."""
    for side in ("ours", "django"):
        said = subprocess.run([sys.executable, __file__, "large", side], capture_output=True, text=True, check=False)
        if said.returncode != 0:
            sys.exit(f"the 1 GiB run of {side} failed: {said.stderr}")
        values = dict(pair.split("=") for pair in said.stdout.split() if "=" in pair)
        print(" ".join(f"large_{side}_{key}={value}" for key, value in values.items()))


if __name__ == "__main__":
    # Every phase in this one process, in order (`PHASE` alone to run one); `large SIDE` is the subprocess's part.
    phases = {"small": small, "presign": presign, "list": listing, "large": large_apart}
    if sys.argv[1:2] == ["large"] and len(sys.argv) == 3:
        large(sys.argv[2])
    elif len(sys.argv) == 1 or (len(sys.argv) == 2 and sys.argv[1] in phases):
        for phase in sys.argv[1:] or phases:
            phases[phase]()
            sys.stdout.flush()
    else:
        sys.exit(f"usage: django_storage_bench.py [{'|'.join(phases)}]")

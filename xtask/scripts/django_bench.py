"""The django-storages + boto3 side of `cargo xtask bench s3`: the same measurements as the Rust s3_bench example,
through django-storages' S3Storage (the seed's world), on the same gateway. Run by xtask in the virtualenv that
python-peer.sh makes; reads the STORAGE_S3_* settings and BENCH_TOKEN, prints one `key=value` line per phase."""

import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import django
from django.conf import settings

settings.configure()
django.setup()

import boto3  # noqa: E402
import botocore.config  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from storages.backends.s3 import S3Storage  # noqa: E402

SMALL_FILES = 2_000
THREADS = 32
URLS = 20_000
LISTED = 20_000
LISTED_IN_SUBDIRS = 1_000
CONTENDERS = 64
ROUNDS = 3


def env(name):
    try:
        return os.environ[name]
    except KeyError:
        sys.exit(f"{name} is not set; run through `cargo xtask bench s3`")


def storage(location, **options):
    return S3Storage(
        bucket_name=env("STORAGE_S3_BUCKET"),
        endpoint_url=env("STORAGE_S3_ENDPOINT"),
        region_name=env("STORAGE_S3_REGION"),
        access_key=env("STORAGE_S3_ACCESS_KEY_ID"),
        secret_key=env("STORAGE_S3_SECRET_ACCESS_KEY"),
        addressing_style="path",
        signature_version="s3v4",
        location=location,
        # One boto3 connection per thread, as many as the threads.
        client_config=botocore.config.Config(max_pool_connections=THREADS),
        **options,
    )


def run_prefix(what):
    return f"bench-{what}/{env('BENCH_TOKEN')}"


def ms(started):
    return (time.perf_counter() - started) * 1000


def small():
    """2,000 saves of 4 KiB through Storage.save from 32 threads (django-storages' defaults: overwriting)."""
    data = b"\x5a" * 4096
    times = []
    for round in range(ROUNDS):
        target = storage(f"{run_prefix('small')}/django-{round}")
        with ThreadPoolExecutor(THREADS) as pool:
            # Each thread makes its own boto3 session and client on first use, as in a Django app; warm them up.
            list(pool.map(lambda i: target.connection, range(THREADS * 4)))
            started = time.perf_counter()
            list(pool.map(lambda i: target.save(f"{i:05}.bin", ContentFile(data)), range(SMALL_FILES)))
            times.append(ms(started))
    print(f"small files={SMALL_FILES} threads={THREADS} django_ms={statistics.median(times):.1f}")


def presign():
    """boto3's generate_presigned_url, on one thread."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=env("STORAGE_S3_ENDPOINT"),
        region_name=env("STORAGE_S3_REGION"),
        aws_access_key_id=env("STORAGE_S3_ACCESS_KEY_ID"),
        aws_secret_access_key=env("STORAGE_S3_SECRET_ACCESS_KEY"),
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    params = {"Bucket": env("STORAGE_S3_BUCKET"), "Key": "bench/presign/file.bin"}
    rates = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(URLS):
            client.generate_presigned_url("get_object", Params=params, ExpiresIn=60)
        rates.append(URLS / (time.perf_counter() - started))
    print(f"presign urls={URLS} boto3_per_s={statistics.median(rates):.0f}")


def listing():
    """Listing the 20,000 objects the Rust side wrote (all, recursively, with boto3's paginator through the storage's
    bucket; then Storage.listdir of their directory)."""
    target = storage("bench-list/20000")
    list_times, listdir_times = [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        count = sum(1 for _ in target.bucket.objects.filter(Prefix="bench-list/20000/"))
        list_times.append(ms(started))
        assert count == LISTED, count
        started = time.perf_counter()
        dirs, files = target.listdir("")
        listdir_times.append(ms(started))
        assert (len(dirs), len(files)) == (10, LISTED - LISTED_IN_SUBDIRS), (len(dirs), len(files))
    print(
        f"list objects={LISTED} django_list_ms={statistics.median(list_times):.0f} "
        f"django_listdir_ms={statistics.median(listdir_times):.0f}"
    )


def contention():
    """64 threads save to one name without overwriting: get_available_name's exists-then-save loop."""
    data = b"\x42" * 4096
    times, kept = [], CONTENDERS
    for round in range(ROUNDS):
        target = storage(f"{run_prefix('contention')}-django/{round}", file_overwrite=False)
        with ThreadPoolExecutor(CONTENDERS) as pool:
            list(pool.map(lambda i: target.connection, range(CONTENDERS * 4)))
            started = time.perf_counter()
            names = list(pool.map(lambda i: target.save("report.txt", ContentFile(data)), range(CONTENDERS)))
            times.append(ms(started))
        assert len(names) == CONTENDERS
        kept = min(kept, len(target.listdir("")[1]))
    print(f"contention saves={CONTENDERS} rounds={ROUNDS} django_ms={statistics.median(times):.1f} django_kept={kept}")


if __name__ == "__main__":
    phases = {"small": small, "presign": presign, "list": listing, "contention": contention}
    phase = sys.argv[1] if len(sys.argv) > 1 else ""
    if phase not in phases:
        sys.exit(f"usage: django_bench.py {'|'.join(phases)}")
    phases[phase]()

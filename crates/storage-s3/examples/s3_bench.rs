//! Benchmark of the S3 backend against raw object_store on the same RGW, run by `cargo xtask bench s3` (which
//! starts the server, passes its `STORAGE_S3_*` settings and `BENCH_TOKEN`, and runs the Python peers the same way).
//! Each phase prints one `key=value` line.

#![allow(clippy::print_stdout, reason = "a benchmark prints its results")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreExt, path::Path};
use sha2::{Digest as _, Sha256};
use storage_core::{Content, Storage, UrlOptions};
use storage_s3::{S3Backend, S3Config};
use tokio::io::AsyncWriteExt as _;

const SMALL_FILES: usize = 2_000;
const IN_FLIGHT: usize = 32;
const URLS: usize = 200_000;
const LARGE_SIZE: u64 = 1 << 30;
const LISTED: usize = 20_000;
/// Of the listed objects, how many sit in subdirectories (the rest are directly in the listed directory).
const LISTED_IN_SUBDIRS: usize = 1_000;
const CONTENDERS: usize = 64;
const ROUNDS: usize = 3;

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; run through `cargo xtask bench s3`"))
}

fn config(location: &str) -> S3Config {
    S3Config::new(setting("STORAGE_S3_BUCKET"))
        .with_endpoint(setting("STORAGE_S3_ENDPOINT"))
        .with_region(setting("STORAGE_S3_REGION"))
        .with_credentials(setting("STORAGE_S3_ACCESS_KEY_ID"), setting("STORAGE_S3_SECRET_ACCESS_KEY"))
        .with_location(location)
}

async fn storage(location: &str) -> Storage {
    let backend = S3Backend::new(config(location)).unwrap();
    backend.create_bucket().await.unwrap();
    backend.storage()
}

fn raw_store() -> Arc<object_store::aws::AmazonS3> {
    let endpoint = setting("STORAGE_S3_ENDPOINT");
    Arc::new(
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(setting("STORAGE_S3_BUCKET"))
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint)
            .with_region(setting("STORAGE_S3_REGION"))
            .with_access_key_id(setting("STORAGE_S3_ACCESS_KEY_ID"))
            .with_secret_access_key(setting("STORAGE_S3_SECRET_ACCESS_KEY"))
            .build()
            .unwrap(),
    )
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Which client goes first in `round`: 0 (the storage API) and 1 (object_store) take turns, so neither always meets
/// the gateway's caches cold or warm.
fn in_turns(round: usize) -> [usize; 2] {
    [round % 2, 1 - round % 2]
}

fn milliseconds(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// Where this run writes: the token xtask gives each run, so runs never see each other's objects.
fn run_prefix(what: &str) -> String {
    format!("bench-{what}/{}", setting("BENCH_TOKEN"))
}

fn main() {
    let phase = std::env::args().nth(1).unwrap_or_default();
    if phase == "presign" {
        // One core: a single-threaded runtime.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        return runtime.block_on(presign());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    match phase.as_str() {
        "small" => runtime.block_on(small()),
        "large" => runtime.block_on(large()),
        "list" => runtime.block_on(list()),
        "contention" => runtime.block_on(contention()),
        "copy" => runtime.block_on(copy()),
        other => panic!("usage: s3_bench small|presign|large|list|contention|copy (got {other:?})"),
    }
}

/// 2,000 saves of 4 KiB, 32 in flight, through the storage API (unique names, its default, and overwriting) and
/// through object_store's `put` (create-only, as unique naming needs, and plain), alternating.
async fn small() {
    let data = Bytes::from(vec![0x5a; 4096]);
    let raw = raw_store();
    let mut times: [Vec<f64>; 4] = Default::default();
    for round in 0..ROUNDS {
        for (variant, times) in times.iter_mut().enumerate() {
            let prefix = format!("{}/{round}-{variant}", run_prefix("small"));
            let storage = storage(&prefix).await;
            let started = Instant::now();
            stream::iter(0..SMALL_FILES)
                .map(|i| {
                    let (storage, raw, data) = (storage.clone(), raw.clone(), data.clone());
                    let name = format!("{i:05}.bin");
                    let path = Path::from(format!("{prefix}/{name}"));
                    async move {
                        match variant {
                            0 => storage.save(&name, data).await.map(drop).map_err(|err| err.to_string()),
                            1 => storage
                                .save_with(&name, data, overwrite())
                                .await
                                .map(drop)
                                .map_err(|err| err.to_string()),
                            2 => raw
                                .put_opts(&path, data.into(), object_store::PutMode::Create.into())
                                .await
                                .map(drop)
                                .map_err(|err| err.to_string()),
                            _ => raw.put(&path, data.into()).await.map(drop).map_err(|err| err.to_string()),
                        }
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .try_collect::<Vec<_>>()
                .await
                .unwrap();
            times.push(milliseconds(started));
        }
    }
    let [unique, overwrite, raw_create, raw_put] = times.map(median);
    println!(
        "small files={SMALL_FILES} in_flight={IN_FLIGHT} api_ms={unique:.1} api_overwrite_ms={overwrite:.1} \
         raw_create_ms={raw_create:.1} raw_ms={raw_put:.1}"
    );
}

/// URLs per second on one thread through the storage API and through object_store's `signed_url`, and the cost of
/// the hashing one URL needs at the least: SHA-256 of a canonical request and HMAC-SHA256 of a string to sign of
/// the sizes this URL has, or five HMACs more when the derived key is not cached.
async fn presign() {
    let storage = S3Backend::new(config("bench/presign")).unwrap().storage();
    let raw = raw_store();
    let path = Path::from("bench/presign/file.bin");
    let expiry = Duration::from_secs(60);
    let (mut api, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..URLS {
            storage.temporary_url("file.bin", expiry, UrlOptions::get()).await.unwrap();
        }
        api.push(URLS as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        for _ in 0..URLS / 10 {
            raw.signed_url(http::Method::GET, &path, expiry).await.unwrap();
        }
        direct.push((URLS / 10) as f64 / started.elapsed().as_secs_f64());
    }

    let url = storage.temporary_url("file.bin", expiry, UrlOptions::get()).await.unwrap();
    let (base, query) = url.split_once('?').unwrap();
    let query = query.rsplit_once("&X-Amz-Signature=").unwrap().0;
    let path_and_host = base.split_once("://").unwrap().1;
    let (host, path) = path_and_host.split_once('/').unwrap();
    let canonical = format!("GET\n/{path}\n{query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD");
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n20261124T000000Z\n20261124/us-east-1/s3/aws4_request\n{}", "0".repeat(64));
    let key = [7u8; 32];
    let floor_ns = nanoseconds_each(|| {
        std::hint::black_box(Sha256::digest(std::hint::black_box(canonical.as_bytes())));
        std::hint::black_box(aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes()));
    });
    let derive_ns = nanoseconds_each(|| {
        let secret = std::hint::black_box("storage-test-secret-key-0123456789abcdef");
        let now = std::time::SystemTime::now();
        std::hint::black_box(aws_sigv4::sign::v4::generate_signing_key(secret, now, "us-east-1", "s3").as_ref()[0]);
    });
    let api_per_s = median(api);
    println!(
        "presign urls={URLS} api_per_s={api_per_s:.0} raw_per_s={:.0} api_ns={:.0} floor_ns={floor_ns:.0} derive_ns={derive_ns:.0} \
         canonical_bytes={}",
        median(direct),
        1e9 / api_per_s,
        canonical.len()
    );
}

fn nanoseconds_each(mut work: impl FnMut()) -> f64 {
    const TIMES: u32 = 200_000;
    let started = Instant::now();
    for _ in 0..TIMES {
        work();
    }
    started.elapsed().as_nanos() as f64 / f64::from(TIMES)
}

fn large_chunks() -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    stream::iter(0..LARGE_SIZE >> 20).map(|i| Ok(Bytes::from(vec![(i % 251) as u8; 1 << 20])))
}

/// Read a stream to its end; its length.
async fn drain<E: std::fmt::Debug>(mut stream: impl futures::Stream<Item = Result<Bytes, E>> + Unpin) -> u64 {
    let mut read = 0u64;
    while let Some(chunk) = stream.try_next().await.unwrap() {
        read += chunk.len() as u64;
    }
    read
}

/// A 1 GiB save through the storage API and through object_store's `BufWriter` (its defaults: 8 parts of 10 MiB in
/// flight), and reads of the same object through both. Peak RSS is taken after the storage API's first round,
/// before object_store's buffers count.
async fn large() {
    let storage = storage(&run_prefix("large")).await;
    let raw = raw_store();
    let raw_path = Path::from(format!("{}/raw.bin", run_prefix("large")));
    let (mut save_ms, mut read_ms, mut raw_save_ms, mut raw_read_ms) = (vec![], vec![], vec![], vec![]);
    let mut peak_rss = 0;
    for round in 0..ROUNDS {
        let started = Instant::now();
        storage.save("large.bin", Content::from_stream(large_chunks(), Some(LARGE_SIZE))).await.unwrap();
        save_ms.push(milliseconds(started));
        // Both read the same object, so only the clients differ; in turns first, so neither gains from a warm cache.
        let path = Path::from(format!("{}/large.bin", run_prefix("large")));
        for client in in_turns(round) {
            let started = Instant::now();
            if client == 0 {
                assert_eq!(drain(storage.open("large.bin").await.unwrap().stream).await, LARGE_SIZE);
                read_ms.push(milliseconds(started));
            } else {
                assert_eq!(drain(raw.get(&path).await.unwrap().into_stream()).await, LARGE_SIZE);
                raw_read_ms.push(milliseconds(started));
            }
        }
        storage.delete("large.bin").await.unwrap();
        if round == 0 {
            peak_rss = storage_conformance::peak_rss_kib();
        }

        let started = Instant::now();
        let mut writer = object_store::buffered::BufWriter::new(raw.clone() as Arc<dyn ObjectStore>, raw_path.clone());
        let mut chunks = std::pin::pin!(large_chunks());
        while let Some(chunk) = chunks.try_next().await.unwrap() {
            writer.put(chunk).await.unwrap();
        }
        writer.shutdown().await.unwrap();
        raw_save_ms.push(milliseconds(started));
        raw.delete(&raw_path).await.unwrap();
    }
    println!(
        "large save_ms={:.0} read_ms={:.0} raw_save_ms={:.0} raw_read_ms={:.0} peak_rss_kib={peak_rss}",
        median(save_ms),
        median(read_ms),
        median(raw_save_ms),
        median(raw_read_ms)
    );
}

/// The name of listed object `i`: most directly in the directory, some in ten subdirectories.
fn listed_name(i: usize) -> String {
    if i < LISTED_IN_SUBDIRS { format!("sub{}/{i:05}.txt", i % 10) } else { format!("{i:05}.txt") }
}

/// Listing 20,000 objects (recursively) and `listdir` of their directory, through the storage API and through
/// object_store (`list` and `list_with_delimiter`), alternating. The objects are written once per bucket.
async fn list() {
    let location = "bench-list/20000";
    let storage = storage(location).await;
    if storage.list("").try_collect::<Vec<_>>().await.unwrap().len() != LISTED {
        stream::iter(0..LISTED)
            .map(|i| {
                let storage = storage.clone();
                async move { storage.save_with(&listed_name(i), Bytes::from_static(b"x"), overwrite()).await }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
    }
    let raw = raw_store();
    let prefix = Path::from(location);
    let (mut list_ms, mut raw_list_ms, mut listdir_ms, mut raw_listdir_ms) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS + 1 {
        for client in in_turns(round) {
            let started = Instant::now();
            if client == 0 {
                assert_eq!(storage.list("").try_collect::<Vec<_>>().await.unwrap().len(), LISTED);
                list_ms.push(milliseconds(started));
                let started = Instant::now();
                let (dirs, files) = storage.listdir("").await.unwrap();
                assert_eq!((dirs.len(), files.len()), (10, LISTED - LISTED_IN_SUBDIRS));
                listdir_ms.push(milliseconds(started));
            } else {
                assert_eq!(raw.list(Some(&prefix)).try_collect::<Vec<_>>().await.unwrap().len(), LISTED);
                raw_list_ms.push(milliseconds(started));
                let started = Instant::now();
                let listing = raw.list_with_delimiter(Some(&prefix)).await.unwrap();
                assert_eq!((listing.common_prefixes.len(), listing.objects.len()), (10, LISTED - LISTED_IN_SUBDIRS));
                raw_listdir_ms.push(milliseconds(started));
            }
        }
    }
    println!(
        "list objects={LISTED} list_ms={:.0} raw_list_ms={:.0} listdir_ms={:.0} raw_listdir_ms={:.0}",
        median(list_ms),
        median(raw_list_ms),
        median(listdir_ms),
        median(raw_listdir_ms)
    );
}

fn overwrite() -> storage_core::SaveOptions {
    storage_core::SaveOptions::default().with_overwrite(storage_core::OverwritePolicy::Overwrite)
}

/// 64 concurrent saves to one name with unique naming (the default), into a fresh directory per round. xtask counts
/// the requests in the gateway's log; this reports the time and how many distinct objects were kept.
async fn contention() {
    let data = Bytes::from(vec![0x42; 4096]);
    let (mut times, mut kept) = (Vec::new(), usize::MAX);
    for round in 0..ROUNDS {
        let storage = storage(&format!("{}-ours/{round}", run_prefix("contention"))).await;
        let started = Instant::now();
        let names: Vec<String> = futures::future::try_join_all((0..CONTENDERS).map(|_| {
            let (storage, data) = (storage.clone(), data.clone());
            tokio::spawn(async move { storage.save("report.txt", data).await })
        }))
        .await
        .unwrap()
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
        times.push(milliseconds(started));
        assert_eq!(names.iter().collect::<std::collections::BTreeSet<_>>().len(), CONTENDERS);
        kept = kept.min(storage.list("").try_collect::<Vec<_>>().await.unwrap().len());
    }
    println!("contention saves={CONTENDERS} rounds={ROUNDS} ms={:.1} kept={kept}", median(times));
}

/// Bytes this process has read and written through system calls (sockets included), from `/proc/self/io`.
fn io_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines()
        .filter_map(|line| line.strip_prefix("rchar: ").or_else(|| line.strip_prefix("wchar: ")))
        .map(|value| value.trim().parse::<u64>().unwrap())
        .sum()
}

const COPY_SIZE: u64 = 256 << 20;

/// A create-only copy of a 256 MiB object (the storage's default unique-name copy) against object_store's `copy`
/// (an overwriting CopyObject), in turns; with the bytes that passed through this process during ours.
async fn copy() {
    let storage = storage(&run_prefix("copy")).await;
    let raw = raw_store();
    let chunks = stream::iter(0..COPY_SIZE >> 20).map(|i| Ok(Bytes::from(vec![(i % 251) as u8; 1 << 20])));
    storage.save("source.bin", Content::from_stream(chunks, Some(COPY_SIZE))).await.unwrap();
    let source = Path::from(format!("{}/source.bin", run_prefix("copy")));
    let (mut ours_ms, mut raw_ms, mut through) = (vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        for client in in_turns(round) {
            let started = Instant::now();
            if client == 0 {
                let before = io_bytes();
                let copied = storage.copy("source.bin", "copy.bin").await.unwrap();
                ours_ms.push(milliseconds(started));
                through.push((io_bytes() - before) as f64);
                storage.delete(&copied).await.unwrap();
            } else {
                let target = Path::from(format!("{}/raw-copy.bin", run_prefix("copy")));
                raw.copy(&source, &target).await.unwrap();
                raw_ms.push(milliseconds(started));
                raw.delete(&target).await.unwrap();
            }
        }
    }
    storage.delete("source.bin").await.unwrap();
    println!("copy ms={:.0} raw_ms={:.0} through_client_bytes={:.0}", median(ours_ms), median(raw_ms), median(through));
}

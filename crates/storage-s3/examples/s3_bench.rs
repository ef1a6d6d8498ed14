//! Benchmark of the S3 backend against raw object_store on the same RGW, run by `cargo xtask bench s3` (which
//! starts the server and passes its `STORAGE_S3_*` settings). Each phase prints one `key=value` line.

#![allow(clippy::print_stdout, reason = "a benchmark prints its results")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use object_store::signer::Signer;
use object_store::{ObjectStoreExt, PutPayload, path::Path};
use storage_core::{Content, UrlOptions};
use storage_s3::{S3Backend, S3Config};

const SMALL_FILES: usize = 2_000;
const IN_FLIGHT: usize = 32;
const URLS: usize = 20_000;
const LARGE_SIZE: u64 = 1 << 30;
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

fn raw_store() -> Arc<object_store::aws::AmazonS3> {
    Arc::new(
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(setting("STORAGE_S3_BUCKET"))
            .with_endpoint(setting("STORAGE_S3_ENDPOINT"))
            .with_region(setting("STORAGE_S3_REGION"))
            .with_access_key_id(setting("STORAGE_S3_ACCESS_KEY_ID"))
            .with_secret_access_key(setting("STORAGE_S3_SECRET_ACCESS_KEY"))
            .with_allow_http(true)
            .build()
            .unwrap(),
    )
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let phase = std::env::args().nth(1).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    match phase.as_str() {
        "small" => runtime.block_on(small()),
        "presign" => presign(&runtime),
        "large" => runtime.block_on(large()),
        other => panic!("usage: bench small|presign|large (got {other:?})"),
    }
}

async fn small() {
    let data = Bytes::from(vec![0x5a; 4096]);
    let raw = raw_store();
    let (mut api_ms, mut raw_ms) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let backend = S3Backend::new(config(&format!("bench/{round}-{}", std::process::id()))).unwrap();
        backend.create_bucket().await.unwrap();
        let storage = backend.storage();
        let started = Instant::now();
        stream::iter(0..SMALL_FILES)
            .map(|i| {
                let (storage, data) = (storage.clone(), data.clone());
                async move { storage.save(&format!("{i:05}.bin"), data).await }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        api_ms.push(started.elapsed().as_secs_f64() * 1000.0);

        let started = Instant::now();
        stream::iter(0..SMALL_FILES)
            .map(|i| {
                let (raw, data) = (raw.clone(), data.clone());
                let path = Path::from(format!("bench/raw-{round}-{}/{i:05}.bin", std::process::id()));
                async move { raw.put(&path, PutPayload::from(data)).await }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        raw_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "small files={SMALL_FILES} in_flight={IN_FLIGHT} api_ms={:.1} raw_ms={:.1}",
        median(api_ms),
        median(raw_ms)
    );
}

/// URLs per second on one thread, through the storage API and through object_store's `signed_url`.
fn presign(runtime: &tokio::runtime::Runtime) {
    let storage = S3Backend::new(config("bench/presign")).unwrap().storage();
    let raw = raw_store();
    let path = Path::from("bench/presign/file.bin");
    let (mut api, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        runtime.block_on(async {
            for _ in 0..URLS {
                storage.temporary_url("file.bin", Duration::from_secs(60), UrlOptions::get()).await.unwrap();
            }
        });
        api.push(URLS as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        runtime.block_on(async {
            for _ in 0..URLS {
                raw.signed_url(http::Method::GET, &path, Duration::from_secs(60)).await.unwrap();
            }
        });
        direct.push(URLS as f64 / started.elapsed().as_secs_f64());
    }
    println!("presign urls={URLS} api_per_s={:.0} raw_per_s={:.0}", median(api), median(direct));
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn large() {
    let backend = S3Backend::new(config(&format!("bench/large-{}", std::process::id()))).unwrap();
    backend.create_bucket().await.unwrap();
    let storage = backend.storage();
    let chunks = stream::iter(0..LARGE_SIZE >> 20).map(|i| Ok(Bytes::from(vec![(i % 251) as u8; 1 << 20])));
    let started = Instant::now();
    storage.save("large.bin", Content::from_stream(chunks, Some(LARGE_SIZE))).await.unwrap();
    let save_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let mut read = 0u64;
    let mut stream = storage.open("large.bin").await.unwrap().stream;
    while let Some(chunk) = stream.try_next().await.unwrap() {
        read += chunk.len() as u64;
    }
    assert_eq!(read, LARGE_SIZE);
    let read_ms = started.elapsed().as_secs_f64() * 1000.0;
    storage.delete("large.bin").await.unwrap();
    println!("large save_ms={save_ms:.0} read_ms={read_ms:.0} peak_rss_kib={}", peak_rss_kib());
}

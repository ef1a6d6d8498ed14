//! Benchmark of the fs backend, run by `cargo xtask bench fs`: small saves against raw `std::fs`, and the peak
//! memory of a 1 GiB streamed save and read. Each phase prints one `key=value` line for xtask to read.

#![allow(clippy::print_stdout, reason = "a benchmark prints its results")]

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use storage_core::{Content, OverwritePolicy, Storage};
use storage_fs::FsBackend;

const SMALL_FILES: usize = 10_000;
const SMALL_SIZE: usize = 4 * 1024;
const LARGE_SIZE: u64 = 1 << 30;
const CHUNK: usize = 1 << 20;

fn main() {
    let phase = std::env::args().nth(1).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    match phase.as_str() {
        "small" => runtime.block_on(small()),
        "large" => runtime.block_on(large()),
        other => panic!("usage: bench small|large (got {other:?})"),
    }
}

fn raw(dir: &std::path::Path, data: &[u8]) -> Duration {
    std::fs::create_dir_all(dir.join("raw")).unwrap();
    let started = Instant::now();
    for i in 0..SMALL_FILES {
        let temp = dir.join(format!("raw/.tmp-{i:05}"));
        std::fs::write(&temp, data).unwrap();
        std::fs::rename(&temp, dir.join(format!("raw/{i:05}.bin"))).unwrap();
    }
    started.elapsed()
}

async fn api(storage: &Storage, prefix: &str, data: &Bytes, in_flight: usize) -> Duration {
    let started = Instant::now();
    stream::iter(0..SMALL_FILES)
        .map(|i| {
            let (storage, data) = (storage.clone(), data.clone());
            async move { storage.save(&format!("{prefix}/{i:05}.bin"), data).await }
        })
        .buffer_unordered(in_flight)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    started.elapsed()
}

/// Interleaved rounds, so a disk stall (common on shared machines) hits both sides alike; medians are reported.
const ROUNDS: usize = 5;

async fn small() {
    let base = std::env::var("BENCH_DIR").unwrap_or_else(|_| "target".into());
    std::fs::create_dir_all(&base).unwrap();
    let data = Bytes::from(vec![0x5a; SMALL_SIZE]);
    let (mut raw_times, mut unique, mut overwrite) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir_in(&base).unwrap();
        let storage = FsBackend::new(dir.path().join("api")).unwrap().storage();
        // Rotate the order and flush the disk before each phase, so no side inherits the other's writeback.
        for phase in (0..3).map(|i| (i + round) % 3) {
            flush_disk();
            match phase {
                0 => raw_times.push(raw(dir.path(), &data)),
                1 => unique.push(api(&storage, "unique", &data, 1).await),
                _ => overwrite.push(
                    api(&storage.clone().with_overwrite(OverwritePolicy::Overwrite), "overwrite", &data, 1).await,
                ),
            }
        }
    }
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2].as_secs_f64() * 1000.0
    };
    println!(
        "small files={SMALL_FILES} rounds={ROUNDS} raw_ms={:.1} unique_ms={:.1} overwrite_ms={:.1}",
        median(raw_times),
        median(unique),
        median(overwrite)
    );
}

fn flush_disk() {
    let _ = std::process::Command::new("sync").status();
}

async fn large() {
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "target".into())).unwrap();
    let storage = FsBackend::new(dir.path()).unwrap().storage();
    let baseline = storage_conformance::peak_rss_kib();
    let chunks = stream::iter(0..LARGE_SIZE / CHUNK as u64).map(|i| Ok(Bytes::from(vec![(i % 251) as u8; CHUNK])));
    let started = Instant::now();
    storage.save("large.bin", Content::from_stream(chunks, Some(LARGE_SIZE))).await.unwrap();
    let saved = started.elapsed();
    let started = Instant::now();
    let mut read = 0u64;
    let mut stream = storage.open("large.bin").await.unwrap().stream;
    while let Some(chunk) = stream.try_next().await.unwrap() {
        read += chunk.len() as u64;
    }
    assert_eq!(read, LARGE_SIZE);
    println!(
        "large save_ms={:.0} read_ms={:.0} peak_rss_kib={} baseline_rss_kib={baseline}",
        saved.as_secs_f64() * 1000.0,
        started.elapsed().as_secs_f64() * 1000.0,
        storage_conformance::peak_rss_kib()
    );
}

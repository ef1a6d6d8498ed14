//! Progress on a terminal, the first Ctrl-C, standard input as a stream, and the JSON of a migration report.

use std::io::IsTerminal as _;

use futures::TryStreamExt;
use serde_json::json;
use storage_core::Content;
use storage_migrate::MigrationReport;

/// Transfers larger than this show a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 4 << 20;

/// The first Ctrl-C lets the transfers in flight finish (every write is atomic, so stopping anywhere is safe; this
/// only saves redoing them); the second quits at once.
pub fn stop_on_ctrl_c(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            eprintln!("storage: stopping after the transfers in flight; Ctrl-C again to quit now");
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(130);
        }
    });
}

pub fn migrate_progress() -> Option<indicatif::ProgressBar> {
    watching().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("[{bar:30}] {msg} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        {
            bar.set_style(style);
        }
        bar
    })
}

pub fn report_json(report: &MigrationReport) -> serde_json::Value {
    let failed: Vec<_> =
        report.failed.iter().map(|failure| json!({ "key": failure.key, "reason": failure.reason })).collect();
    let mut json = json!({
        "copied": report.copied,
        "skipped": report.skipped,
        "verified": report.verified,
        "deleted": report.deleted,
        "kept_changed": report.changed,
        "kept_differing": report.differing,
        "failed": failed,
        "bytes_copied": report.bytes_copied,
        "elapsed_seconds": report.elapsed.as_secs_f64(),
        "dry_run": report.dry_run,
        "interrupted": report.interrupted,
    });
    if report.dry_run {
        json["would_copy"] = json!(report.would_copy);
    }
    json
}

/// Whether a person is watching: progress bars only then, never in pipes or logs.
fn watching() -> bool {
    std::io::stderr().is_terminal() && std::io::stdout().is_terminal()
}

/// A progress bar over several files, when a person is watching.
pub fn files_progress(count: usize) -> Option<indicatif::ProgressBar> {
    (watching() && count > 1).then(|| {
        let bar = indicatif::ProgressBar::new(count as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("[{bar:30}] {pos}/{len} files") {
            bar.set_style(style);
        }
        bar
    })
}

/// A progress bar on standard error for large transfers, when a person is watching.
pub fn with_progress(content: Content, size: Option<u64>, label: &str) -> Content {
    let Some(size) = size.filter(|size| watching() && *size > PROGRESS_THRESHOLD) else {
        return content;
    };
    let bar = indicatif::ProgressBar::new(size).with_message(label.to_owned());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    let stream = futures::stream::once(async move { content.into_stream().await })
        .try_flatten()
        .inspect_ok(move |chunk| bar.inc(chunk.len() as u64));
    Content::from_stream(stream, Some(size))
}

/// Standard input as a stream of chunks.
pub fn stdin_stream(
    reader: impl tokio::io::AsyncRead + Send + 'static,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    futures::stream::unfold(Box::pin(reader), |mut reader| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match tokio::io::AsyncReadExt::read(&mut reader, &mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), reader))
            }
            Err(err) => Some((Err(err), reader)),
        }
    })
}

//! The commands that serve a disk or memory storage's signed URLs: `serve` and `share`.

use std::path::Path;
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::json;
use storage_config::{Built, DEFAULT_BASE_URL};
use storage_core::{Content, ListEntry, ListOptions, UrlOptions};

use super::{file_name, local_size, storage_io_of};
use crate::Result;
use crate::context::Context;
use crate::error::CliError;
use crate::output::{Output, short_duration};
use crate::progress::with_progress;

/// `serve`: the default storage's signed URLs, on `listen` or its base URL's host and port.
pub(crate) async fn serve(context: &Context, serve_for: Option<Duration>, listen: Option<&str>) -> Result<()> {
    let (built, listener) = context.served(listen).await?;
    serve_signed_urls(built, listener, serve_for).await
}

/// Serve the storage's signed URLs on `listener` until `duration` has passed or Ctrl-C.
async fn serve_signed_urls(built: Built, listener: tokio::net::TcpListener, duration: Option<Duration>) -> Result<()> {
    let signer = built
        .signer()?
        .ok_or_else(|| CliError::Usage("only disk and memory storages are served; S3 serves its own URLs".into()))?;
    let bound = listener.local_addr().map_err(|err| CliError::local("the listener", "has no address", Some(err)))?;
    eprintln!(
        "storage: serving {} on http://{bound}/ (Ctrl-C to stop)",
        if signer.base_url() == DEFAULT_BASE_URL { "the default storage" } else { signer.base_url() }
    );
    let app = axum::Router::new().fallback_service(storage_http::SignedUrlService::new(built.storage, signer));
    let stop = async move {
        match duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    storage_http::Server::default().serve(listener, app, stop).await;
    Ok(())
}

pub(crate) async fn share(
    context: &Context,
    local: &Path,
    expires: Duration,
    serve_for: Option<Duration>,
    listen: Option<&str>,
) -> Result<()> {
    // Everything that can fail before a file is stored is checked first: the file, the port, the expiry.
    let name = file_name(local)?;
    let size = local_size(local)?;
    let (built, listener) = context.served(listen).await?;
    let private = built.storage.clone().private(expires);
    let wanted = format!("shared/{name}");
    // Where a file keeps no ACL of its own, the storage's declaration decides, before anything is stored.
    if !built.storage.capabilities().acl && built.storage.is_public(&wanted).await? {
        return Err(CliError::Usage(
            "this storage serves every file publicly (`public = true`, or a public-read `acl`, on a disk without \
             ACLs), so a shared file would be readable without its link; share from a storage that keeps files \
             private"
                .into(),
        ));
    }
    private.temporary_url(&wanted, expires, UrlOptions::get()).await?;
    let (stored, fresh) = match earlier_copy(&built.storage, &wanted, local, size).await? {
        Some(earlier) => (earlier, Fresh::Reused),
        None => {
            let content = with_progress(Content::from_path(local), Some(size), &name);
            (private.save(&wanted, content).await?, Fresh::Stored)
        }
    };
    let issued = chrono::Utc::now();
    let link = match private.temporary_url(&stored, expires, UrlOptions::get().with_download_name(&name)).await {
        Ok(link) => link,
        Err(err) => {
            if fresh == Fresh::Stored {
                // Nothing is left behind by a share that printed no link; the first error is the one to report.
                let _ = built.storage.delete(&stored).await;
            }
            return Err(err.into());
        }
    };
    let expires_at = issued + chrono::Duration::from_std(expires).unwrap_or(chrono::Duration::MAX);
    context.output.print(
        &link,
        json!({
            "name": stored, "url": link, "expires_in": expires.as_secs(), "expires_at": expires_at.to_rfc3339(),
        }),
    );
    if context.output == Output::Text {
        eprintln!(
            "storage: expires at {} (in {})",
            expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
            short_duration(expires)
        );
    }
    serve_signed_urls(built, listener, serve_for).await
}

/// Whether `share` stored the file now or found it stored already.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fresh {
    Stored,
    Reused,
}

/// A file `share` stored earlier under `wanted` (or its unique alternatives) with the bytes of `local`, if any.
async fn earlier_copy(
    storage: &storage_core::Storage,
    wanted: &str,
    local: &Path,
    size: u64,
) -> Result<Option<String>> {
    let Some((stem, extension)) = split_name(wanted) else { return Ok(None) };
    let local_md5 = md5_of_stream(
        Content::from_path(local)
            .into_stream()
            .await
            .map_err(|err| CliError::local(local.display(), "cannot read it", Some(err)))?,
    )
    .await
    .map_err(|err| CliError::local(local.display(), "cannot read it", Some(err)))?;
    let mut listed = storage.list_entries(ListOptions::new(stem.clone()));
    while let Some(entry) = listed.try_next().await? {
        let ListEntry::Object(meta) = entry else { continue };
        let alternative = meta.key.strip_prefix(stem.as_str()).and_then(|rest| rest.strip_suffix(extension.as_str()));
        let same_name = alternative.is_some_and(|rest| rest.is_empty() || rest.starts_with('_'));
        if !same_name || meta.size != size {
            continue;
        }
        let stored = storage.open(&meta.key).await?;
        let stored_md5 = md5_of_stream(stored.stream).await.map_err(|err| storage_io_of(storage, &meta.key, err))?;
        if stored_md5 == local_md5 {
            return Ok(Some(meta.key));
        }
    }
    Ok(None)
}

/// `shared/report.pdf` as `shared/report` and `.pdf`, the parts a unique alternative name keeps.
fn split_name(name: &str) -> Option<(String, String)> {
    let file = name.rsplit('/').next()?;
    let extension = file.find('.').filter(|&at| at > 0).map_or("", |at| &file[at..]);
    Some((name[..name.len() - extension.len()].to_owned(), extension.to_owned()))
}

async fn md5_of_stream(mut stream: storage_core::ByteStream) -> std::io::Result<[u8; 16]> {
    use md5::Digest as _;
    let mut hasher = md5::Md5::new();
    while let Some(chunk) = stream.try_next().await? {
        hasher.update(&chunk);
    }
    Ok(hasher.finalize().into())
}

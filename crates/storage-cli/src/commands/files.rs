//! The commands on single files: `put`, `get`, `ls`, `stat` and `rm`.

use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use serde_json::json;
use storage_config::Built;
use storage_core::{Acl, Content, ListEntry, ListOptions, SaveOptions};

use super::{file_name, local_size, storage_io};
use crate::Result;
use crate::args::{LsArgs, PutArgs};
use crate::context::Context;
use crate::error::CliError;
use crate::output::{Output, say_once_per_session};
use crate::progress::{files_progress, stdin_stream, with_progress};

pub(crate) async fn put(context: &Context, args: PutArgs) -> Result<()> {
    let target = match &args.name {
        Some(name) => name.clone(),
        None if args.local == "-" => return Err(CliError::Usage("name the file to store standard input under".into())),
        None => file_name(Path::new(&args.local))?,
    };
    let (built, name) = context.locate(&target)?;
    let (content, size) = if args.local == "-" {
        (Content::from_stream(stdin_stream(tokio::io::stdin()), None), None)
    } else {
        let size = local_size(Path::new(&args.local))?;
        (Content::from_path(&args.local), Some(size))
    };
    let mut options = SaveOptions::default();
    if let Some(acl) = args.acl() {
        options = options.with_acl(acl);
    }
    if let Some(content_type) = args.content_type.clone() {
        options = options.with_content_type(content_type);
    }
    if let Some(policy) = args.policy() {
        options = options.with_overwrite(policy);
    }
    let stored = built.storage.save_with(&name, with_progress(content, size, &name), options).await?;
    context.output.print(&stored, json!({ "name": stored }));
    if context.uses_only_the_embedded_default() && !args.acl().is_some_and(Acl::is_public_read) {
        say_once_per_session("put-private", "stored privately; `storage url NAME --expires 10m` gives a link");
    }
    Ok(())
}

pub(crate) async fn get(context: &Context, spec: &str, local: Option<&str>) -> Result<()> {
    let (built, name) = context.locate(spec)?;
    let reader = built.storage.open(&name).await?;
    let size = reader.metadata.size();
    if local == Some("-") {
        let mut stdout = tokio::io::stdout();
        let failed = |err| CliError::local("-", "cannot write to standard output", Some(err));
        let mut stream = reader.stream;
        while let Some(chunk) = stream.try_next().await.map_err(|err| storage_io(&built, &name, err))? {
            tokio::io::AsyncWriteExt::write_all(&mut stdout, &chunk).await.map_err(failed)?;
        }
        return tokio::io::AsyncWriteExt::flush(&mut stdout).await.map_err(failed);
    }
    let path = match local {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(file_name(Path::new(&name))?),
    };
    write_atomically(&path, &built, reader.stream, size, &name).await?;
    context.output.print_json(json!({ "name": name, "path": path, "size": size }));
    Ok(())
}

pub(crate) async fn ls(context: &Context, args: LsArgs) -> Result<()> {
    let built = context.storage(None)?;
    let mut prefix = args.prefix.unwrap_or_default();
    if !args.recursive && !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    let mut entries = built.storage.list_entries(ListOptions::new(prefix).with_delimiter(!args.recursive));
    while let Some(entry) = entries.try_next().await? {
        match entry {
            ListEntry::Prefix(dir) => context.output.print(&dir, json!({ "dir": dir })),
            ListEntry::Object(meta) if args.long => context.output.print(
                format!("{:>12}  {}  {}", meta.size, meta.last_modified.format("%Y-%m-%d %H:%M:%S"), meta.key),
                json!({ "name": meta.key, "size": meta.size, "modified": meta.last_modified.to_rfc3339() }),
            ),
            ListEntry::Object(meta) => context.output.print(&meta.key, json!({ "name": meta.key, "size": meta.size })),
        }
    }
    Ok(())
}

pub(crate) async fn stat(context: &Context, spec: &str) -> Result<()> {
    let (built, name) = context.locate(spec)?;
    let metadata = built.storage.metadata(&name).await?;
    let acl = built.storage.acl(&name).await.ok().map(|acl| acl.to_string());
    let a = &metadata.attributes;
    let value = json!({
        "name": name, "size": metadata.size(), "modified": metadata.meta.last_modified.to_rfc3339(),
        "etag": metadata.meta.etag, "content_type": a.content_type, "cache_control": a.cache_control,
        "content_disposition": a.content_disposition, "content_encoding": a.content_encoding,
        "content_language": a.content_language, "metadata": a.metadata, "acl": acl,
    });
    let mut text =
        format!("name: {name}\nsize: {}\nmodified: {}", metadata.size(), metadata.meta.last_modified.to_rfc3339());
    for (label, value) in [
        ("content-type", &a.content_type),
        ("cache-control", &a.cache_control),
        ("content-disposition", &a.content_disposition),
        ("content-encoding", &a.content_encoding),
        ("acl", &acl),
    ] {
        if let Some(value) = value {
            text.push_str(&format!("\n{label}: {value}"));
        }
    }
    for (key, value) in &a.metadata {
        text.push_str(&format!("\nmeta-{key}: {value}"));
    }
    context.output.print(text, value);
    Ok(())
}

pub(crate) async fn rm(context: &Context, specs: &[String]) -> Result<()> {
    let bar = files_progress(specs.len());
    for spec in specs {
        let (built, name) = context.locate(spec)?;
        // Asked first, since a delete of a missing file succeeds: a typo is said, not hidden.
        let existed = built.storage.exists(&name).await?;
        built.storage.delete(&name).await?;
        context.output.print_json(json!({ "deleted": name, "existed": existed }));
        if context.output == Output::Text && !existed {
            eprintln!("storage: `{name}` did not exist; nothing deleted");
        }
        bar.as_ref().inspect(|bar| bar.inc(1));
    }
    Ok(())
}

/// Write a stream to `path` through a temporary file beside it, so a failure leaves nothing under `path`.
async fn write_atomically(
    path: &Path,
    built: &Built,
    stream: storage_core::ByteStream,
    size: u64,
    name: &str,
) -> Result<()> {
    let local = |err: std::io::Error| CliError::local(path.display(), "cannot write it", Some(err));
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(dir).map_err(local)?;
    let mut file = tokio::fs::File::create(temp.path()).await.map_err(local)?;
    let content = with_progress(Content::from_stream(stream, Some(size)), Some(size), name);
    let mut stream = content.into_stream().await.map_err(|err| storage_io(built, name, err))?;
    while let Some(chunk) = stream.try_next().await.map_err(|err| storage_io(built, name, err))? {
        tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await.map_err(local)?;
    }
    tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(local)?;
    temp.persist(path).map_err(|err| local(err.error))?;
    Ok(())
}

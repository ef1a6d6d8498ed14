//! The commands that move bytes between names and storages: `cp`, `mv` and `migrate`.

use futures::StreamExt as _;
use serde_json::json;
use storage_config::Built;
use storage_migrate::{Checkpoints, MigrateOptions};

use crate::Result;
use crate::args::{MigrateAction, MigrateArgs, MigrateStatusArgs, Transfer};
use crate::context::Context;
use crate::error::CliError;
use crate::progress::{migrate_progress, report_json, stop_on_ctrl_c};

/// `cp`: within a storage its own copy (server-side where the backend can); between storages
/// [`storage_core::Storage::copy_to`], which streams the bytes with their attributes and ACL.
pub(crate) async fn copy(context: &Context, transfer: &Transfer) -> Result<()> {
    let ((from, from_name), (to, to_name)) = (context.locate(&transfer.source)?, context.locate(&transfer.target)?);
    let stored = if same_storage(context, transfer, &from, &to) {
        to.storage.copy(&from_name, &to_name).await?
    } else {
        from.storage.copy_to(&from_name, &to.storage, &to_name).await?
    };
    context.output.print(&stored, json!({ "name": stored }));
    Ok(())
}

/// `mv`: within a storage its own rename; between storages a copy, then the source is deleted.
pub(crate) async fn move_file(context: &Context, transfer: &Transfer) -> Result<()> {
    let ((from, from_name), (to, to_name)) = (context.locate(&transfer.source)?, context.locate(&transfer.target)?);
    let stored = if same_storage(context, transfer, &from, &to) {
        to.storage.rename(&from_name, &to_name).await?
    } else {
        let stored = from.storage.copy_to(&from_name, &to.storage, &to_name).await?;
        from.storage.delete(&from_name).await?;
        stored
    };
    context.output.print(&stored, json!({ "name": stored }));
    Ok(())
}

/// Whether both names of a transfer are in one storage: one backend, or the same storage named on both sides.
fn same_storage(context: &Context, transfer: &Transfer, from: &Built, to: &Built) -> bool {
    let storage_of = |spec: &str| {
        spec.split_once(':').filter(|(s, _)| context.is_storage_name(s)).map_or("default", |(s, _)| s).to_owned()
    };
    std::sync::Arc::ptr_eq(from.storage.backend(), to.storage.backend())
        || storage_of(&transfer.source) == storage_of(&transfer.target)
}

pub(crate) async fn migrate(context: &Context, args: MigrateArgs) -> Result<()> {
    if let Some(MigrateAction::Status(status)) = args.action {
        return migrate_status(context, status).await;
    }
    let (Some(from), Some(to)) = (&args.from, &args.to) else {
        return Err(CliError::Usage("give FROM and TO: `storage migrate FROM TO`".into()));
    };
    let (from, to) = (context.storage(Some(from))?.storage, context.storage(Some(to))?.storage);
    let mut options = MigrateOptions::default()
        .with_prefix(args.prefix)
        .with_concurrency(args.concurrency)
        .with_verify(args.verify)
        .with_dry_run(args.dry_run)
        .with_delete_source(args.delete_source)
        .with_live(args.live)
        .with_shard(args.shard);
    if let Some(job) = &args.job {
        let checkpoints = Checkpoints::new(job)?.with_prefix(&args.checkpoint_prefix).with_every(args.checkpoint_every);
        options = options.with_checkpoints(checkpoints);
    }
    stop_on_ctrl_c(options.stop.clone());
    let bar = migrate_progress();
    let show = |progress: storage_migrate::Progress| {
        if let Some(bar) = &bar {
            bar.set_length(progress.bytes_total);
            bar.set_position(progress.bytes_done);
            bar.set_message(format!("{}/{} files", progress.objects_done, progress.objects_total));
        }
    };
    let names = match (&args.from_list, &args.from_inventory) {
        (Some(list), _) => Some(names_in(list).await?),
        (None, Some(manifest)) => {
            let (inventory, manifest) = context.locate(manifest)?;
            Some(storage_migrate::names_from_inventory(&inventory.storage, &manifest).await?.boxed())
        }
        (None, None) => None,
    };
    let report = match names {
        None => storage_migrate::migrate(&from, &to, &options, &show).await?,
        Some(names) => storage_migrate::migrate_names(&from, &to, names, &options, &show).await?,
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    context.output.print(&report, report_json(&report));
    match (report.is_complete(), report.failed.len()) {
        (true, _) => Ok(()),
        (false, 0) => Err(CliError::Incomplete("interrupted; run the same command again to resume".into())),
        (false, failed) => {
            Err(CliError::Incomplete(format!("{failed} files failed; run the same command again to retry them")))
        }
    }
}

/// `storage migrate status JOB`: every shard's latest record, merged; an error while the job is not complete.
async fn migrate_status(context: &Context, args: MigrateStatusArgs) -> Result<()> {
    let target = context.storage(args.to.as_deref())?.storage;
    let status = storage_migrate::job_status(&target, &args.job, &args.checkpoint_prefix, args.stale_after).await?;
    let json = serde_json::to_value(&status).unwrap_or_default();
    context.output.print(&status, json);
    if status.complete {
        return Ok(());
    }
    Err(CliError::Incomplete(format!("job `{}` is not complete; start the missing or stale shards again", args.job)))
}

/// The names of `--from-list FILE`, or of standard input for `-`, streamed a line at a time.
async fn names_in(list: &std::path::Path) -> Result<futures::stream::BoxStream<'static, storage_core::Result<String>>> {
    if list == std::path::Path::new("-") {
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        return Ok(storage_migrate::names_from_list(stdin, "standard input").boxed());
    }
    let file = tokio::fs::File::open(list).await.map_err(|err| {
        storage_core::Error::invalid_argument(None, format!("--from-list `{}` cannot be read: {err}", list.display()))
    })?;
    let origin = format!("--from-list `{}`", list.display());
    Ok(storage_migrate::names_from_list(tokio::io::BufReader::new(file), &origin).boxed())
}

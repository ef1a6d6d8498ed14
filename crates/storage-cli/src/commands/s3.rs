//! The commands for what only S3 has: `gc` (placeholders of interrupted saves) and `s3 policy`.

use std::time::Duration;

use serde_json::json;
use storage_s3::AclActions;

use crate::Result;
use crate::args::PolicyArgs;
use crate::context::Context;
use crate::error::CliError;

pub(crate) async fn gc(context: &Context, older_than: Duration) -> Result<()> {
    let built = context.storage(None)?;
    let removed = match &built.s3 {
        Some(s3) => s3.remove_placeholders(older_than).await?,
        None => Vec::new(),
    };
    let text = removed.iter().map(|key| format!("removed placeholder `{key}`\n")).collect::<String>()
        + &format!("{} placeholders removed", removed.len());
    context.output.print(text, json!({ "removed": removed }));
    Ok(())
}

pub(crate) fn s3_policy(context: &Context, args: PolicyArgs) -> Result<()> {
    let (name, config) = context.storage_config(None)?;
    let (configured_bucket, location, acls) = match &config.backend {
        storage_config::BackendConfig::S3(s3) => {
            let acls = if s3.acls { AclActions::Granted } else { AclActions::Omitted };
            (Some(s3.bucket.clone()), s3.location.as_deref(), acls)
        }
        _ => (None, None, AclActions::Granted),
    };
    let bucket = match args.bucket.or(configured_bucket) {
        Some(bucket) => bucket,
        None => return Err(CliError::Usage(format!("storage `{name}` names no bucket: pass --bucket"))),
    };
    let policy = match &args.public_prefix {
        Some(prefix) => storage_s3::public_prefix_policy(&bucket, prefix)?,
        None => storage_s3::iam_policy(&bucket, location.unwrap_or(""), acls),
    };
    // The policy is JSON either way.
    println!("{policy}");
    Ok(())
}

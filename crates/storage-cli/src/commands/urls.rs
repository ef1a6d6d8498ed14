//! The commands that hand out links: `url` and `upload-url`.

use serde_json::json;
use storage_config::Built;
use storage_core::UrlOptions;

use crate::Result;
use crate::args::{UploadUrlArgs, UrlArgs, UrlMethod};
use crate::context::Context;
use crate::error::CliError;
use crate::output::pairs;

pub(crate) async fn url(context: &Context, args: UrlArgs) -> Result<()> {
    let (built, name) = context.locate(&args.name)?;
    let method = args.method;
    let url = match (args.expires, args.method, args.download_name, args.content_type) {
        (None, UrlMethod::Get, None, None) => plain_or_signed_url(&built, &name).await?,
        (expires, method, download_name, content_type) => {
            let mut options = match (method, content_type) {
                (UrlMethod::Get, None) => UrlOptions::get(),
                (UrlMethod::Get, Some(content_type)) => UrlOptions::get().with_response_content_type(content_type),
                (UrlMethod::Put, None) => UrlOptions::put(),
                (UrlMethod::Put, Some(content_type)) => UrlOptions::put().with_content_type(content_type),
            };
            if let Some(download_name) = download_name {
                options = options.with_download_name(download_name);
            }
            let expires = expires.unwrap_or(storage_core::DEFAULT_EXPIRY);
            built.storage.temporary_url(&name, expires, options).await?
        }
    };
    // Checked after the link is made, so wrong usage (an expiry too long) is said first: a link to nothing would
    // only fail later, in someone else's browser.
    if method == UrlMethod::Get && !built.storage.exists(&name).await? {
        let backend = built.storage.backend().name();
        return Err(storage_core::Error::not_found(backend, &name).during(storage_core::Operation::Url).into());
    }
    context.output.print(&url, json!({ "url": url }));
    Ok(())
}

/// The URL of `name` that works: its plain URL when anyone may read it there, else a link signed for the storage's
/// default expiry, so `url` never prints a link that answers 403.
async fn plain_or_signed_url(built: &Built, name: &str) -> Result<String> {
    let storage = &built.storage;
    let signed_anyway = matches!(storage.options().url_policy, storage_core::UrlPolicy::Public)
        && storage.capabilities().presign_read
        // Asked for the URL, not the ACL: a missing file is reported as the `url` it was.
        && !storage.is_public(name).await.map_err(|err| err.during(storage_core::Operation::Url))?;
    if signed_anyway {
        return Ok(storage.temporary_url(name, storage_core::DEFAULT_EXPIRY, UrlOptions::get()).await?);
    }
    Ok(storage.url(name).await?)
}

pub(crate) async fn upload_url(context: &Context, args: UploadUrlArgs) -> Result<()> {
    if args.put {
        check_put_flags(&args)?;
    }
    let (built, name) = context.locate(&args.name)?;
    let mut policy = match name.strip_suffix('/') {
        Some(_) => storage_core::UploadPolicy::prefix(&name),
        None => storage_core::UploadPolicy::exact(&name),
    }
    .expires_in(args.expires);
    if let Some(max) = args.max_size {
        policy = policy.with_size(args.min_size..=max);
    } else if args.min_size > 0 {
        policy = policy.with_size(args.min_size..=u64::MAX);
    }
    policy = match args.content_type {
        Some(prefix) if prefix.ends_with('/') => policy.with_content_type_prefix(prefix),
        Some(exact) => policy.with_content_type(exact),
        None => policy,
    };
    if args.overwrite {
        policy = policy.allowing_overwrite();
    }
    if let Some(acl) = args.acl {
        policy = policy.with_acl(acl);
    }
    if let Some(url) = args.redirect {
        policy = policy.with_success_redirect(url);
    }
    if args.put {
        let request = built.storage.upload_url(&policy).await?;
        let (lines, headers) = pairs(&request.headers);
        let text = std::iter::once(format!("PUT {}", request.url)).chain(lines).collect::<Vec<_>>().join("\n");
        context.output.print(&text, json!({ "method": "PUT", "url": request.url, "headers": headers }));
        return Ok(());
    }
    let form = built.storage.upload_form(&policy).await?;
    let (lines, fields) = pairs(&form.fields);
    let text = std::iter::once(format!("POST {}", form.url))
        .chain(lines)
        .chain(std::iter::once(format!("{}: <the file, last>", storage_core::upload::FILE_FIELD)))
        .collect::<Vec<_>>()
        .join("\n");
    context.output.print(&text, json!({ "method": "POST", "url": form.url, "fields": fields, "file_field": "file" }));
    Ok(())
}

/// What a presigned PUT cannot enforce, refused in the command's flags (the library's message names its API).
fn check_put_flags(args: &UploadUrlArgs) -> Result<()> {
    let exact_size =
        args.max_size.is_none_or(|max| max == args.min_size) && (args.max_size.is_some() || args.min_size == 0);
    let refused = if args.name.ends_with('/') {
        "signs one exact name: give a name without a trailing `/`"
    } else if !exact_size {
        "enforces only an exact size: give --min-size N --max-size N with the same N"
    } else if args.content_type.as_deref().is_some_and(|content_type| content_type.ends_with('/')) {
        "enforces only an exact --content-type such as image/png"
    } else {
        return Ok(());
    };
    Err(CliError::Usage(format!(
        "upload-url --put {refused}, or drop --put for a form, which takes prefixes and ranges"
    )))
}

//! URLs and ACLs: plain and temporary URLs, presigned requests, direct-upload forms and PUT links under the one
//! expiry rule, and which files may be read without a signature.

use std::time::Duration;

use super::{OverwritePolicy, Storage, run};
use crate::backend::{Capabilities, Method, PresignRequest, PresignedRequest};
use crate::error::{Error, Operation, Result};
use crate::name::validate_key;
use crate::types::{Acl, FileAcl, PublicReads};
use crate::upload::{UploadForm, UploadPolicy};
use crate::url::{Disposition, UrlOptions, UrlPolicy, content_disposition};

impl Storage {
    /// The URL to hand out for `name`: public, or temporary when the storage is private.
    pub async fn url(&self, name: &str) -> Result<String> {
        run(Operation::Url, async {
            validate_key(name)?;
            match self.options.url_policy {
                UrlPolicy::Public => {
                    if !self.capabilities().public_url {
                        return Err(Error::unsupported(self.backend_name(), "public URLs"));
                    }
                    self.backend.public_url(name)
                }
                UrlPolicy::Signed { expires } => self.temporary_url(name, expires, UrlOptions::get()).await,
            }
        })
        .await
    }

    /// An expiring signed URL for `name` (the URL of [`Storage::presigned_request`]).
    pub async fn temporary_url(&self, name: &str, expires: Duration, options: UrlOptions) -> Result<String> {
        Ok(self.presigned_request(name, expires, options).await?.url)
    }

    /// An expiring signed request for `name`: the URL and the headers a client must send with it.
    ///
    /// A PUT is create-only unless the storage overwrites, so an upload through it never replaces a file.
    pub async fn presigned_request(
        &self,
        name: &str,
        expires: Duration,
        options: UrlOptions,
    ) -> Result<PresignedRequest> {
        run(Operation::Presign, async {
            validate_key(name)?;
            // A type the link would carry is exactly one media type, whatever the backend can do.
            for (field, content_type) in
                [("response content type", &options.response_content_type), ("content type", &options.content_type)]
            {
                if let Some(content_type) = content_type {
                    crate::content_type::check(name, field, content_type)?;
                }
            }
            let caps = self.capabilities();
            let supported = match options.method {
                Method::Get => caps.presign_read,
                Method::Put => caps.presign_write,
            };
            if !supported {
                let what = match options.method {
                    Method::Get => "temporary URLs for reading",
                    Method::Put => "temporary URLs for uploading",
                };
                // The backend's own refusal, where it has one, says how to get the capability (fs: a signer).
                let refusal = self.backend.presign(&PresignRequest::new(options.method, name, expires)).await.err();
                return Err(refusal
                    .filter(|err| err.kind() == crate::ErrorKind::Unsupported)
                    .unwrap_or_else(|| Error::unsupported(self.backend_name(), what)));
            }
            self.check_expiry(name, expires, &caps)?;

            let mut request = PresignRequest::new(options.method, name, expires);
            match options.method {
                Method::Get => {
                    request.response_content_disposition = match &options.download_name {
                        Some(download_name) => {
                            Some(content_disposition(download_name, Disposition::inline_if(options.inline))?)
                        }
                        None => None,
                    };
                    request.response_content_type = options.response_content_type;
                }
                Method::Put => {
                    if options.content_type.is_some() && !caps.presign_write_with_headers {
                        return Err(Error::unsupported(self.backend_name(), crate::upload::UNSIGNED_PUT_HEADERS));
                    }
                    request.content_type = options.content_type;
                    request.acl = self.upload_acl(options.acl, &caps)?;
                    request.create_only = self.options.overwrite != OverwritePolicy::Overwrite;
                }
            }
            self.backend.presign(&request).await
        })
        .await
    }

    /// The one expiry rule, with the maximum the backend declares.
    fn check_expiry(&self, key: &str, expires: Duration, caps: &Capabilities) -> Result<()> {
        crate::expiry::check_expiry(key, &format!("{} backend", self.backend_name()), expires, caps.presign_max_expiry)
    }

    /// The ACL an upload by URL or form sets: the one asked for, else the storage's default; `Unsupported` when the
    /// backend has no ACLs.
    fn upload_acl(&self, acl: Option<Acl>, caps: &Capabilities) -> Result<Option<Acl>> {
        let acl = acl.or(self.options.default_acl);
        if acl.is_some() && !caps.acl {
            return Err(Error::unsupported(self.backend_name(), "ACLs"));
        }
        Ok(acl)
    }

    /// An HTML form with which a browser uploads straight to the storage, within `policy`: the key or prefix, the
    /// size range, the content types, the checksum, the ACL (the storage's default ACL when the policy has none),
    /// the attributes and the expiry. S3 enforces it as a POST policy; disk and memory storages through
    /// `storage_http::SignedUrlService`, while the bytes stream in. `Unsupported` where the backend has no forms, and
    /// for a create-only policy where its forms cannot refuse a taken name (S3: see
    /// [`Capabilities::upload_form_with_create_only`]).
    pub async fn upload_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        run(Operation::Presign, async {
            policy.validate()?;
            let caps = self.capabilities();
            if !caps.upload_form {
                return Err(Error::unsupported(self.backend_name(), "direct upload forms"));
            }
            if policy.create_only && !caps.upload_form_with_create_only {
                return Err(Error::unsupported(self.backend_name(), crate::upload::CREATE_ONLY_FORMS));
            }
            let key = policy.key_field();
            self.check_expiry(&key, policy.expires_in, &caps)?;
            policy.attributes.validate(&key)?;
            let mut policy = policy.clone();
            policy.acl = self.upload_acl(policy.acl, &caps)?;
            self.backend.upload_form(&policy).await
        })
        .await
    }

    /// A presigned PUT for `policy`, when a PUT can enforce it: one exact key, an exact size (a signed
    /// `Content-Length`), an exact content type, an MD5 (a signed `Content-MD5`), the ACL and create-only. The
    /// request's headers must be sent as given. A size range, a type prefix, a key prefix, attributes or a success
    /// action need [`Storage::upload_form`] (`InvalidArgument` says so); a SHA-256 is `Unsupported` on a PUT.
    pub async fn upload_url(&self, policy: &UploadPolicy) -> Result<PresignedRequest> {
        run(Operation::Presign, async {
            policy.validate()?;
            let put = policy.as_put(self.backend_name())?;
            let caps = self.capabilities();
            if !caps.presign_write {
                return Err(Error::unsupported(self.backend_name(), "temporary URLs for uploading"));
            }
            let fixes_headers = put.content_type.is_some() || put.content_length.is_some() || put.content_md5.is_some();
            if fixes_headers && !caps.presign_write_with_headers {
                return Err(Error::unsupported(self.backend_name(), crate::upload::UNSIGNED_PUT_HEADERS));
            }
            self.check_expiry(put.key, policy.expires_in, &caps)?;
            let mut request = PresignRequest::new(Method::Put, put.key, policy.expires_in);
            request.content_type = put.content_type;
            request.acl = self.upload_acl(policy.acl, &caps)?;
            request.create_only = policy.create_only;
            request.content_length = put.content_length;
            request.content_md5 = put.content_md5;
            self.backend.presign(&request).await
        })
        .await
    }

    /// Set the canned ACL of an existing object.
    pub async fn set_acl(&self, name: &str, acl: Acl) -> Result<()> {
        run(Operation::SetAcl, async {
            validate_key(name)?;
            if !self.capabilities().acl {
                return Err(Error::unsupported(self.backend_name(), "ACLs"));
            }
            self.backend.set_acl(name, acl).await
        })
        .await
    }

    /// The canned ACL of an existing object.
    pub async fn acl(&self, name: &str) -> Result<Acl> {
        run(Operation::Acl, async {
            validate_key(name)?;
            if !self.capabilities().acl {
                return Err(Error::unsupported(self.backend_name(), "ACLs"));
            }
            self.backend.acl(name).await
        })
        .await
    }

    /// Whether anyone may read `name` without a signature: its own ACL grants public read, or, on a backend that
    /// keeps no per-file ACLs, the storage itself is declared public (its default ACL grants public read, or
    /// [`PublicReads::Everything`]). Everything else is private: servers of plain URLs answer 403 unless this is
    /// `true`. `NotFound` only where the backend keeps ACLs (elsewhere a missing file of a private storage is just not
    /// public, so strangers learn nothing of what exists).
    pub async fn is_public(&self, name: &str) -> Result<bool> {
        run(Operation::Acl, async {
            validate_key(name)?;
            let file_acl = if self.capabilities().acl {
                FileAcl::Kept(Some(self.backend.acl(name).await?))
            } else {
                FileAcl::NotKept
            };
            let declared = match self.options.default_acl {
                Some(acl) if acl.is_public_read() => PublicReads::Everything,
                _ => self.options.public_reads,
            };
            Ok(declared.allows(file_acl))
        })
        .await
    }
}

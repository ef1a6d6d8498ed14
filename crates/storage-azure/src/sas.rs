//! Service SAS links for one blob (version 2020-12-06 and later): object_store's `signed_url` signs neither response
//! overrides (`rscd`, `rsct`) nor the create permission, so the string to sign is built here, by the spec, and
//! signed with the `hmac` and `sha2` crates.
//! <https://learn.microsoft.com/en-us/rest/api/storageservices/create-service-sas>

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};
use storage_core::{Error, Method, PresignRequest, Result};

use crate::NAME;

/// The service version the links are signed for (`sv`).
pub(crate) const SAS_VERSION: &str = "2021-08-06";

/// What a link allows (`sp`): read, write (create or replace), or create only (a PUT onto an existing blob is refused
/// by the service itself, whatever headers the client sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permission {
    Read,
    Write,
    CreateOnly,
}

impl Permission {
    pub(crate) fn of(request: &PresignRequest) -> Self {
        match (request.method, request.create_only) {
            (Method::Get, _) => Self::Read,
            (Method::Put, false) => Self::Write,
            (Method::Put, true) => Self::CreateOnly,
        }
    }

    fn letter(self) -> &'static str {
        match self {
            Self::Read => "r",
            Self::Write => "w",
            Self::CreateOnly => "c",
        }
    }
}

/// The query of one link: everything the signature covers, then the signature.
#[derive(Debug)]
pub(crate) struct Sas<'a> {
    pub account: &'a str,
    pub container: &'a str,
    /// The blob's full name (prefix and key), not encoded: the canonical resource names the blob itself.
    pub blob: &'a str,
    pub permission: Permission,
    pub expires_in: Duration,
    pub content_disposition: Option<&'a str>,
    pub content_type: Option<&'a str>,
}

impl Sas<'_> {
    /// The `(name, value)` pairs to append to the blob's URL, signed with the account key (base64, as Azure gives it)
    /// as of `now`. The expiry is rounded up to the next whole second: a link never expires early.
    pub(crate) fn query(&self, key: &[u8], now: SystemTime) -> Result<Vec<(&'static str, String)>> {
        let expiry = now + self.expires_in + Duration::from_millis(999);
        let expiry = chrono::DateTime::<chrono::Utc>::from(expiry).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let resource = format!("/blob/{}/{}/{}", self.account, self.container, self.blob);
        let (disposition, content_type) =
            (self.content_disposition.unwrap_or_default(), self.content_type.unwrap_or_default());
        let permission = self.permission.letter();
        // sp, st, se, canonical resource, si, sip, spr, sv, sr, snapshot, ses, rscc, rscd, rsce, rscl, rsct
        let to_sign = [
            permission,
            "",
            &expiry,
            &resource,
            "",
            "",
            "",
            SAS_VERSION,
            "b",
            "",
            "",
            "",
            disposition,
            "",
            "",
            content_type,
        ]
        .join("\n");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
            .map_err(|_| Error::configuration("the azure backend", "the account key is empty").on_backend(NAME))?;
        mac.update(to_sign.as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let mut query =
            vec![("sv", SAS_VERSION.to_owned()), ("sp", permission.to_owned()), ("se", expiry), ("sr", "b".to_owned())];
        if let Some(disposition) = self.content_disposition {
            query.push(("rscd", disposition.to_owned()));
        }
        if let Some(content_type) = self.content_type {
            query.push(("rsct", content_type.to_owned()));
        }
        query.push(("sig", signature));
        Ok(query)
    }
}

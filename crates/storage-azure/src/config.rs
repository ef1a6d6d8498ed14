//! The settings of an Azure backend: the account, its key, the container, a key prefix, the endpoint (Azurite or
//! another cloud) and the container's public access level.

use std::fmt;

use storage_core::{Error, Result};

use crate::NAME;

/// Azurite's well-known development account (`devstoreaccount1`), the emulator's default.
pub const EMULATOR_ACCOUNT: &str = "devstoreaccount1";

/// The default [`AzureConfig::block_size`]: 8 MiB.
pub const DEFAULT_BLOCK_SIZE: usize = 8 << 20;

/// Azurite's well-known account key: published in Microsoft's documentation, for the emulator only, never a secret.
pub const EMULATOR_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Who may read the container's blobs without a signature: its public access level, set on the container by its
/// owner (`az storage container set-permission --public-access blob`), never per blob. Azure has no per-blob ACLs,
/// so a private container is simply the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContainerAccess {
    /// Only signed requests and SAS links read blobs (`x-ms-blob-public-access` absent).
    #[default]
    Private,
    /// Anyone with a blob's URL reads it (`blob`): the backend gives plain public URLs.
    PublicBlobs,
}

impl ContainerAccess {
    /// The level as `storage.toml` and URLs write it: `private` or `blob`.
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "private" | "" => Ok(Self::Private),
            "blob" => Ok(Self::PublicBlobs),
            other => Err(Error::configuration(
                "the azure backend",
                format!("public access `{other}` is not a container access level; use `private` or `blob`"),
            )
            .on_backend(NAME)),
        }
    }
}

/// The account key, shown nowhere: its `Debug` says only whether one is set.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountKey(String);

impl AccountKey {
    /// The key as the portal shows it (base64).
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountKey(<redacted>)")
    }
}

/// What an [`AzureBackend`](crate::AzureBackend) connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AzureConfig {
    /// The storage account (`AZURE_STORAGE_ACCOUNT_NAME`).
    pub account: String,
    /// The account's shared key (`AZURE_STORAGE_ACCOUNT_KEY`): it signs requests and SAS links.
    pub access_key: Option<AccountKey>,
    /// The container (`az://container`).
    pub container: String,
    /// A key prefix inside the container; empty for the whole container.
    pub location: String,
    /// The account's blob endpoint; `None` is `https://{account}.blob.core.windows.net`. Azurite's is
    /// `http://127.0.0.1:10000/devstoreaccount1` (the account in the path).
    pub endpoint: Option<String>,
    /// The container's public access level, as its owner set it.
    pub public_access: ContainerAccess,
    /// Saves larger than this are uploaded in blocks of this size, one in memory at a time: at most and by default
    /// 8 MiB (Azure takes up to 50,000 blocks, so a save of up to 390 GiB). A smaller save is one Put Blob.
    pub block_size: usize,
}

impl AzureConfig {
    /// A private container of `account`, signed with `access_key`, on Azure's public cloud.
    pub fn new(account: impl Into<String>, access_key: AccountKey, container: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            access_key: Some(access_key),
            container: container.into(),
            location: String::new(),
            endpoint: None,
            public_access: ContainerAccess::Private,
            block_size: DEFAULT_BLOCK_SIZE,
        }
    }

    /// A container whose account, key and endpoint come from the environment ([`AzureConfig::resolved`]).
    pub fn from_env(container: impl Into<String>) -> Self {
        let mut config = Self::new("", AccountKey::new(""), container);
        config.access_key = None;
        config.resolved()
    }

    /// The settings left unset, from the usual variables: `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`
    /// (or `AZURE_STORAGE_ACCESS_KEY`), `AZURE_STORAGE_ENDPOINT`; with `AZURE_STORAGE_USE_EMULATOR=true`, Azurite at
    /// `AZURITE_BLOB_STORAGE_URL` (default `http://127.0.0.1:10000`) with its well-known account and key.
    pub fn resolved(mut self) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        if var("AZURE_STORAGE_USE_EMULATOR").as_deref() == Some("true") {
            self = self.on_local_emulator();
        }
        if self.account.is_empty() {
            self.account = var("AZURE_STORAGE_ACCOUNT_NAME").unwrap_or_default();
        }
        if self.access_key.is_none() {
            self.access_key =
                var("AZURE_STORAGE_ACCOUNT_KEY").or_else(|| var("AZURE_STORAGE_ACCESS_KEY")).map(AccountKey::new);
        }
        if self.endpoint.is_none() {
            self.endpoint = var("AZURE_STORAGE_ENDPOINT");
        }
        self
    }

    /// Keys live under `location/` in the container.
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = location.into();
        self
    }

    /// Another blob endpoint (Azurite, a sovereign cloud, a private link).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Azurite at `url` (`AZURITE_BLOB_STORAGE_URL`, e.g. `http://127.0.0.1:10000`), with `account` in the path.
    pub fn with_emulator(self, url: &str) -> Self {
        let endpoint = format!("{}/{}", url.trim_end_matches('/'), self.account);
        self.with_endpoint(endpoint)
    }

    /// Azurite at `AZURITE_BLOB_STORAGE_URL` (default `http://127.0.0.1:10000`), unless an endpoint is set: with
    /// its well-known account and key where none is set.
    pub fn on_local_emulator(mut self) -> Self {
        if self.endpoint.is_some() {
            return self;
        }
        if self.account.is_empty() {
            self.account = EMULATOR_ACCOUNT.to_owned();
        }
        if self.access_key.is_none() && self.account == EMULATOR_ACCOUNT {
            self.access_key = Some(AccountKey::new(EMULATOR_ACCOUNT_KEY));
        }
        let url = std::env::var("AZURITE_BLOB_STORAGE_URL").unwrap_or_else(|_| "http://127.0.0.1:10000".to_owned());
        self.with_emulator(&url)
    }

    /// The container's public access level, as set on it.
    pub fn with_public_access(mut self, access: ContainerAccess) -> Self {
        self.public_access = access;
        self
    }

    /// Upload saves larger than `size` bytes in blocks of `size`.
    pub fn with_block_size(mut self, size: usize) -> Self {
        self.block_size = size;
        self
    }

    /// The account's blob endpoint, without a trailing `/`.
    pub fn endpoint_or_default(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => format!("https://{}.blob.core.windows.net", self.account),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let refuse = |message: &str| Err(Error::configuration("the azure backend", message).on_backend(NAME));
        if self.account.is_empty() {
            return refuse("no storage account: set `account` (or AZURE_STORAGE_ACCOUNT_NAME)");
        }
        if self.container.is_empty() {
            return refuse("no container: set `container` (az://container/prefix)");
        }
        if self.access_key.is_none() {
            return refuse(
                "no account key: set `access_key` (or AZURE_STORAGE_ACCOUNT_KEY); it signs requests and SAS links",
            );
        }
        if self.block_size == 0 || self.block_size > DEFAULT_BLOCK_SIZE {
            return refuse("the block size must be between 1 byte and 8 MiB; leave it unset for 8 MiB");
        }
        if url::Url::parse(&self.endpoint_or_default()).is_err() {
            return refuse("the endpoint is not a URL; use e.g. https://ACCOUNT.blob.core.windows.net");
        }
        Ok(())
    }
}

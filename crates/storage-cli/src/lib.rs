//! The configuration the `storage` command reads, as a library: an app builds its storages from the same
//! `storage.toml` (Django's `STORAGES`, in TOML).
//!
//! ```
//! let config: storage_cli::config::Config = toml::from_str(r#"
//!     [storages.default]
//!     backend = "fs"
//!     location = "./media"
//!
//!     [storages.private]
//!     url = "s3://my-bucket/private?region=eu-west-1"
//!     private = true
//!     expires = "60s"
//! "#).unwrap();
//! assert_eq!(config.storages.len(), 2);
//! ```

pub mod config;

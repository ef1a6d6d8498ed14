//! Moving files between storages: [`migrate()`] copies everything under a prefix, and [`MirrorBackend`] makes a
//! primary and its mirrors one backend, for moving a live app without downtime.
//! Its `Storage`: `let app = storage_migrate::MirrorBackend::of(&new, &[&old]).storage();`.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
//!
//! Both work below the naming policy, through storage-core's public API only (a `Storage`'s backend, the
//! [`storage_core::checksum`] helpers and [`storage_core::backoff`]'s retries): a move never renames a file.
//!
//! The modules depend on each other in one direction: `locks` ← `copy` ← `migrate` ← `mirror` → `merge`.

#![warn(missing_docs)]

mod checkpoint;
mod copy;
mod locks;
mod merge;
mod migrate;
mod mirror;

pub use checkpoint::{
    Checkpoints, Counts, DEFAULT_CHECKPOINT_EVERY, DEFAULT_CHECKPOINT_PREFIX, JobStatus, Record, ShardStatus,
    job_status, parse_record,
};
pub use migrate::{DEFAULT_CONCURRENCY, MigrateOptions, MigrationFailure, MigrationReport, Progress, migrate};
pub use mirror::MirrorBackend;

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MirrorBackend>();
};

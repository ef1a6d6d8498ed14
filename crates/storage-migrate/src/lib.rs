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
mod inventory;
mod locks;
mod merge;
mod migrate;
mod mirror;
mod shard;
mod source;

pub use checkpoint::{
    Checkpoints, Counts, DEFAULT_CHECKPOINT_EVERY, DEFAULT_CHECKPOINT_PREFIX, JobStatus, Record, ShardStatus,
    job_status, parse_record,
};
pub use inventory::{
    MAX_DATA_FILE_BYTES, MAX_INVENTORY_FILES, MAX_INVENTORY_LINE_BYTES, MAX_INVENTORY_ROWS, MAX_MANIFEST_BYTES,
    names_from_inventory,
};
pub use migrate::{
    DEFAULT_CONCURRENCY, MigrateOptions, MigrationFailure, MigrationReport, Progress, migrate, migrate_names,
};
pub use mirror::MirrorBackend;
pub use shard::Shard;
pub use source::{MAX_LIST_LINE_BYTES, names_from_list};

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MirrorBackend>();
};

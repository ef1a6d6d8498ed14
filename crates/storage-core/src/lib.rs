//! One API to store files on S3, on the local disk or in memory: the `Storage` handle, the backend trait, and the
//! policy every backend shares (naming, overwrite, URL signing).
//! A `Storage` comes from a backend crate: `let storage = storage_memory::MemoryBackend::new().storage();`.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in.
//!
//! # Two layers
//!
//! - [`Backend`] is the small trait a backend implements: put (with a create-only mode), ranged get as a stream,
//!   head, delete, list, copy, and the optional abilities it declares in [`Capabilities`].
//! - [`Storage`] is the handle users hold. It applies Django's storage semantics once for all backends:
//!   [name validation](validate_key), the [overwrite policy](OverwritePolicy) (race-free unique names through
//!   create-only writes), content-type guessing, and [URL policy](UrlPolicy).
//!
//! ```
//! # async fn demo(storage: storage_core::Storage) -> storage_core::Result<()> {
//! let name = storage.save("reports/q3.pdf", b"%PDF-1.7 ...").await?;
//! assert!(name.starts_with("reports/q3")); // `reports/q3_XXXXXXX.pdf` if the name was taken
//! let bytes = storage.read(&name).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod backend;
pub mod backoff;
pub mod checksum;
pub mod conditional;
pub mod content;
pub mod content_type;
mod error;
mod expiry;
pub mod layer;
pub mod link;
pub mod name;
pub mod signing;
mod storage;
mod types;
pub mod upload;
mod url;

pub use backend::{
    Backend, Capabilities, ConditionalDelete, GetResult, ListOptions, Method, PresignRequest, PresignedRequest,
    PutOptions, PutResult, WriteMode, delete_after_reread,
};
pub use conditional::{Conditions, Precondition};
pub use content::{ByteStream, Content, NameClaim, Replayable, Rewind};
pub use content_type::{ContentType, DEFAULT_CONTENT_TYPE, InvalidContentType, ServedType, guess_content_type};
pub use error::{BoxError, Error, ErrorKind, MirrorOutcome, Operation, Result, Retry};
pub use expiry::{DEFAULT_MAX_EXPIRY, check_expiry, parse_age, parse_duration};
pub use layer::{
    Around, BackendOp, Call, ConcurrencyLimitLayer, Layer, MetricsLayer, RetryLayer, TimeoutLayer, TracingLayer,
    Wrapped,
};
pub use name::{UploadTo, validate_key};
pub use storage::{OverwritePolicy, Page, SaveOptions, Storage, StorageOptions};
pub use types::{Acl, Attributes, ByteRange, FileAcl, ListEntry, Metadata, ObjectMeta, PublicReads};
pub use upload::{Checksum, ContentTypeRule, SuccessAction, UploadForm, UploadKey, UploadPolicy};
pub use url::{DEFAULT_EXPIRY, Disposition, UrlOptions, UrlPolicy, content_disposition};

/// Re-exported so backends implement [`Backend`] with the same macro version.
pub use async_trait::async_trait;

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Storage>();
    assert_send_sync::<Error>();
};

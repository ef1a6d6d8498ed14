//! `storage_rs._native`: storage-core's `Storage` as a Python class, the extension module of the `storage_rs` wheel.
//! A `Storage` from Python: `storage_rs.Storage("s3://bucket/media?region=eu-west-1")`, or a dict of `storage.toml` keys.
//! New here? The [README's Quickstart](https://example.invalid/storage#quickstart-the-library) is the way in, and its
//! "From Django" section the way from a Django app.
//!
//! Every method releases the GIL while Rust works (`Python::detach`) and runs its future on one shared tokio
//! runtime, so Django's threads save, read and sign in parallel. Errors become the classes of `storage_rs.errors`,
//! which derive from both `StorageError` and the builtin exception Django code already catches.

mod errors;
mod links;
mod reader;
mod runtime;
mod source;
mod storage;

use pyo3::prelude::*;

/// The extension module: the `Storage` and `Reader` classes and Django's pure naming function.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<storage::PyStorage>()?;
    module.add_class::<reader::Reader>()?;
    module.add_class::<links::LinkResponse>()?;
    module.add_function(wrap_pyfunction!(storage::get_valid_name, module)?)?;
    Ok(())
}

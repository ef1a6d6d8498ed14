//! The one tokio runtime every call shares, and the bridge that runs a future on it with the GIL released.

use std::future::Future;
use std::sync::OnceLock;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::errors::to_python;

/// The runtime of the whole process: made on the first call, never per storage or per call.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("storage-rs")
            .enable_all()
            .build()
            .expect("the storage_rs runtime starts (threads and an I/O driver)")
    })
}

/// Run `future` to completion on the shared runtime without holding the GIL, so other Python threads run meanwhile.
pub(crate) fn block_on<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send,
    F: Future<Output = storage_core::Result<T>> + Send,
{
    py.detach(|| runtime().block_on(future)).map_err(|err| to_python(py, err))
}

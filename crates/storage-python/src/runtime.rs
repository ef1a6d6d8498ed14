//! The one tokio runtime every call shares, and the bridge that runs a future on it with the GIL released.

use std::future::Future;
use std::sync::Mutex;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::errors::to_python;

/// The runtime of the whole process: made on the first call, never per storage or per call. A child forked after
/// that (gunicorn `--preload`, uWSGI, Celery prefork) inherits the runtime without its threads, so it makes its own;
/// the parent's is leaked there, since dropping it would wait on threads the child does not have.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match *slot {
        Some((owner, runtime)) if owner == pid => runtime,
        _ => {
            let runtime: &'static Runtime = Box::leak(Box::new(
                tokio::runtime::Builder::new_multi_thread()
                    .thread_name("storage-rs")
                    .enable_all()
                    .build()
                    .expect("the storage_rs runtime starts (threads and an I/O driver)"),
            ));
            *slot = Some((pid, runtime));
            runtime
        }
    }
}

/// Run `future` to completion on the shared runtime without holding the GIL, so other Python threads run meanwhile.
pub(crate) fn block_on<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send,
    F: Future<Output = storage_core::Result<T>> + Send,
{
    py.detach(|| runtime().block_on(future)).map_err(|err| to_python(py, err))
}

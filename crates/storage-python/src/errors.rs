//! storage-core's error kinds as the Python classes of `storage_rs.errors`, each a `StorageError` and the builtin
//! Django code already handles (`FileNotFoundError`, `FileExistsError`, `ValueError`, ...).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use storage_core::{Error, ErrorKind};

/// The Python class of each kind, by its name in `storage_rs/errors.py`.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "NotFound",
        ErrorKind::AlreadyExists => "AlreadyExists",
        ErrorKind::InvalidName => "InvalidName",
        ErrorKind::InvalidArgument => "InvalidArgument",
        ErrorKind::Unsupported => "Unsupported",
        ErrorKind::PermissionDenied => "PermissionDenied",
        ErrorKind::Configuration => "ConfigurationError",
        _ => "StorageError",
    }
}

/// The lowercase kind the exception's `kind` attribute carries (`not_found`, `already_exists`, ...).
fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "not_found",
        ErrorKind::AlreadyExists => "already_exists",
        ErrorKind::InvalidName => "invalid_name",
        ErrorKind::InvalidArgument => "invalid_argument",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::PermissionDenied => "permission_denied",
        ErrorKind::Configuration => "configuration",
        ErrorKind::Mirror => "mirror",
        _ => "backend",
    }
}

/// The `storage_rs.errors` module, imported once.
fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || Ok::<_, PyErr>(py.import("storage_rs.errors")?.unbind()))
        .map(|module| module.bind(py))
}

/// The Python exception of `err`: its class by kind, its message the Rust one (which never holds a secret).
pub(crate) fn to_python(py: Python<'_>, err: Error) -> PyErr {
    let raised = || -> PyResult<PyErr> {
        let class = errors_module(py)?.getattr(class_name(err.kind()))?.cast_into::<PyType>()?;
        let exception = class.call1((err.to_string(),))?;
        exception.setattr("kind", kind_name(err.kind()))?;
        Ok(PyErr::from_value(exception))
    };
    raised().unwrap_or_else(|import_failed| {
        PyRuntimeError::new_err(format!("{err} (and storage_rs.errors could not be loaded: {import_failed})"))
    })
}

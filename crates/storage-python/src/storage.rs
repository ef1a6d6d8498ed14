//! `storage_rs.Storage`: one storage-core `Storage`, built by storage-config from a URL or a dict of `storage.toml`
//! keys, with Django's storage methods.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::exceptions::{PyNotImplementedError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use storage_config::{BackendConfig, StorageConfig};
use storage_core::{Storage, UploadPolicy, UrlOptions, UrlPolicy, validate_key};
use storage_http::SignedUrlService;

use crate::errors::to_python;
use crate::links::{self, LinkResponse};
use crate::reader::Reader;
use crate::runtime::{block_on, runtime};
use crate::source::{self, Source};

/// A storage on disk, in memory or on S3, with the policy of its settings (overwrite, ACL, signed URLs).
#[pyclass(name = "Storage", module = "storage_rs._native", frozen, subclass)]
pub(crate) struct PyStorage {
    storage: Storage,
    /// The root directory of a disk storage, for Django's `path()`; `None` for the others.
    root: Option<PathBuf>,
    /// `fs`, `memory`, `s3`, `gcs` or `azure`.
    backend: &'static str,
    /// What answering the storage's own links needs (its signer), for `answer_link`.
    built: storage_config::Built,
    /// The server of those links, made on the first `answer_link` (a disk storage reads its key then).
    links: OnceLock<SignedUrlService>,
    /// The process that made it: after `os.fork()` its connections belong to the parent's runtime threads, which the
    /// child does not have, so a call would wait forever; the child gets an error telling it to make its own.
    pid: u32,
}

impl PyStorage {
    /// The storage, if this is the process that made it.
    fn storage(&self, py: Python<'_>) -> PyResult<&Storage> {
        if std::process::id() == self.pid {
            return Ok(&self.storage);
        }
        let message = format!(
            "it was made in process {} before os.fork(); make storages in the process that uses them \
             (RustStorage does so by itself)",
            self.pid
        );
        Err(to_python(py, storage_core::Error::configuration("this storage_rs.Storage", message)))
    }
}

/// The settings `config` gives: a storage URL, or a dict of `storage.toml` keys (read by storage-config's serde
/// types, so a misspelt key is refused as in the file).
fn storage_config(config: &Bound<'_, PyAny>, base: &Path) -> PyResult<StorageConfig> {
    if let Ok(url) = config.cast::<PyString>() {
        return StorageConfig::from_url(url.to_str()?, base).map_err(|err| to_python(config.py(), err));
    }
    if config.is_instance_of::<PyDict>() {
        return pythonize::depythonize::<StorageConfig>(config).map_err(|err| {
            to_python(config.py(), storage_core::Error::configuration("the storage settings", err.to_string()))
        });
    }
    Err(PyTypeError::new_err("storage settings must be a storage URL (str) or a dict of storage.toml keys"))
}

/// A duration given as seconds (int or float) or a `datetime.timedelta`.
fn duration(value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if let Ok(duration) = value.extract::<Duration>() {
        return Ok(duration);
    }
    let seconds: f64 = value.extract()?;
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        PyValueError::new_err(format!("a duration must be a non-negative number of seconds, not {seconds}"))
    })
}

fn optional_duration(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    value.map(duration).transpose()
}

/// A form's or PUT link's policy from the keyword arguments of `upload_form` and `upload_url`.
struct UploadArgs<'a, 'py> {
    /// Where the upload lands: `UploadPolicy::exact` or `UploadPolicy::prefix`, with their defaults.
    start: UploadPolicy,
    min_size: Option<u64>,
    max_size: Option<u64>,
    content_type: Option<String>,
    expires: Option<&'a Bound<'py, PyAny>>,
    allow_overwrite: bool,
}

impl UploadArgs<'_, '_> {
    fn policy(self) -> PyResult<UploadPolicy> {
        let mut policy = self.start;
        if let Some(expires) = optional_duration(self.expires)? {
            policy = policy.expires_in(expires);
        }
        match (self.min_size, self.max_size) {
            (None, None) => {}
            (min, max) => policy = policy.with_size(min.unwrap_or(0)..=max.unwrap_or(u64::MAX)),
        }
        if let Some(content_type) = self.content_type {
            // `image/` allows any image type but the active ones; a full type allows exactly that type.
            policy = if content_type.ends_with('/') {
                policy.with_content_type_prefix(content_type)
            } else {
                policy.with_content_type(content_type)
            };
        }
        if self.allow_overwrite {
            policy = policy.allowing_overwrite();
        }
        Ok(policy)
    }
}

#[pymethods]
impl PyStorage {
    /// Build the storage `config` describes (a URL or a dict of `storage.toml` keys); `base` resolves relative paths
    /// (default: the working directory).
    #[new]
    #[pyo3(signature = (config, *, base = None))]
    fn new(py: Python<'_>, config: &Bound<'_, PyAny>, base: Option<PathBuf>) -> PyResult<Self> {
        let base = match base {
            Some(base) => base,
            None => std::env::current_dir()?,
        };
        let config = storage_config(config, &base)?;
        let root = match &config.backend {
            BackendConfig::Fs(fs) => Some(base.join(&fs.location)),
            _ => None,
        };
        let backend = config.backend.name();
        // Building an S3 client starts tasks of its own: it runs inside the shared runtime.
        let built = py.detach(|| {
            let _entered = runtime().enter();
            config.build("python", &base)
        });
        let built = built.map_err(|err| to_python(py, err))?;
        Ok(PyStorage {
            storage: built.storage.clone(),
            root,
            backend,
            built,
            links: OnceLock::new(),
            pid: std::process::id(),
        })
    }

    /// `fs`, `memory`, `s3`, `gcs` or `azure`.
    #[getter]
    fn backend(&self) -> &'static str {
        self.backend
    }

    /// How long the storage's own signed URLs last, in seconds; `None` when its URLs are public.
    #[getter]
    fn url_expires(&self) -> Option<f64> {
        match self.storage.options().url_policy {
            UrlPolicy::Public => None,
            UrlPolicy::Signed { expires } => Some(expires.as_secs_f64()),
        }
    }

    /// Store `content` (bytes, str, a file object or an iterable of chunks) under `name`, or the alternative name
    /// the overwrite policy picks, claimed by a create-only write; returns the stored name. A file object or an
    /// iterable is streamed, never read whole. `size`, when known, lets S3 choose a single PUT.
    #[pyo3(signature = (name, content, *, max_length = None, size = None, content_type = None))]
    fn save(
        &self,
        py: Python<'_>,
        name: String,
        content: &Bound<'_, PyAny>,
        max_length: Option<usize>,
        size: Option<u64>,
        content_type: Option<String>,
    ) -> PyResult<String> {
        let mut options = storage_core::SaveOptions::default();
        if let Some(max_length) = max_length {
            options = options.with_max_length(max_length);
        }
        if let Some(content_type) = content_type {
            options = options.with_content_type(content_type);
        }
        let source = Source::of(content)?;
        if let Source::Memory(bytes) = source {
            return block_on(py, self.storage(py)?.save_with(&name, bytes, options));
        }
        let (content, sender) = source::channel(size);
        let storage = self.storage(py)?.clone();
        let save = runtime().spawn(async move { storage.save_with(&name, content, options).await });
        let pumped = source::pump(py, &source, sender);
        let saved = py.detach(|| runtime().block_on(save));
        pumped?;
        saved
            .map_err(|err| PyValueError::new_err(format!("save: the save task stopped: {err}")))?
            .map_err(|err| to_python(py, err))
    }

    /// A file-like reader of `name` that streams, and seeks with ranged reads; `FileNotFoundError` if missing.
    fn open(&self, py: Python<'_>, name: String) -> PyResult<Reader> {
        let opened = block_on(py, self.storage(py)?.open(&name))?;
        Ok(Reader::new(self.storage(py)?.clone(), name, opened))
    }

    /// Whether `name` exists.
    fn exists(&self, py: Python<'_>, name: String) -> PyResult<bool> {
        block_on(py, self.storage(py)?.exists(&name))
    }

    /// Delete `name`; a missing name is not an error (as Django's storages).
    fn delete(&self, py: Python<'_>, name: String) -> PyResult<()> {
        block_on(py, self.storage(py)?.delete(&name))
    }

    /// The size of `name` in bytes.
    fn size(&self, py: Python<'_>, name: String) -> PyResult<u64> {
        block_on(py, self.storage(py)?.size(&name))
    }

    /// Django's `listdir`: the directories and the files directly in `path`.
    fn listdir(&self, py: Python<'_>, path: String) -> PyResult<(Vec<String>, Vec<String>)> {
        block_on(py, self.storage(py)?.listdir(&path))
    }

    /// The size, time of the last write (aware, UTC), ETag and attributes of `name`, as a dict.
    fn metadata<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyDict>> {
        let metadata = block_on(py, self.storage(py)?.metadata(&name))?;
        let dict = PyDict::new(py);
        dict.set_item("name", &metadata.meta.key)?;
        dict.set_item("size", metadata.meta.size)?;
        dict.set_item("last_modified", metadata.meta.last_modified)?;
        dict.set_item("etag", &metadata.meta.etag)?;
        let attributes = &metadata.attributes;
        dict.set_item("content_type", &attributes.content_type)?;
        dict.set_item("cache_control", &attributes.cache_control)?;
        dict.set_item("content_disposition", &attributes.content_disposition)?;
        dict.set_item("content_encoding", &attributes.content_encoding)?;
        dict.set_item("content_language", &attributes.content_language)?;
        dict.set_item("metadata", &attributes.metadata)?;
        Ok(dict)
    }

    /// The URL to hand out for `name`: the storage's policy (public, or signed for its expiry) when no option is
    /// given; else a signed URL for `expires` (default: the storage's expiry) with the response overrides asked.
    #[pyo3(signature = (name, *, expires = None, download_name = None, inline = false, response_content_type = None))]
    fn url(
        &self,
        py: Python<'_>,
        name: String,
        expires: Option<&Bound<'_, PyAny>>,
        download_name: Option<String>,
        inline: bool,
        response_content_type: Option<String>,
    ) -> PyResult<String> {
        let expires = optional_duration(expires)?;
        if expires.is_none() && download_name.is_none() && !inline && response_content_type.is_none() {
            return block_on(py, self.storage(py)?.url(&name));
        }
        let expires = expires.unwrap_or(match self.storage.options().url_policy {
            UrlPolicy::Signed { expires } => expires,
            UrlPolicy::Public => storage_core::DEFAULT_EXPIRY,
        });
        let mut options = UrlOptions::get().with_inline(inline);
        if let Some(download_name) = download_name {
            options = options.with_download_name(download_name);
        }
        if let Some(content_type) = response_content_type {
            options = options.with_response_content_type(content_type);
        }
        block_on(py, self.storage(py)?.temporary_url(&name, expires, options))
    }

    /// A form a browser posts a file with, straight to the storage, within the limits given: `{"url", "method",
    /// "fields"}` (fields in order, before the file field `file`). `key` is one exact name, `prefix` any name under it.
    /// `success_redirect`: where the storage sends the browser once the file is stored, the stored `key` added to its
    /// query (S3's `success_action_redirect`, which adds `bucket` and `etag` too).
    #[pyo3(signature = (*, key = None, prefix = None, min_size = None, max_size = None, content_type = None, expires = None, allow_overwrite = false, success_redirect = None))]
    #[allow(clippy::too_many_arguments)]
    fn upload_form<'py>(
        &self,
        py: Python<'py>,
        key: Option<String>,
        prefix: Option<String>,
        min_size: Option<u64>,
        max_size: Option<u64>,
        content_type: Option<String>,
        expires: Option<&Bound<'py, PyAny>>,
        allow_overwrite: bool,
        success_redirect: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let key = match (key, prefix) {
            (Some(key), None) => UploadPolicy::exact(key),
            (None, Some(prefix)) => UploadPolicy::prefix(prefix),
            _ => return Err(PyValueError::new_err("upload_form: give exactly one of key and prefix")),
        };
        let mut policy =
            UploadArgs { start: key, min_size, max_size, content_type, expires, allow_overwrite }.policy()?;
        if let Some(url) = success_redirect {
            policy = policy.with_success_redirect(url);
        }
        let form = block_on(py, self.storage(py)?.upload_form(&policy))?;
        let dict = PyDict::new(py);
        dict.set_item("url", &form.url)?;
        dict.set_item("method", form.method())?;
        dict.set_item("fields", form.fields)?;
        Ok(dict)
    }

    /// A presigned PUT of exactly `name`: `{"method", "url", "headers"}`, the headers to send as given.
    #[pyo3(signature = (name, *, size = None, content_type = None, expires = None, allow_overwrite = false))]
    fn upload_url<'py>(
        &self,
        py: Python<'py>,
        name: String,
        size: Option<u64>,
        content_type: Option<String>,
        expires: Option<&Bound<'py, PyAny>>,
        allow_overwrite: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let key = UploadPolicy::exact(name);
        let policy = UploadArgs { start: key, min_size: size, max_size: size, content_type, expires, allow_overwrite }
            .policy()?;
        let request = block_on(py, self.storage(py)?.upload_url(&policy))?;
        let dict = PyDict::new(py);
        dict.set_item("method", request.method.as_str())?;
        dict.set_item("url", &request.url)?;
        dict.set_item("headers", PyDict::from_sequence(&request.headers.into_pyobject(py)?)?)?;
        Ok(dict)
    }

    /// Copy `source` to `target` (or the alternative name the policy picks); returns the name written.
    fn copy(&self, py: Python<'_>, source: String, target: String) -> PyResult<String> {
        block_on(py, self.storage(py)?.copy(&source, &target))
    }

    /// Move `source` to `target` (or the alternative name the policy picks); returns the name written.
    fn rename(&self, py: Python<'_>, source: String, target: String) -> PyResult<String> {
        block_on(py, self.storage(py)?.rename(&source, &target))
    }

    /// Django's `get_available_name`: `name` if free, else `name_XXXXXXX.ext`, within `max_length`. Only a hint:
    /// `save` claims its name itself, atomically.
    #[pyo3(signature = (name, max_length = None))]
    fn get_available_name(&self, py: Python<'_>, name: String, max_length: Option<usize>) -> PyResult<String> {
        block_on(py, self.storage(py)?.get_available_name(&name, max_length))
    }

    /// Django's `Storage.generate_filename`: a valid file name under a normalised directory.
    fn generate_filename(&self, py: Python<'_>, filename: &str) -> PyResult<String> {
        storage_core::name::storage_generate_filename(filename).map_err(|err| to_python(py, err))
    }

    /// The local path of `name`, for a disk storage only (`NotImplementedError` elsewhere, as Django's storages).
    fn path(&self, py: Python<'_>, name: &str) -> PyResult<PathBuf> {
        let Some(root) = &self.root else {
            return Err(PyNotImplementedError::new_err(format!(
                "path: a {} storage has no local paths; open the file instead",
                self.backend
            )));
        };
        validate_key(name).map_err(|err| to_python(py, err))?;
        Ok(root.join(name))
    }

    /// Answer one request for this storage's own links (disk and memory storages, whose `base_url` names where they
    /// are answered): `method`, `target` (the path from the root, percent-encoded, and `?query`), `headers` as
    /// `(name, value)` pairs, and for a PUT or POST `body`, a file object read in chunks. Returns a `LinkResponse`
    /// whose body streams. The same answers as `storage serve`: 403 for a tampered, expired or unsigned private link.
    #[pyo3(signature = (method, target, headers, body = None))]
    fn answer_link(
        &self,
        py: Python<'_>,
        method: &str,
        target: &str,
        headers: Vec<(String, String)>,
        body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<LinkResponse> {
        let storage = self.storage(py)?;
        let links = match self.links.get() {
            Some(links) => links,
            None => {
                let signer = self.built.signer().map_err(|err| to_python(py, err))?.ok_or_else(|| {
                    PyNotImplementedError::new_err(format!(
                        "answer_link: a {} storage's links are answered by the storage itself, not by the app",
                        self.backend
                    ))
                })?;
                self.links.get_or_init(|| SignedUrlService::new(storage.clone(), signer))
            }
        };
        links::answer(py, links, method, target, headers, body)
    }

    fn __repr__(&self) -> String {
        format!("<storage_rs.Storage backend={}>", self.backend)
    }
}

/// Django's `get_valid_name`: `name` cleaned into a safe file name (`"john's portrait.jpg"` → `johns_portrait.jpg`).
#[pyfunction]
pub(crate) fn get_valid_name(py: Python<'_>, name: &str) -> PyResult<String> {
    storage_core::name::get_valid_name(name).map_err(|err| to_python(py, err))
}

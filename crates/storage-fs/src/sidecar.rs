//! Lossless metadata on disk: attributes and ACL in a JSON sidecar per key, under `.storage/meta/`.
//!
//! Sidecars are named by a hash of the key, so no key can collide with another's sidecar whatever it contains. Each
//! records the inode of the file it describes and is ignored when the file under the key is another one: a replaced
//! file never shows stale attributes, and a save need not delete old sidecars. A content type equal to the one
//! guessed from the name is not written, so a plain save costs one file, not two.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use storage_core::{Acl, Attributes, guess_content_type};

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sidecar {
    pub key: String,
    /// The inode of the data file this sidecar belongs to.
    pub inode: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
}

impl Sidecar {
    /// The sidecar for `key`, or `None` when everything about the object can be derived from its name.
    pub fn for_object(key: &str, attributes: &Attributes, acl: Option<Acl>) -> Option<Sidecar> {
        let guessed = guess_content_type(key);
        let sidecar = Sidecar {
            key: key.to_owned(),
            inode: 0,
            content_type: attributes.content_type.clone().filter(|ct| *ct != guessed),
            cache_control: attributes.cache_control.clone(),
            content_disposition: attributes.content_disposition.clone(),
            content_encoding: attributes.content_encoding.clone(),
            content_language: attributes.content_language.clone(),
            metadata: attributes.metadata.clone(),
            acl: acl.map(|acl| acl.as_str().to_owned()),
        };
        (sidecar != Sidecar { key: key.to_owned(), ..Sidecar::default() }).then_some(sidecar)
    }

    /// The attributes of `key` given its sidecar, if any.
    pub fn attributes(sidecar: Option<&Sidecar>, key: &str) -> Attributes {
        let mut attributes = Attributes::default();
        if let Some(sidecar) = sidecar {
            attributes.cache_control.clone_from(&sidecar.cache_control);
            attributes.content_disposition.clone_from(&sidecar.content_disposition);
            attributes.content_encoding.clone_from(&sidecar.content_encoding);
            attributes.content_language.clone_from(&sidecar.content_language);
            attributes.metadata.clone_from(&sidecar.metadata);
            attributes.content_type.clone_from(&sidecar.content_type);
        }
        attributes.content_type.get_or_insert_with(|| guess_content_type(key));
        attributes
    }

    pub fn acl(sidecar: Option<&Sidecar>) -> Option<Acl> {
        sidecar.and_then(|s| s.acl.as_deref()).and_then(|acl| acl.parse().ok())
    }

    /// The same attributes for another key or file.
    pub fn describing(mut self, key: &str, inode: u64) -> Sidecar {
        self.key = key.to_owned();
        self.inode = inode;
        self
    }
}

/// Where the sidecar of `key` lives.
pub(crate) fn path(root: &Path, key: &str) -> PathBuf {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    root.join(crate::paths::RESERVED_DIR).join("meta").join(&hex[..2]).join(format!("{hex}.json"))
}

/// Read the sidecar of the file `inode` under `key`; a missing, unreadable or stale one counts as none.
pub(crate) fn read(root: &Path, key: &str, inode: u64) -> Option<Sidecar> {
    let bytes = std::fs::read(path(root, key)).ok()?;
    serde_json::from_slice::<Sidecar>(&bytes).ok().filter(|sidecar| sidecar.key == key && sidecar.inode == inode)
}

/// Serialise a sidecar to a temporary file next to the others, ready to be renamed into place.
pub(crate) fn write_temp(temp_dir: &Path, sidecar: &Sidecar) -> io::Result<PathBuf> {
    let temp = crate::temp_path(temp_dir);
    std::fs::write(&temp, serde_json::to_vec(sidecar).map_err(io::Error::other)?)?;
    Ok(temp)
}

/// Put a prepared sidecar in place for `key`.
pub(crate) fn publish(root: &Path, key: &str, prepared: PathBuf) -> io::Result<()> {
    let target = path(root, key);
    std::fs::create_dir_all(target.parent().expect("sidecars live in a directory"))?;
    std::fs::rename(prepared, target)
}

pub(crate) fn remove(root: &Path, key: &str) -> io::Result<()> {
    match std::fs::remove_file(path(root, key)) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

//! The signing key of a disk storage's links: one file, `id:base64-secret`, created once with mode 0600 and refused
//! when other users can read it, when another user owns it, or when its path is a symbolic link.

use std::path::Path;

use storage_core::signing::SigningKey;
use storage_core::{Error, Result};

fn key_error(message: String) -> Error {
    Error::configuration("the url signer", message).on_backend(crate::NAME)
}

/// The signing key in `path` (`id:base64-secret`), created with mode 0600 when missing.
///
/// Several processes may start on a new directory at once, so the key is created once, complete or not at all: it is
/// written to a temporary file beside `path` and published with a hard link, which never replaces; a process that
/// loses the race reads the winner's key.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey> {
    let bad = |what: String| key_error(format!("signing key file {}: {what}", path.display()));
    match read_key(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        read => return read.map_err(|err| bad(err.to_string()))?,
    }
    let key = SigningKey::generate();
    match publish_key(path, &key) {
        Ok(()) => Ok(key),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(path).map_err(|err| bad(err.to_string()))?
        }
        Err(err) => Err(bad(err.to_string())),
    }
}

fn key_engine() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Permission bits a signing key must not have: any access by group or others, as ssh requires of private keys.
const KEY_SHARED_BITS: u32 = 0o077;

/// The key in the file at `path`: the I/O error, or the key or what is wrong with the file (readable by others) or
/// the text.
fn read_key(path: &Path) -> std::io::Result<Result<SigningKey>> {
    use base64::Engine as _;
    use std::io::Read as _;
    use std::os::unix::fs::MetadataExt as _;
    use std::os::unix::fs::PermissionsExt as _;
    let bad = |what: &str| key_error(format!("signing key file {}: {what}", path.display()));
    // Never through a symbolic link: whoever could swap the link would choose the key.
    let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC;
    let mut file = match rustix::fs::open(path, flags, rustix::fs::Mode::empty()) {
        Ok(fd) => std::fs::File::from(fd),
        Err(rustix::io::Errno::LOOP) => {
            return Ok(Err(bad("it is a symbolic link; point the setting at the key file itself")));
        }
        Err(err) => return Err(err.into()),
    };
    // The mode and owner of the file opened, not of whatever the path names a moment later.
    let metadata = file.metadata()?;
    if let Err(owner) = owned_by_us(metadata.uid(), rustix::process::geteuid().as_raw()) {
        return Ok(Err(bad(&owner)));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & KEY_SHARED_BITS != 0 {
        return Ok(Err(bad(&format!(
            "group or others can access it (mode {mode:04o}), so another local user could forge links; run \
             `chmod 600 {}`",
            path.display()
        ))));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok((|| {
        let (id, secret) = text.trim().split_once(':').ok_or_else(|| bad("expected `id:base64-secret`"))?;
        let secret = key_engine().decode(secret).map_err(|_| bad("the secret is not base64"))?;
        SigningKey::new(id, secret)
    })())
}

/// A key another user owns could be that user's, swapped in: refused, as ssh refuses such a private key (root's
/// keys excepted, which every user's processes trust anyway).
fn owned_by_us(owner: u32, us: u32) -> std::result::Result<(), String> {
    if owner == us || owner == 0 {
        return Ok(());
    }
    Err(format!(
        "it is owned by user {owner}, not by this process's user {us}; run `chown {us}` on it, or make a new key"
    ))
}

/// Write `key` to a private temporary file beside `path`, then link it to `path` unless a key is there already.
fn publish_key(path: &Path, key: &SigningKey) -> std::io::Result<()> {
    use base64::Engine as _;
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Owner-only whatever the umask, like the rest of `.storage/`.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700).create(dir)?;
    // tempfile creates the file with mode 0600, never readable by others, and removes it when dropped.
    let mut temp = tempfile::Builder::new().prefix(".signing-key-").tempfile_in(dir)?;
    temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    temp.write_all(format!("{}:{}\n", key.id(), key_engine().encode(key.secret())).as_bytes())?;
    temp.as_file().sync_all()?;
    std::fs::hard_link(temp.path(), path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_signing_key_behind_a_symbolic_link_or_owned_by_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real-key");
        super::load_or_create_key(&real).unwrap();
        let link = dir.path().join("signing-key");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let message = super::load_or_create_key(&link).expect_err("a key behind a link").to_string();
        assert!(message.contains("symbolic link"), "{message}");
        assert!(super::owned_by_us(1000, 1000).is_ok() && super::owned_by_us(0, 1000).is_ok());
        let foreign = super::owned_by_us(65534, 1000).expect_err("another user's key");
        assert!(foreign.contains("owned by user 65534") && foreign.contains("chown 1000"), "{foreign}");
    }

    #[test]
    fn a_signing_key_group_or_others_can_access_is_refused_with_the_chmod_hint() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-key");
        let made = super::load_or_create_key(&path).unwrap();
        let chmod = |mode: u32| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620] {
            chmod(mode);
            let err = super::load_or_create_key(&path).expect_err("a key others can access");
            let message = err.to_string();
            let hint = format!("run `chmod 600 {}`", path.display());
            assert!(message.contains(&format!("mode {mode:04o}")) && message.contains(&hint), "{message}");
            let secret = base64::Engine::encode(&super::key_engine(), made.secret());
            assert!(!message.contains(&secret), "the error never carries the secret");
        }
        chmod(0o600);
        assert_eq!(super::load_or_create_key(&path).unwrap().id(), made.id(), "a 0600 key is accepted");
        chmod(0o400);
        assert_eq!(super::load_or_create_key(&path).unwrap().id(), made.id(), "and a read-only one");
    }
}

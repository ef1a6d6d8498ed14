//! File modes follow ACLs: private files are 0600 and public ones 0644 whatever the process umask, `set_acl` flips
//! the mode, and a private file is never readable by others, not even as a temporary file half written. Directories
//! are 0755 (or `dir_mode`), `.storage/` 0700, and a root or `.storage/` that others can write is refused.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::runtime;
use bytes::Bytes;
use storage_core::{Acl, Attributes, Backend, Content, PutOptions, SaveOptions, WriteMode};
use storage_fs::{FsBackend, RESERVED_DIR};

/// Set in a child of `modes_follow_acls_under_umask_0_and_022`: the umask it runs under, in octal.
const UMASK: &str = "STORAGE_FS_TEST_UMASK";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The process's umask, from the kernel.
fn current_umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|line| line.strip_prefix("Umask:")).expect("a Umask line");
    u32::from_str_radix(line.trim(), 8).unwrap()
}

/// Saves of every kind, private and public, `set_acl` both ways, and a copy: each file's mode follows its ACL.
async fn check_modes(root: &Path) {
    let backend = FsBackend::new(root).unwrap();
    let storage = backend.storage();
    let public_storage = backend.storage().with_default_acl(Some(Acl::PublicRead));
    let stream = || Content::from_stream(futures::stream::iter([Ok(Bytes::from("streamed"))]), None);
    let file = root.join("local-source.txt");
    std::fs::write(&file, "from a local file").unwrap();

    storage.save("private/bytes.txt", "p").await.unwrap();
    storage.save("private/stream.txt", stream()).await.unwrap();
    storage.save("private/file.txt", Content::from_path(&file)).await.unwrap();
    let authenticated = SaveOptions::default().with_acl(Acl::AuthenticatedRead);
    storage.save_with("private/authenticated.txt", "a", authenticated).await.unwrap();
    storage.save_with("public/bytes.txt", "p", SaveOptions::default().with_acl(Acl::PublicRead)).await.unwrap();
    public_storage.save("public/stream.txt", stream()).await.unwrap();
    public_storage.save("public/file.txt", Content::from_path(&file)).await.unwrap();
    storage.copy("public/bytes.txt", "public/copy.txt").await.unwrap();
    storage.copy("private/bytes.txt", "private/copy.txt").await.unwrap();
    for key in ["private/bytes.txt", "private/stream.txt", "private/file.txt", "private/authenticated.txt"] {
        assert_eq!(mode(&root.join(key)), 0o600, "{key}");
    }
    for key in ["public/bytes.txt", "public/stream.txt", "public/file.txt", "public/copy.txt"] {
        assert_eq!(mode(&root.join(key)), 0o644, "{key}");
    }
    assert_eq!(mode(&root.join("private/copy.txt")), 0o600);

    storage.set_acl("private/bytes.txt", Acl::PublicRead).await.unwrap();
    assert_eq!(mode(&root.join("private/bytes.txt")), 0o644, "made public");
    storage.set_acl("public/bytes.txt", Acl::Private).await.unwrap();
    assert_eq!(mode(&root.join("public/bytes.txt")), 0o600, "made private");
    storage.rename("public/bytes.txt", "moved/bytes.txt").await.unwrap();
    assert_eq!(mode(&root.join("moved/bytes.txt")), 0o600, "a rename keeps the mode");

    // Directories too: no other user may write in them, whatever the umask.
    storage.save("deep/er/still.txt", "d").await.unwrap();
    for dir in ["private", "public", "moved", "deep", "deep/er"] {
        assert_eq!(mode(&root.join(dir)), 0o755, "{dir}/");
    }
    for dir in [RESERVED_DIR.to_owned(), format!("{RESERVED_DIR}/tmp")] {
        assert_eq!(mode(&root.join(&dir)), 0o700, "{dir}/ is its owner's alone");
    }
    let custom = FsBackend::new(root).unwrap().with_dir_mode(0o750).storage();
    custom.save("custom/nested/a.txt", "c").await.unwrap();
    for dir in ["custom", "custom/nested"] {
        assert_eq!(mode(&root.join(dir)), 0o750, "{dir}/ has the dir_mode asked for");
    }
}

/// A private save whose stream has not given its first byte yet: its temporary file is already 0600.
async fn check_a_private_temp_file_is_never_readable_by_others(root: &Path) {
    let backend = FsBackend::new(root).unwrap();
    let (polled_tx, polled_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    // The first poll happens once the temporary file exists: it says so, then waits for the test's look.
    let stream = futures::stream::once(async move {
        polled_tx.send(()).unwrap();
        release_rx.await.unwrap();
        Ok(Bytes::from("secret"))
    });
    let options = PutOptions::new(WriteMode::CreateOnly, Attributes::default(), None);
    let put = backend.put("secret.txt", Content::from_stream(stream, None), options);
    let look = async {
        polled_rx.await.unwrap();
        let temp: Vec<_> = std::fs::read_dir(root.join(RESERVED_DIR).join("tmp")).unwrap().flatten().collect();
        assert_eq!(temp.len(), 1, "one temporary file: {temp:?}");
        assert_eq!(std::fs::metadata(temp[0].path()).unwrap().len(), 0, "before its first byte");
        assert_eq!(mode(&temp[0].path()), 0o600, "a private file half written");
        release_tx.send(()).unwrap();
    };
    let (put, ()) = tokio::join!(put, look);
    put.unwrap();
    assert_eq!(mode(&root.join("secret.txt")), 0o600);
}

/// A root as its administrator makes it, 0755: under umask 0 a temporary directory is 0777, which the backend refuses.
fn root_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Under the process umask: in a normal run the inherited one, in a child of
/// `modes_follow_acls_under_umask_0_and_022` the one it set.
#[test]
fn modes_follow_acls_under_the_process_umask() {
    if let Ok(umask) = std::env::var(UMASK) {
        assert_eq!(current_umask(), u32::from_str_radix(&umask, 8).unwrap(), "the child runs under its umask");
    }
    let dir = root_dir();
    runtime().block_on(check_modes(dir.path()));
    let dir = root_dir();
    runtime().block_on(check_a_private_temp_file_is_never_readable_by_others(dir.path()));
}

#[test]
fn modes_follow_acls_under_umask_0_and_022() {
    for umask in ["0", "022"] {
        // The umask is the whole process's: each runs in a child of its own, set by the shell that starts it.
        let output = Command::new("sh")
            .args(["-c", "umask \"$STORAGE_FS_TEST_UMASK\" && exec \"$0\" \"$@\""])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "modes::modes_follow_acls_under_the_process_umask", "--test-threads", "1"])
            .env(UMASK, umask)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "umask {umask}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("1 passed"), "umask {umask}: the check ran: {stdout}");
    }
}

/// A root or `.storage/` that group or others can write is refused when the backend opens it, with the command that
/// fixes it, as ssh's `StrictModes` refuses such a home.
#[test]
fn a_root_or_reserved_directory_others_can_write_is_refused_with_the_fix() {
    let set_mode =
        |path: &Path, mode: u32| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    // `.storage/` is made by the first write.
    runtime().block_on(FsBackend::new(&root).unwrap().storage().save("a.txt", "a")).unwrap();
    let reserved = root.join(RESERVED_DIR);
    for (path, loose, what) in
        [(&reserved, 0o770, "reserved directory"), (&reserved, 0o703, "reserved directory"), (&root, 0o777, "root")]
    {
        let strict = mode(path);
        set_mode(path, loose);
        let err = FsBackend::new(&root).expect_err("a directory others can write is refused");
        assert_eq!(err.kind(), storage_core::ErrorKind::Configuration, "{err}");
        let message = err.to_string();
        assert!(message.contains(&format!("the {what} `{}`", path.display())), "{message}");
        assert!(message.contains(&format!("run `chmod go-w {}`", path.display())), "{message}");
        assert!(FsBackend::without_attributes(&root).is_err(), "refused without attributes too");
        set_mode(path, strict);
        FsBackend::new(&root).expect("accepted again once fixed");
    }
}

//! `cargo xtask bench django`: storage_rs's `RustStorage` (the release wheel) against django-storages + boto3, both
//! as Django storages in one Django process on the running gateway (`scripts/django_storage_bench.py`).

use std::process::Command;

use crate::bench::{Goal, measure, value};
use crate::{run, workspace_root};

/// The virtualenv of the bench: django-storages and boto3 as the Python peer pins them, and maturin.
const VENV: &str = "target/bench/django-rust-venv";

/// The virtualenv's python, with this run's release wheel of storage_rs installed in it.
fn python_with_release_wheel() -> Result<std::path::PathBuf, String> {
    let root = workspace_root();
    let venv = root.join(VENV);
    let python = venv.join("bin/python");
    let peers = root.join("xtask/scripts/django-peer.txt");
    let installed = venv.join("installed.txt");
    let wanted = format!("{}{MATURIN}\n", std::fs::read_to_string(&peers).map_err(|err| err.to_string())?);
    if std::fs::read_to_string(&installed).ok().as_deref() != Some(wanted.as_str()) {
        let _ = std::fs::remove_dir_all(&venv);
        run("python3 -m venv", Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        let pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"];
        run("pip install (bench peers)", Command::new(&python).args(pip).arg(&peers).arg(MATURIN))?;
        std::fs::write(&installed, &wanted).map_err(|err| err.to_string())?;
    }
    let wheels = root.join("target/bench/wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    let manifest = root.join("crates/storage-python/Cargo.toml");
    let mut build = Command::new(venv.join("bin/maturin"));
    build.args(["build", "--release", "--quiet", "-m"]).arg(&manifest).arg("-o").arg(&wheels);
    // maturin runs cargo in the workspace (its lock, and the build directory this command was given).
    run("maturin build --release", build.current_dir(&root))?;
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|err| err.to_string())?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or("maturin made no wheel")?;
    let install = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--force-reinstall", "--no-deps"];
    run("pip install storage_rs (release wheel)", Command::new(&python).args(install).arg(&wheel))?;
    Ok(python)
}

/// maturin, pinned as `scripts/storage-rs.sh` pins it for the package's own build.
const MATURIN: &str = "maturin==1.16.0";

pub fn bench() -> Result<Vec<Goal>, String> {
    eprintln!("xtask: bench django (RustStorage vs django-storages + boto3, one Django process, the running RGW)");
    // The running gateway, whatever its store: the 1 GiB object is one at a time and deleted at once.
    let mut settings = crate::s3::start()?;
    let token = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    settings.push(("BENCH_TOKEN".into(), token.to_string()));
    let python = python_with_release_wheel()?;
    let script = workspace_root().join("xtask/scripts/django_storage_bench.py");
    let mut command = Command::new(&python);
    command.arg(script).envs(settings.iter().cloned());
    if let (Some((_, key)), Some((_, secret))) = (
        settings.iter().find(|(name, _)| name == "STORAGE_S3_ACCESS_KEY_ID"),
        settings.iter().find(|(name, _)| name == "STORAGE_S3_SECRET_ACCESS_KEY"),
    ) {
        command.env("AWS_ACCESS_KEY_ID", key).env("AWS_SECRET_ACCESS_KEY", secret);
    }
    let measured = measure("django_storage_bench.py", &mut command)?;
    goals(&measured)
}

fn goals(measured: &std::collections::BTreeMap<String, f64>) -> Result<Vec<Goal>, String> {
    let get = |key: &str| value(measured, key);
    let mut goals = Vec::new();
    let (ours, theirs) = (get("small_ours_ms")?, get("small_django_ms")?);
    goals.push(Goal::new(
        "django 2,000 x 4 KiB saves, 32 threads, Storage.save with each one's defaults: speed vs django-storages",
        format!("{:.1}x ({ours:.0} ms vs {theirs:.0} ms)", theirs / ours),
        ">= 5x",
        theirs / ours >= 5.0,
    ));
    let (ours, theirs, boto3) = (get("presign_ours_per_s")?, get("presign_django_per_s")?, get("presign_boto3_per_s")?);
    goals.push(Goal::new(
        "django presigned GET URLs per second, one thread, Storage.url: vs django-storages' S3Storage.url",
        format!(
            "{:.0}x ({ours:.0}/s vs {theirs:.0}/s; boto3's generate_presigned_url alone {boto3:.0}/s)",
            ours / theirs
        ),
        ">= 30x",
        ours / theirs >= 30.0,
    ));
    let (ours, theirs) = (get("listdir_ours_ms")?, get("listdir_django_ms")?);
    goals.push(Goal::context(
        "django listdir of 19,000 files and 10 directories: time vs django-storages",
        format!("{ours:.0} ms vs {theirs:.0} ms ({:.1}x faster)", theirs / ours),
    ));
    for (side, name) in [("ours", "RustStorage"), ("django", "django-storages")] {
        let key = |what: &str| get(&format!("large_{side}_{what}"));
        let held = (key("peak_kib")? - key("rss_before_kib")?) / 1024.0;
        let what = format!("django 1 GiB save through a file object and read, {name}, own process: peak RSS growth");
        let measured = format!(
            "{held:.1} MiB (process peak {:.0} MiB; save {:.1} s, read {:.1} s)",
            key("peak_kib")? / 1024.0,
            key("save_ms")? / 1000.0,
            key("read_ms")? / 1000.0
        );
        goals.push(if side == "ours" {
            Goal::new(what, measured, "<= 64 MiB", held <= 64.0)
        } else {
            Goal::context(what, measured)
        });
    }
    Ok(goals)
}

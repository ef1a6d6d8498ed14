//! docs/guides/migrate-at-scale.md, run as written: every command in its `sh` blocks, in order, against Ceph RGW.

use std::path::Path;
use std::process::Command;

use crate::backends;
use crate::job::{job, pod_args};

const GUIDE: &str = include_str!("../../../../docs/guides/migrate-at-scale.md");

/// The lines of the guide's `sh` blocks.
fn commands() -> Vec<&'static str> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in GUIDE.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            command if in_sh && !command.is_empty() => commands.push(command),
            _ => {}
        }
    }
    commands
}

/// Every command of the guide runs and succeeds, in order, on a disk (`media`) moving to RGW (`s3-media`): the
/// inventory, the Job's pod command for each of its four indices (the very arguments of the manifest), the status,
/// the verification and the cutover, which leaves the disk empty and keeps nothing.
#[test]
fn the_scale_guide_runs_as_written_against_rgw() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(backends::create_bucket());
    let rgw = storage_conformance::local_rgw();
    let dir = tempfile::tempdir().unwrap();
    let media = storage_fs::FsBackend::new(dir.path().join("media")).unwrap().storage();
    runtime.block_on(backends::write_tree(&media, 4..44));
    let location = backends::unique_prefix();
    let config = crate::job::write_config(dir.path(), &location);
    let run = |args: &[String]| {
        let output = Command::new(env!("CARGO_BIN_EXE_storage"))
            .args(args)
            .current_dir(dir.path())
            .env("STORAGE_CONFIG", &config)
            .env("AWS_ACCESS_KEY_ID", &rgw["STORAGE_S3_ACCESS_KEY_ID"])
            .env("AWS_SECRET_ACCESS_KEY", &rgw["STORAGE_S3_SECRET_ACCESS_KEY"])
            .output()
            .unwrap();
        assert!(output.status.success(), "`storage {}`: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };

    let commands = commands();
    assert!(commands.len() >= 8, "{commands:?}");
    let manifest = job();
    let mut last = String::new();
    for command in commands {
        if let Some(file) = command.strip_prefix("kubectl apply -f ") {
            assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(file).is_file(), "{file}");
            continue;
        }
        let args: Vec<String> =
            command.strip_prefix("storage ").expect(command).split_whitespace().map(str::to_owned).collect();
        if command.contains("$JOB_COMPLETION_INDEX") {
            for index in 0..4 {
                let pod: Vec<String> =
                    args.iter().map(|arg| arg.replace("$JOB_COMPLETION_INDEX", &index.to_string())).collect();
                assert_eq!(pod, pod_args(&manifest, index), "the guide's pod command is the manifest's");
                run(&pod);
            }
            continue;
        }
        last = run(&args);
        if command.starts_with("storage migrate status") && command.ends_with("--json") {
            let status: serde_json::Value = serde_json::from_str(&last).unwrap();
            assert_eq!((status["complete"].as_bool(), status["shards"].as_u64()), (Some(true), Some(4)), "{status}");
        }
    }
    let cutover: serde_json::Value = serde_json::from_str(&last).unwrap();
    let kept = |field: &str| cutover[field].as_array().map(Vec::len);
    assert_eq!(
        (cutover["deleted"].as_u64(), kept("kept_changed"), kept("kept_differing")),
        (Some(40), Some(0), Some(0))
    );
    let left: Vec<_> = runtime.block_on(futures::TryStreamExt::try_collect::<Vec<_>>(media.list(""))).unwrap();
    assert!(left.is_empty(), "the cutover deleted every verified source: {left:?}");
}

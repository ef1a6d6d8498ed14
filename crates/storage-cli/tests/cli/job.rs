//! The Kubernetes Job of docs/deploy/migrate-job.yaml, run for real: its exact arguments as four `storage`
//! processes against Ceph RGW, one killed with SIGKILL mid-way and started again; and the Dockerfile's shape.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use md5::Digest;
use serde::Deserialize;
use storage_core::{Acl, Attributes, Content, PutOptions, Storage, WriteMode};
use storage_migrate::{Shard, parse_record};

use crate::backends;

const MANIFEST: &str = include_str!("../../../../docs/deploy/migrate-job.yaml");
const DOCKERFILE: &str = include_str!("../../../../Dockerfile");

/// The parts of the manifest's documents the tests read (everything else is Kubernetes' business).
#[derive(Deserialize)]
struct Document {
    kind: String,
    #[serde(default)]
    data: HashMap<String, String>,
    spec: Option<JobSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobSpec {
    completion_mode: String,
    completions: u64,
    parallelism: u64,
    backoff_limit_per_index: u64,
    max_failed_indexes: u64,
    template: PodTemplate,
}

#[derive(Deserialize)]
struct PodTemplate {
    spec: PodSpec,
}

#[derive(Deserialize)]
struct PodSpec {
    containers: Vec<Container>,
}

#[derive(Deserialize)]
struct Container {
    args: Vec<String>,
    env: Vec<EnvVar>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvVar {
    name: String,
    value: Option<String>,
    value_from: Option<serde_yaml_ng::Value>,
}

fn documents() -> Vec<Document> {
    serde_yaml_ng::Deserializer::from_str(MANIFEST).map(|document| Document::deserialize(document).unwrap()).collect()
}

pub(crate) fn job() -> JobSpec {
    documents().into_iter().find(|document| document.kind == "Job").and_then(|job| job.spec).expect("a Job")
}

/// The Job's container arguments for pod `index`, with `$(JOB_COMPLETION_INDEX)` expanded from the environment
/// variable the pod has, as the kubelet expands `$(VAR)` references.
pub(crate) fn pod_args(job: &JobSpec, index: u64) -> Vec<String> {
    let container = &job.template.spec.containers[0];
    container.args.iter().map(|arg| arg.replace("$(JOB_COMPLETION_INDEX)", &index.to_string())).collect()
}

/// The manifest is an Indexed Job whose pods run `storage migrate --shard $(JOB_COMPLETION_INDEX)/N --job …` with
/// N the number of completions, credentials from the Secret, the config from the ConfigMap's storage.toml (which
/// names the storages the arguments use), and a per-index retry limit.
#[test]
fn job_manifest_is_an_indexed_job_of_shards_with_secret_credentials() {
    let job = job();
    assert_eq!(job.completion_mode, "Indexed");
    assert_eq!((job.completions, job.parallelism), (4, 4));
    assert!(job.backoff_limit_per_index >= 1 && job.max_failed_indexes >= 1);
    let container = &job.template.spec.containers[0];
    let shard = container.args.iter().position(|arg| arg == "--shard").expect("--shard");
    assert_eq!(container.args[shard + 1], format!("$(JOB_COMPLETION_INDEX)/{}", job.completions));
    assert!(container.args.iter().any(|arg| arg == "--job"), "checkpoints: a killed pod resumes");
    let env: HashMap<_, _> = container.env.iter().map(|var| (var.name.as_str(), var)).collect();
    for secret in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        let from = serde_yaml_ng::to_string(env[secret].value_from.as_ref().expect(secret)).unwrap();
        assert!(from.contains("secretKeyRef"), "{secret} comes from a Secret: {from}");
    }
    let index = serde_yaml_ng::to_string(env["JOB_COMPLETION_INDEX"].value_from.as_ref().unwrap()).unwrap();
    assert!(index.contains("batch.kubernetes.io/job-completion-index"), "{index}");
    assert_eq!(env["STORAGE_CONFIG"].value.as_deref(), Some("/etc/storage/storage.toml"));
    let config = documents().into_iter().find(|document| document.kind == "ConfigMap").unwrap();
    let toml = &config.data["storage.toml"];
    for name in &container.args[1..3] {
        assert!(toml.contains(&format!("[storages.{name}]")), "the ConfigMap configures `{name}`");
    }
}

/// The Dockerfile builds in one stage and runs in another: the runtime image is distroless, every base image has a
/// pinned tag (never `latest`), and the binary runs as a non-root user. (Podman installs here but cannot pull base
/// images: the machine has no route to a registry; docs/guides/migrate-at-scale.md quotes the error.)
#[test]
fn dockerfile_is_multi_stage_pinned_and_non_root() {
    let froms: Vec<&str> = DOCKERFILE.lines().filter_map(|line| line.strip_prefix("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage: {froms:?}");
    for from in &froms {
        let image = from.split_whitespace().next().unwrap();
        let tag = image.rsplit_once(':').map(|(_, tag)| tag).unwrap_or("");
        assert!(!tag.is_empty() && tag != "latest" && !tag.contains('/'), "`{image}` is pinned by tag or digest");
        assert!(image.split('/').next().unwrap().contains('.'), "`{image}` names its registry (podman needs it)");
    }
    assert!(froms[1].contains("distroless/static"), "the runtime is distroless and static: {}", froms[1]);
    assert!(DOCKERFILE.contains("COPY --from=build /storage"), "the runtime copies the built binary only");
    let user = DOCKERFILE.lines().rev().find_map(|line| line.strip_prefix("USER ")).expect("a USER");
    assert!(!user.starts_with('0') && !user.starts_with("root"), "non-root: {user}");
    assert!(DOCKERFILE.contains("cargo build --release --locked -p storage-cli --bin storage"));
}

const FILES: usize = 20_000;
const JOB: &str = "media-move";

/// File `i` of the 20,000: a few hundred bytes at most, a content type, user metadata on a third, and a public
/// ACL on a fifth.
fn small_file(i: usize) -> (String, Vec<u8>, Attributes, Acl) {
    let name = format!("d{:02}/{}-{i}.txt", i % 50, if i % 7 == 0 { "photo é" } else { "file" });
    let mut attributes = Attributes::default().with_content_type(if i % 2 == 0 { "text/plain" } else { "image/jpeg" });
    if i % 3 == 0 {
        attributes = attributes.with_metadata("index", i.to_string());
    }
    let acl = if i % 5 == 0 { Acl::PublicRead } else { Acl::Private };
    (name, storage_conformance::test_bytes(i as u64, i % 400), attributes, acl)
}

/// The number `i` of a file named by [`small_file`].
fn index_of(key: &str) -> usize {
    key.rsplit('-').next().and_then(|tail| tail.strip_suffix(".txt")).unwrap().parse().unwrap()
}

/// A storage.toml in `dir` naming the storages of the manifest: `media`, the directory `media` in `dir`, and
/// `s3-media`, the local RGW at `location`; its path.
pub(crate) fn write_config(dir: &Path, location: &str) -> std::path::PathBuf {
    let rgw = storage_conformance::local_rgw();
    let config = dir.join("storage.toml");
    let toml = format!(
        "[storages.media]\nbackend = \"fs\"\nlocation = \"media\"\n\n[storages.s3-media]\nbackend = \"s3\"\n\
         bucket = \"{}\"\nendpoint = \"{}\"\nregion = \"{}\"\nlocation = \"{location}\"\n",
        rgw["STORAGE_S3_BUCKET"], rgw["STORAGE_S3_ENDPOINT"], rgw["STORAGE_S3_REGION"]
    );
    std::fs::write(&config, toml).unwrap();
    config
}

/// The gateway's log: every request it answered, one line each.
fn gateway_log() -> String {
    let dir = std::env::var("STORAGE_RGW_DIR").unwrap_or_else(|_| "/tmp/storage-rgw".into());
    let path = Path::new(&dir).join("log/client.rgw.log");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("the gateway log {} cannot be read: {err}", path.display()))
}

/// How many times the gateway stored each object under `location` (successful PUTs), by key.
fn puts_by_key(log: &str, bucket: &str, location: &str) -> HashMap<String, usize> {
    let start = format!("\"PUT /{bucket}/{location}/");
    let mut puts = HashMap::new();
    for line in log.lines().filter(|line| line.contains(" HTTP/1.1\" 200 ")) {
        let Some(at) = line.find(&start) else { continue };
        let rest = &line[at + start.len()..];
        let path = rest.split(' ').next().unwrap().split('?').next().unwrap();
        let key = percent_encoding::percent_decode_str(path).decode_utf8().unwrap().into_owned();
        *puts.entry(key).or_insert(0) += 1;
    }
    puts
}

/// The Job's pods as processes: its arguments, its environment (the config file and the credentials where the
/// ConfigMap and the Secret put them), `JOB_COMPLETION_INDEX` set.
struct Pods {
    job: JobSpec,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Pods {
    fn start(&self, index: u64) -> Child {
        Command::new(env!("CARGO_BIN_EXE_storage"))
            .args(pod_args(&self.job, index))
            .current_dir(self.dir.path())
            .env_remove("STORAGE_CONFIG")
            .envs(self.env.iter().cloned())
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[track_caller]
fn finished(child: Child) -> serde_json::Value {
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// 20,000 files from disk to RGW by the Job's command line as four shard processes started together; shard 1 is
/// killed with SIGKILL once it recorded a checkpoint past its start, and started again. The union of the targets
/// is the source, bytes, attributes and ACLs; the gateway's log shows shard 1 stored again at most its in-flight
/// files (the Job's --concurrency) and the others stored each file once; `migrate status` reports four complete
/// shards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_manifest_runs_the_command_the_sharded_test_runs() {
    let started = Instant::now();
    backends::create_bucket().await;
    let rgw = storage_conformance::local_rgw();
    // In memory where the machine has it: 20,000 files are removed from a busy disk in minutes, from tmpfs at once.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
    let media = storage_fs::FsBackend::new(dir.path().join("media")).unwrap().storage();
    futures::stream::iter(0..FILES)
        .for_each_concurrent(32, |i| {
            let media = &media;
            async move {
                let (name, data, attributes, acl) = small_file(i);
                let options = PutOptions::new(WriteMode::Overwrite, attributes, Some(acl));
                media.backend().put(&name, Content::from(data), options).await.unwrap();
            }
        })
        .await;
    let location = backends::unique_prefix();
    let config = crate::job::write_config(dir.path(), &location);
    let env = vec![
        ("STORAGE_CONFIG".to_owned(), config.display().to_string()),
        ("AWS_ACCESS_KEY_ID".to_owned(), rgw["STORAGE_S3_ACCESS_KEY_ID"].clone()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), rgw["STORAGE_S3_SECRET_ACCESS_KEY"].clone()),
    ];
    let pods = Pods { job: job(), dir, env };
    let target = storage_s3::S3Backend::new(backends::s3_config(&location)).unwrap().storage();
    eprintln!("source written in {:?}", started.elapsed());

    let mut children: Vec<Option<Child>> = (0..4).map(|index| Some(pods.start(index))).collect();
    let killed = 1;
    let records = format!(".storage/migrate/{JOB}/{killed}-of-4/");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let keys: Vec<_> = target.list(&records).map_ok(|meta| meta.key).try_collect().await.unwrap();
        if keys.len() >= 2 {
            break; // the start record and one written after 1,000 files
        }
        assert!(Instant::now() < deadline, "shard {killed} recorded no checkpoint");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut child = children[killed].take().unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let latest = latest_record(&target, &records).await;
    assert!(!latest.complete && latest.done_through.is_some(), "killed mid-way: {latest:?}");
    children[killed] = Some(pods.start(killed as u64));
    let reports: Vec<serde_json::Value> = children.into_iter().map(|child| finished(child.unwrap())).collect();
    eprintln!("four shards done in {:?}: {reports:?}", started.elapsed());
    assert!(reports.iter().all(|report| report["failed"].as_array().unwrap().is_empty()), "{reports:?}");

    // The union of the targets is the source: the names, every file's bytes (RGW's ETag of a single PUT is the MD5
    // of its bytes), and every 25th file read back whole with its attributes and ACL.
    let source_keys: Vec<String> = media.list("").map_ok(|meta| meta.key).try_collect().await.unwrap();
    let stored: Vec<(String, Option<String>)> = target
        .list("")
        .map_ok(|meta| (meta.key, meta.etag))
        .try_filter(|(key, _)| std::future::ready(!key.starts_with(".storage/")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(source_keys.len(), FILES);
    assert!(source_keys.iter().eq(stored.iter().map(|(key, _)| key)), "the same names");
    for (i, (key, etag)) in stored.iter().enumerate() {
        let (_, data, _, _) = small_file(index_of(key));
        let md5: [u8; 16] = md5::Md5::digest(&data).into();
        let stored = etag.as_deref().and_then(storage_core::checksum::md5_from_etag);
        assert_eq!(stored, Some(md5), "the bytes of `{key}` ({i})");
    }
    compare_all(&media, &target, &source_keys.iter().step_by(25).cloned().collect::<Vec<_>>()).await;

    // From the gateway's log: what each shard stored.
    let (bucket, concurrency) = (&rgw["STORAGE_S3_BUCKET"], 32);
    let puts = puts_by_key(&gateway_log(), bucket, &location);
    let killed_shard = Shard::new(killed as u64, 4).unwrap();
    let again: Vec<_> = source_keys.iter().filter(|key| puts.get(*key).copied().unwrap_or(0) > 1).collect();
    assert!(again.iter().all(|key| killed_shard.contains(key)), "only the killed shard stored a file twice: {again:?}");
    assert!(again.len() <= concurrency, "shard {killed} stored again only its in-flight files: {}", again.len());
    assert!(source_keys.iter().all(|key| puts.contains_key(key)), "every file was stored through the gateway");

    let output = Command::new(env!("CARGO_BIN_EXE_storage"))
        .args(["migrate", "status", JOB, "--to", "s3-media", "--json"])
        .current_dir(pods.dir.path())
        .env_remove("STORAGE_CONFIG")
        .envs(pods.env.iter().cloned())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((status["complete"].as_bool(), status["shards"].as_u64()), (Some(true), Some(4)), "{status}");
    assert_eq!(status["shard_records"].as_array().unwrap().len(), 4, "{status}");
    assert!(status["missing"].as_array().unwrap().is_empty(), "{status}");
    let totals = &status["totals"];
    assert!(totals["copied"].as_u64().unwrap() + totals["skipped"].as_u64().unwrap() >= FILES as u64, "{status}");
    eprintln!(
        "the 20,000-file Job test took {:?}; shard {killed} stored {} files again",
        started.elapsed(),
        again.len()
    );
    let removing = Instant::now();
    drop(pods);
    eprintln!("removed the source in {:?}", removing.elapsed());
}

async fn latest_record(target: &Storage, folder: &str) -> storage_migrate::Record {
    let keys: Vec<String> = target.list(folder).map_ok(|meta| meta.key).try_collect().await.unwrap();
    let latest = keys.iter().max().unwrap();
    parse_record(&target.read(latest).await.unwrap()).unwrap()
}

/// Every file of `keys` has the same bytes, attributes and ACL on both sides.
async fn compare_all(expected: &Storage, actual: &Storage, keys: &[String]) {
    futures::stream::iter(keys)
        .for_each_concurrent(64, |key| async move {
            let (a, b) = (expected.open(key).await.unwrap(), actual.open(key).await.unwrap());
            assert_eq!(a.metadata.attributes, b.metadata.attributes, "the attributes of `{key}`");
            let (a, b) = (read_all(a).await, read_all(b).await);
            assert!(a == b, "the bytes of `{key}`");
            assert_eq!(expected.acl(key).await.unwrap(), actual.acl(key).await.unwrap(), "the ACL of `{key}`");
        })
        .await;
}

async fn read_all(object: storage_core::GetResult) -> Vec<u8> {
    object
        .stream
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .unwrap()
}

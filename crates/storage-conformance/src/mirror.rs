//! The mirror storage against a model of its two members: random operation sequences (saves under every policy,
//! deletes, copies, renames, reads, listings, live backfills) over a primary and a mirror that start with different
//! contents. Every answer must be what the union of the members predicts, and each member must end up holding
//! exactly what the model says; then a stress run with concurrent writers and a backfill.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::TryStreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use storage_core::{ErrorKind, OverwritePolicy, Storage};
use storage_migrate::{MigrateOptions, MirrorBackend, migrate};

use crate::Fixture;
use crate::model::{DIRS, NAMES, PREFIXES, check_written, clear, model_listdir};

/// One step through the mirror storage.
#[derive(Debug, Clone)]
pub enum Step {
    /// `save` under a policy.
    Save {
        /// Index into the names.
        name: usize,
        /// What to save.
        data: Vec<u8>,
        /// The storage's policy.
        policy: OverwritePolicy,
    },
    /// `read`.
    Read {
        /// Index into the names.
        name: usize,
    },
    /// `delete`.
    Delete {
        /// Index into the names.
        name: usize,
    },
    /// `exists`.
    Exists {
        /// Index into the names.
        name: usize,
    },
    /// `copy` under a policy.
    Copy {
        /// Index into the names.
        from: usize,
        /// Index into the names.
        to: usize,
        /// The storage's policy.
        policy: OverwritePolicy,
    },
    /// `rename` under a policy.
    Rename {
        /// Index into the names.
        from: usize,
        /// Index into the names.
        to: usize,
        /// The storage's policy.
        policy: OverwritePolicy,
    },
    /// `list` of a prefix.
    List {
        /// Index into the prefixes.
        prefix: usize,
    },
    /// `listdir` of a directory.
    ListDir {
        /// Index into the directories.
        dir: usize,
    },
    /// A live backfill, `migrate` from the mirror to the primary.
    Backfill,
}

/// A case: what each member holds at the start, whether reads copy back, and the steps.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Objects only the primary holds at the start (or holds newer than the mirror's), by name index.
    pub primary: Vec<(usize, Vec<u8>)>,
    /// Objects the mirror holds at the start, by name index.
    pub mirror: Vec<(usize, Vec<u8>)>,
    /// Whether the mirror storage reads through.
    pub read_through: bool,
    /// The steps.
    pub steps: Vec<Step>,
}

fn policy() -> impl Strategy<Value = OverwritePolicy> {
    prop_oneof![Just(OverwritePolicy::Overwrite), Just(OverwritePolicy::Unique), Just(OverwritePolicy::Fail)]
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..24)
}

fn step() -> impl Strategy<Value = Step> {
    let name = 0..NAMES.len();
    prop_oneof![
        4 => (name.clone(), data(), policy()).prop_map(|(name, data, policy)| Step::Save { name, data, policy }),
        2 => name.clone().prop_map(|name| Step::Read { name }),
        2 => name.clone().prop_map(|name| Step::Delete { name }),
        1 => name.clone().prop_map(|name| Step::Exists { name }),
        2 => (name.clone(), name.clone(), policy()).prop_map(|(from, to, policy)| Step::Copy { from, to, policy }),
        2 => (name.clone(), name, policy()).prop_map(|(from, to, policy)| Step::Rename { from, to, policy }),
        1 => (0..PREFIXES.len()).prop_map(|prefix| Step::List { prefix }),
        1 => (0..DIRS.len()).prop_map(|dir| Step::ListDir { dir }),
        1 => Just(Step::Backfill),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let contents = || proptest::collection::vec((0..NAMES.len(), data()), 0..5);
    (contents(), contents(), any::<bool>(), proptest::collection::vec(step(), 1..30))
        .prop_map(|(primary, mirror, read_through, steps)| Scenario { primary, mirror, read_through, steps })
}

/// What each member holds.
#[derive(Debug, Default)]
struct Members {
    primary: BTreeMap<String, Bytes>,
    mirror: BTreeMap<String, Bytes>,
}

impl Members {
    /// What the mirror storage shows for `key`: the primary's object, else the mirror's.
    fn get(&self, key: &str) -> Option<&Bytes> {
        self.primary.get(key).or_else(|| self.mirror.get(key))
    }
    fn union(&self) -> BTreeMap<String, Bytes> {
        let mut union = self.mirror.clone();
        union.extend(self.primary.iter().map(|(k, v)| (k.clone(), v.clone())));
        union
    }
    fn write(&mut self, key: &str, data: Bytes) {
        self.primary.insert(key.to_owned(), data.clone());
        self.mirror.insert(key.to_owned(), data);
    }
    fn remove(&mut self, key: &str) {
        self.primary.remove(key);
        self.mirror.remove(key);
    }
    /// The name a write to `target` takes under `policy`, `None` for a fresh alternative, or the error kind.
    fn predict(&self, target: &str, policy: OverwritePolicy) -> Result<Option<String>, ErrorKind> {
        match (policy, self.get(target).is_some()) {
            (OverwritePolicy::Overwrite, _) | (_, false) => Ok(Some(target.to_owned())),
            (OverwritePolicy::Fail, true) => Err(ErrorKind::AlreadyExists),
            (OverwritePolicy::Unique, true) => Ok(None),
        }
    }
}

fn fail(context: &str, err: storage_core::Error) -> TestCaseError {
    TestCaseError::fail(format!("{context}: {err}"))
}

async fn contents(storage: &Storage) -> Result<BTreeMap<String, Bytes>, TestCaseError> {
    let keys: Vec<String> =
        storage.list("").map_ok(|meta| meta.key).try_collect().await.map_err(|e| fail("list a member", e))?;
    let mut contents = BTreeMap::new();
    for key in keys {
        let data = storage.read(&key).await.map_err(|e| fail("read a member", e))?;
        contents.insert(key, data);
    }
    Ok(contents)
}

async fn apply(primary: &Storage, mirror: &Storage, scenario: Scenario) -> Result<(), TestCaseError> {
    clear(primary).await;
    clear(mirror).await;
    let mut members = Members::default();
    for (storage, start, held) in
        [(mirror, &scenario.mirror, &mut members.mirror), (primary, &scenario.primary, &mut members.primary)]
    {
        for (name, data) in start {
            storage.backend().put(NAMES[*name], data.clone().into(), Default::default()).await.expect("seed");
            held.insert(NAMES[*name].to_owned(), data.clone().into());
        }
    }
    let base = MirrorBackend::of(primary, &[mirror]).with_read_through(scenario.read_through).storage();
    let storage = |policy| base.clone().with_overwrite(policy);
    for step in scenario.steps {
        match step {
            Step::Save { name, data, policy } => {
                let target = NAMES[name];
                let predicted = members.predict(target, policy);
                let actual = storage(policy).save(target, data.clone()).await;
                if let Some(stored) = check_written(|name| members.get(name).is_some(), target, predicted, actual)? {
                    members.write(&stored, data.into());
                }
            }
            Step::Read { name } => {
                let key = NAMES[name];
                let actual = base.read(key).await.map_err(|e| e.kind());
                prop_assert_eq!(actual, members.get(key).cloned().ok_or(ErrorKind::NotFound), "read {}", key);
                if scenario.read_through && !members.primary.contains_key(key) {
                    if let Some(data) = members.mirror.get(key).cloned() {
                        members.primary.insert(key.to_owned(), data);
                    }
                }
            }
            Step::Delete { name } => {
                base.delete(NAMES[name]).await.map_err(|e| fail("delete", e))?;
                members.remove(NAMES[name]);
            }
            Step::Exists { name } => {
                let actual = base.exists(NAMES[name]).await.map_err(|e| fail("exists", e))?;
                prop_assert_eq!(actual, members.get(NAMES[name]).is_some(), "exists {}", NAMES[name]);
            }
            Step::Copy { from, to, policy } | Step::Rename { from, to, policy } => {
                let rename = matches!(step, Step::Rename { .. });
                let (from, to) = (NAMES[from], NAMES[to]);
                let source = members.get(from).cloned();
                let predicted = match &source {
                    None => Err(ErrorKind::NotFound),
                    Some(_) => members.predict(to, policy),
                };
                let target = storage(policy);
                let actual = if rename { target.rename(from, to).await } else { target.copy(from, to).await };
                if let (Some(stored), Some(data)) =
                    (check_written(|name| members.get(name).is_some(), to, predicted, actual)?, source)
                {
                    // Onto itself under Overwrite, nothing is written.
                    if stored != from {
                        if rename {
                            members.remove(from);
                        }
                        members.write(&stored, data);
                    }
                }
            }
            Step::List { prefix } => {
                let prefix = PREFIXES[prefix];
                let actual: Vec<(String, u64)> = base
                    .list(prefix)
                    .map_ok(|meta| (meta.key, meta.size))
                    .try_collect()
                    .await
                    .map_err(|e| fail("list", e))?;
                let expected: Vec<(String, u64)> = members
                    .union()
                    .into_iter()
                    .filter(|(key, _)| key.starts_with(prefix))
                    .map(|(key, data)| (key, data.len() as u64))
                    .collect();
                prop_assert_eq!(actual, expected, "list {:?}", prefix);
            }
            Step::ListDir { dir } => {
                let actual = base.listdir(DIRS[dir]).await.map_err(|e| fail("listdir", e))?;
                prop_assert_eq!(actual, model_listdir(&members.union(), DIRS[dir]), "listdir {:?}", DIRS[dir]);
            }
            Step::Backfill => {
                let options = MigrateOptions::default().with_live(true).with_verify(true);
                let report = migrate(mirror, primary, &options, &|_| {}).await.map_err(|e| fail("backfill", e))?;
                prop_assert!(report.is_complete(), "backfill: {}", report);
                let differing =
                    members.mirror.iter().filter(|(k, v)| members.primary.get(*k).is_some_and(|p| p != *v)).count();
                prop_assert_eq!(
                    report.kept,
                    differing as u64,
                    "backfill keeps the primary's newer objects: {}",
                    report
                );
                for (key, data) in &members.mirror {
                    members.primary.entry(key.clone()).or_insert_with(|| data.clone());
                }
            }
        }
    }
    prop_assert_eq!(contents(primary).await?, members.primary, "what the primary holds at the end");
    prop_assert_eq!(contents(mirror).await?, members.mirror, "what the mirror holds at the end");
    Ok(())
}

/// Cases per run; raise with `STORAGE_MODEL_CASES` for a longer search.
/// Shrunk cases the model test found, run first on every pair. Name indexes: 0 `a.txt`, 1 `d/b.txt`, 3 `d/e/f.bin`,
/// 5 `d/e/g`.
fn regressions() -> Vec<Scenario> {
    let save = |name, policy| Step::Save { name, data: b"a new upload".to_vec(), policy };
    vec![
        // The report: a file only the old disk (the mirror) holds, replaced by a save under the default
        // policy through a read-through mirror storage that says it exists.
        Scenario {
            primary: vec![],
            mirror: vec![(1, b"uploaded last year".to_vec())],
            read_through: true,
            steps: vec![Step::Exists { name: 1 }, save(1, OverwritePolicy::Unique), save(1, OverwritePolicy::Fail)],
        },
        // Found on the first version: a rename onto a name only the mirror held took it.
        Scenario {
            primary: vec![],
            mirror: vec![(1, vec![])],
            read_through: false,
            steps: vec![
                Step::Save { name: 5, data: vec![], policy: OverwritePolicy::Overwrite },
                Step::Rename { from: 5, to: 1, policy: OverwritePolicy::Unique },
            ],
        },
        // Found while fixing it: a copy must copy the primary's object to every member, not each member's own.
        Scenario {
            primary: vec![(3, vec![])],
            mirror: vec![(3, vec![0])],
            read_through: false,
            steps: vec![Step::Copy { from: 3, to: 0, policy: OverwritePolicy::Overwrite }],
        },
    ]
}

/// The model test of a mirror storage over `primary` and `mirror` (each a fresh, isolated backend): the shrunk
/// cases found before, then a random search.
pub async fn mirror_model(primary: Fixture, mirror: Fixture) {
    let cases = primary.model_cases();
    mirror_model_with_cases(primary, mirror, cases).await;
}

/// [`mirror_model`] with a number of random cases (fewer for a backend a network away).
pub async fn mirror_model_with_cases(primary: Fixture, mirror: Fixture, cases: u32) {
    mirror_scenarios(&primary, &mirror, regressions()).await;
    let pair = format!("{} primary, {} mirror", primary.backend.name(), mirror.backend.name());
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        let config = Config { cases, max_shrink_iters: 512, failure_persistence: None, ..Config::default() };
        let (primary, mirror) = (primary.storage(), mirror.storage());
        TestRunner::new(config)
            .run(&scenario(), |scenario| handle.block_on(apply(&primary, &mirror, scenario)))
            .map_err(|err| err.to_string())
    })
    .await
    .expect("the mirror model thread");
    if let Err(failure) = result {
        panic!("the mirror storage ({pair}) diverged from the model of its members: {failure}");
    }
}

/// Run fixed scenarios on a primary and a mirror (each cleared first).
pub async fn mirror_scenarios(primary: &Fixture, mirror: &Fixture, scenarios: Vec<Scenario>) {
    let pair = format!("{} primary, {} mirror", primary.backend.name(), mirror.backend.name());
    let (primary, mirror) = (primary.storage(), mirror.storage());
    for scenario in scenarios {
        let shown = format!("{scenario:?}");
        if let Err(failure) = apply(&primary, &mirror, scenario).await {
            panic!("{failure}\non the {pair} in {shown}");
        }
    }
}

/// Writers in the stress run, each with its own names.
const WRITERS: usize = 8;
/// Steps per writer.
const WRITER_STEPS: usize = 60;
/// Names per writer.
const WRITER_NAMES: usize = 16;

fn stress_name(writer: usize, index: usize) -> String {
    format!("w{writer}/k{index}.txt")
}

/// A tiny deterministic generator, so a failing schedule's inputs can be told from its seed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// How the stress run backfills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backfill {
    /// [`MirrorBackend::backfill`] on the app's mirror storage: readers never see a deleted object again.
    InProcess,
    /// `migrate` in live mode on the members, as `storage migrate --live` in another process: a reader may see an
    /// object deleted while the backfill copied it, until the backfill takes its copy back.
    Separate,
}

/// One writer's steps through the mirror storage on its own names, checked against its own model as it goes; the
/// model at the end.
async fn stress_writer(
    base: Storage,
    writer: usize,
    mut model: BTreeMap<String, Bytes>,
    backfill: Backfill,
) -> BTreeMap<String, Bytes> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (writer as u64 + 1));
    // Every version each name had, for what a separate backfill may briefly show after a delete.
    let mut history: BTreeMap<String, Vec<Bytes>> = BTreeMap::new();
    for (name, data) in &model {
        history.entry(name.clone()).or_default().push(data.clone());
    }
    for step in 0..WRITER_STEPS {
        let name = stress_name(writer, rng.below(WRITER_NAMES));
        let data = Bytes::from(format!("writer {writer} step {step}"));
        let context = format!("writer {writer} step {step} on {name} ({backfill:?} backfill)");
        match rng.below(6) {
            0 | 1 => {
                let stored = base.save(&name, data.clone()).await.unwrap_or_else(|e| panic!("{context}: {e}"));
                assert_eq!(stored == name, !model.contains_key(&name), "{context}: unique save took {stored}");
                assert!(!model.contains_key(&stored), "{context}: unique save replaced {stored}");
                history.entry(stored.clone()).or_default().push(data.clone());
                model.insert(stored, data);
            }
            2 => {
                let overwriting = base.clone().with_overwrite(OverwritePolicy::Overwrite);
                overwriting.save(&name, data.clone()).await.unwrap_or_else(|e| panic!("{context}: {e}"));
                history.entry(name.clone()).or_default().push(data.clone());
                model.insert(name, data);
            }
            3 => {
                base.delete(&name).await.unwrap_or_else(|e| panic!("{context}: {e}"));
                model.remove(&name);
            }
            _ => {
                let read = base.read(&name).await.map_err(|e| e.kind());
                let expected = model.get(&name).cloned().ok_or(ErrorKind::NotFound);
                let briefly_back = backfill == Backfill::Separate
                    && expected.is_err()
                    && read.as_ref().is_ok_and(|data| history.get(&name).is_some_and(|h| h.contains(data)));
                assert!(read == expected || briefly_back, "{context}: read {read:?}, expected {expected:?}");
            }
        }
    }
    model
}

/// Eight writers save (unique and overwriting), delete and read through a read-through mirror storage, each on its
/// own names, while live backfills from the mirror to the primary run again and again: first in the same process
/// ([`MirrorBackend::backfill`]), then as a separate `migrate`. At the end, after one more backfill, the primary
/// holds exactly what the writers' models say: nothing lost, nothing resurrected, no older version over a newer one;
/// the mirror holds nothing the models do not.
pub async fn mirror_stress(primary: Fixture, mirror: Fixture) {
    for backfill in [Backfill::InProcess, Backfill::Separate] {
        stress_once(&primary.storage(), &mirror.storage(), backfill).await;
    }
}

async fn stress_once(primary: &Storage, mirror: &Storage, backfill: Backfill) {
    clear(primary).await;
    clear(mirror).await;
    let mut models = Vec::new();
    for writer in 0..WRITERS {
        let mut model = BTreeMap::new();
        // The old backend holds most names; the new one some of them newer, and a few of its own.
        for index in 0..WRITER_NAMES {
            let (name, old) = (stress_name(writer, index), Bytes::from(format!("old {writer} {index}")));
            if index < 12 {
                mirror.backend().put(&name, old.clone().into(), Default::default()).await.expect("seed the mirror");
                model.insert(name.clone(), old);
            }
            if index % 4 == 0 || index >= 14 {
                let new = Bytes::from(format!("new {writer} {index}"));
                primary.backend().put(&name, new.clone().into(), Default::default()).await.expect("seed the primary");
                model.insert(name, new);
            }
        }
        models.push(model);
    }
    let backend = MirrorBackend::of(primary, &[mirror]).with_read_through(true);
    let app = backend.clone().storage();
    let writers: Vec<_> = models
        .into_iter()
        .enumerate()
        .map(|(writer, model)| tokio::spawn(stress_writer(app.clone(), writer, model, backfill)))
        .collect();
    let options = MigrateOptions::default().with_concurrency(4);
    let run = |options: MigrateOptions| {
        let backend = &backend;
        async move {
            match backfill {
                Backfill::InProcess => backend.backfill(&options, &|_| {}).await,
                Backfill::Separate => migrate(mirror, primary, &options.with_live(true), &|_| {}).await,
            }
            .expect("a live backfill")
        }
    };
    let mut backfills = 0;
    while writers.iter().any(|writer| !writer.is_finished()) || backfills == 0 {
        let report = run(options.clone()).await;
        assert!(report.failed.is_empty(), "a live backfill ({backfill:?}) failed: {report}");
        backfills += 1;
    }
    let mut expected = BTreeMap::new();
    for writer in writers {
        expected.extend(writer.await.expect("a writer"));
    }
    let report = run(options.with_verify(true)).await;
    assert!(report.is_complete(), "the last backfill ({backfill:?}): {report}");
    let on_primary = contents(primary).await.expect("the primary's contents");
    let wrong: Vec<(&String, Option<&Bytes>, Option<&Bytes>)> = expected
        .keys()
        .chain(on_primary.keys())
        .filter(|key| expected.get(*key) != on_primary.get(*key))
        .map(|key| (key, expected.get(key), on_primary.get(key)))
        .collect();
    assert!(
        wrong.is_empty(),
        "the primary after {backfills} live backfills ({backfill:?}) and a last one; (name, expected, held): {wrong:?}"
    );
    let on_mirror = contents(mirror).await.expect("the mirror's contents");
    let resurrected: Vec<&String> = on_mirror.keys().filter(|key| !expected.contains_key(*key)).collect();
    assert!(resurrected.is_empty(), "deleted, but still on the mirror ({backfill:?}): {resurrected:?}");
}

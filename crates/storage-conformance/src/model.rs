//! Model-based property test: random operation sequences run on a `BTreeMap` model and on the backend, with every
//! observable result (bytes, names, listings, error kinds) compared.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::TryStreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use storage_core::{ErrorKind, OverwritePolicy, Storage};

use crate::Fixture;
use crate::cases::is_alternative_of;

/// No name here is a directory of another, so the same sequences are valid on a filesystem.
pub(crate) const NAMES: [&str; 6] = ["a.txt", "d/b.txt", "d/c d.txt", "d/e/f.bin", "é#%+?&.txt", "d/e/g"];
pub(crate) const PREFIXES: [&str; 5] = ["", "d/", "d/e", "a", "é"];
pub(crate) const DIRS: [&str; 3] = ["", "d", "d/e"];

#[derive(Debug, Clone)]
enum Op {
    Save { name: usize, data: Vec<u8>, policy: OverwritePolicy },
    Read { name: usize },
    Delete { name: usize },
    Exists { name: usize },
    Copy { from: usize, to: usize, policy: OverwritePolicy },
    Rename { from: usize, to: usize, policy: OverwritePolicy },
    List { prefix: usize },
    ListDir { dir: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let name = 0..NAMES.len();
    let policy =
        prop_oneof![Just(OverwritePolicy::Overwrite), Just(OverwritePolicy::Unique), Just(OverwritePolicy::Fail)];
    prop_oneof![
        4 => (name.clone(), proptest::collection::vec(any::<u8>(), 0..64), policy.clone())
            .prop_map(|(name, data, policy)| Op::Save { name, data, policy }),
        2 => name.clone().prop_map(|name| Op::Read { name }),
        2 => name.clone().prop_map(|name| Op::Delete { name }),
        1 => name.clone().prop_map(|name| Op::Exists { name }),
        1 => (name.clone(), name.clone(), policy.clone()).prop_map(|(from, to, policy)| Op::Copy { from, to, policy }),
        1 => (name.clone(), name, policy).prop_map(|(from, to, policy)| Op::Rename { from, to, policy }),
        1 => (0..PREFIXES.len()).prop_map(|prefix| Op::List { prefix }),
        1 => (0..DIRS.len()).prop_map(|dir| Op::ListDir { dir }),
    ]
}

/// What the model predicts for a write to `target`: the name it will take, or the error kind.
fn predict_write(
    model: &BTreeMap<String, Bytes>,
    target: &str,
    policy: OverwritePolicy,
) -> Result<Option<String>, ErrorKind> {
    match (policy, model.contains_key(target)) {
        (OverwritePolicy::Overwrite, _) | (_, false) => Ok(Some(target.to_owned())),
        (OverwritePolicy::Fail, true) => Err(ErrorKind::AlreadyExists),
        // A fresh random name, checked against the model when the backend answers.
        (OverwritePolicy::Unique, true) => Ok(None),
    }
}

/// The stored name if the answer matches the prediction; `taken` says which names the model holds.
pub(crate) fn check_written(
    taken: impl Fn(&str) -> bool,
    target: &str,
    predicted: Result<Option<String>, ErrorKind>,
    actual: storage_core::Result<String>,
) -> Result<Option<String>, TestCaseError> {
    match (predicted, actual) {
        (Ok(Some(expected)), Ok(name)) => {
            prop_assert_eq!(&name, &expected);
            Ok(Some(name))
        }
        (Ok(None), Ok(name)) => {
            prop_assert!(is_alternative_of(&name, target), "{} is an alternative of {}", name, target);
            prop_assert!(!taken(&name), "{} was free", name);
            Ok(Some(name))
        }
        (Err(kind), Err(err)) => {
            prop_assert_eq!(err.kind(), kind, "{}", err);
            Ok(None)
        }
        (predicted, actual) => {
            Err(TestCaseError::fail(format!("the model says {predicted:?}, the backend {actual:?}")))
        }
    }
}

async fn apply(fx: &Fixture, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let base = fx.storage();
    clear(&base).await;
    let storage = |policy| base.clone().with_overwrite(policy);
    let mut model: BTreeMap<String, Bytes> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Save { name, data, policy } => {
                let target = NAMES[name];
                let predicted = predict_write(&model, target, policy);
                let actual = storage(policy).save(target, data.clone()).await;
                if let Some(stored) = check_written(|name| model.contains_key(name), target, predicted, actual)? {
                    model.insert(stored, data.into());
                }
            }
            Op::Read { name } => {
                let actual = base.read(NAMES[name]).await.map_err(|e| e.kind());
                prop_assert_eq!(
                    actual,
                    model.get(NAMES[name]).cloned().ok_or(ErrorKind::NotFound),
                    "read {}",
                    NAMES[name]
                );
            }
            Op::Delete { name } => {
                base.delete(NAMES[name]).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.remove(NAMES[name]);
            }
            Op::Exists { name } => {
                let actual = base.exists(NAMES[name]).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(actual, model.contains_key(NAMES[name]));
            }
            Op::Copy { from, to, policy } | Op::Rename { from, to, policy } => {
                let rename = matches!(op, Op::Rename { .. });
                let (from, to) = (NAMES[from], NAMES[to]);
                let source = model.get(from).cloned();
                let predicted = match &source {
                    None => Err(ErrorKind::NotFound),
                    Some(_) => predict_write(&model, to, policy),
                };
                let target = storage(policy);
                let actual = if rename { target.rename(from, to).await } else { target.copy(from, to).await };
                if let (Some(stored), Some(data)) =
                    (check_written(|name| model.contains_key(name), to, predicted, actual)?, source)
                {
                    if rename && stored != from {
                        model.remove(from);
                    }
                    model.insert(stored, data);
                }
            }
            Op::List { prefix } => {
                let prefix = PREFIXES[prefix];
                let actual: Vec<(String, u64)> = base
                    .list(prefix)
                    .map_ok(|meta| (meta.key, meta.size))
                    .try_collect()
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let expected: Vec<(String, u64)> = model
                    .iter()
                    .filter(|(key, _)| key.starts_with(prefix))
                    .map(|(key, data)| (key.clone(), data.len() as u64))
                    .collect();
                prop_assert_eq!(actual, expected, "list {:?}", prefix);
            }
            Op::ListDir { dir } => {
                let dir = DIRS[dir];
                let actual = base.listdir(dir).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(actual, model_listdir(&model, dir), "listdir {:?}", dir);
            }
        }
    }
    Ok(())
}

pub(crate) fn model_listdir(model: &BTreeMap<String, Bytes>, dir: &str) -> (Vec<String>, Vec<String>) {
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let (mut dirs, mut files) = (Vec::<String>::new(), Vec::new());
    for key in model.keys().filter_map(|key| key.strip_prefix(&prefix)) {
        match key.split_once('/') {
            Some((sub, _)) if dirs.last().map(String::as_str) != Some(sub) => dirs.push(sub.to_owned()),
            Some(_) => {}
            None => files.push(key.to_owned()),
        }
    }
    (dirs, files)
}

pub(crate) async fn clear(storage: &Storage) {
    let keys: Vec<String> = storage.list("").map_ok(|meta| meta.key).try_collect().await.expect("list to clear");
    for key in keys {
        storage.delete(&key).await.expect("delete to clear");
    }
}

/// Sequences per run; raise with `STORAGE_MODEL_CASES` for a longer search.
pub(crate) async fn run(fx: Fixture) {
    let cases = fx.model_cases();
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        let config = Config { cases, max_shrink_iters: 256, failure_persistence: None, ..Config::default() };
        let mut runner = TestRunner::new(config);
        runner
            .run(&proptest::collection::vec(op(), 1..40), |ops| handle.block_on(apply(&fx, ops)))
            .map_err(|err| err.to_string())
    })
    .await
    .expect("the model test thread");
    if let Err(failure) = result {
        panic!("the backend diverged from the model: {failure}");
    }
}

/// What one operation showed, with alternative names replaced by `alt#N` in order of appearance so two backends
/// (whose random suffixes differ) can be compared.
#[derive(Debug, PartialEq, Eq)]
enum Observation {
    Stored(String),
    Failed(ErrorKind),
    Read(Bytes),
    Exists(bool),
    Done,
    /// Sorted by canonical name: the order of random suffixes differs between backends (the model test checks
    /// ordering against the model itself).
    Listed(Vec<(String, u64)>),
    Dir(Vec<String>, Vec<String>),
}

#[derive(Default)]
struct Canonical(BTreeMap<String, String>);

impl Canonical {
    fn name(&mut self, actual: &str) -> String {
        if NAMES.contains(&actual) {
            return actual.to_owned();
        }
        let next = format!("alt#{}", self.0.len());
        self.0.entry(actual.to_owned()).or_insert(next).clone()
    }
}

async fn observe(storage: &Storage, ops: &[Op]) -> Vec<Observation> {
    clear(storage).await;
    let with = |policy| storage.clone().with_overwrite(policy);
    let mut canonical = Canonical::default();
    let mut seen = Vec::new();
    for op in ops {
        let observation = match op {
            Op::Save { name, data, policy } => match with(*policy).save(NAMES[*name], data.clone()).await {
                Ok(stored) => Observation::Stored(canonical.name(&stored)),
                Err(err) => Observation::Failed(err.kind()),
            },
            Op::Read { name } => match storage.read(NAMES[*name]).await {
                Ok(bytes) => Observation::Read(bytes),
                Err(err) => Observation::Failed(err.kind()),
            },
            Op::Delete { name } => match storage.delete(NAMES[*name]).await {
                Ok(()) => Observation::Done,
                Err(err) => Observation::Failed(err.kind()),
            },
            Op::Exists { name } => match storage.exists(NAMES[*name]).await {
                Ok(exists) => Observation::Exists(exists),
                Err(err) => Observation::Failed(err.kind()),
            },
            Op::Copy { from, to, policy } | Op::Rename { from, to, policy } => {
                let target = with(*policy);
                let (from, to) = (NAMES[*from], NAMES[*to]);
                let result = if matches!(op, Op::Rename { .. }) {
                    target.rename(from, to).await
                } else {
                    target.copy(from, to).await
                };
                match result {
                    Ok(stored) => Observation::Stored(canonical.name(&stored)),
                    Err(err) => Observation::Failed(err.kind()),
                }
            }
            Op::List { prefix } => {
                let listed: storage_core::Result<Vec<(String, u64)>> =
                    storage.list(PREFIXES[*prefix]).map_ok(|meta| (meta.key, meta.size)).try_collect().await;
                match listed {
                    Ok(listed) => {
                        let mut listed: Vec<(String, u64)> =
                            listed.into_iter().map(|(key, size)| (canonical.name(&key), size)).collect();
                        listed.sort();
                        Observation::Listed(listed)
                    }
                    Err(err) => Observation::Failed(err.kind()),
                }
            }
            Op::ListDir { dir } => match storage.listdir(DIRS[*dir]).await {
                Ok((dirs, files)) => {
                    let mut files: Vec<String> = files.iter().map(|f| canonical.name(f)).collect();
                    files.sort();
                    Observation::Dir(dirs, files)
                }
                Err(err) => Observation::Failed(err.kind()),
            },
        };
        seen.push(observation);
    }
    seen
}

/// Differential property test: the same random operation sequences on two backends must be observably the same.
pub async fn differential(left: Fixture, right: Fixture) {
    let cases = left.model_cases();
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        let config = Config { cases, max_shrink_iters: 256, failure_persistence: None, ..Config::default() };
        let (left, right) = (left.storage(), right.storage());
        TestRunner::new(config)
            .run(&proptest::collection::vec(op(), 1..40), |ops| {
                let (seen_left, seen_right) =
                    handle.block_on(async { (observe(&left, &ops).await, observe(&right, &ops).await) });
                for (index, (l, r)) in seen_left.iter().zip(&seen_right).enumerate() {
                    prop_assert_eq!(l, r, "operation {} ({:?}) differs", index, ops[index]);
                }
                Ok(())
            })
            .map_err(|err| err.to_string())
    })
    .await
    .expect("the differential test thread");
    if let Err(failure) = result {
        panic!("the two backends diverged: {failure}");
    }
}

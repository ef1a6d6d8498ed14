//! Turns per key, taken by a mirror storage's deletes and reads-through and by a live backfill's copies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

/// One lock per key in use. A backfill copy that raced with a delete is taken back (see
/// [`crate::MigrateOptions::with_live`]), but until then a reader could see it; within one process, taking turns
/// means no reader ever does.
#[derive(Debug, Default)]
pub(crate) struct KeyLocks(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl KeyLocks {
    /// Wait for `key`'s turn; it lasts as long as the guard.
    pub(crate) async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.0.lock().expect("the key locks");
            locks.retain(|_, lock| lock.strong_count() > 0);
            match locks.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(key.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

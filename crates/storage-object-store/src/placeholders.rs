//! Name claims, the one implementation for every backend on object_store: a create-only save too large for one
//! request, or a create-only copy the server cannot make conditional, first writes a hidden placeholder that holds
//! the name while the object is uploaded or copied over it. The placeholder records its deadline, the time after
//! which its holder can no longer complete. A holder that runs past its lifetime fails instead of completing, so a
//! claim whose deadline has passed is dead: a process killed mid-upload left it. The next create-only write to the
//! name takes a dead claim over with `If-Match` on its ETag, so of two writers meeting the same dead claim exactly
//! one gets the name; a live claim still means the name is taken.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload, UpdateVersion};
use storage_core::{Attributes, Error, ErrorKind, NameClaim, Result, Retry};

use crate::attributes::from_store_attributes;

/// The user-metadata key that marks a placeholder; its value is when it was written, in seconds since 1970. No read
/// path shows a placeholder: it is absent until replaced.
pub const PLACEHOLDER: &str = "storage-placeholder";

/// The user-metadata key of a claim's deadline, in seconds since 1970: after it, its holder cannot complete.
pub const CLAIM_DEADLINE: &str = "storage-claim-deadline";

/// How long a claim lasts unless its backend is told otherwise: an upload or copy may take this long.
pub const DEFAULT_CLAIM_LIFETIME: Duration = Duration::from_secs(3600);

/// A placeholder's body: random bytes, so that every claim has its own ETag (a zero-byte object's ETag is always
/// the MD5 of nothing, and a takeover conditional on it would also succeed over another takeover).
const NONCE_LEN: usize = 16;

/// The longest a holder's last request (its completion or copy) is given after its lifetime: a claim is dead only
/// once that request cannot land any more.
const LAST_REQUEST: Duration = Duration::from_secs(300);

/// Whether an object of `size` bytes may be a placeholder, whose HEAD says so (zero bytes: written before claims
/// carried a nonce).
pub fn may_be_placeholder(size: u64) -> bool {
    size == 0 || size == NONCE_LEN as u64
}

/// Whether these attributes mark a placeholder.
pub fn is_placeholder(attributes: &Attributes) -> bool {
    attributes.metadata.contains_key(PLACEHOLDER)
}

/// `attributes` marked as a placeholder's, written now.
pub fn placeholder_attributes(mut attributes: Attributes) -> Attributes {
    attributes.metadata.insert(PLACEHOLDER.to_owned(), seconds_since_1970(SystemTime::now()).to_string());
    attributes
}

fn seconds_since_1970(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// Whether an object of `size` bytes with `attributes` is a claim whose deadline is before `now`: a placeholder
/// (marked, and of a placeholder's size) whose deadline is a number of seconds. Anything else is taken, including
/// a placeholder with a deadline that does not parse (an older placeholder's: `storage gc` removes those).
fn is_dead_claim(attributes: &Attributes, size: u64, now: SystemTime) -> bool {
    let deadline = attributes.metadata.get(CLAIM_DEADLINE).and_then(|secs| secs.parse::<u64>().ok());
    let placeholder = is_placeholder(attributes) && may_be_placeholder(size);
    placeholder && deadline.is_some_and(|deadline| seconds_since_1970(now) > deadline)
}

/// `InvalidArgument` for attributes that name a claim's metadata: only a claim may carry them, or a save could
/// hide itself as a placeholder, or make itself look dead and be replaced by the next create-only write.
pub fn refuse_claim_metadata(backend: &str, key: &str, attributes: &Attributes) -> Result<()> {
    let Some(name) = attributes
        .metadata
        .keys()
        .find(|name| [PLACEHOLDER, CLAIM_DEADLINE].iter().any(|reserved| name.eq_ignore_ascii_case(reserved)))
    else {
        return Ok(());
    };
    Err(Error::invalid_argument(
        Some(key),
        format!("the user metadata `{name}` is reserved for the {backend} backend's name claims; give it another name"),
    )
    .on_backend(backend))
}

/// A name held by a placeholder this process wrote.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    /// The last moment the holder may start to complete; its deadline, which others see, is later by the time a
    /// last request may take.
    cutoff: SystemTime,
    /// The claim lifetime it was written with, for the message of a holder that ran past it.
    lifetime: Duration,
}

impl Claim {
    /// `Ok` while the holder may still complete over its claim; after the claim lifetime, an error on `backend`
    /// naming `setting`, the method that raises the lifetime: completing now could replace the object of a writer
    /// that took the dead claim over.
    pub fn check_live(&self, backend: &str, key: &str, setting: &str) -> Result<()> {
        if self.is_live() {
            return Ok(());
        }
        let message = format!(
            "the save or copy took longer than its claim on the name ({}s, `claim_lifetime`), so it was not \
             completed and the name is given up; raise {setting} for uploads this long",
            self.lifetime.as_secs()
        );
        // Permanent: a second attempt would claim the name again and take as long.
        Err(Error::backend(backend, Some(key), message).with_retry(Retry::Permanent))
    }

    fn is_live(&self) -> bool {
        SystemTime::now() < self.cutoff
    }
}

/// Where claims are written: a store, and how a backend puts one object there and names its failures.
pub struct ClaimSite<'a> {
    /// The store the names are in.
    pub store: &'a dyn ObjectStore,
    /// object_store's options for a write of an object with these attributes (its mode is set here).
    pub put_options: &'a (dyn Fn(Attributes) -> object_store::PutOptions + Send + Sync),
    /// The public error for a failure on a key.
    pub map_error: &'a (dyn Fn(object_store::Error, &str) -> Error + Send + Sync),
}

impl std::fmt::Debug for ClaimSite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimSite").field("store", &self.store.to_string()).finish_non_exhaustive()
    }
}

impl ClaimSite<'_> {
    /// Claim `key` (at `path`) with a placeholder for `lifetime`, or take over the dead claim there.
    pub async fn claim(&self, path: &Path, key: &str, lifetime: Duration) -> Result<Claim> {
        let written = SystemTime::now();
        let deadline = written + lifetime + lifetime.min(LAST_REQUEST);
        let mut attributes = placeholder_attributes(Attributes::default());
        attributes.metadata.insert(CLAIM_DEADLINE.to_owned(), (seconds_since_1970(deadline) + 1).to_string());
        let nonce: Vec<u8> = std::iter::repeat_with(|| fastrand::u8(..)).take(NONCE_LEN).collect();
        self.put_create_only(path, key, Bytes::from(nonce), attributes).await?;
        Ok(Claim { cutoff: written + lifetime, lifetime })
    }

    /// Delete the placeholder of a failed upload, while the claim is live: a dead one may already be another
    /// writer's, and is taken over by the next write anyway.
    pub async fn release(&self, path: &Path, claim: Claim) {
        if claim.is_live() {
            let _ = self.store.delete(path).await;
        }
    }

    /// A single-request create-only write (an object, or a placeholder) that takes a dead claim over: refused with
    /// `AlreadyExists` by any other object, and by a live claim. Its ETag, when the store gives one.
    pub async fn put_create_only(
        &self,
        path: &Path,
        key: &str,
        bytes: Bytes,
        attributes: Attributes,
    ) -> Result<Option<String>> {
        let put = |mode: PutMode| {
            let mut options = (self.put_options)(attributes.clone());
            options.mode = mode;
            let payload = PutPayload::from(bytes.clone());
            async move { self.store.put_opts(path, payload, options).await.map_err(|err| (self.map_error)(err, key)) }
        };
        let taken = match put(PutMode::Create).await {
            Err(err) if err.kind() == ErrorKind::AlreadyExists => err,
            written => return written.map(|put| put.e_tag),
        };
        let Some(e_tag) = self.dead_claim(path, key).await? else { return Err(taken) };
        // Conditional on the dead claim's own ETag: of two writers taking it over, the second finds the first's.
        // Bare first, as Ceph compares `If-Match` with its stored ETag, which has no quotes (AWS takes either);
        // then as the store gave it, as object_store's `InMemory` compares it.
        let mut forms = vec![e_tag.trim_matches('"').to_owned()];
        if forms[0] != e_tag {
            forms.push(e_tag);
        }
        for e_tag in forms {
            match put(PutMode::Update(UpdateVersion { e_tag: Some(e_tag), version: None })).await {
                Err(err) if err.kind() == ErrorKind::AlreadyExists => continue,
                // A store without conditional updates keeps the dead claim until it is removed: the name is taken.
                Err(err) if err.kind() == ErrorKind::Unsupported => break,
                written => return written.map(|put| put.e_tag),
            }
        }
        Err(taken)
    }

    /// The ETag of the placeholder at `path` if it is a dead claim (its deadline has passed); `None` for anything
    /// else there, including a live claim, or nothing.
    async fn dead_claim(&self, path: &Path, key: &str) -> Result<Option<String>> {
        let options = object_store::GetOptions { head: true, ..Default::default() };
        let head = match self.store.get_opts(path, options).await {
            Ok(head) => head,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err((self.map_error)(err, key)),
        };
        let attributes = from_store_attributes(&head.attributes);
        let dead = is_dead_claim(&attributes, head.meta.size, SystemTime::now());
        Ok(head.meta.e_tag.filter(|_| dead))
    }
}

/// A create-only upload over a claim: `claim` takes the name (with a placeholder, or with any create-only write),
/// `upload` then writes over it, and `release` frees the name if the upload fails. Every create-only save too large
/// for one request and every create-only copy that cannot complete conditionally goes through here, so the name is
/// never checked and then written separately.
pub async fn create_only_upload<C: Copy, U, R>(
    claim: impl Future<Output = Result<C>>,
    name_claim: NameClaim,
    upload: impl FnOnce(C) -> U,
    release: impl FnOnce(C) -> R,
) -> Result<()>
where
    U: Future<Output = Result<()>>,
    R: Future<Output = ()>,
{
    let held = claim.await?;
    // The name is ours now: the storage need not keep the content for another attempt.
    name_claim.claimed();
    let uploaded = upload(held).await;
    if uploaded.is_err() {
        release(held).await;
    }
    uploaded
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn claim_with(deadline: &str) -> Attributes {
        Attributes::default().with_metadata(PLACEHOLDER, "100").with_metadata(CLAIM_DEADLINE, deadline)
    }

    #[test]
    fn only_a_placeholder_past_its_deadline_is_dead() {
        let claim = claim_with("200");
        assert!(is_dead_claim(&claim, NONCE_LEN as u64, at(201)));
        assert!(!is_dead_claim(&claim, NONCE_LEN as u64, at(200)), "live until after its deadline");
        assert!(!is_dead_claim(&claim, 1000, at(201)), "an object of another size is never a claim");
        let unmarked = Attributes::default().with_metadata(CLAIM_DEADLINE, "200");
        assert!(!is_dead_claim(&unmarked, NONCE_LEN as u64, at(201)), "a deadline alone does not make a claim");
        let older = Attributes::default().with_metadata(PLACEHOLDER, "100");
        assert!(!is_dead_claim(&older, 0, at(u64::MAX >> 1)), "a placeholder without a deadline is left to gc");
    }

    #[test]
    fn claim_metadata_is_refused_in_any_case() {
        for name in [PLACEHOLDER, CLAIM_DEADLINE, "Storage-Claim-Deadline"] {
            let attributes = Attributes::default().with_metadata(name, "1");
            let err = refuse_claim_metadata("s3", "a.bin", &attributes).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            assert!(err.to_string().contains("reserved") && err.to_string().contains("a.bin"), "{err}");
        }
        assert!(refuse_claim_metadata("s3", "a.bin", &Attributes::default().with_metadata("owner", "1")).is_ok());
    }

    #[test]
    fn a_claim_past_its_lifetime_is_a_permanent_error_naming_the_setting() {
        let expired = Claim { cutoff: at(1), lifetime: Duration::from_secs(60) };
        let err = expired.check_live("gcs", "a.bin", "ObjectStoreBackend::with_claim_lifetime").unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        let message = err.to_string();
        assert!(message.contains("gcs") && message.contains("a.bin") && message.contains("with_claim_lifetime"));
    }

    proptest! {
        /// Whatever metadata and size an object has (the metadata of any object in the bucket, which a writer
        /// chose), it is dead only if it is marked as a placeholder, has a placeholder's size and a deadline that
        /// parses as a time before now; and no writer can give a save the claim's metadata.
        #[test]
        fn fuzz_claim_metadata(
            deadline in prop_oneof![any::<u64>().prop_map(|n| n.to_string()), ".{0,24}"],
            marked in any::<bool>(),
            size in prop_oneof![Just(0u64), Just(NONCE_LEN as u64), any::<u64>()],
            now in any::<u32>(),
            other_name in "[a-zA-Z-]{1,24}",
        ) {
            let mut attributes = Attributes::default().with_metadata(CLAIM_DEADLINE, deadline.clone());
            if marked {
                attributes = attributes.with_metadata(PLACEHOLDER, "1");
            }
            let dead = is_dead_claim(&attributes, size, at(u64::from(now)));
            let parsed = deadline.parse::<u64>().ok();
            prop_assert_eq!(
                dead,
                marked && may_be_placeholder(size) && parsed.is_some_and(|d| u64::from(now) > d)
            );
            prop_assert!(refuse_claim_metadata("s3", "k", &attributes).is_err());
            let other = Attributes::default().with_metadata(other_name.clone(), deadline);
            let reserved = [PLACEHOLDER, CLAIM_DEADLINE].iter().any(|r| other_name.eq_ignore_ascii_case(r));
            prop_assert_eq!(refuse_claim_metadata("s3", "k", &other).is_err(), reserved);
        }
    }
}

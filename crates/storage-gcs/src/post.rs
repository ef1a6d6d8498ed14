//! V4 POST policies (<https://cloud.google.com/storage/docs/xml-api/post-object-forms>): the policy document GCS
//! enforces on a browser's form upload, signed `GOOG4-RSA-SHA256`, and the [`UploadPolicy`] of the storage as one.

use std::io;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use storage_core::{Error, Result, SuccessAction, UploadForm, UploadKey, UploadPolicy};

use crate::NAME;
use crate::sign::{ALGORITHM, Scope, Signer, check_expiry};

/// Where a form's upload may land.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PostKey {
    /// Exactly this object name.
    Exact(String),
    /// Any name starting with this prefix; the form's `key` field is the prefix and `${filename}`.
    StartsWith(String),
}

/// A condition of the policy besides the fields it fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PostCondition {
    /// The field (named with its `$`, e.g. `$acl`) must start with the prefix.
    StartsWith {
        /// The field, e.g. `$key`.
        field: String,
        /// What its value must start with.
        prefix: String,
    },
    /// The file's size in bytes, both ends included.
    ContentLengthRange(u64, u64),
}

/// A POST policy to sign.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostPolicy {
    /// The bucket the form posts to.
    pub bucket: String,
    /// Where the upload lands.
    pub key: PostKey,
    /// Fields the form carries with exact values (the policy lists them sorted by name, as Google's clients do).
    pub fields: Vec<(String, String)>,
    /// Conditions that fix no single value, listed first.
    pub conditions: Vec<PostCondition>,
    /// How long the form works from `signed_at`.
    pub expires_in: Duration,
    /// When the signature starts to hold (`x-goog-date`).
    pub signed_at: DateTime<Utc>,
}

impl PostPolicy {
    /// A policy for an upload to `key` in `bucket`, working `expires_in` from `signed_at`.
    pub fn new(bucket: &str, key: PostKey, expires_in: Duration, signed_at: DateTime<Utc>) -> Self {
        Self { bucket: bucket.to_owned(), key, fields: Vec::new(), conditions: Vec::new(), expires_in, signed_at }
    }
}

/// A signed form: where it posts and its fields (the file comes after them).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedPost {
    /// `endpoint/bucket/`.
    pub url: String,
    /// Every field, `policy` and `x-goog-signature` included.
    pub fields: Vec<(String, String)>,
    /// The policy document before base64: what GCS checks the upload against.
    pub policy_document: String,
}

/// The document GCS decodes from the `policy` field.
#[derive(Serialize)]
struct PolicyDocument {
    conditions: Vec<Value>,
    expiration: String,
}

impl Signer {
    /// `policy` as a signed form.
    pub fn sign_post(&self, policy: &PostPolicy) -> Result<SignedPost> {
        check_expiry(policy.expires_in)?;
        let scope = Scope::at(policy.signed_at, self.key().client_email());
        let mut conditions: Vec<Value> = policy
            .conditions
            .iter()
            .map(|condition| match condition {
                PostCondition::StartsWith { field, prefix } => json!(["starts-with", field, prefix]),
                PostCondition::ContentLengthRange(min, max) => json!(["content-length-range", min, max]),
            })
            .collect();
        let mut fields = policy.fields.clone();
        fields.sort();
        conditions.extend(fields.iter().map(|(name, value)| json!({ name: value })));
        conditions.push(json!({ "bucket": policy.bucket }));
        let key_field = match &policy.key {
            PostKey::Exact(key) => {
                conditions.push(json!({ "key": key }));
                key.clone()
            }
            PostKey::StartsWith(prefix) => {
                conditions.push(json!(["starts-with", "$key", prefix]));
                format!("{prefix}${{filename}}")
            }
        };
        conditions.push(json!({ "x-goog-date": scope.timestamp }));
        conditions.push(json!({ "x-goog-credential": scope.credential }));
        conditions.push(json!({ "x-goog-algorithm": ALGORITHM }));
        let expires_at = policy.signed_at + chrono::Duration::seconds(policy.expires_in.as_secs() as i64);
        let document = PolicyDocument { conditions, expiration: expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string() };
        let policy_document = ascii_json(&document);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&policy_document);
        let signature = self.key().sign_hex(encoded.as_bytes())?;
        let mut form = vec![("key".to_owned(), key_field)];
        form.extend(fields);
        form.extend([
            ("x-goog-algorithm".to_owned(), ALGORITHM.to_owned()),
            ("x-goog-credential".to_owned(), scope.credential),
            ("x-goog-date".to_owned(), scope.timestamp),
            ("x-goog-signature".to_owned(), signature),
            ("policy".to_owned(), encoded),
        ]);
        Ok(SignedPost { url: self.form_url(&policy.bucket)?, fields: form, policy_document })
    }
}

/// Compact JSON with every non-ASCII character escaped as `\uXXXX`, as Google's clients write a policy (Python's
/// `json.dumps` default): the signature covers these exact bytes.
fn ascii_json(value: &impl Serialize) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, AsciiFormatter);
    value.serialize(&mut serializer).expect("a policy document serialises");
    String::from_utf8(out).expect("escaped JSON is ASCII")
}

/// serde_json's compact formatter, escaping non-ASCII characters in strings as UTF-16 `\uXXXX` units.
struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (at, character) in fragment.char_indices().filter(|(_, character)| !character.is_ascii()) {
            writer.write_all(&fragment.as_bytes()[start..at])?;
            let mut units = [0; 2];
            for unit in character.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = at + character.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

impl crate::GcsBackend {
    /// The POST form for `policy`: GCS checks the key or its prefix, the size range, the exact content type, the
    /// attributes and the success answer. A create-only policy is `Unsupported`: a POST carries no precondition on
    /// the name, so a second post before the form expires replaces the first.
    pub(crate) fn post_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        let signer = self.signer("direct upload forms (no service account key to sign with)")?;
        if policy.create_only {
            return Err(Error::unsupported(NAME, storage_core::upload::CREATE_ONLY_FORMS));
        }
        let key = match &policy.key {
            UploadKey::Exact(key) => PostKey::Exact(self.full_name(key)),
            UploadKey::Prefix(prefix) => PostKey::StartsWith(self.full_name(prefix)),
            _ => return Err(Error::unsupported(NAME, "this kind of upload key")),
        };
        let mut post = PostPolicy::new(&self.bucket, key, policy.expires_in, Utc::now());
        if policy.acl.is_some() {
            return Err(Error::unsupported(NAME, "ACLs (buckets with uniform access have none)"));
        }
        // Only exact types: see `UploadPolicy::form_content_type`.
        let content_type = policy.form_content_type(NAME)?;
        post.fields.push(("content-type".to_owned(), content_type));
        let attributes = &policy.attributes;
        storage_object_store::placeholders::refuse_claim_metadata(NAME, &policy.key_field(), attributes)?;
        for (name, value) in [
            ("cache-control", &attributes.cache_control),
            ("content-disposition", &attributes.content_disposition),
            ("content-encoding", &attributes.content_encoding),
        ] {
            if let Some(value) = value {
                post.fields.push((name.to_owned(), value.clone()));
            }
        }
        if attributes.content_language.is_some() {
            return Err(Error::unsupported(NAME, "a content language on POST uploads"));
        }
        for (name, value) in &attributes.metadata {
            post.fields.push((format!("x-goog-meta-{name}"), value.clone()));
        }
        if policy.checksum.is_some() {
            return Err(Error::unsupported(NAME, "checksums on POST uploads (GCS does not check them on a form)"));
        }
        match &policy.success {
            SuccessAction::Status(status) => post.fields.push(("success_action_status".to_owned(), status.to_string())),
            SuccessAction::Redirect(url) => post.fields.push(("success_action_redirect".to_owned(), url.clone())),
            _ => return Err(Error::unsupported(NAME, "this success action")),
        }
        if let Some(size) = &policy.size {
            post.conditions.push(PostCondition::ContentLengthRange(*size.start(), *size.end()));
        }
        let signed = signer.sign_post(&post)?;
        Ok(UploadForm::new(signed.url, signed.fields))
    }
}

//! Direct uploads to S3: an [`UploadPolicy`] as a browser POST form whose SigV4 policy document S3 itself enforces
//! (`content-length-range`, the key or its prefix, the exact content type, the ACL, the attributes, the success
//! answer).

use serde_json::{Value, json};
use storage_core::{Error, Result, SuccessAction, UploadForm, UploadKey, UploadPolicy};

use crate::{NAME, S3Backend};

impl S3Backend {
    /// The POST form for `policy`. S3 has no conditional POST: a form cannot refuse a taken name, and a form posted
    /// twice before it expires keeps the second upload. So a create-only policy is `Unsupported`, for an exact key as
    /// for a prefix (claiming the name when the form is made would hold it after a refused upload, and not stop a
    /// second post); the storage refuses it first, and this refuses it for a caller of the backend itself.
    pub(crate) async fn post_form(&self, policy: &UploadPolicy) -> Result<UploadForm> {
        if policy.create_only {
            return Err(Error::unsupported(NAME, storage_core::upload::CREATE_ONLY_FORMS));
        }
        let full = |key: &str| format!("{}{key}", self.inner.prefix);
        let mut form = Form { fields: Vec::new(), conditions: vec![json!({ "bucket": self.inner.config.bucket })] };
        match &policy.key {
            UploadKey::Exact(key) => form.exact("key", full(key)),
            UploadKey::Prefix(prefix) => {
                form.fields.push(("key".to_owned(), format!("{}${{filename}}", full(prefix))));
                form.conditions.push(json!(["starts-with", "$key", full(prefix)]));
            }
            _ => return Err(Error::unsupported(NAME, "this kind of upload key")),
        }
        if let Some(acl) = policy.acl {
            form.exact("acl", acl.as_str().to_owned());
        }
        // Only exact conditions (docs/s3.md): see `UploadPolicy::form_content_type`.
        let content_type = policy.form_content_type(NAME)?;
        form.exact("Content-Type", content_type);
        let attributes = &policy.attributes;
        storage_object_store::placeholders::refuse_claim_metadata(NAME, &policy.key_field(), attributes)?;
        for (name, value) in [
            ("Cache-Control", &attributes.cache_control),
            ("Content-Disposition", &attributes.content_disposition),
            ("Content-Encoding", &attributes.content_encoding),
        ] {
            if let Some(value) = value {
                form.exact(name, value.clone());
            }
        }
        if attributes.content_language.is_some() {
            return Err(Error::unsupported(NAME, "a content language on POST uploads"));
        }
        for (name, value) in &attributes.metadata {
            form.exact(&format!("x-amz-meta-{name}"), value.clone());
        }
        if policy.checksum.is_some() {
            // A POST carries no checksum S3 checks (Ceph ignores a `Content-MD5` field); refusing the policy is
            // better than a form that promises what the server would not enforce.
            return Err(Error::unsupported(NAME, "checksums on POST uploads (S3 does not check them on a form)"));
        }
        match &policy.success {
            SuccessAction::Status(status) => form.exact("success_action_status", status.to_string()),
            SuccessAction::Redirect(url) => form.exact("success_action_redirect", url.clone()),
            _ => return Err(Error::unsupported(NAME, "this success action")),
        }
        if let Some(class) = &self.inner.config.storage_class {
            form.exact("x-amz-storage-class", class.clone());
        }
        if let Some(size) = &policy.size {
            form.conditions.push(json!(["content-length-range", size.start(), size.end()]));
        }
        self.inner.presigner.sign_post(policy.expires_in, form.conditions, form.fields).await
    }
}

/// The fields of a form and the policy conditions that hold them.
struct Form {
    fields: Vec<(String, String)>,
    conditions: Vec<Value>,
}

impl Form {
    /// A field whose value the policy fixes.
    fn exact(&mut self, name: &str, value: String) {
        self.conditions.push(json!({ name: value }));
        self.fields.push((name.to_owned(), value));
    }
}

//! Policies for buckets without ACLs: the bucket policy that opens one key prefix to everyone, and the least IAM
//! policy the backend needs. `storage s3 policy` prints them; [`crate::S3Backend::put_bucket_policy`] applies one.

use serde_json::{Value, json};
use storage_core::{Error, Result};

/// The bucket policy that lets anyone read the objects under `prefix` of `bucket` (a key prefix counted from the
/// bucket root, as S3 keys are, e.g. `media/open/`), and nothing else: every other object stays private.
pub fn public_prefix_policy(bucket: &str, prefix: &str) -> Result<String> {
    check_prefix(prefix)?;
    Ok(pretty(&json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicReadOfOnePrefix",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/{prefix}*"),
        }],
    })))
}

/// Whether an IAM policy grants the two object ACL actions: a storage with ACLs on needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AclActions {
    /// `s3:GetObjectAcl` and `s3:PutObjectAcl` too.
    Granted,
    /// No ACL action: a storage with `acls = false`.
    Omitted,
}

/// The least IAM policy a backend on `bucket` under `location` needs to save, read, list, delete, tag and presign
/// (a presigned URL carries its signer's permissions), with the ACL actions as `acls` says.
pub fn iam_policy(bucket: &str, location: &str, acls: AclActions) -> String {
    let prefix = match location.trim_matches('/') {
        "" => String::new(),
        location => format!("{location}/"),
    };
    let mut actions = vec![
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:GetObjectTagging",
        "s3:PutObjectTagging",
    ];
    if acls == AclActions::Granted {
        actions.extend(["s3:GetObjectAcl", "s3:PutObjectAcl"]);
    }
    pretty(&json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": actions,
                "Resource": format!("arn:aws:s3:::{bucket}/{prefix}*"),
            },
            {
                // Without it S3 answers 403 instead of 404 for a missing object, and `exists` cannot tell them apart.
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": format!("arn:aws:s3:::{bucket}"),
                "Condition": { "StringLike": { "s3:prefix": format!("{prefix}*") } },
            },
        ],
    }))
}

/// A public prefix must name one: an empty one would open the whole bucket, and `*` or `?` would be wildcards.
fn check_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() || prefix.contains(['*', '?']) || prefix.starts_with('/') {
        return Err(Error::invalid_argument(
            Some(prefix),
            "a public prefix is the start of the public keys, counted from the bucket root, e.g. `media/open/`: \
             not empty (that would open the whole bucket), without `*` or `?`, and without a leading `/`",
        )
        .on_backend(crate::NAME));
    }
    Ok(())
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("a JSON value prints")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_policy_opens_only_its_prefix() {
        let policy: Value = serde_json::from_str(&public_prefix_policy("b", "media/open/").unwrap()).unwrap();
        assert_eq!(policy["Statement"][0]["Resource"], "arn:aws:s3:::b/media/open/*");
        assert_eq!(policy["Statement"].as_array().unwrap().len(), 1);
        for bad in ["", "*", "media/*", "/media/"] {
            assert_eq!(public_prefix_policy("b", bad).unwrap_err().kind(), storage_core::ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn the_iam_policy_names_acl_actions_only_with_acls() {
        // Whether ACLs are on, as a configured storage says, and the location as written.
        let [with, without] = [(AclActions::Granted, "media"), (AclActions::Omitted, "/media/")]
            .map(|(acls, location)| iam_policy("b", location, acls));
        assert!(with.contains("s3:PutObjectAcl") && !without.contains("s3:PutObjectAcl"));
        assert!(without.contains("arn:aws:s3:::b/media/*") && without.contains("\"media/*\""));
    }
}

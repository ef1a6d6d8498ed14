//! CloudFront signed URLs (django-storages' `cloudfront_key` / `cloudfront_key_id`): canned and custom policies,
//! signed with RSA-SHA256 through aws-lc-rs (`Hash-Algorithm=SHA256`), or with legacy RSA-SHA1 through the `rsa`
//! crate behind the `cloudfront-sha1` feature.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine as _;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use storage_core::{Error, Result};
use storage_object_store::errors::{Retry, backend_error};

use crate::NAME;

/// Signs CloudFront URLs with one key pair. `Debug` never shows the key.
#[derive(Clone)]
pub struct CloudFrontSigner {
    key_pair_id: String,
    key: Key,
}

#[derive(Clone)]
enum Key {
    Sha256(Arc<KeyPair>),
    #[cfg(feature = "cloudfront-sha1")]
    Sha1(Arc<rsa::pkcs1v15::SigningKey<sha1::Sha1>>),
}

impl fmt::Debug for CloudFrontSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudFrontSigner").field("key_pair_id", &self.key_pair_id).field("key", &"<redacted>").finish()
    }
}

/// A custom policy: more than an expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloudFrontPolicy {
    /// The URL, or a pattern with `*` (e.g. `https://cdn.example.com/media/*`).
    pub resource: String,
    /// When the URL stops working.
    pub expires_at: SystemTime,
    /// Not valid before this time.
    pub starts_at: Option<SystemTime>,
    /// Only from these addresses, in CIDR form (`203.0.113.0/24`).
    pub source_ip: Option<String>,
}

impl CloudFrontPolicy {
    /// A policy for `resource` until `expires_at`.
    pub fn new(resource: impl Into<String>, expires_at: SystemTime) -> Self {
        Self { resource: resource.into(), expires_at, starts_at: None, source_ip: None }
    }
    /// Not valid before `starts_at`.
    pub fn with_start(mut self, starts_at: SystemTime) -> Self {
        self.starts_at = Some(starts_at);
        self
    }
    /// Only from addresses in `cidr` (`203.0.113.0/24`).
    pub fn with_source_ip(mut self, cidr: impl Into<String>) -> Self {
        self.source_ip = Some(cidr.into());
        self
    }

    /// The policy document, byte for byte as CloudFront verifies it.
    pub fn to_json(&self) -> String {
        let mut condition = format!("\"DateLessThan\":{{\"AWS:EpochTime\":{}}}", epoch(self.expires_at));
        if let Some(start) = self.starts_at {
            condition.push_str(&format!(",\"DateGreaterThan\":{{\"AWS:EpochTime\":{}}}", epoch(start)));
        }
        if let Some(ip) = &self.source_ip {
            condition.push_str(&format!(",\"IpAddress\":{{\"AWS:SourceIp\":{}}}", json_string(ip)));
        }
        format!("{{\"Statement\":[{{\"Resource\":{},\"Condition\":{{{condition}}}}}]}}", json_string(&self.resource))
    }
}

impl CloudFrontSigner {
    /// A signer from a key pair id and its RSA private key in PEM (PKCS#8 or PKCS#1).
    pub fn from_pem(key_pair_id: impl Into<String>, pem: &str) -> Result<Self> {
        let invalid = |what: &str| {
            Error::configuration(
                "the CloudFront signer",
                format!("the private key {what}; give an RSA key in PEM (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)"),
            )
        };
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| invalid("is not PEM"))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(der) => KeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => KeyPair::from_der(der.secret_pkcs1_der()),
            _ => return Err(invalid("is not an RSA key")),
        }
        .map_err(|_| invalid("was rejected"))?;
        Ok(Self { key_pair_id: key_pair_id.into(), key: Key::Sha256(Arc::new(key)) })
    }

    /// Like [`CloudFrontSigner::from_pem`], signing with legacy RSA-SHA1 (CloudFront's default before SHA-256).
    #[cfg(feature = "cloudfront-sha1")]
    pub fn from_pem_sha1(key_pair_id: impl Into<String>, pem: &str) -> Result<Self> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let key =
            rsa::PrivateKey::from_pkcs8_pem(pem).or_else(|_| rsa::PrivateKey::from_pkcs1_pem(pem)).map_err(|_| {
                Error::configuration(
                    "the CloudFront signer",
                    "the private key is not an RSA key in PEM (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)",
                )
            })?;
        Ok(Self { key_pair_id: key_pair_id.into(), key: Key::Sha1(Arc::new(rsa::pkcs1v15::SigningKey::new(key))) })
    }

    #[cfg(test)]
    pub(crate) fn from_key_pair(key_pair_id: &str, key: KeyPair) -> Self {
        Self { key_pair_id: key_pair_id.into(), key: Key::Sha256(Arc::new(key)) }
    }

    /// The CloudFront key pair (or public key) id URLs name.
    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    /// `url` signed with a canned policy: valid until `expires_at`.
    pub fn sign_url(&self, url: &str, expires_at: SystemTime) -> Result<String> {
        let policy = CloudFrontPolicy::new(url, expires_at).to_json();
        let signature = self.sign(&policy)?;
        let separator = if url.contains('?') { '&' } else { '?' };
        Ok(format!(
            "{url}{separator}Expires={}&Signature={signature}&Key-Pair-Id={}{}",
            epoch(expires_at),
            self.key_pair_id,
            self.hash_parameter()
        ))
    }

    /// `url` signed with a custom policy (which may cover more than this URL).
    pub fn sign_url_with_policy(&self, url: &str, policy: &CloudFrontPolicy) -> Result<String> {
        let document = policy.to_json();
        let signature = self.sign(&document)?;
        let separator = if url.contains('?') { '&' } else { '?' };
        Ok(format!(
            "{url}{separator}Policy={}&Signature={signature}&Key-Pair-Id={}{}",
            url_safe_base64(document.as_bytes()),
            self.key_pair_id,
            self.hash_parameter()
        ))
    }

    /// SHA-256 must be named; SHA-1 is CloudFront's default.
    fn hash_parameter(&self) -> &'static str {
        match self.key {
            Key::Sha256(_) => "&Hash-Algorithm=SHA256",
            #[cfg(feature = "cloudfront-sha1")]
            Key::Sha1(_) => "",
        }
    }

    fn sign(&self, policy: &str) -> Result<String> {
        let failed =
            || backend_error(NAME, None, "signing a CloudFront URL failed", Retry::Permanent, "rsa signing failed");
        match &self.key {
            Key::Sha256(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), policy.as_bytes(), &mut signature)
                    .map_err(|_| failed())?;
                Ok(url_safe_base64(&signature))
            }
            #[cfg(feature = "cloudfront-sha1")]
            Key::Sha1(key) => {
                use rsa::signature::{SignatureEncoding, Signer};
                let signature = key.try_sign(policy.as_bytes()).map_err(|_| failed())?;
                Ok(url_safe_base64(&signature.to_bytes()))
            }
        }
    }
}

/// CloudFront's URL-safe base64: `+` → `-`, `=` → `_`, `/` → `~`.
fn url_safe_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            other => other,
        })
        .collect()
}

fn epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serialises")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    use super::*;

    fn signer() -> (CloudFrontSigner, Vec<u8>) {
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = key.public_key().as_ref().to_vec();
        (CloudFrontSigner::from_key_pair("K2JCJMDEHXQW5F", key), public)
    }

    fn param<'a>(url: &'a str, name: &str) -> &'a str {
        url.split(['?', '&'])
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {url}"))
    }

    fn decode(text: &str) -> Vec<u8> {
        let standard: String = text
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '=',
                '~' => '/',
                o => o,
            })
            .collect();
        base64::engine::general_purpose::STANDARD.decode(standard).unwrap()
    }

    fn verifies(public: &[u8], policy: &str, signature: &str) -> bool {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
            .verify(policy.as_bytes(), &decode(signature))
            .is_ok()
    }

    #[test]
    fn canned_policy_urls_verify_with_the_public_key() {
        let (signer, public) = signer();
        let expires = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let url = "https://d111111abcdef8.cloudfront.net/media/report%201.pdf?response-content-disposition=attachment";
        let signed = signer.sign_url(url, expires).unwrap();
        assert_eq!(param(&signed, "Expires"), "1900000000");
        assert_eq!(param(&signed, "Key-Pair-Id"), "K2JCJMDEHXQW5F");
        assert_eq!(param(&signed, "Hash-Algorithm"), "SHA256");
        let policy = format!(
            "{{\"Statement\":[{{\"Resource\":\"{url}\",\"Condition\":{{\"DateLessThan\":{{\"AWS:EpochTime\":1900000000}}}}}}]}}"
        );
        assert!(verifies(&public, &policy, param(&signed, "Signature")));
        let later = policy.replace("1900000000", "1900000001");
        assert!(!verifies(&public, &later, param(&signed, "Signature")), "a changed expiry does not verify");
    }

    #[test]
    fn custom_policies_carry_their_document() {
        let (signer, public) = signer();
        let policy =
            CloudFrontPolicy::new("https://cdn.example.com/media/*", UNIX_EPOCH + Duration::from_secs(2_000_000_000))
                .with_start(UNIX_EPOCH + Duration::from_secs(1_000))
                .with_source_ip("203.0.113.0/24");
        let signed = signer.sign_url_with_policy("https://cdn.example.com/media/a.pdf", &policy).unwrap();
        let document = String::from_utf8(decode(param(&signed, "Policy"))).unwrap();
        assert_eq!(document, policy.to_json());
        assert!(document.contains("\"AWS:SourceIp\":\"203.0.113.0/24\"") && document.contains("\"DateGreaterThan\""));
        assert!(verifies(&public, &document, param(&signed, "Signature")));
    }

    #[cfg(feature = "cloudfront-sha1")]
    #[test]
    fn legacy_sha1_signatures_verify_and_name_no_hash() {
        use rsa::pkcs8::EncodePrivateKey;
        use rsa::signature::Verifier;
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&key).unwrap();
        let private = <rsa::PrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_der(der.as_ref()).unwrap();
        let pem = private.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let signer = CloudFrontSigner::from_pem_sha1("KID", &pem).unwrap();
        let signed =
            signer.sign_url("https://cdn.example.com/a.pdf", UNIX_EPOCH + Duration::from_secs(1_900_000_000)).unwrap();
        assert!(!signed.contains("Hash-Algorithm"), "SHA-1 is CloudFront's default: {signed}");
        let policy =
            CloudFrontPolicy::new("https://cdn.example.com/a.pdf", UNIX_EPOCH + Duration::from_secs(1_900_000_000))
                .to_json();
        let verifying = rsa::pkcs1v15::VerifyingKey::<sha1::Sha1>::new(private.to_public_key());
        let signature = rsa::pkcs1v15::Signature::try_from(decode(param(&signed, "Signature")).as_slice()).unwrap();
        assert!(verifying.verify(policy.as_bytes(), &signature).is_ok());
    }

    #[tokio::test]
    async fn a_storage_with_cloudfront_hands_out_cloudfront_urls() {
        let (signer, public) = signer();
        let config = crate::S3Config::new("bucket")
            .with_credentials("id", "secret")
            .with_location("media")
            .with_custom_domain("cdn.example.com")
            .with_cloudfront(signer);
        let storage = crate::S3Backend::new(config).unwrap().storage().private(Duration::from_secs(60));
        let url = storage.url("private/report 1.pdf").await.unwrap();
        assert!(url.starts_with("https://cdn.example.com/media/private/report%201.pdf?Expires="), "{url}");
        let expires: u64 = param(&url, "Expires").parse().unwrap();
        let now = epoch(SystemTime::now());
        assert!((now + 59..=now + 61).contains(&expires), "valid for the storage's 60 s");
        let resource = url.split("?Expires").next().unwrap();
        let policy = format!(
            "{{\"Statement\":[{{\"Resource\":\"{resource}\",\"Condition\":{{\"DateLessThan\":{{\"AWS:EpochTime\":{expires}}}}}}}]}}"
        );
        assert!(verifies(&public, &policy, param(&url, "Signature")));

        let upload =
            storage.temporary_url("up.txt", Duration::from_secs(60), storage_core::UrlOptions::put()).await.unwrap();
        assert!(upload.contains("X-Amz-Signature="), "uploads still presign against S3: {upload}");

        let unsigned = crate::S3Config::new("bucket").with_cloudfront(self::signer().0);
        assert_eq!(crate::S3Backend::new(unsigned).unwrap_err().kind(), storage_core::ErrorKind::Configuration);
    }

    #[test]
    fn keys_load_from_pem_and_never_show_in_debug() {
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&key).unwrap();
        let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = body.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
        let signer = CloudFrontSigner::from_pem("KID", &pem).unwrap();
        let debug = format!("{signer:?}");
        assert!(debug.contains("<redacted>") && !debug.contains(&lines[1][..20]), "{debug}");
        let err = CloudFrontSigner::from_pem("KID", "not a key").unwrap_err();
        assert_eq!(err.kind(), storage_core::ErrorKind::Configuration);
        assert!(!err.to_string().contains("not a key"), "the key text is never echoed: {err}");
    }
}

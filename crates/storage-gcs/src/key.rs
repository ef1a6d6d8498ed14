//! The service account that signs URLs and POST policies: its email and RSA private key, read from Google's JSON key
//! file. Neither `Debug` nor any error shows the key.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use storage_core::{Error, Result};

use crate::NAME;

/// A service account's signing identity. `Debug` shows the email only.
#[derive(Clone)]
pub struct ServiceAccountKey {
    client_email: String,
    key: Arc<KeyPair>,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// The two fields of Google's JSON key file that signing needs; the rest (project, token URI, …) is not read.
#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
}

impl ServiceAccountKey {
    /// The key in a service account's JSON key file (`GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_APPLICATION_CREDENTIALS`).
    pub fn from_json(json: &str) -> Result<Self> {
        let file: KeyFile = serde_json::from_str(json).map_err(|err| {
            // serde's message names the field or position, never a value.
            invalid(&format!(
                "is not a service account JSON key file ({err}); give the file Google's console downloads, with \
                 client_email and private_key"
            ))
        })?;
        Self::from_pem(file.client_email, &file.private_key)
    }

    /// A key from the account's email and its RSA private key in PEM (PKCS#8 or PKCS#1).
    pub fn from_pem(client_email: impl Into<String>, pem: &str) -> Result<Self> {
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| invalid("has a private_key that is not PEM; give the key as Google issued it"))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(der) => KeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => KeyPair::from_der(der.secret_pkcs1_der()),
            _ => return Err(invalid("has a private_key that is not an RSA key; GCS signs with RSA keys only")),
        }
        .map_err(|_| {
            invalid("has a private_key that aws-lc rejected as an RSA key; give the key as Google issued it")
        })?;
        Ok(Self { client_email: client_email.into(), key: Arc::new(key) })
    }

    /// The account's email, the first part of every credential it signs.
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// The lowercase hex RSA-SHA256 (PKCS#1 v1.5) signature of `message`, as GCS reads `X-Goog-Signature`.
    pub(crate) fn sign_hex(&self, message: &[u8]) -> Result<String> {
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), message, &mut signature)
            .map_err(|_| Error::backend(NAME, None, "signing with the service account's RSA key failed"))?;
        Ok(hex::encode(signature))
    }
}

fn invalid(what: &str) -> Error {
    Error::configuration("the GCS service account key", format!("the key {what}")).on_backend(NAME)
}

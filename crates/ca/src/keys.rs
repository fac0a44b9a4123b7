//! Where CA and responder keys live: the [`KeyStore`] a deployment gives the CA.
//!
//! The CA only ever holds a key *reference* (`cas.key_ref`, `cas.responder_key_ref`) and a
//! [`Signer`]; how a reference becomes a signer is the key store's business. This crate ships
//! [`FileKeys`] (PKCS#8 encrypted with the CA passphrase, stored in the database — the
//! `--dev` default); the binary injects a PKCS#11 store built on the `token` crate (keys on an
//! HSM, references are `pkcs11:` URIs), so `ca` never links a PKCS#11 library.

use std::sync::Arc;

use pki::{KeyAlgorithm, KeyPair, PkiError, Signer};

use crate::CaError;

/// The key reference recorded for a CA whose key is kept off line (the root): no node can
/// open it; its CRL and OCSP answers are signed elsewhere and imported.
pub const OFFLINE_KEY: &str = "offline";

/// A key just made: the signer, and the reference to record.
pub struct NewKey {
    /// Signs with the new key.
    pub signer: Arc<dyn Signer>,
    /// What the database records (an encrypted PEM, a `pkcs11:` URI, …).
    pub key_ref: String,
}

/// Makes and opens CA keys.
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// Generates a key pair labelled `label` (a human name: `carecert systems CA`).
    fn generate(&self, label: &str, algorithm: KeyAlgorithm) -> Result<NewKey, CaError>;
    /// Opens the key `key_ref` of `name` (for messages).
    fn open(&self, name: &str, key_ref: &str) -> Result<Arc<dyn Signer>, CaError>;
    /// Where keys go, for messages (`encrypted in the database`, `token "carecert" via …`).
    fn describe(&self) -> String;
}

/// Keys encrypted with the CA passphrase (PBKDF2, AES-256-CBC PKCS#8), stored in the
/// database. Opening takes ~0.3 s per key (the KDF), once per process.
#[derive(Clone)]
pub struct FileKeys {
    passphrase: Vec<u8>,
}

impl std::fmt::Debug for FileKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKeys")
    }
}

impl FileKeys {
    /// Keys encrypted with `passphrase`.
    pub fn new(passphrase: &[u8]) -> Self {
        Self { passphrase: passphrase.to_vec() }
    }
}

impl KeyStore for FileKeys {
    fn generate(&self, _label: &str, algorithm: KeyAlgorithm) -> Result<NewKey, CaError> {
        let key = KeyPair::generate(algorithm)?;
        let key_ref = key.encrypted_pkcs8_pem(&self.passphrase, pki::key::PBKDF2_ROUNDS)?;
        Ok(NewKey { signer: key.into_signer(), key_ref })
    }

    fn open(&self, name: &str, key_ref: &str) -> Result<Arc<dyn Signer>, CaError> {
        if key_ref.starts_with("pkcs11:") {
            return Err(CaError::UnsupportedKey(
                name.into(),
                "it is on an HSM: give the token with --key-store pkcs11:… (or [ca] key_store in carecert.toml)".into(),
            ));
        }
        if key_ref == OFFLINE_KEY {
            return Err(CaError::Offline(name.into()));
        }
        match KeyPair::from_pem(key_ref, Some(&self.passphrase)) {
            Ok(k) => Ok(k.into_signer()),
            Err(PkiError::WrongPassphrase) => Err(CaError::WrongPassphrase(name.into())),
            Err(e) => Err(CaError::Internal(format!("key of CA '{name}': {e}"))),
        }
    }

    fn describe(&self) -> String {
        "encrypted with the CA passphrase, in the database".into()
    }
}

/// The public half of a key kept elsewhere: signing is refused. Lets an offline CA keep its
/// place in the hierarchy (OCSP issuer matching, chains) on a node that cannot sign for it.
#[derive(Debug)]
pub(crate) struct OfflineKey {
    pub(crate) name: String,
    pub(crate) algorithm: KeyAlgorithm,
    pub(crate) spki: Vec<u8>,
}

impl Signer for OfflineKey {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }
    fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }
    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, PkiError> {
        Err(PkiError::Signing(format!(
            "the key of CA '{}' is off line: sign with `carecert root …` on the offline machine",
            self.name
        )))
    }
}

/// The family of a CA name: `systems-2` → `systems` (a rotated CA keeps its family's
/// profiles and takes over its issuance).
pub fn family_of(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(family_of("systems"), "systems");
        assert_eq!(family_of("systems-2"), "systems");
        assert_eq!(family_of("smartcards-12"), "smartcards");
        assert_eq!(family_of("a-b"), "a-b");
    }
}

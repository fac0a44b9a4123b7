//! The key store `init` and `serve` give the CA: keys encrypted in the database (the default),
//! or keys on a PKCS#11 token (`--key-store pkcs11:…`) through the `token` crate.

use std::sync::Arc;

use anyhow::{Context, Result};
use ca::{CaError, FileKeys, KeyStore, NewKey};
use pki::{KeyAlgorithm, PkiError, Signer};
use token::{Hsm, HsmKey, Pkcs11Uri};

/// CA keys on a PKCS#11 token; keys recorded as encrypted PEM (made before the HSM was
/// configured) still open with the passphrase.
#[derive(Debug)]
pub struct Pkcs11Keys {
    hsm: Arc<Hsm>,
    files: FileKeys,
    describe: String,
}

/// A key on the token as a [`pki::Signer`]: P-256, SHA-256 hashed here, CKM_ECDSA there.
struct HsmSigner(HsmKey);

impl Signer for HsmSigner {
    fn algorithm(&self) -> KeyAlgorithm {
        KeyAlgorithm::EcdsaP256
    }
    fn public_key_spki(&self) -> &[u8] {
        self.0.spki()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        self.0.sign_sha256(message).map_err(|e| PkiError::Signing(e.to_string()))
    }
}

fn hsm_error(e: token::TokenError) -> CaError {
    CaError::Internal(e.to_string())
}

impl KeyStore for Pkcs11Keys {
    fn generate(&self, label: &str, algorithm: KeyAlgorithm) -> Result<NewKey, CaError> {
        if algorithm != KeyAlgorithm::EcdsaP256 {
            return Err(CaError::UnsupportedKey(
                label.into(),
                format!("keys on the HSM are P-256; {} was asked for (use --key-algorithm p256)", algorithm.name()),
            ));
        }
        let key = self.hsm.generate_p256(label).map_err(hsm_error)?;
        let key_ref = key.uri();
        Ok(NewKey { signer: Arc::new(HsmSigner(key)), key_ref })
    }

    fn open(&self, name: &str, key_ref: &str) -> Result<Arc<dyn Signer>, CaError> {
        if key_ref.starts_with("pkcs11:") {
            let key = self.hsm.key(key_ref).map_err(|e| CaError::UnsupportedKey(name.into(), e.to_string()))?;
            Ok(Arc::new(HsmSigner(key)))
        } else {
            self.files.open(name, key_ref)
        }
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

impl Pkcs11Keys {
    /// The token.
    pub fn hsm(&self) -> &Arc<Hsm> {
        &self.hsm
    }
}

/// Opens the token a `pkcs11:` URI names.
pub fn open_hsm(uri: &str, passphrase: &[u8]) -> Result<Pkcs11Keys> {
    let parsed = Pkcs11Uri::parse(uri).context("reading --key-store")?;
    let hsm = Hsm::open(&parsed).with_context(|| format!("opening the key store {parsed}"))?;
    let describe = format!(
        "token {:?} via {}",
        hsm.label(),
        parsed.module_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
    );
    Ok(Pkcs11Keys { hsm, files: FileKeys::new(passphrase), describe })
}

/// The key store: the token `--key-store` names, else keys encrypted with the passphrase.
pub fn key_store(uri: Option<&str>, passphrase: &[u8]) -> Result<Arc<dyn KeyStore>> {
    match uri {
        Some(u) if !u.trim().is_empty() => {
            let keys = open_hsm(u, passphrase)?;
            Ok(Arc::new(keys))
        }
        _ => Ok(Arc::new(FileKeys::new(passphrase))),
    }
}

//! PKCS#12 (.pfx / .p12) files: AES-256-CBC with PBKDF2-HMAC-SHA256 and a SHA-256 MAC,
//! which OpenSSL 3 and current Windows open.

use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, Pkcs12ImportPolicy, PrivateKey, PrivateKeyChain};

use crate::PkiError;

/// Largest PKCS#12 file read.
pub const MAX_PKCS12_BYTES: usize = 256 * 1024;

/// A private key with its certificate chain (leaf first).
#[derive(Debug, Clone)]
pub struct KeyAndChain {
    /// PKCS#8 DER of the private key.
    pub key_pkcs8_der: Vec<u8>,
    /// DER certificates, leaf first.
    pub chain: Vec<Vec<u8>>,
}

/// Writes a password-protected PKCS#12 file.
pub fn write(bundle: &KeyAndChain, password: &str, friendly_name: &str) -> Result<Vec<u8>, PkiError> {
    let key = PrivateKey::from_der(&bundle.key_pkcs8_der).map_err(|e| PkiError::Pkcs12(e.to_string()))?;
    let certs = bundle
        .chain
        .iter()
        .map(|c| Certificate::from_der(c).map_err(|e| PkiError::Pkcs12(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err(PkiError::Pkcs12("no certificate to write".into()));
    }
    let local_key_id = {
        use sha1::Digest;
        sha1::Sha1::digest(&bundle.chain[0]).to_vec()
    };
    let chain = PrivateKeyChain::new(local_key_id, key, certs);
    let mut store = KeyStore::new();
    store.add_entry(friendly_name, KeyStoreEntry::PrivateKeyChain(chain));
    store.writer(password).write().map_err(|e| PkiError::Pkcs12(e.to_string()))
}

/// Reads a PKCS#12 file: the first private key and its chain.
pub fn read(data: &[u8], password: &str) -> Result<KeyAndChain, PkiError> {
    if data.len() > MAX_PKCS12_BYTES {
        return Err(PkiError::TooLarge { what: "PKCS#12 file", size: data.len(), limit: MAX_PKCS12_BYTES });
    }
    let store = KeyStore::from_pkcs12(data, password, Pkcs12ImportPolicy::Strict)
        .map_err(|e| PkiError::Pkcs12(format!("{e} (wrong password, or not a PKCS#12 file)")))?;
    let (_, chain) =
        store.private_key_chain().ok_or_else(|| PkiError::Pkcs12("the file holds no private key".into()))?;
    Ok(KeyAndChain {
        key_pkcs8_der: chain.key().as_der().to_vec(),
        chain: chain.certs().iter().map(|c| c.as_der().to_vec()).collect(),
    })
}

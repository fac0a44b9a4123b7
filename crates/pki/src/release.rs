//! Release signing: Ed25519 (aws-lc-rs) signatures over what a client release *is* —
//! product, version and the SHA-256 of the file — so a signature for one release cannot be
//! replayed for another version (a downgrade) or another product.
//!
//! The signed message is the UTF-8 text
//! `carecert-release-v1\n{product}\n{version}\n{sha256 lower-case hex}\n`.
//! Public keys travel as `ed25519:` + standard base64 of the 32 raw bytes; signatures as
//! standard base64 of the 64 bytes; a key's id is the first 16 hex digits of the SHA-256 of
//! its raw bytes. Private keys are PKCS#8 PEM files (`PRIVATE KEY`), kept by the operator.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// What can go wrong with release keys and signatures.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReleaseSigError {
    /// The public key text is not `ed25519:` + base64 of 32 bytes.
    #[error("the release-signing public key is not of the form ed25519:<base64 of 32 bytes>")]
    BadPublicKey,
    /// The private key file is not an Ed25519 PKCS#8 PEM key.
    #[error(
        "the release-signing private key is not an Ed25519 PKCS#8 PEM key (make one with `carecert admin release-key generate`)"
    )]
    BadPrivateKey,
    /// The signature is not base64 of 64 bytes.
    #[error("the release signature is not base64 of a 64-byte Ed25519 signature")]
    BadSignatureEncoding,
    /// The signature does not verify with the key.
    #[error("the release signature does not verify with release-signing key {key_id}")]
    DoesNotVerify {
        /// The key tried.
        key_id: String,
    },
    /// Key generation failed.
    #[error("cannot generate a release-signing key: {0}")]
    Generate(String),
}

/// The message a release signature covers.
pub fn release_message(product: &str, version: &str, sha256_hex: &str) -> Vec<u8> {
    format!("carecert-release-v1\n{product}\n{version}\n{}\n", sha256_hex.to_ascii_lowercase()).into_bytes()
}

/// SHA-256 of `data`, lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A release-signing public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePublicKey {
    raw: [u8; 32],
}

impl ReleasePublicKey {
    /// Parses `ed25519:BASE64` (surrounding white space and a trailing comment line ignored).
    pub fn parse(text: &str) -> Result<Self, ReleaseSigError> {
        let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or_default();
        let b = line.strip_prefix("ed25519:").ok_or(ReleaseSigError::BadPublicKey)?;
        let raw: [u8; 32] =
            B64.decode(b.trim()).ok().and_then(|v| v.try_into().ok()).ok_or(ReleaseSigError::BadPublicKey)?;
        Ok(Self { raw })
    }

    /// `ed25519:BASE64`.
    pub fn to_text(&self) -> String {
        format!("ed25519:{}", B64.encode(self.raw))
    }

    /// First 16 hex digits of the SHA-256 of the raw key.
    pub fn key_id(&self) -> String {
        sha256_hex(&self.raw)[..16].to_string()
    }

    /// Checks `signature_b64` over the release.
    pub fn verify(
        &self,
        product: &str,
        version: &str,
        sha256_hex: &str,
        signature_b64: &str,
    ) -> Result<(), ReleaseSigError> {
        let sig = B64.decode(signature_b64.trim()).map_err(|_| ReleaseSigError::BadSignatureEncoding)?;
        if sig.len() != 64 {
            return Err(ReleaseSigError::BadSignatureEncoding);
        }
        UnparsedPublicKey::new(&ED25519, self.raw)
            .verify(&release_message(product, version, sha256_hex), &sig)
            .map_err(|_| ReleaseSigError::DoesNotVerify { key_id: self.key_id() })
    }
}

/// A release-signing private key (the operator's; never sent to the server).
pub struct ReleaseSigningKey {
    pair: Ed25519KeyPair,
}

impl ReleaseSigningKey {
    /// A new key; returns it and its PKCS#8 PEM text (to save with mode 0600).
    pub fn generate() -> Result<(Self, String), ReleaseSigError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|e| ReleaseSigError::Generate(e.to_string()))?;
        let pem = crate::cert::to_pem("PRIVATE KEY", doc.as_ref());
        Ok((Self::from_pem(&pem)?, pem))
    }

    /// Reads a PKCS#8 PEM key.
    pub fn from_pem(text: &str) -> Result<Self, ReleaseSigError> {
        let p = pem::parse(text).map_err(|_| ReleaseSigError::BadPrivateKey)?;
        if p.tag() != "PRIVATE KEY" {
            return Err(ReleaseSigError::BadPrivateKey);
        }
        let pair = Ed25519KeyPair::from_pkcs8(p.contents()).map_err(|_| ReleaseSigError::BadPrivateKey)?;
        Ok(Self { pair })
    }

    /// The public half.
    pub fn public_key(&self) -> ReleasePublicKey {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.pair.public_key().as_ref());
        ReleasePublicKey { raw }
    }

    /// Signs a release; base64.
    pub fn sign(&self, product: &str, version: &str, sha256_hex: &str) -> String {
        B64.encode(self.pair.sign(&release_message(product, version, sha256_hex)).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_release_and_key() {
        let (k, pem) = ReleaseSigningKey::generate().unwrap();
        let again = ReleaseSigningKey::from_pem(&pem).unwrap();
        assert_eq!(k.public_key(), again.public_key());
        let pk = ReleasePublicKey::parse(&k.public_key().to_text()).unwrap();
        let sha = sha256_hex(b"binary");
        let sig = k.sign("ecmt", "4.1.0.0", &sha);
        assert_eq!(pk.verify("ecmt", "4.1.0.0", &sha, &sig), Ok(()));
        assert!(pk.verify("ecmt", "4.0.8.0", &sha, &sig).is_err(), "replayed for another version");
        assert!(pk.verify("ecmt", "4.1.0.0", &sha256_hex(b"tampered"), &sig).is_err());
        assert!(pk.verify("carecert-agent", "4.1.0.0", &sha, &sig).is_err());
        let (other, _) = ReleaseSigningKey::generate().unwrap();
        assert!(matches!(
            other.public_key().verify("ecmt", "4.1.0.0", &sha, &sig),
            Err(ReleaseSigError::DoesNotVerify { .. })
        ));
        assert_eq!(pk.verify("ecmt", "4.1.0.0", &sha, "AAAA"), Err(ReleaseSigError::BadSignatureEncoding));
        assert_eq!(ReleasePublicKey::parse("ed25519:AAAA"), Err(ReleaseSigError::BadPublicKey));
        assert_eq!(pk.key_id().len(), 16);
    }
}

//! Sealing small secrets at rest (a card's security-officer PIN): AES-256-GCM with a key
//! derived by HKDF-SHA256 from the CA passphrase and a purpose label. aws-lc-rs does the
//! cryptography; this module only frames it (`v1.<base64url(nonce || ciphertext || tag)>`).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};

use crate::PkiError;

/// A key that seals and opens secrets for one purpose.
pub struct SealingKey(LessSafeKey);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

struct Len32;
impl aws_lc_rs::hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl SealingKey {
    /// Derives the key for `purpose` from `secret` (the CA passphrase).
    pub fn derive(secret: &[u8], purpose: &str) -> Result<Self, PkiError> {
        let prk = Salt::new(HKDF_SHA256, b"carecert seal v1").extract(secret);
        let info = [purpose.as_bytes()];
        let okm = prk.expand(&info, Len32).map_err(|_| PkiError::Signing("key derivation failed".into()))?;
        let mut key = [0u8; 32];
        okm.fill(&mut key).map_err(|_| PkiError::Signing("key derivation failed".into()))?;
        let unbound = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| PkiError::Signing("bad sealing key".into()))?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    /// Seals `plain`; `context` is bound as associated data (e.g. the card serial).
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<String, PkiError> {
        use base64::Engine as _;
        let nonce_bytes: [u8; 12] = crate::random_bytes()?;
        let mut buf = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| PkiError::Signing("sealing failed".into()))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("v1.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens what [`SealingKey::seal`] made with the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, PkiError> {
        use base64::Engine as _;
        let body = sealed.strip_prefix("v1.").ok_or_else(|| PkiError::Invalid("unknown sealed format".into()))?;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| PkiError::Invalid("sealed value is not base64".into()))?;
        if raw.len() < 12 + 16 {
            return Err(PkiError::Invalid("sealed value too short".into()));
        }
        let (nonce, rest) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| PkiError::Invalid("nonce".into()))?;
        let mut buf = rest.to_vec();
        let plain = self
            .0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| PkiError::WrongPassphrase)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_context() {
        let k = SealingKey::derive(b"passphrase", "card-so-pin").unwrap();
        let s = k.seal(b"12345678", "card:A1").unwrap();
        assert_eq!(k.open(&s, "card:A1").unwrap(), b"12345678");
        assert!(k.open(&s, "card:B2").is_err(), "bound to its context");
        let other = SealingKey::derive(b"other", "card-so-pin").unwrap();
        assert!(other.open(&s, "card:A1").is_err(), "bound to its key");
        assert_ne!(k.seal(b"12345678", "card:A1").unwrap(), s, "fresh nonce each time");
    }
}

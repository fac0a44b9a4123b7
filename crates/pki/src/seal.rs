//! Sealing small secrets at rest (a card's security-officer PIN): AES-256-GCM.
//!
//! `v2.<base64url(nonce || ciphertext || tag)>`: the key is Argon2id (64 MiB, 3 passes) of
//! the CA passphrase with a random salt kept beside the data, then HKDF-SHA256 for the
//! purpose — a stolen database gives no fast test of passphrase guesses. `v1.` values (key:
//! plain HKDF of the passphrase, constant salt) are still opened, never made; each card's SO
//! PIN is re-sealed as v2 when it changes after an unlock. aws-lc-rs does the AES and HKDF.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};

use crate::PkiError;

/// A key that seals and opens secrets for one purpose.
pub struct SealingKey {
    /// The key new values are sealed with (`v2.` when slow-derived, else `v1.`).
    current: LessSafeKey,
    /// Its format tag.
    tag: &'static str,
    /// The legacy v1 key, to open older values.
    legacy: Option<LessSafeKey>,
}

/// Argon2id cost of the slow seal key: 64 MiB, 3 passes, 1 lane (once per start).
const SLOW_M_KIB: u32 = 64 * 1024;
const SLOW_T: u32 = 3;

fn hkdf_key(ikm: &[u8], salt: &[u8], purpose: &str) -> Result<LessSafeKey, PkiError> {
    let prk = Salt::new(HKDF_SHA256, salt).extract(ikm);
    let info = [purpose.as_bytes()];
    let okm = prk.expand(&info, Len32).map_err(|_| PkiError::Signing("key derivation failed".into()))?;
    let mut key = [0u8; 32];
    okm.fill(&mut key).map_err(|_| PkiError::Signing("key derivation failed".into()))?;
    let unbound = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| PkiError::Signing("bad sealing key".into()))?;
    Ok(LessSafeKey::new(unbound))
}

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
    /// The legacy (v1) key for `purpose`: plain HKDF of `secret`. Seals as v1; kept for
    /// tests and reading; deployments use [`SealingKey::derive_slow`].
    pub fn derive(secret: &[u8], purpose: &str) -> Result<Self, PkiError> {
        Ok(Self { current: hkdf_key(secret, b"carecert seal v1", purpose)?, tag: "v1.", legacy: None })
    }

    /// The key for `purpose` from `secret` (the CA passphrase) and `salt` (16+ random bytes
    /// stored with the data): Argon2id, then HKDF. Seals as v2 and still opens v1 values.
    pub fn derive_slow(secret: &[u8], salt: &[u8], purpose: &str) -> Result<Self, PkiError> {
        use argon2::{Algorithm, Argon2, Params, Version};
        if salt.len() < 16 {
            return Err(PkiError::Invalid("the seal salt must have at least 16 bytes".into()));
        }
        let params = Params::new(SLOW_M_KIB, SLOW_T, 1, Some(32))
            .map_err(|e| PkiError::Signing(format!("seal key parameters: {e}")))?;
        let mut master = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(secret, salt, &mut master)
            .map_err(|e| PkiError::Signing(format!("seal key derivation: {e}")))?;
        Ok(Self {
            current: hkdf_key(&master, b"carecert seal v2", purpose)?,
            tag: "v2.",
            legacy: Some(hkdf_key(secret, b"carecert seal v1", purpose)?),
        })
    }

    /// Seals `plain`; `context` is bound as associated data (e.g. the card serial).
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<String, PkiError> {
        use base64::Engine as _;
        let nonce_bytes: [u8; 12] = crate::random_bytes()?;
        let mut buf = plain.to_vec();
        self.current
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| PkiError::Signing("sealing failed".into()))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{}{}", self.tag, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens what [`SealingKey::seal`] made with the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, PkiError> {
        use base64::Engine as _;
        let (key, body) = match (sealed.split_at_checked(3), self.tag) {
            (Some((tag, body)), current) if tag == current => (&self.current, body),
            (Some(("v1.", body)), _) => (self.legacy.as_ref().ok_or(PkiError::WrongPassphrase)?, body),
            _ => return Err(PkiError::Invalid("unknown sealed format".into())),
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| PkiError::Invalid("sealed value is not base64".into()))?;
        if raw.len() < 12 + 16 {
            return Err(PkiError::Invalid("sealed value too short".into()));
        }
        let (nonce, rest) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| PkiError::Invalid("nonce".into()))?;
        let mut buf = rest.to_vec();
        let plain = key
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

    #[test]
    fn slow_keys_seal_v2_open_v1_and_depend_on_the_salt() {
        let old = SealingKey::derive(b"passphrase", "card-so-pin").unwrap().seal(b"1111", "card:A1").unwrap();
        let k = SealingKey::derive_slow(b"passphrase", &[7u8; 16], "card-so-pin").unwrap();
        let new = k.seal(b"2222", "card:A1").unwrap();
        assert!(new.starts_with("v2.") && old.starts_with("v1."));
        assert_eq!(k.open(&new, "card:A1").unwrap(), b"2222");
        assert_eq!(k.open(&old, "card:A1").unwrap(), b"1111", "old seals still open");
        let salted = SealingKey::derive_slow(b"passphrase", &[8u8; 16], "card-so-pin").unwrap();
        assert!(salted.open(&new, "card:A1").is_err(), "another salt, another key");
        assert!(SealingKey::derive_slow(b"passphrase", &[1u8; 8], "x").is_err(), "short salt");
    }
}

//! Enrolment PINs: generation and Argon2id hashing.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::EnrolError;

/// Letters and digits that cannot be misread on paper (no 0/O, 1/I/L, 5/S, 2/Z, 8/B, U/V).
const ALPHABET: &[u8] = b"3467ACDEFGHJKMNPQRTWXY";

/// A PIN for a letter: 12 characters in three groups (`ACD3-HJK4-MNP6`), about 53 bits.
/// Held only long enough to print it; [`EnrolmentPin`]'s `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolmentPin(String);

impl std::fmt::Debug for EnrolmentPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrolmentPin(****)")
    }
}

impl EnrolmentPin {
    /// A new random PIN from the operating system's CSPRNG (rejection sampling, no bias).
    pub fn generate() -> Result<Self, EnrolError> {
        let mut out = String::with_capacity(14);
        let limit = 256 - (256 % ALPHABET.len());
        while out.chars().filter(|c| *c != '-').count() < 12 {
            let bytes: [u8; 32] =
                pki::random_bytes().map_err(|e| EnrolError::Internal(format!("random generator: {e}")))?;
            for b in bytes {
                let n = out.chars().filter(|c| *c != '-').count();
                if n == 12 {
                    break;
                }
                if (b as usize) < limit {
                    if n > 0 && n % 4 == 0 {
                        out.push('-');
                    }
                    out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
                }
            }
        }
        Ok(Self(out))
    }

    /// The PIN as printed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The canonical form of what a user typed: upper case, no spaces or dashes.
    pub fn normalise(typed: &str) -> String {
        typed.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
    }

    /// Argon2id PHC string of the normalised PIN.
    pub fn hash(&self) -> Result<String, EnrolError> {
        hash_secret(&Self::normalise(&self.0))
    }
}

pub(crate) fn hash_secret(secret: &str) -> Result<String, EnrolError> {
    let salt_bytes: [u8; 16] = pki::random_bytes().map_err(|e| EnrolError::Internal(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| EnrolError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| EnrolError::Internal(format!("argon2: {e}")))
}

/// Constant-time (inside argon2) check of `typed` against a PHC hash.
pub(crate) fn verify_secret(typed: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(typed.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the EPOC is unknown, so both answers take as long.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_secret("decoy-pin-never-issued").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_grouped_readable_and_distinct() {
        let a = EnrolmentPin::generate().unwrap();
        let b = EnrolmentPin::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 14);
        assert_eq!(a.expose().matches('-').count(), 2);
        assert!(EnrolmentPin::normalise(a.expose()).bytes().all(|c| ALPHABET.contains(&c)));
        let h = a.hash().unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_secret(&EnrolmentPin::normalise(&a.expose().to_lowercase()), &h));
        assert!(!verify_secret(&EnrolmentPin::normalise(b.expose()), &h));
        assert_eq!(format!("{a:?}"), "EnrolmentPin(****)");
    }
}

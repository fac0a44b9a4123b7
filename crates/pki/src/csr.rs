//! PKCS#10 certificate requests: parse, check the signature, apply the key policy.
//!
//! Only the public key is taken from a request. The subject, extensions and everything
//! else a requester asks for are ignored: the profile and carecert's records decide them.

use x509_parser::prelude::*;

use crate::cert::pem_or_der;
use crate::{KeyAlgorithm, PkiError};

/// Largest CSR accepted (DER bytes). An RSA-8192 request is about 1.2 KiB.
pub const MAX_CSR_BYTES: usize = 16 * 1024;

/// A request whose signature verified and whose key passed the policy.
///
/// A proof token: the only way to get one is [`VerifiedCsr::parse`], so holding one means
/// the request was parsed and checked (once). Its fields are read through accessors.
#[derive(Debug, Clone)]
pub struct VerifiedCsr {
    spki_der: Vec<u8>,
    key: KeyAlgorithm,
    requested_subject: String,
}

impl VerifiedCsr {
    /// The requester's public key (DER SubjectPublicKeyInfo).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key's algorithm.
    pub fn key(&self) -> KeyAlgorithm {
        self.key
    }

    /// The subject the requester wrote (informational only; never copied).
    pub fn requested_subject(&self) -> &str {
        &self.requested_subject
    }

    /// Parses a CSR given as PEM (`CERTIFICATE REQUEST`) or DER, verifies its self-signature
    /// (proof of possession) and applies the key policy.
    pub fn parse(input: &[u8]) -> Result<Self, PkiError> {
        let der = pem_or_der(input, "CERTIFICATE REQUEST", "certificate request", MAX_CSR_BYTES)?;
        let (rest, csr) =
            X509CertificationRequest::from_der(&der).map_err(|e| PkiError::malformed("certificate request", e))?;
        if !rest.is_empty() {
            return Err(PkiError::malformed("certificate request", "trailing bytes after the request"));
        }
        let info = &csr.certification_request_info;
        // Policy first: a weak or unknown key gets its own, clearer message.
        let key = KeyAlgorithm::from_parsed_spki(&info.subject_pki)?;
        csr.verify_signature().map_err(|_| PkiError::BadSignature)?;
        Ok(Self { spki_der: info.subject_pki.raw.to_vec(), key, requested_subject: info.subject.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    fn csr_der(key: &KeyPair) -> Vec<u8> {
        CertificateParams::new(vec!["x.example".to_string()]).unwrap().serialize_request(key).unwrap().der().to_vec()
    }

    #[test]
    fn good_csr_is_accepted_in_pem_and_der() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let der = csr_der(&key);
        let v = VerifiedCsr::parse(&der).unwrap();
        assert_eq!(v.key(), KeyAlgorithm::EcdsaP384);
        let pem = crate::cert::to_pem("CERTIFICATE REQUEST", &der);
        assert_eq!(VerifiedCsr::parse(pem.as_bytes()).unwrap().spki_der(), v.spki_der());
    }

    #[test]
    fn tampered_csr_fails_proof_of_possession() {
        let key = KeyPair::generate().unwrap();
        let mut der = csr_der(&key);
        // Flip a byte inside the subject's DNS name (inside the signed part).
        let pos = der.windows(9).position(|w| w == b"x.example").unwrap();
        der[pos] = b'y';
        assert!(matches!(VerifiedCsr::parse(&der), Err(PkiError::BadSignature)));
    }

    #[test]
    fn garbage_truncated_and_oversized_are_refused() {
        assert!(matches!(VerifiedCsr::parse(b"hello"), Err(PkiError::Malformed { .. })));
        let key = KeyPair::generate().unwrap();
        let der = csr_der(&key);
        assert!(matches!(VerifiedCsr::parse(&der[..der.len() / 2]), Err(PkiError::Malformed { .. })));
        let big = vec![0x30u8; MAX_CSR_BYTES + 1];
        assert!(matches!(VerifiedCsr::parse(&big), Err(PkiError::TooLarge { .. })));
        assert!(matches!(VerifiedCsr::parse(b""), Err(PkiError::Malformed { .. })));
    }
}

//! # pki — pure X.509 for carecert
//!
//! This crate owns every encoding and decoding carecert does with certificates:
//! key pairs and their policy, PKCS#10 requests, certificate **profiles**, certificate
//! building and signing, CRLs, OCSP requests and responses, and PKCS#12 files.
//!
//! It must never do I/O: no files, no network, no database, no clock. Time is passed in
//! by the caller (`now`), randomness comes only from the operating system's CSPRNG via
//! aws-lc-rs, and signing goes through the [`Signer`] trait so that a key held in an HSM
//! can sign exactly like a key held in memory.
//!
//! It never implements a cryptographic primitive: signatures, hashes and key generation
//! come from aws-lc-rs (directly or through rcgen), DER from `der`/`x509-cert`/`x509-parser`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cert;
pub mod crl;
pub mod csr;
mod error;
pub mod key;
pub mod name;
pub mod ocsp;
pub mod ocsp_check;
pub mod pkcs12;
pub mod profile;
pub mod release;
pub mod seal;

pub use cert::{CaIdentity, CertificateInfo, Serial};
pub use csr::VerifiedCsr;
pub use error::PkiError;
pub use key::{KeyAlgorithm, KeyPair, Signer, verify_signature};
pub use name::SubjectName;
pub use profile::{Profile, ProfileSpec, PublicationUrls};

/// RFC 5280 §5.3.1 reason codes that a revocation may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    RemoveFromCrl,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl RevocationReason {
    /// The CRLReason code (RFC 5280 §5.3.1).
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
            Self::RemoveFromCrl => 8,
            Self::PrivilegeWithdrawn => 9,
            Self::AaCompromise => 10,
        }
    }

    /// The reason for a CRLReason code; `None` for 7 (unused) and anything above 10.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Unspecified,
            1 => Self::KeyCompromise,
            2 => Self::CaCompromise,
            3 => Self::AffiliationChanged,
            4 => Self::Superseded,
            5 => Self::CessationOfOperation,
            6 => Self::CertificateHold,
            8 => Self::RemoveFromCrl,
            9 => Self::PrivilegeWithdrawn,
            10 => Self::AaCompromise,
            _ => return None,
        })
    }

    /// Every reason an operator may choose (`removeFromCRL` is a CRL mechanism, not a reason).
    pub const SELECTABLE: [RevocationReason; 9] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::PrivilegeWithdrawn,
        Self::AaCompromise,
    ];

    /// The RFC 5280 name, as `openssl` prints it in lower camel case (`keyCompromise`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::RemoveFromCrl => "removeFromCRL",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        }
    }

    /// Parses the RFC 5280 name, case-insensitively, with or without dashes
    /// (`keyCompromise`, `key-compromise`).
    pub fn parse(s: &str) -> Option<Self> {
        let norm: String = s.chars().filter(|c| *c != '-' && *c != '_').collect::<String>().to_ascii_lowercase();
        Self::SELECTABLE.into_iter().chain([Self::RemoveFromCrl]).find(|r| r.name().to_ascii_lowercase() == norm)
    }
}

/// `N` bytes from the operating system's CSPRNG (aws-lc-rs), for tokens and passphrases.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], PkiError> {
    use aws_lc_rs::rand::SecureRandom;
    let mut b = [0u8; N];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| PkiError::Signing("random generator failed".into()))?;
    Ok(b)
}

#[cfg(test)]
pub(crate) mod testutil {
    use crate::cert::{CertificateOrder, CertificateTemplate};
    use crate::*;

    /// A throw-away root CA for unit tests.
    pub(crate) fn test_ca() -> CaIdentity {
        let key = KeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap().into_signer();
        let spec = Profile::RootCa.spec();
        let subject = SubjectName::cn("Test Root");
        let order = CertificateOrder {
            spec: &spec,
            subject: &subject,
            sans: &[],
            subject_spki: key.public_key_spki(),
            now: time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap(),
            validity_days: None,
            issuer_not_after: None,
            urls: &PublicationUrls::default(),
        };
        let t = CertificateTemplate::prepare(&order, Serial::random().unwrap()).unwrap();
        let der = t.self_sign(key.clone()).unwrap();
        CaIdentity::new("root", der, key).unwrap()
    }
}

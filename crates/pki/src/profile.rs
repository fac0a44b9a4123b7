//! Certificate profiles: plain data that says what a certificate of each kind contains.
//!
//! Following rcgen's shape, a profile is data that produces `CertificateParams`; the
//! signer applies no policy of its own. Every issued certificate carries AIA (OCSP and CA
//! issuers) and a CRL distribution point, except the self-signed root.

use rcgen::{ExtendedKeyUsagePurpose as Eku, KeyUsagePurpose as Ku};
use serde::{Deserialize, Serialize};

use crate::PkiError;

/// The named profiles carecert issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// The self-signed root of the hierarchy.
    RootCa,
    /// An issuing (intermediate) CA under the root: `systems`, `smartcards`.
    IssuingCa,
    /// A pharmacy / GP system's machine certificate (TLS client).
    SystemClient,
    /// A smartcard's authentication certificate.
    CardAuth,
    /// A smartcard's signing certificate.
    CardSign,
    /// A delegated OCSP responder for one issuing CA.
    OcspResponder,
    /// A TLS server certificate for carecert's own listener.
    TlsServer,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 7] = [
        Profile::RootCa,
        Profile::IssuingCa,
        Profile::SystemClient,
        Profile::CardAuth,
        Profile::CardSign,
        Profile::OcspResponder,
        Profile::TlsServer,
    ];

    /// The profile's name as used in the API and on command lines.
    pub fn name(self) -> &'static str {
        match self {
            Profile::RootCa => "root-ca",
            Profile::IssuingCa => "issuing-ca",
            Profile::SystemClient => "system-client",
            Profile::CardAuth => "card-auth",
            Profile::CardSign => "card-sign",
            Profile::OcspResponder => "ocsp-responder",
            Profile::TlsServer => "tls-server",
        }
    }

    /// Looks a profile up by name.
    pub fn parse(name: &str) -> Result<Self, PkiError> {
        Self::ALL.into_iter().find(|p| p.name() == name).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|p| p.name()).collect();
            PkiError::Invalid(format!("unknown profile '{name}': choose one of {}", names.join(", ")))
        })
    }

    /// The profile's content.
    pub fn spec(self) -> ProfileSpec {
        let leaf = |key_usages: Vec<Ku>, ekus: Vec<Eku>, validity_days: u32| ProfileSpec {
            profile: self,
            ca: CaKind::Leaf,
            key_usages,
            extended_key_usages: ekus,
            validity_days,
            ocsp_no_check: false,
        };
        match self {
            Profile::RootCa => ProfileSpec {
                profile: self,
                ca: CaKind::Root,
                key_usages: vec![Ku::KeyCertSign, Ku::CrlSign, Ku::DigitalSignature],
                extended_key_usages: vec![],
                validity_days: 20 * 365,
                ocsp_no_check: false,
            },
            Profile::IssuingCa => ProfileSpec {
                profile: self,
                ca: CaKind::Intermediate { path_len: 0 },
                key_usages: vec![Ku::KeyCertSign, Ku::CrlSign, Ku::DigitalSignature],
                extended_key_usages: vec![],
                validity_days: 10 * 365,
                ocsp_no_check: false,
            },
            Profile::SystemClient => leaf(vec![Ku::DigitalSignature], vec![Eku::ClientAuth], 365),
            Profile::CardAuth => leaf(
                vec![Ku::DigitalSignature],
                vec![Eku::ClientAuth, Eku::Other(vec![1, 3, 6, 1, 4, 1, 311, 20, 2, 2])],
                730,
            ),
            Profile::CardSign => leaf(vec![Ku::DigitalSignature, Ku::ContentCommitment], vec![], 730),
            Profile::OcspResponder => {
                ProfileSpec { ocsp_no_check: true, ..leaf(vec![Ku::DigitalSignature], vec![Eku::OcspSigning], 365) }
            }
            Profile::TlsServer => leaf(vec![Ku::DigitalSignature], vec![Eku::ServerAuth], 365),
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a profile makes a CA, and which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaKind {
    /// Self-signed root, no path length constraint.
    Root,
    /// Intermediate CA with a path length constraint.
    Intermediate {
        /// The pathLenConstraint.
        path_len: u8,
    },
    /// End-entity certificate.
    Leaf,
}

/// What a certificate of a profile contains.
#[derive(Debug, Clone)]
pub struct ProfileSpec {
    /// Which profile this is.
    pub profile: Profile,
    /// CA or end entity.
    pub ca: CaKind,
    /// keyUsage bits (the extension is critical).
    pub key_usages: Vec<Ku>,
    /// extKeyUsage purposes (empty: no extension).
    pub extended_key_usages: Vec<Eku>,
    /// Default lifetime in days (capped at the issuer's own expiry).
    pub validity_days: u32,
    /// Adds id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1) — responders only.
    pub ocsp_no_check: bool,
}

/// Where relying parties find the issuer's certificate, OCSP and CRL (AIA and CDP).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicationUrls {
    /// The OCSP responder for this certificate (AIA id-ad-ocsp).
    pub ocsp: Option<String>,
    /// The issuer's certificate in DER (AIA id-ad-caIssuers).
    pub ca_issuers: Option<String>,
    /// The issuer's CRL (cRLDistributionPoints).
    pub crl: Option<String>,
}

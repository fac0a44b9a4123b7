//! The admin API (`/api/v1/admin/…`, an admin token as `Authorization: Bearer`):
//! certificates and the audit log here; the RA's machine-certificate work in [`enrol`],
//! its smartcard work in [`cards`].

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{CertStatus, Profile, RevocationReason, SanKind};

pub mod cards;
pub mod enrol;
pub mod operators;

/// Subject of a certificate to issue.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectBody {
    /// Common name.
    pub common_name: String,
    /// Organisation.
    #[serde(default)]
    pub organization: Option<String>,
    /// Organisational unit.
    #[serde(default)]
    pub organizational_unit: Option<String>,
    /// Two-letter country code.
    #[serde(default)]
    pub country: Option<String>,
    /// X.520 serialNumber (an organisation code or user UID).
    #[serde(default)]
    pub serial_number: Option<String>,
}

/// A subject alternative name.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SanBody {
    /// `dns`, `ip`, `email` or `uri`.
    #[serde(rename = "type")]
    pub kind: SanKind,
    /// The name.
    pub value: String,
}

/// `POST /api/v1/admin/certificates`: issue a certificate from a CSR.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// Issuing CA (`systems`, `smartcards`).
    pub ca: String,
    /// Profile (`system-client`, `tls-server`, `card-auth`, `card-sign`, `ocsp-responder`).
    pub profile: Profile,
    /// PKCS#10 request, PEM. Only its public key is used.
    pub csr: String,
    /// The subject to certify.
    pub subject: SubjectBody,
    /// Subject alternative names.
    #[serde(default)]
    pub sans: Vec<SanBody>,
    /// Lifetime in days (default: the profile's).
    #[serde(default)]
    pub validity_days: Option<u32>,
}

/// An issued certificate.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct IssuedBody {
    /// Serial, upper-case hex.
    pub serial: String,
    /// Issuing CA.
    pub issuer: String,
    /// Profile.
    pub profile: Profile,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The issuing CA chain (not including the root), PEM.
    pub chain_pem: String,
}

/// A stored certificate.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CertificateBody {
    /// Issuing CA.
    pub issuer: String,
    /// Serial, upper-case hex.
    pub serial: String,
    /// Profile.
    pub profile: Profile,
    /// Subject.
    pub subject: String,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// `reserved`, `issued` or `revoked`.
    pub status: CertStatus,
    /// Revocation time.
    pub revoked_at: Option<i64>,
    /// Revocation reason.
    pub revocation_reason: Option<RevocationReason>,
    /// The certificate, PEM (absent while reserved).
    pub certificate_pem: Option<String>,
}

/// Filters for listing certificates: `GET /api/v1/admin/certificates?…`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Issuing CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// `reserved`, `issued` or `revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CertStatus>,
    /// Text the subject contains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// At most this many (default 100, at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// Which CA, when a serial is ambiguous: `?ca=…`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CaQuery {
    /// Issuing CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

/// `POST /api/v1/admin/certificates/{serial}/revoke`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// RFC 5280 reason name (`keyCompromise`, `superseded`, …); default `unspecified`.
    #[serde(default)]
    pub reason: Option<RevocationReason>,
    /// Issuing CA (only needed when the serial exists under several).
    #[serde(default)]
    pub ca: Option<String>,
}

/// A revocation made.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct RevokedBody {
    /// Issuing CA.
    pub issuer: String,
    /// Serial.
    pub serial: String,
    /// Reason name.
    pub reason: RevocationReason,
    /// When, Unix seconds.
    pub revoked_at: i64,
    /// The number of the first CRL listing it (already published): the CRL named in the
    /// certificate's CRL distribution point (a shard of the CA's CRL, or the whole CRL).
    pub crl_number: i64,
}

/// Audit paging: `GET /api/v1/admin/audit?after=…&limit=…`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries after this sequence number (default: the newest entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// An audit entry.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AuditEntryBody {
    /// Sequence number.
    pub seq: i64,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// Who (`admin:…`, `org:…`, `card:…`, `ra:…`).
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub subject: String,
    /// Details, as recorded (JSON).
    pub details: serde_json::Value,
    /// The entry's hash in the chain.
    pub hash: String,
}

/// The chain check.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AuditVerifyBody {
    /// Whether every entry verifies.
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    /// The first entry that does not verify.
    pub first_broken_seq: Option<i64>,
    /// What is wrong with it.
    pub problem: Option<String>,
    /// The head's sequence number (the newest entry, as the head row says).
    #[serde(default)]
    pub head_seq: i64,
}

/// A signed checkpoint of the audit chain's head (format `carecert-audit-checkpoint/v1`):
/// whoever keeps one can later show that the log was cut below it, or rewritten, with
/// `carecert admin audit verify --since FILE`. The signature (base64, DER ECDSA or PKCS#1
/// v1.5) is by the CA named in `signer` over the bytes of `types::checkpoint_message`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditCheckpointBody {
    /// Always `carecert-audit-checkpoint/v1`.
    pub format: String,
    /// The head's sequence number.
    pub seq: i64,
    /// The head's hash (hex SHA-256): the hash of entry `seq`.
    pub head_hash: String,
    /// When it was signed, Unix milliseconds.
    pub at_ms: i64,
    /// The CA whose key signed it (its certificate is the one the verifier pins).
    pub signer: String,
    /// The signature, base64.
    pub signature: String,
}

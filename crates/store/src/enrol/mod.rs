//! Machine certificates: organisations, enrolment PINs, login failures, sessions,
//! certificate requests, client releases and the trust feed.
//!
//! The store records; `enrol` decides. Request state changes are conditional updates
//! (`… WHERE status IN (…)`), so two RA staff approving and denying at once cannot both win.

mod orgs;
mod releases;
mod requests;

use serde::Serialize;
use sqlx::any::AnyRow;
pub use types::{ApprovalPolicy, OrgKind, OrgStatus, RequestChannel, RequestStatus, TrustEventKind};

use crate::{Cols, StoreError};

/// An organisation as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    /// Organisation code (digits).
    pub epoc: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: OrgKind,
    /// Status.
    pub status: OrgStatus,
    /// Approval policy.
    pub approval: ApprovalPolicy,
    /// Created (Unix seconds).
    pub created_at: i64,
}

pub(crate) fn org_from_row(r: &AnyRow) -> Result<Organisation, StoreError> {
    Ok(Organisation {
        epoc: r.col("epoc")?,
        name: r.col("name")?,
        kind: r.parsed("kind")?,
        status: r.parsed("status")?,
        approval: r.parsed("approval")?,
        created_at: r.col("created_at")?,
    })
}

/// An enrolment PIN that can still be used (its hash only).
#[derive(Debug, Clone)]
pub struct ActivePin {
    /// Row id.
    pub id: i64,
    /// Argon2id PHC string.
    pub pin_hash: String,
    /// Issued (Unix seconds).
    pub created_at: i64,
    /// Expires (Unix seconds).
    pub expires_at: i64,
}

/// Consecutive failed logins of one EPOC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginFailures {
    /// Failures since the last success or lockout.
    pub failures: i64,
    /// Locked until (Unix seconds); 0 when never locked.
    pub locked_until: i64,
}

/// A stored enrolment session.
#[derive(Debug, Clone)]
pub struct EnrolSession {
    /// The organisation.
    pub epoc: String,
    /// The client's version at login.
    pub client_version: String,
    /// Expires (Unix seconds).
    pub expires_at: i64,
    /// Ended by logout (Unix seconds).
    pub ended_at: Option<i64>,
}

/// A request to store.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// Organisation.
    pub epoc: String,
    /// How it was authenticated.
    pub channel: RequestChannel,
    /// The PKCS#10 request (DER).
    pub csr_der: Vec<u8>,
    /// SHA-256 of its public key, hex.
    pub spki_sha256: String,
    /// The acceptable-use policy version accepted.
    pub policy_version: String,
    /// Who asked (`org:EPOC`, `cert:SERIAL`).
    pub requested_by: String,
    /// The certificate this renews, if any.
    pub renewal_of: Option<String>,
    /// When.
    pub created_at: i64,
}

/// A stored request.
#[derive(Debug, Clone, Serialize)]
pub struct CertRequest {
    /// Short sequential number.
    pub id: i64,
    /// Organisation.
    pub epoc: String,
    /// State.
    pub status: RequestStatus,
    /// How it was authenticated.
    pub channel: RequestChannel,
    /// SHA-256 of the public key, hex.
    pub spki_sha256: String,
    /// Acceptable-use policy version accepted.
    pub policy_version: String,
    /// Who asked.
    pub requested_by: String,
    /// Created.
    pub created_at: i64,
    /// Approved / denied / cancelled at.
    pub decided_at: Option<i64>,
    /// By whom.
    pub decided_by: Option<String>,
    /// Why it was denied.
    pub deny_reason: Option<String>,
    /// Issuing CA of the certificate.
    pub issuer: Option<String>,
    /// Serial of the certificate.
    pub serial: Option<String>,
    /// The certificate this renews.
    pub renewal_of: Option<String>,
    /// First downloaded at.
    pub downloaded_at: Option<i64>,
    /// Confirmed installed at.
    pub installed_at: Option<i64>,
    /// The PKCS#10 request (DER).
    #[serde(skip)]
    pub csr_der: Vec<u8>,
}

pub(crate) const REQUEST_COLUMNS: &str = "id, epoc, status, channel, spki_sha256, policy_version, requested_by, created_at, decided_at, decided_by, deny_reason, issuer, serial, renewal_of, downloaded_at, installed_at, csr_der";

pub(crate) fn request_from_row(r: &AnyRow) -> Result<CertRequest, StoreError> {
    Ok(CertRequest {
        id: r.col("id")?,
        epoc: r.col("epoc")?,
        status: r.parsed("status")?,
        channel: r.parsed("channel")?,
        spki_sha256: r.col("spki_sha256")?,
        policy_version: r.col("policy_version")?,
        requested_by: r.col("requested_by")?,
        created_at: r.col("created_at")?,
        decided_at: r.col("decided_at")?,
        decided_by: r.col("decided_by")?,
        deny_reason: r.col("deny_reason")?,
        issuer: r.col("issuer")?,
        serial: r.col("serial")?,
        renewal_of: r.col("renewal_of")?,
        downloaded_at: r.col("downloaded_at")?,
        installed_at: r.col("installed_at")?,
        csr_der: r.col("csr_der")?,
    })
}

/// What a request transition writes besides the status.
#[derive(Debug, Clone, Default)]
pub struct RequestChange {
    /// decided_at / decided_by.
    pub decided: Option<(i64, String)>,
    /// Deny reason.
    pub deny_reason: Option<String>,
    /// The issued certificate (issuer, serial).
    pub certificate: Option<(String, String)>,
    /// First download time (kept if already set).
    pub downloaded_at: Option<i64>,
    /// Install time.
    pub installed_at: Option<i64>,
}

/// Which requests to list.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    /// Only this organisation.
    pub epoc: Option<String>,
    /// Only these states (empty: all).
    pub status: Vec<RequestStatus>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// A registered client release.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    /// `ecmt` or `carecert-agent`.
    pub product: String,
    /// Semantic version.
    pub version: String,
    /// Whether this version is the minimum supported (versions below it are refused).
    pub minimum: bool,
    /// Download page or file.
    pub url: String,
    /// SHA-256 of the download, hex.
    pub sha256: String,
    /// Release notes.
    pub notes: String,
    /// Registered at.
    pub created_at: i64,
    /// Ed25519 signature (base64) over product, version and SHA-256; empty when unsigned.
    pub signature: String,
    /// The release-signing key that made `signature` (empty when unsigned).
    pub key_id: String,
    /// A file on the server's machine served as the download (empty: `url` is elsewhere).
    pub file_path: String,
}

/// A registered release-signing public key.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseKey {
    /// First 16 hex digits of the SHA-256 of the raw key.
    pub key_id: String,
    /// `ecmt` or `carecert-agent`.
    pub product: String,
    /// `ed25519:` + base64.
    pub public_key: String,
    /// Registered at.
    pub created_at: i64,
}

/// One entry of the trust feed.
#[derive(Debug, Clone, Serialize)]
pub struct TrustEvent {
    /// Position (the client's cursor).
    pub seq: i64,
    /// CA name.
    pub ca_name: String,
    /// Whether the CA was added or withdrawn.
    pub kind: TrustEventKind,
    /// When.
    pub at: i64,
    /// Why it was withdrawn (None for additions).
    pub reason: Option<String>,
}

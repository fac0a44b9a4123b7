//! Machine certificates: what `ecmt` sends and is answered (sessions, the update check,
//! requests, downloads, renewals over mutual TLS) and the message store's gate.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{Approval, OrgKind, OrgStatus, RequestChannel, RequestStatus};

/// Which client is talking.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInfo {
    /// `ecmt` or `carecert-agent`.
    pub product: String,
    /// Its semantic version.
    pub version: String,
}

/// `POST /api/v1/sessions`: log on with the organisation code and the PIN from the letter.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Organisation code (EPOC), digits.
    pub epoc: String,
    /// The PIN from the letter.
    pub pin: String,
    /// The client.
    pub client: ClientInfo,
}

/// An organisation as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrganisationView {
    /// EPOC.
    pub epoc: String,
    /// Name.
    pub name: String,
    /// `pharmacy`, `gp`, `dental`, `ophthalmic`.
    pub kind: OrgKind,
    /// `active`, `suspended`, `closed`.
    pub status: OrgStatus,
    /// `automatic` or `ra-queue`.
    pub approval: Approval,
}

/// A session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for the following calls.
    pub token: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
    /// Who logged on.
    pub organisation: OrganisationView,
}

/// A client release.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseView {
    /// Version.
    pub version: String,
    /// Whether it is the minimum supported version.
    pub minimum: bool,
    /// Where to download it.
    pub url: String,
    /// SHA-256 of the download, hex.
    pub sha256: String,
    /// Notes.
    pub notes: String,
    /// Ed25519 signature (base64), empty when unsigned.
    #[serde(default)]
    pub signature: String,
    /// The release-signing key that made `signature`.
    #[serde(default)]
    pub key_id: String,
}

/// A CA certificate in the trust feed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustCa {
    /// CA name.
    pub name: String,
    /// Its certificate, PEM.
    pub pem: String,
}

/// CA certificates added or withdrawn since the client's cursor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustFeed {
    /// Send this back next time.
    pub cursor: i64,
    /// New trust anchors and issuing CAs.
    pub added: Vec<TrustCa>,
    /// Names of CAs to stop trusting.
    pub withdrawn: Vec<String>,
    /// The same withdrawals with when and why (older servers leave it out).
    #[serde(default)]
    pub withdrawn_details: Vec<crate::TrustWithdrawal>,
}

/// The acceptable-use policy a request must accept.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// Version to send back in a request.
    pub version: String,
    /// The text to show.
    pub text: String,
}

/// `GET /api/v1/updates?product=…&version=…&trust_cursor=…`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateInfo {
    /// The newest release, if any is registered.
    pub latest: Option<ReleaseView>,
    /// A newer release exists.
    pub update_available: bool,
    /// This version is below the minimum supported: log on is refused until updated.
    pub update_required: bool,
    /// The minimum supported version, if one is set.
    pub minimum_version: Option<String>,
    /// Where releases are downloaded.
    pub download_page: String,
    /// Trust changes since the cursor.
    pub trust: TrustFeed,
    /// The current acceptable-use policy.
    pub policy: PolicyView,
    /// Who to call.
    pub helpdesk: String,
}

/// Query of the update check: `GET /api/v1/updates?product=…&version=…&trust_cursor=…`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct UpdateQuery {
    /// `ecmt` or `carecert-agent`.
    pub product: String,
    /// The client's version.
    pub version: String,
    /// The last trust-feed cursor the client saw (0 for everything).
    #[serde(default)]
    pub trust_cursor: i64,
}

/// `POST /api/v1/requests` and `POST /api/v1/renewals`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequestBody {
    /// PKCS#10 request, PEM. Its subject is ignored: the server sets it from the organisation.
    pub csr: String,
    /// The acceptable-use policy version the user accepted.
    pub policy_version: String,
    /// The user accepted it (must be true).
    pub policy_accepted: bool,
}

/// A certificate request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    /// Request ID (short, sequential: read it out on the phone).
    pub id: i64,
    /// Organisation.
    pub epoc: String,
    /// `pending`, `approved`, `downloaded`, `installed`, `denied`, `cancelled`.
    pub status: RequestStatus,
    /// `pin` or `certificate`.
    pub channel: RequestChannel,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Issued / denied (Unix seconds).
    pub decided_at: Option<i64>,
    /// Why it was denied.
    pub deny_reason: Option<String>,
    /// Certificate serial, once issued.
    pub serial: Option<String>,
    /// What to do next, for a person.
    pub message: String,
    /// The helpdesk for this organisation's kind (pharmacy, GP, dental, ophthalmic).
    #[serde(default)]
    pub helpdesk: String,
}

/// A certificate ready to install.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CertificateDownload {
    /// The request.
    pub request_id: i64,
    /// Serial, hex.
    pub serial: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The issuing CA chain up to (not including) the root, PEM.
    pub chain_pem: String,
    /// The root, PEM.
    pub root_pem: String,
    /// notBefore (Unix seconds).
    pub not_before: i64,
    /// notAfter (Unix seconds).
    pub not_after: i64,
}

/// The message store's answer to an accepted sender.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GateReceipt {
    /// Always true (refusals are errors).
    pub accepted: bool,
    /// The sending organisation.
    pub epoc: String,
    /// Its name.
    pub name: String,
    /// The certificate used.
    pub serial: String,
    /// Bytes received.
    pub bytes: usize,
}

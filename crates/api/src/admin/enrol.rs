//! The RA's machine-certificate work: organisations, PIN letters, the request queue and
//! client releases (`/api/v1/admin/organisations…`, `/requests…`, `/releases`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{Approval, OrgKind, OrgStatus, RequestStatus};

/// `POST /api/v1/admin/organisations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisationBody {
    /// EPOC (digits).
    pub epoc: String,
    /// Name.
    pub name: String,
    /// `pharmacy`, `gp`, `dental`, `ophthalmic`.
    pub kind: OrgKind,
    /// `automatic` or `ra-queue` (default `ra-queue`).
    #[serde(default)]
    pub approval: Option<Approval>,
}

/// `PATCH /api/v1/admin/organisations/{epoc}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationChangeBody {
    /// New status.
    #[serde(default)]
    pub status: Option<OrgStatus>,
    /// New approval policy.
    #[serde(default)]
    pub approval: Option<Approval>,
}

/// A PIN letter just issued. The PIN is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PinLetterView {
    /// EPOC.
    pub epoc: String,
    /// The PIN (not stored anywhere: give it to the organisation).
    pub pin: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
    /// The letter as PDF, base64.
    pub letter_pdf_base64: String,
    /// The letter as text.
    pub letter_text: String,
}

/// `POST /api/v1/admin/requests/{id}/deny`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    /// Why (shown to the requester).
    pub reason: String,
}

/// `POST /api/v1/admin/releases`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReleaseBody {
    /// `ecmt` or `carecert-agent`.
    pub product: String,
    /// Semantic version.
    pub version: String,
    /// Versions below this one are refused.
    #[serde(default)]
    pub minimum: bool,
    /// Download URL (may be empty when `file_path` is given: the server then serves the file).
    #[serde(default)]
    pub url: String,
    /// SHA-256 of the download, hex.
    pub sha256: String,
    /// Notes.
    #[serde(default)]
    pub notes: String,
    /// Ed25519 signature (base64) by a registered release-signing key; `ecmt update`
    /// installs only signed releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// A file on the server's machine that the server serves as the download (its SHA-256
    /// must match); the same path on every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
}

/// Filter of the RA queue: `GET /api/v1/admin/requests?status=…&epoc=…&limit=…`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
pub struct RequestQuery {
    /// Only requests in this state (default: every state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RequestStatus>,
    /// Only this organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoc: Option<String>,
    /// At most this many (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// Which product's releases: `GET /api/v1/admin/releases?product=…`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
pub struct ReleaseQuery {
    /// `ecmt` (default) or `carecert-agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

//! Self-update: release-signing keys the operator registers, and the download index
//! (`GET /download.json`) that `ecmt update` reads.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/admin/release-keys`: register a release-signing public key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReleaseKeyBody {
    /// `ecmt` or `carecert-agent`.
    pub product: String,
    /// `ed25519:` + base64 of the 32-byte public key (`carecert admin release-key generate`).
    pub public_key: String,
}

/// A registered release-signing key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseKeyView {
    /// First 16 hex digits of the SHA-256 of the raw key: what clients pin and compare.
    pub key_id: String,
    /// The product it signs.
    pub product: String,
    /// `ed25519:` + base64.
    pub public_key: String,
    /// Registered at (Unix seconds).
    pub created_at: i64,
}

/// One release on the download page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DownloadRelease {
    /// `ecmt` or `carecert-agent`.
    pub product: String,
    /// Version (one to four numbers: "4.1.0.0").
    pub version: String,
    /// Versions below this one are refused.
    pub minimum: bool,
    /// The binary: a path on this server (`/download/ecmt/4.1.0.0/file`) or an absolute URL.
    pub url: String,
    /// SHA-256 of the binary, lower-case hex.
    pub sha256: String,
    /// Ed25519 signature (base64) over `carecert-release-v1\n{product}\n{version}\n{sha256}\n`;
    /// empty for an unsigned release (which `ecmt update` refuses).
    pub signature: String,
    /// The key that made `signature`.
    pub key_id: String,
    /// Release notes.
    pub notes: String,
    /// Registered at (Unix seconds).
    pub created_at: i64,
}

/// `GET /download.json`: every release, newest first per product, and the signing keys.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DownloadIndex {
    /// The releases.
    pub releases: Vec<DownloadRelease>,
    /// Registered release-signing keys (for information: clients trust only the key pinned
    /// in their own configuration, never one learnt from this list).
    pub signing_keys: Vec<ReleaseKeyView>,
}

//! Public endpoints that answer JSON (no session).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One CA as listed by `GET /ca`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaInfo {
    /// Name (`root`, `systems`, `smartcards`).
    pub name: String,
    /// Issuing CA, absent for the root.
    pub parent: Option<String>,
    /// Subject DN.
    pub subject: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// SHA-256 fingerprint of the certificate.
    pub sha256: String,
    /// The certificate, PEM.
    pub pem: String,
}

//! Issue 11 (zero touch): trust withdrawals, the renewal window, organisation contacts and
//! expiry reminders.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A CA withdrawn from the trust feed, with when and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustWithdrawal {
    /// CA name.
    pub name: String,
    /// When (Unix seconds).
    pub at: i64,
    /// Why (what the RA wrote).
    pub reason: Option<String>,
}

/// `POST /api/v1/admin/trust/{ca}/withdraw`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawTrustBody {
    /// Why the CA is withdrawn (every ecmt shows it).
    pub reason: String,
}

/// The answer to a withdrawal.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustWithdrawnView {
    /// CA name.
    pub name: String,
    /// The trust-feed position of the withdrawal.
    pub seq: i64,
}

/// `GET /api/v1/renewals/window` (mutual TLS): when the presented certificate may renew.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RenewalWindowView {
    /// The certificate's serial.
    pub serial: String,
    /// Its notAfter (Unix seconds).
    pub not_after: i64,
    /// When renewal over mutual TLS opens (Unix seconds).
    pub opens_at: i64,
    /// The service's time (Unix seconds).
    pub now: i64,
    /// Whether it is open now.
    pub open: bool,
    /// The window: the last this-many percent of the lifetime.
    pub percent: i64,
}

/// `PUT /api/v1/admin/organisations/{epoc}/contact`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgContactBody {
    /// Where expiry reminders go (None: nowhere).
    pub email: Option<String>,
}

/// An organisation's reminder contact.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgContactView {
    /// Organisation code.
    pub epoc: String,
    /// Where expiry reminders go.
    pub email: Option<String>,
}

//! Operator accounts and their API tokens (`carecert admin account …`, `… token …`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::OperatorRole;

/// `POST /api/v1/admin/accounts`: a named operator account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOperatorBody {
    /// Account name (1 to 64 letters, digits, dots, dashes, underscores).
    pub name: String,
    /// Display name (default: the account name).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Role.
    pub role: OperatorRole,
    /// Organisations (EPOCs) / RA units an `ra-officer` acts for (at least one); empty for
    /// the other roles.
    #[serde(default)]
    pub organisations: Vec<String>,
    /// RA console password (at least 12 characters; a TOTP second factor is enrolled).
    #[serde(default)]
    pub password: Option<String>,
    /// Smartcard UID for card logins to the console.
    #[serde(default)]
    pub uid: Option<String>,
    /// Make a first API token lasting this many days (1 to 366).
    #[serde(default)]
    pub token_days: Option<i64>,
}

/// An operator account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OperatorAccountView {
    /// Account name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: OperatorRole,
    /// Organisations (`ra-officer`); empty means every organisation for the other roles.
    pub organisations: Vec<String>,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Disabled (Unix seconds).
    pub disabled_at: Option<i64>,
}

/// A token just made (shown this once).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewTokenView {
    /// Public handle (list, revoke).
    pub id: String,
    /// The token: keep it in a file (mode 0600) or a secret store.
    pub token: String,
    /// Expires (Unix seconds).
    pub expires_at: i64,
}

/// A new operator account, with its second factor and first token shown once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewOperatorView {
    /// The account.
    pub account: OperatorAccountView,
    /// `otpauth://` URI for the authenticator app (when a password was set).
    pub totp_uri: Option<String>,
    /// The first token, when asked for.
    pub token: Option<NewTokenView>,
}

/// `POST /api/v1/admin/tokens`: a token for an operator account (its role and scope).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// The account.
    pub account: String,
    /// Days it lasts (default 90, at most 366).
    #[serde(default)]
    pub days: Option<i64>,
    /// A note to recognise it by (where it is used).
    #[serde(default)]
    pub label: Option<String>,
}

/// An API token as listed (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// Public handle.
    pub id: String,
    /// The account (`None` for the bootstrap token).
    pub account: Option<String>,
    /// Role.
    pub role: OperatorRole,
    /// Organisations.
    pub organisations: Vec<String>,
    /// Label.
    pub label: String,
    /// Who made it.
    pub created_by: String,
    /// Made (Unix seconds).
    pub created_at: i64,
    /// Expires (Unix seconds).
    pub expires_at: i64,
    /// Revoked (Unix seconds).
    pub revoked_at: Option<i64>,
    /// Used (the bootstrap token, Unix seconds).
    pub used_at: Option<i64>,
}

/// Filter of the token list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
pub struct TokenQuery {
    /// Only this account's tokens.
    #[serde(default)]
    pub account: Option<String>,
}

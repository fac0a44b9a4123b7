//! JSON bodies the `api` crate does not have yet (users, cards of a user, web accounts,
//! portal tickets). Their shape is exactly what the server sent before they were typed; they
//! move to `api` when it carries them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A person who may hold a card.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// UID (digits).
    pub uid: String,
    /// Name.
    pub name: String,
    /// Registered email.
    pub email: Option<String>,
    /// Mobile number (text messages).
    pub mobile: Option<String>,
    /// Landline number.
    pub landline: Option<String>,
    /// The landline can take text-to-voice messages.
    pub landline_voice: bool,
    /// Role codes.
    pub roles: Vec<String>,
    /// Organisation code.
    pub organisation: String,
    /// Registered, Unix seconds.
    pub created_at: i64,
}

impl From<store::User> for UserView {
    fn from(u: store::User) -> Self {
        Self {
            uid: u.uid,
            name: u.name,
            email: u.email,
            mobile: u.mobile,
            landline: u.landline,
            landline_voice: u.landline_voice,
            roles: u.roles,
            organisation: u.organisation,
            created_at: u.created_at,
        }
    }
}

/// A card as the RA sees it (never its SO PIN).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CardRecordView {
    /// Token serial.
    pub serial: String,
    /// Holder's UID.
    pub uid: String,
    /// Manufacturing batch.
    pub batch: String,
    /// `active`, `locked` or `cancelled`.
    pub status: String,
    /// Consecutive wrong passcodes.
    pub failed_passcodes: i64,
    /// Serial of the authentication certificate.
    pub auth_serial: Option<String>,
    /// Serial of the signing certificate.
    pub sign_serial: Option<String>,
    /// Expiry of the certificates, Unix seconds.
    pub not_after: Option<i64>,
    /// Remote renewals since the last face-to-face identity check.
    pub remote_renewals: i64,
    /// Last face-to-face identity check, Unix seconds.
    pub identity_checked_at: Option<i64>,
    /// Who checked.
    pub identity_checked_by: Option<String>,
    /// Issued, Unix seconds.
    pub created_at: i64,
}

impl From<store::Card> for CardRecordView {
    fn from(c: store::Card) -> Self {
        Self {
            serial: c.serial,
            uid: c.uid,
            batch: c.batch,
            status: c.status.as_str().to_string(),
            failed_passcodes: c.failed_passcodes,
            auth_serial: c.auth_serial,
            sign_serial: c.sign_serial,
            not_after: c.not_after,
            remote_renewals: c.remote_renewals,
            identity_checked_at: c.identity_checked_at,
            identity_checked_by: c.identity_checked_by,
            created_at: c.created_at,
        }
    }
}

/// A person and their cards.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserDetailsView {
    /// The person.
    pub user: UserView,
    /// Their cards.
    pub cards: Vec<CardRecordView>,
}

/// A web account just created.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebAccountCreatedView {
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// The card UID this person logs in with, if any.
    pub uid: Option<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// `otpauth://` URI for an authenticator app (accounts with a password), shown once.
    pub totp_uri: Option<String>,
    /// The same secret in base32.
    pub totp_secret: Option<String>,
}

impl From<portal::NewAccount> for WebAccountCreatedView {
    fn from(a: portal::NewAccount) -> Self {
        Self {
            username: a.account.username,
            name: a.account.name,
            uid: a.account.uid,
            roles: a.account.roles,
            totp_uri: a.totp_uri,
            totp_secret: a.totp_secret,
        }
    }
}

/// A one-time portal login ticket.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    /// The ticket: the page posts it back once.
    pub ticket: String,
}

//! The RA's smartcard work: card holders, cards issued face to face, RA unlock and
//! renewal, cancellation, sponsors, card batches and web accounts.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{CardCertificateView, CardStatus, RevocationReason};

/// `POST /api/v1/admin/users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// UID (digits).
    pub uid: String,
    /// Name.
    pub name: String,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Mobile.
    #[serde(default)]
    pub mobile: Option<String>,
    /// Landline.
    #[serde(default)]
    pub landline: Option<String>,
    /// The landline takes text-to-voice.
    #[serde(default)]
    pub landline_voice: bool,
    /// Role codes.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Organisation code.
    pub organisation: String,
}

/// `POST /api/v1/admin/cards`: issue a card face to face.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCardBody {
    /// Holder.
    pub uid: String,
    /// Token serial.
    pub card_serial: String,
    /// Batch.
    #[serde(default)]
    pub batch: String,
    /// Documents checked.
    pub documents: String,
    /// The SO PIN set on the card.
    pub so_pin: String,
    /// CSR by the authentication key, PEM.
    pub auth_csr: String,
    /// CSR by the signing key, PEM.
    pub sign_csr: String,
    /// The agent's version.
    pub agent_version: String,
}

/// The two certificates of a card.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IssuedCardView {
    /// Authentication certificate.
    pub auth: CardCertificateView,
    /// Signing certificate.
    pub sign: CardCertificateView,
    /// The smartcards CA chain (not the root), PEM.
    pub chain_pem: String,
}

/// RA actions with an identity check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityCheckBody {
    /// Documents checked.
    pub documents: String,
    /// The agent's version (renewal).
    #[serde(default)]
    pub agent_version: Option<String>,
}

/// `POST /api/v1/admin/cards/{serial}/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelCardBody {
    /// RFC 5280 reason (default `affiliationChanged`).
    #[serde(default)]
    pub reason: Option<RevocationReason>,
}

/// `POST /api/v1/admin/sponsors`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SponsorBody {
    /// The sponsor's UID.
    pub uid: String,
    /// The organisation they may unlock cards of.
    pub organisation: String,
}

/// `POST /api/v1/admin/card-batches`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardBatchBody {
    /// Batch.
    pub batch: String,
    /// Minimum agent version.
    pub min_agent_version: String,
}

/// `POST /api/v1/admin/web-accounts`: an RA, operator or portal account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebAccountBody {
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// The card UID this person logs in with (smartcard login), if any.
    #[serde(default)]
    pub uid: Option<String>,
    /// Roles: `ra`, `operator`, `portal:<role>`.
    pub roles: Vec<String>,
    /// Password (at least 12 characters) for password login, if allowed.
    #[serde(default)]
    pub password: Option<String>,
}

/// A new web account, with its second factor shown once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewWebAccountView {
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// The card UID this person logs in with, if any.
    pub uid: Option<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// `otpauth://` URI for an authenticator app (accounts with a password).
    pub totp_uri: Option<String>,
    /// The same secret in base32.
    pub totp_secret: Option<String>,
}

/// A person who may hold a card (`POST /api/v1/admin/users` answers it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// UID (digits).
    pub uid: String,
    /// Name.
    pub name: String,
    /// Registered email.
    pub email: Option<String>,
    /// Mobile number (SMS).
    pub mobile: Option<String>,
    /// Landline number.
    pub landline: Option<String>,
    /// The landline can take text-to-voice messages.
    pub landline_voice: bool,
    /// Role codes.
    pub roles: Vec<String>,
    /// Organisation code.
    pub organisation: String,
    /// Created (Unix seconds).
    pub created_at: i64,
}

/// A card as the RA sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardRecordView {
    /// Token serial.
    pub serial: String,
    /// Holder's UID.
    pub uid: String,
    /// Manufacturing batch.
    pub batch: String,
    /// Status.
    pub status: CardStatus,
    /// Consecutive wrong passcodes.
    pub failed_passcodes: i64,
    /// Serial of the authentication certificate.
    pub auth_serial: Option<String>,
    /// Serial of the signing certificate.
    pub sign_serial: Option<String>,
    /// Expiry of the certificates (Unix seconds).
    pub not_after: Option<i64>,
    /// Remote renewals since the last identity check.
    pub remote_renewals: i64,
    /// Last face-to-face identity check (Unix seconds).
    pub identity_checked_at: Option<i64>,
    /// By whom.
    pub identity_checked_by: Option<String>,
    /// Issued (Unix seconds).
    pub created_at: i64,
}

/// `GET /api/v1/admin/users/{uid}`: a user and their cards.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserCardsView {
    /// The user.
    pub user: UserView,
    /// Their cards.
    pub cards: Vec<CardRecordView>,
}

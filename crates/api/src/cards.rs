//! Smartcards: what `carecert-agent` sends and is answered (card status, login challenge,
//! passcode failures, unlock, renewal).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{CardStatus, Channel, KeyRole};

/// What the agent and the holder are told about a card.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardStatusView {
    /// Token serial.
    pub serial: String,
    /// Holder's UID.
    pub uid: String,
    /// `active`, `locked`, `cancelled`.
    pub status: CardStatus,
    /// Serial of the current authentication certificate.
    pub auth_serial: Option<String>,
    /// Serial of the current signing certificate.
    pub sign_serial: Option<String>,
    /// Passcode tries left before the card locks.
    pub tries_left: i64,
    /// Certificates' expiry (Unix seconds).
    pub not_after: Option<i64>,
    /// Days to expiry.
    pub days_to_expiry: Option<i64>,
    /// Remote renewal possible now.
    pub renewal_open: bool,
    /// Remote renewals left before an RA visit.
    pub remote_renewals_left: i64,
    /// What to do, for a person.
    pub message: String,
}

/// What anyone may learn about a card before logging in (`GET /api/v1/cards/{serial}`):
/// whether it can be used. The holder, the passcode count and the certificates need a card
/// session (`GET /api/v1/cards/{serial}/details`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardStateView {
    /// Token serial.
    pub serial: String,
    /// `active` (usable), `locked`, `cancelled`.
    pub status: CardStatus,
    /// What to do, for a person.
    pub message: String,
}

/// The token's own PIN-counter flags (`C_GetTokenInfo`), sent when the token has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenPinFlags {
    /// CKF_USER_PIN_COUNT_LOW.
    #[serde(default)]
    pub count_low: bool,
    /// CKF_USER_PIN_FINAL_TRY.
    #[serde(default)]
    pub final_try: bool,
    /// CKF_USER_PIN_LOCKED.
    #[serde(default)]
    pub locked: bool,
}

/// `POST /api/v1/cards/{serial}/passcode-failures`: the challenge the wrong passcode was
/// typed for (it is used up).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasscodeFailureBody {
    /// The login challenge this workstation was given for the card.
    pub nonce: String,
    /// The token's PIN flags after the wrong passcode, if it has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_flags: Option<TokenPinFlags>,
}

/// A challenge to sign.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChallengeView {
    /// Sign these bytes (the hex text as ASCII).
    pub nonce: String,
}

/// The card signed a login challenge.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardLoginBody {
    /// The challenge.
    pub nonce: String,
    /// DER ECDSA signature by the card's authentication key, base64.
    pub signature: String,
    /// The agent's version.
    pub agent_version: String,
    /// The token's PIN flags as they were before this passcode, if it has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_flags: Option<TokenPinFlags>,
}

/// A card session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardSessionView {
    /// Bearer token for renewals.
    pub token: String,
    /// The card.
    pub card: CardStatusView,
}

/// A wrong passcode was entered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PasscodeFailureView {
    /// The card is now locked.
    pub locked: bool,
    /// The failure counted toward the lock (an enrolled workstation reported it).
    pub counted: bool,
    /// Tries left (only for a counted failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tries_left: Option<i64>,
    /// Seconds before this workstation may try this card again (an uncounted failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// For a person.
    pub message: String,
}

/// `POST /api/v1/cards/{serial}/unlock-codes`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockCodeBody {
    /// `email`, `sms` or `voice`.
    pub channel: Channel,
}

/// Where a code went.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CodeSentView {
    /// Masked address or number.
    pub sent_to: String,
}

/// `POST /api/v1/cards/{serial}/unlock`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockBody {
    /// The one-time code.
    pub code: String,
}

/// `POST /api/v1/cards/{serial}/sponsor-unlock`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SponsorUnlockBody {
    /// The challenge.
    pub nonce: String,
    /// The sponsor's card authentication certificate, PEM.
    pub sponsor_certificate: String,
    /// DER signature by the sponsor's card over the nonce, base64.
    pub signature: String,
}

/// An unlock succeeded: set the new passcode on the card with this SO PIN.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnlockedView {
    /// The card.
    pub serial: String,
    /// The card's security-officer PIN.
    pub so_pin: String,
    /// One-time ticket (10 minutes) to report the fresh SO PIN the agent sets on the card
    /// next (`POST /api/v1/cards/{serial}/so-pin`, as the bearer).
    #[serde(default)]
    pub so_pin_ticket: Option<String>,
}

/// `POST /api/v1/cards/{serial}/so-pin`: the fresh SO PIN the agent set after a release.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSoPinBody {
    /// The card's new security-officer PIN (8 to 64 printable characters); stored sealed.
    pub so_pin: String,
}

/// `POST /api/v1/cards/{serial}/renewals`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRenewalBody {
    /// The agent's version.
    pub agent_version: String,
}

/// A renewal attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RenewalView {
    /// Attempt id.
    pub renewal_id: i64,
    /// Card session token for the attempt's calls (RA renewals get a fresh one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `POST /api/v1/card-renewals/{id}/certificates`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewCertificateBody {
    /// `auth` or `sign`.
    pub role: KeyRole,
    /// CSR made on the card with the new key, PEM.
    pub csr: String,
}

/// A card certificate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardCertificateView {
    /// Serial.
    pub serial: String,
    /// PEM.
    pub certificate_pem: String,
    /// notAfter (Unix seconds).
    pub not_after: i64,
}

/// `POST /api/v1/card-renewals/{id}/abort`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbortBody {
    /// Why (recorded).
    pub reason: String,
}

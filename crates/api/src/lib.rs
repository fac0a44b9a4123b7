//! # api — the JSON contract of carecert's service API
//!
//! The request and response bodies that `server` speaks and `ecmt` / `carecert-agent`
//! send, in one place so both sides agree by construction. Field names are the public
//! contract (DESIGN §5): add fields, never rename or remove them.
//!
//! This crate must never hold logic or I/O: plain `serde` structs with their OpenAPI
//! schemas, nothing else.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error: a code for programs, a sentence for people.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code (`login_failed`, `locked_out`, `client_too_old`, …).
    pub error: String,
    /// What happened and what to do, for a person.
    pub message: String,
}

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
    pub kind: String,
    /// `active`, `suspended`, `closed`.
    pub status: String,
    /// `automatic` or `ra-queue`.
    pub approval: String,
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
    pub status: String,
    /// `pin` or `certificate`.
    pub channel: String,
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

/// `POST /api/v1/admin/organisations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisationBody {
    /// EPOC (digits).
    pub epoc: String,
    /// Name.
    pub name: String,
    /// `pharmacy`, `gp`, `dental`, `ophthalmic`.
    pub kind: String,
    /// `automatic` or `ra-queue` (default `ra-queue`).
    #[serde(default)]
    pub approval: Option<String>,
}

/// `PATCH /api/v1/admin/organisations/{epoc}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationChangeBody {
    /// New status.
    #[serde(default)]
    pub status: Option<String>,
    /// New approval policy.
    #[serde(default)]
    pub approval: Option<String>,
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
    /// Download URL.
    pub url: String,
    /// SHA-256 of the download, hex.
    pub sha256: String,
    /// Notes.
    #[serde(default)]
    pub notes: String,
}

// ------------------------------------------------------------------------------- smartcards

/// What the agent and the holder are told about a card.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardStatusView {
    /// Token serial.
    pub serial: String,
    /// Holder's UID.
    pub uid: String,
    /// `active`, `locked`, `cancelled`.
    pub status: String,
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
    /// Tries left.
    pub tries_left: i64,
    /// For a person.
    pub message: String,
}

/// `POST /api/v1/cards/{serial}/unlock-codes`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockCodeBody {
    /// `email`, `sms` or `voice`.
    pub channel: String,
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
    pub role: String,
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
    pub reason: Option<String>,
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

//! Smartcards: users, card batches, cards, identity checks, sponsors, one-time unlock
//! codes, renewals and challenges. The store records; `cards` decides.

mod challenges;
mod desk;
mod lifecycle;
mod limits;
mod renewals;
mod unlock;
mod users;

use serde::Serialize;
use sqlx::any::AnyRow;
pub use types::CardStatus;
use types::{Channel, RenewalKind, RenewalStatus};

pub use desk::{CodeDelivery, Contact, DeskTicket};
pub use limits::{RateLimit, Refusal};

use crate::{Cols, StoreError};

/// A person who may hold a card.
#[derive(Debug, Clone, Serialize)]
pub struct User {
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
    /// Roles (comma-separated codes).
    pub roles: Vec<String>,
    /// Organisation code.
    pub organisation: String,
    /// Created.
    pub created_at: i64,
}

pub(crate) fn user_from_row(r: &AnyRow) -> Result<User, StoreError> {
    let roles: String = r.col("roles")?;
    Ok(User {
        uid: r.col("uid")?,
        name: r.col("name")?,
        email: r.col("email")?,
        mobile: r.col("mobile")?,
        landline: r.col("landline")?,
        landline_voice: r.col::<i64>("landline_voice")? != 0,
        roles: roles.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        organisation: r.col("organisation")?,
        created_at: r.col("created_at")?,
    })
}

/// A card.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    /// Token serial.
    pub serial: String,
    /// Holder.
    pub uid: String,
    /// Manufacturing batch.
    pub batch: String,
    /// Status.
    pub status: CardStatus,
    /// Consecutive wrong passcodes.
    pub failed_passcodes: i64,
    /// The card's security-officer PIN, sealed (never leaves the server unsealed except to
    /// an agent that has just proved an unlock).
    #[serde(skip)]
    pub so_pin_sealed: String,
    /// Serial of the authentication certificate.
    pub auth_serial: Option<String>,
    /// Serial of the signing certificate.
    pub sign_serial: Option<String>,
    /// Expiry of the certificates.
    pub not_after: Option<i64>,
    /// Remote renewals since the last identity check.
    pub remote_renewals: i64,
    /// Last face-to-face identity check.
    pub identity_checked_at: Option<i64>,
    /// By whom.
    pub identity_checked_by: Option<String>,
    /// Issued.
    pub created_at: i64,
}

pub(crate) const CARD_COLUMNS: &str = "serial, uid, batch, status, failed_passcodes, so_pin_sealed, auth_serial, sign_serial, not_after, remote_renewals, identity_checked_at, identity_checked_by, created_at";

pub(crate) fn card_from_row(r: &AnyRow) -> Result<Card, StoreError> {
    Ok(Card {
        serial: r.col("serial")?,
        uid: r.col("uid")?,
        batch: r.col("batch")?,
        status: r.parsed("status")?,
        failed_passcodes: r.col("failed_passcodes")?,
        so_pin_sealed: r.col("so_pin_sealed")?,
        auth_serial: r.col("auth_serial")?,
        sign_serial: r.col("sign_serial")?,
        not_after: r.col("not_after")?,
        remote_renewals: r.col("remote_renewals")?,
        identity_checked_at: r.col("identity_checked_at")?,
        identity_checked_by: r.col("identity_checked_by")?,
        created_at: r.col("created_at")?,
    })
}

/// A face-to-face identity check.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityCheck {
    /// The person.
    pub uid: String,
    /// The card concerned.
    pub card_serial: Option<String>,
    /// `issue`, `renew` or `unlock`.
    pub purpose: String,
    /// RA agent.
    pub checked_by: String,
    /// Documents seen.
    pub documents: String,
    /// When.
    pub checked_at: i64,
}

/// A one-time unlock code as stored.
#[derive(Debug, Clone)]
pub struct UnlockCode {
    /// Row id.
    pub id: i64,
    /// Channel used.
    pub channel: Channel,
    /// Argon2id hash.
    pub code_hash: String,
    /// Wrong tries so far.
    pub tries: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Used at.
    pub used_at: Option<i64>,
}

/// A renewal attempt.
#[derive(Debug, Clone, Serialize)]
pub struct CardRenewal {
    /// Row id.
    pub id: i64,
    /// Card.
    pub card_serial: String,
    /// Remote, or face to face with the RA.
    pub kind: RenewalKind,
    /// Started, done or aborted.
    pub status: RenewalStatus,
    /// New authentication certificate, once issued.
    pub new_auth_serial: Option<String>,
    /// New signing certificate, once issued.
    pub new_sign_serial: Option<String>,
    /// Started.
    pub started_at: i64,
}

pub(crate) fn renewal_from_row(r: &AnyRow) -> Result<CardRenewal, StoreError> {
    Ok(CardRenewal {
        id: r.col("id")?,
        card_serial: r.col("card_serial")?,
        kind: r.parsed("kind")?,
        status: r.parsed("status")?,
        new_auth_serial: r.col("new_auth_serial")?,
        new_sign_serial: r.col("new_sign_serial")?,
        started_at: r.col("started_at")?,
    })
}

/// What a card update writes (only the `Some` fields).
#[derive(Debug, Clone, Default)]
pub struct CardChange {
    /// New status.
    pub status: Option<CardStatus>,
    /// New failure count.
    pub failed_passcodes: Option<i64>,
    /// New certificates (auth serial, sign serial, notAfter).
    pub certificates: Option<(String, String, i64)>,
    /// New remote-renewal count.
    pub remote_renewals: Option<i64>,
    /// A new identity check (when, by whom).
    pub identity_checked: Option<(i64, String)>,
    /// New sealed SO PIN.
    pub so_pin_sealed: Option<String>,
}

pub(crate) async fn insert_check(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    c: &IdentityCheck,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO identity_checks (uid, card_serial, purpose, checked_by, documents, checked_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(c.uid.clone())
    .bind(c.card_serial.clone())
    .bind(c.purpose.clone())
    .bind(c.checked_by.clone())
    .bind(c.documents.clone())
    .bind(c.checked_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

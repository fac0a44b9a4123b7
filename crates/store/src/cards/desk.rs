//! RA desk tickets (issue 14): what the RA checked at the desk, as a short-lived, single-use
//! bearer credential for the desk's card agent; the contact details of a card holder; the
//! unlock-code delivery log. The store records; `cards` decides what a ticket allows.

use super::*;
use crate::audit::{self, AuditEvent};
use crate::{Cols, Store, StoreError};

/// A desk ticket as stored (its token only as SHA-256).
#[derive(Debug, Clone, Serialize)]
pub struct DeskTicket {
    /// SHA-256 of the bearer value (hex).
    #[serde(skip)]
    pub token_sha256: String,
    /// `issue` or `renew`.
    pub purpose: String,
    /// The holder the identity check was about.
    pub uid: String,
    /// The documents the RA saw.
    pub documents: String,
    /// The card batch.
    pub batch: String,
    /// The RA's web account (re-checked when the ticket is used).
    pub ra_account: String,
    /// The RA's audit actor text.
    pub ra_actor: String,
    /// Minted.
    pub created_at: i64,
    /// Unusable from.
    pub expires_at: i64,
    /// Presented by the agent (in use).
    pub claimed_at: Option<i64>,
    /// The card was issued with it.
    pub used_at: Option<i64>,
    /// The card it issued (or, for `renew`, the card it may renew).
    pub card_serial: Option<String>,
}

const TICKET_COLUMNS: &str = "token_sha256, purpose, uid, documents, batch, ra_account, ra_actor, created_at, expires_at, claimed_at, used_at, card_serial";

fn ticket_from_row(r: &AnyRow) -> Result<DeskTicket, StoreError> {
    Ok(DeskTicket {
        token_sha256: r.col("token_sha256")?,
        purpose: r.col("purpose")?,
        uid: r.col("uid")?,
        documents: r.col("documents")?,
        batch: r.col("batch")?,
        ra_account: r.col("ra_account")?,
        ra_actor: r.col("ra_actor")?,
        created_at: r.col("created_at")?,
        expires_at: r.col("expires_at")?,
        claimed_at: r.col("claimed_at")?,
        used_at: r.col("used_at")?,
        card_serial: r.col("card_serial")?,
    })
}

/// One line of the unlock-code delivery log.
#[derive(Debug, Clone, Serialize)]
pub struct CodeDelivery {
    /// Channel.
    pub channel: Channel,
    /// Where it went, masked as the holder was told.
    pub sent_to: String,
    /// Sent at.
    pub created_at: i64,
    /// Valid until.
    pub expires_at: i64,
    /// Wrong or right tries taken.
    pub tries: i64,
    /// Used to unlock the card (not counting codes replaced by a newer one).
    pub used_at: Option<i64>,
    /// Replaced by a newer code.
    pub superseded_at: Option<i64>,
}

/// New contact details of a card holder (`None`: cleared).
#[derive(Debug, Clone, Default)]
pub struct Contact {
    /// Email.
    pub email: Option<String>,
    /// Mobile (SMS).
    pub mobile: Option<String>,
    /// Landline.
    pub landline: Option<String>,
    /// The landline takes text-to-voice messages (no auto-attendant).
    pub landline_voice: bool,
}

impl Store {
    /// Stores a desk ticket and the identity check's audit entry, in one transaction.
    pub async fn insert_desk_ticket(&self, t: &DeskTicket, event: AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO desk_tickets (token_sha256, purpose, uid, documents, batch, ra_account, ra_actor, created_at, expires_at, card_serial) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(t.token_sha256.clone())
        .bind(t.purpose.clone())
        .bind(t.uid.clone())
        .bind(t.documents.clone())
        .bind(t.batch.clone())
        .bind(t.ra_account.clone())
        .bind(t.ra_actor.clone())
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.card_serial.clone())
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A desk ticket by the SHA-256 of its token, whatever its state.
    pub async fn desk_ticket(&self, token_sha256: &str) -> Result<Option<DeskTicket>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM desk_tickets WHERE token_sha256 = $1"
        )))
        .bind(token_sha256)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    /// Claims a desk ticket in one conditional update (unclaimed, unused, unexpired): of any
    /// number of concurrent presentations, one gets the ticket. None when it cannot be claimed.
    pub async fn claim_desk_ticket(&self, token_sha256: &str, now: i64) -> Result<Option<DeskTicket>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE desk_tickets SET claimed_at = $2 WHERE token_sha256 = $1 AND claimed_at IS NULL AND used_at IS NULL AND expires_at > $2 RETURNING {TICKET_COLUMNS}"
        )))
        .bind(token_sha256)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    /// Gives a claimed ticket back after the card could not be issued (nothing was made).
    pub async fn release_desk_ticket(&self, token_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE desk_tickets SET claimed_at = NULL WHERE token_sha256 = $1 AND used_at IS NULL")
            .bind(token_sha256)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records that a claimed ticket issued card `card_serial`.
    pub async fn finish_desk_ticket(&self, token_sha256: &str, card_serial: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE desk_tickets SET used_at = $2, card_serial = $3 WHERE token_sha256 = $1")
            .bind(token_sha256)
            .bind(now)
            .bind(card_serial)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Changes a holder's contact details, with the audit entry, in one transaction. False
    /// when there is no such user.
    pub async fn update_contact(&self, uid: &str, c: &Contact, event: AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let n =
            sqlx::query("UPDATE users SET email = $2, mobile = $3, landline = $4, landline_voice = $5 WHERE uid = $1")
                .bind(uid)
                .bind(c.email.clone())
                .bind(c.mobile.clone())
                .bind(c.landline.clone())
                .bind(i64::from(c.landline_voice))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The unlock codes sent for card `serial`, newest first (at most `limit`).
    pub async fn code_deliveries(&self, serial: &str, limit: i64) -> Result<Vec<CodeDelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT channel, sent_to, created_at, expires_at, tries, used_at, superseded_at FROM unlock_codes WHERE card_serial = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(serial)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let superseded_at: Option<i64> = r.col("superseded_at")?;
                Ok(CodeDelivery {
                    channel: r.parsed("channel")?,
                    sent_to: r.col("sent_to")?,
                    created_at: r.col("created_at")?,
                    expires_at: r.col("expires_at")?,
                    tries: r.col("tries")?,
                    used_at: r.col::<Option<i64>>("used_at")?.filter(|_| superseded_at.is_none()),
                    superseded_at,
                })
            })
            .collect()
    }
}

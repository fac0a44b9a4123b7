//! Issue 11 (zero touch): trust withdrawals, organisation contacts, and expiry reminders.
//!
//! A reminder is claimed by inserting its row — primary key (kind, subject, threshold) — in
//! the same transaction as its audit entry, *before* the message is sent. Another node that
//! tries the same reminder finds the row and sends nothing (on PostgreSQL its insert waits for
//! the first transaction and then does nothing). A send that fails releases the claim (the row
//! is deleted, with its own audit entry) so a later pass tries again. A node that dies between
//! the claim and the send loses that one reminder: at most once, never twice.

use serde::Serialize;

use crate::audit::{self, AuditEvent};
use crate::{Cols, Store, StoreError};

/// What a reminder is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReminderKind {
    /// An organisation's machine certificate.
    Machine,
    /// A card holder's card certificates.
    Card,
}

impl ReminderKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::Machine => "machine",
            ReminderKind::Card => "card",
        }
    }
}

/// An organisation whose newest machine certificate expires soon.
#[derive(Debug, Clone, Serialize)]
pub struct MachineExpiry {
    /// Organisation code.
    pub epoc: String,
    /// Organisation name.
    pub name: String,
    /// Organisation kind (stored text).
    pub kind: String,
    /// Who is told (None: nobody registered).
    pub contact_email: Option<String>,
    /// The certificate's serial.
    pub serial: String,
    /// Its expiry (Unix seconds).
    pub not_after: i64,
}

/// A card whose certificates expire soon.
#[derive(Debug, Clone, Serialize)]
pub struct CardExpiry {
    /// Card serial.
    pub serial: String,
    /// Holder's UID.
    pub uid: String,
    /// Holder's name.
    pub name: String,
    /// Holder's email (None: nobody to tell by email).
    pub email: Option<String>,
    /// Expiry of the card's certificates (Unix seconds).
    pub not_after: i64,
    /// Remote renewals since the last identity check.
    pub remote_renewals: i64,
}

/// A reminder to claim.
#[derive(Debug, Clone)]
pub struct ReminderClaim {
    /// Machine or card.
    pub kind: ReminderKind,
    /// Certificate serial (machine) or card serial (card).
    pub subject: String,
    /// Days before expiry this reminder is for.
    pub threshold_days: i64,
    /// EPOC (machine) or UID (card).
    pub owner: String,
    /// Email address.
    pub recipient: String,
    /// Expiry being reminded of.
    pub not_after: i64,
    /// When (Unix seconds).
    pub at: i64,
    /// Which node claimed it.
    pub node: String,
}

/// A reminder that was sent.
#[derive(Debug, Clone, Serialize)]
pub struct SentReminder {
    /// Machine or card (stored text).
    pub kind: String,
    /// Certificate or card serial.
    pub subject: String,
    /// EPOC or UID.
    pub owner: String,
    /// Days before expiry.
    pub threshold_days: i64,
    /// Sent to.
    pub recipient: String,
    /// When (Unix seconds).
    pub sent_at: i64,
}

impl Store {
    /// Adds a `withdrawn` entry for CA `ca` to the trust feed, with its audit entry.
    /// Returns the entry's sequence number.
    pub async fn withdraw_trust(&self, ca: &str, reason: &str, at: i64, event: AuditEvent) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let known = sqlx::query("SELECT name FROM cas WHERE name = $1").bind(ca).fetch_optional(&mut *tx).await?;
        if known.is_none() {
            return Err(StoreError::NotFound(format!("CA '{ca}'")));
        }
        let last = sqlx::query("SELECT kind FROM trust_events WHERE ca_name = $1 ORDER BY seq DESC LIMIT 1")
            .bind(ca)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = last {
            let kind: String = row.col("kind")?;
            if kind == "withdrawn" {
                return Err(StoreError::Conflict(format!("the CA '{ca}' is withdrawn already")));
            }
        }
        let row = sqlx::query(
            "INSERT INTO trust_events (ca_name, kind, at, reason) VALUES ($1, 'withdrawn', $2, $3) RETURNING seq",
        )
        .bind(ca)
        .bind(at)
        .bind(reason)
        .fetch_one(&mut *tx)
        .await?;
        let seq: i64 = row.col("seq")?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Sets (or clears, with None) the address expiry reminders for `epoc` go to.
    pub async fn set_org_contact(&self, epoc: &str, email: Option<&str>, event: AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("UPDATE organisations SET contact_email = $1 WHERE epoc = $2")
            .bind(email.map(str::to_string))
            .bind(epoc)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("organisation {epoc}")));
        }
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The reminder address of `epoc`, if one is set.
    pub async fn org_contact(&self, epoc: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT contact_email FROM organisations WHERE epoc = $1")
            .bind(epoc)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("organisation {epoc}")))?;
        row.col("contact_email")
    }

    /// Active organisations whose current machine certificate (of CA `issuer`) is unexpired
    /// at `now` and expires by `until`. An organisation's current certificate is the one its
    /// newest still-issued request received: an organisation that renewed has a newer one, so
    /// its old one is not listed.
    ///
    /// Each organisation's current certificate is kept in `org_current_certificates` by
    /// triggers (migration 0019), so this is one range of an index, whatever the number of
    /// organisations and certificates (bench/README.md, "Scale").
    pub async fn machine_certs_expiring(
        &self,
        issuer: &str,
        now: i64,
        until: i64,
    ) -> Result<Vec<MachineExpiry>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.epoc, o.name, o.kind, o.contact_email, oc.serial, oc.not_after \
             FROM org_current_certificates oc JOIN organisations o ON o.epoc = oc.epoc \
             WHERE o.status = 'active' AND oc.issuer = $1 AND oc.not_after > $2 AND oc.not_after <= $3 \
             ORDER BY oc.not_after, o.epoc",
        )
        .bind(issuer)
        .bind(now)
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        // One row per organisation: the table holds one current certificate each.
        rows.iter()
            .map(|r| {
                Ok(MachineExpiry {
                    epoc: r.col("epoc")?,
                    name: r.col("name")?,
                    kind: r.col("kind")?,
                    contact_email: r.col("contact_email")?,
                    serial: r.col("serial")?,
                    not_after: r.col("not_after")?,
                })
            })
            .collect()
    }

    /// Cards not cancelled whose certificates are unexpired at `now` and expire by `until`.
    pub async fn cards_expiring(&self, now: i64, until: i64) -> Result<Vec<CardExpiry>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.serial, c.uid, c.not_after, c.remote_renewals, u.name, u.email \
             FROM cards c JOIN users u ON u.uid = c.uid \
             WHERE c.status <> 'cancelled' AND c.not_after > $1 AND c.not_after <= $2 \
             ORDER BY c.not_after, c.serial",
        )
        .bind(now)
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CardExpiry {
                    serial: r.col("serial")?,
                    uid: r.col("uid")?,
                    name: r.col("name")?,
                    email: r.col("email")?,
                    not_after: r.col("not_after")?,
                    remote_renewals: r.col("remote_renewals")?,
                })
            })
            .collect()
    }

    /// Claims a reminder: inserts its row and appends `event` in one transaction. Returns
    /// false (and changes nothing) when it was claimed before, by this node or another.
    pub async fn claim_reminder(&self, c: &ReminderClaim, event: AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "INSERT INTO expiry_reminders (kind, subject, threshold_days, owner, recipient, not_after, sent_at, node) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kind, subject, threshold_days) DO NOTHING",
        )
        .bind(c.kind.as_str())
        .bind(c.subject.clone())
        .bind(c.threshold_days)
        .bind(c.owner.clone())
        .bind(c.recipient.clone())
        .bind(c.not_after)
        .bind(c.at)
        .bind(c.node.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Releases a claimed reminder whose message could not be sent (a later pass retries).
    pub async fn release_reminder(
        &self,
        kind: ReminderKind,
        subject: &str,
        threshold_days: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM expiry_reminders WHERE kind = $1 AND subject = $2 AND threshold_days = $3")
            .bind(kind.as_str())
            .bind(subject)
            .bind(threshold_days)
            .execute(&mut *tx)
            .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reminders sent for expiries after `now` (what is still relevant), oldest first.
    pub async fn reminders_sent(&self, now: i64) -> Result<Vec<SentReminder>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, subject, owner, threshold_days, recipient, sent_at FROM expiry_reminders \
             WHERE not_after > $1 ORDER BY sent_at, kind, subject",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SentReminder {
                    kind: r.col("kind")?,
                    subject: r.col("subject")?,
                    owner: r.col("owner")?,
                    threshold_days: r.col("threshold_days")?,
                    recipient: r.col("recipient")?,
                    sent_at: r.col("sent_at")?,
                })
            })
            .collect()
    }
}

//! Smartcards: users, card batches, cards, identity checks, sponsors, one-time unlock
//! codes, renewals and challenges. The store records; `cards` decides.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{self, AuditEvent};
pub use types::CardStatus;
use crate::{Store, StoreError};

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

fn user_from_row(r: &AnyRow) -> User {
    let roles: String = r.get(6);
    User {
        uid: r.get(0),
        name: r.get(1),
        email: r.get(2),
        mobile: r.get(3),
        landline: r.get(4),
        landline_voice: r.get::<i64, _>(5) != 0,
        roles: roles.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        organisation: r.get(7),
        created_at: r.get(8),
    }
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

const CARD_COLUMNS: &str = "serial, uid, batch, status, failed_passcodes, so_pin_sealed, auth_serial, sign_serial, not_after, remote_renewals, identity_checked_at, identity_checked_by, created_at";

fn card_from_row(r: &AnyRow) -> Result<Card, StoreError> {
    let status: String = r.get(3);
    Ok(Card {
        serial: r.get(0),
        uid: r.get(1),
        batch: r.get(2),
        status: status.parse().map_err(StoreError::Corrupt)?,
        failed_passcodes: r.get(4),
        so_pin_sealed: r.get(5),
        auth_serial: r.get(6),
        sign_serial: r.get(7),
        not_after: r.get(8),
        remote_renewals: r.get(9),
        identity_checked_at: r.get(10),
        identity_checked_by: r.get(11),
        created_at: r.get(12),
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
    pub channel: String,
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
    /// `remote` or `ra`.
    pub kind: String,
    /// `started`, `done`, `aborted`.
    pub status: String,
    /// New authentication certificate, once issued.
    pub new_auth_serial: Option<String>,
    /// New signing certificate, once issued.
    pub new_sign_serial: Option<String>,
    /// Started.
    pub started_at: i64,
}

fn renewal_from_row(r: &AnyRow) -> CardRenewal {
    CardRenewal {
        id: r.get(0),
        card_serial: r.get(1),
        kind: r.get(2),
        status: r.get(3),
        new_auth_serial: r.get(4),
        new_sign_serial: r.get(5),
        started_at: r.get(6),
    }
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

impl Store {
    /// Registers a user.
    pub async fn insert_user(&self, u: &User, event: AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO users (uid, name, email, mobile, landline, landline_voice, roles, organisation, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(u.uid.clone())
        .bind(u.name.clone())
        .bind(u.email.clone())
        .bind(u.mobile.clone())
        .bind(u.landline.clone())
        .bind(i64::from(u.landline_voice))
        .bind(u.roles.join(","))
        .bind(u.organisation.clone())
        .bind(u.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("user {} exists already", u.uid))
            }
            _ => StoreError::Database(e),
        })?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One user.
    pub async fn user(&self, uid: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT uid, name, email, mobile, landline, landline_voice, roles, organisation, created_at FROM users WHERE uid = $1",
        )
        .bind(uid)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    /// Registers a card batch and the minimum agent version it needs (insert or replace).
    pub async fn set_card_batch(
        &self,
        batch: &str,
        min_agent_version: &str,
        now: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO card_batches (batch, min_agent_version, created_at) VALUES ($1, $2, $3) ON CONFLICT (batch) DO UPDATE SET min_agent_version = excluded.min_agent_version",
        )
        .bind(batch)
        .bind(min_agent_version)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The minimum agent version of a batch.
    pub async fn card_batch(&self, batch: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT min_agent_version FROM card_batches WHERE batch = $1")
            .bind(batch)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Stores a newly issued card with its identity check, in one transaction.
    pub async fn insert_card(&self, c: &Card, check: &IdentityCheck, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO cards (serial, uid, batch, status, failed_passcodes, so_pin_sealed, auth_serial, sign_serial, not_after, remote_renewals, identity_checked_at, identity_checked_by, created_at) VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, 0, $9, $10, $11)",
        )
        .bind(c.serial.clone())
        .bind(c.uid.clone())
        .bind(c.batch.clone())
        .bind(c.status.as_str())
        .bind(c.so_pin_sealed.clone())
        .bind(c.auth_serial.clone())
        .bind(c.sign_serial.clone())
        .bind(c.not_after)
        .bind(c.identity_checked_at)
        .bind(c.identity_checked_by.clone())
        .bind(c.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("card {} is registered already", c.serial))
            }
            _ => StoreError::Database(e),
        })?;
        insert_check(&mut tx, check).await?;
        audit::append(&mut tx, self.engine(), events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One card.
    pub async fn card(&self, serial: &str) -> Result<Option<Card>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CARD_COLUMNS} FROM cards WHERE serial = $1")))
            .bind(serial)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(card_from_row).transpose()
    }

    /// The card that holds the certificate `cert_serial` (authentication or signing).
    pub async fn card_by_certificate(&self, cert_serial: &str) -> Result<Option<Card>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CARD_COLUMNS} FROM cards WHERE auth_serial = $1 OR sign_serial = $1"
        )))
        .bind(cert_serial)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(card_from_row).transpose()
    }

    /// A user's cards.
    pub async fn cards_of(&self, uid: &str) -> Result<Vec<Card>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CARD_COLUMNS} FROM cards WHERE uid = $1 ORDER BY created_at"
        )))
        .bind(uid)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(card_from_row).collect()
    }

    /// Changes a card if it is in one of `from` (conditional update); writes an identity
    /// check if given, and the audit events, in one transaction. False when the card was
    /// not in one of `from`.
    pub async fn update_card(
        &self,
        serial: &str,
        from: &[CardStatus],
        change: &CardChange,
        check: Option<&IdentityCheck>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let mut sql = String::from(
            "UPDATE cards SET status = COALESCE($1, status), failed_passcodes = COALESCE($2, failed_passcodes), \
             auth_serial = COALESCE($3, auth_serial), sign_serial = COALESCE($4, sign_serial), not_after = COALESCE($5, not_after), \
             remote_renewals = COALESCE($6, remote_renewals), identity_checked_at = COALESCE($7, identity_checked_at), \
             identity_checked_by = COALESCE($8, identity_checked_by), so_pin_sealed = COALESCE($9, so_pin_sealed) \
             WHERE serial = $10 AND status IN (",
        );
        for i in 0..from.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("${}", 11 + i));
        }
        sql.push(')');
        let mut tx = self.pool().begin().await?;
        let certs = change.certificates.as_ref();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(change.status.map(|s| s.as_str()))
            .bind(change.failed_passcodes)
            .bind(certs.map(|c| c.0.clone()))
            .bind(certs.map(|c| c.1.clone()))
            .bind(certs.map(|c| c.2))
            .bind(change.remote_renewals)
            .bind(change.identity_checked.as_ref().map(|c| c.0))
            .bind(change.identity_checked.as_ref().map(|c| c.1.clone()))
            .bind(change.so_pin_sealed.clone())
            .bind(serial);
        for s in from {
            q = q.bind(s.as_str());
        }
        if q.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(c) = check {
            insert_check(&mut tx, c).await?;
        }
        audit::append(&mut tx, self.engine(), events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Counts a wrong passcode; the `max`-th consecutive one locks the card. Returns the
    /// card after the change.
    pub async fn count_wrong_passcode(
        &self,
        serial: &str,
        max: i64,
        events: &[AuditEvent],
    ) -> Result<Card, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE cards SET failed_passcodes = failed_passcodes + 1 WHERE serial = $1 AND status = 'active'")
            .bind(serial)
            .execute(&mut *tx)
            .await?;
        let locked = sqlx::query(
            "UPDATE cards SET status = 'locked' WHERE serial = $1 AND status = 'active' AND failed_passcodes >= $2",
        )
        .bind(serial)
        .bind(max)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CARD_COLUMNS} FROM cards WHERE serial = $1")))
            .bind(serial)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("card {serial}")))?;
        let card = card_from_row(&row)?;
        let mut evs = events.to_vec();
        if locked > 0 {
            evs.push(AuditEvent {
                at_ms: events.first().map(|e| e.at_ms).unwrap_or_default(),
                actor: "system".into(),
                action: "card.locked".into(),
                subject: format!("card:{serial}"),
                details: serde_json::json!({"after_wrong_passcodes": card.failed_passcodes}),
            });
        }
        audit::append(&mut tx, self.engine(), &evs).await?;
        tx.commit().await?;
        Ok(card)
    }

    /// Grants (or renews) a sponsor's unlock authority for an organisation.
    pub async fn grant_sponsor(
        &self,
        uid: &str,
        organisation: &str,
        by: &str,
        now: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO sponsors (sponsor_uid, organisation, granted_by, granted_at) VALUES ($1, $2, $3, $4) ON CONFLICT (sponsor_uid, organisation) DO UPDATE SET granted_by = excluded.granted_by, granted_at = excluded.granted_at, revoked_at = NULL",
        )
        .bind(uid)
        .bind(organisation)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether `uid` holds unlock authority for `organisation`.
    pub async fn is_sponsor(&self, uid: &str, organisation: &str) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT 1 FROM sponsors WHERE sponsor_uid = $1 AND organisation = $2 AND revoked_at IS NULL")
                .bind(uid)
                .bind(organisation)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }

    /// Stores a new unlock code, retiring older unused ones of the card.
    pub async fn insert_unlock_code(
        &self,
        serial: &str,
        channel: &str,
        code_hash: &str,
        now: i64,
        expires_at: i64,
        event: AuditEvent,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE unlock_codes SET used_at = $1 WHERE card_serial = $2 AND used_at IS NULL")
            .bind(now)
            .bind(serial)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "INSERT INTO unlock_codes (card_serial, channel, code_hash, tries, created_at, expires_at) VALUES ($1, $2, $3, 0, $4, $5) RETURNING id",
        )
        .bind(serial)
        .bind(channel)
        .bind(code_hash)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(row.get(0))
    }

    /// The newest unlock code of a card.
    pub async fn latest_unlock_code(&self, serial: &str) -> Result<Option<UnlockCode>, StoreError> {
        let row = sqlx::query(
            "SELECT id, channel, code_hash, tries, expires_at, used_at FROM unlock_codes WHERE card_serial = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(serial)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| UnlockCode {
            id: r.get(0),
            channel: r.get(1),
            code_hash: r.get(2),
            tries: r.get(3),
            expires_at: r.get(4),
            used_at: r.get(5),
        }))
    }

    /// Counts a wrong code (conditional on it being unused); returns the new count.
    pub async fn count_wrong_code(&self, id: i64, event: AuditEvent) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE unlock_codes SET tries = tries + 1 WHERE id = $1 AND used_at IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT tries FROM unlock_codes WHERE id = $1").bind(id).fetch_one(&mut *tx).await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(row.get(0))
    }

    /// Uses a code: marks it used (only if unused) and unlocks the card, in one transaction.
    /// False when the code was used already.
    pub async fn use_unlock_code(
        &self,
        id: i64,
        serial: &str,
        now: i64,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("UPDATE unlock_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE cards SET status = 'active', failed_passcodes = 0 WHERE serial = $1 AND status IN ('active', 'locked')")
            .bind(serial)
            .execute(&mut *tx)
            .await?;
        audit::append(&mut tx, self.engine(), events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Starts a renewal attempt.
    pub async fn start_renewal(
        &self,
        serial: &str,
        kind: &str,
        now: i64,
        event: AuditEvent,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "INSERT INTO card_renewals (card_serial, kind, status, started_at) VALUES ($1, $2, 'started', $3) RETURNING id",
        )
        .bind(serial)
        .bind(kind)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(row.get(0))
    }

    /// One renewal attempt.
    pub async fn renewal(&self, id: i64) -> Result<Option<CardRenewal>, StoreError> {
        let row = sqlx::query(
            "SELECT id, card_serial, kind, status, new_auth_serial, new_sign_serial, started_at FROM card_renewals WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(renewal_from_row))
    }

    /// Unfinished renewal attempts of a card.
    pub async fn open_renewals(&self, serial: &str) -> Result<Vec<CardRenewal>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, card_serial, kind, status, new_auth_serial, new_sign_serial, started_at FROM card_renewals WHERE card_serial = $1 AND status = 'started' ORDER BY id",
        )
        .bind(serial)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(renewal_from_row).collect())
    }

    /// Records a certificate issued in a renewal attempt (`auth` or `sign`).
    pub async fn renewal_certificate(&self, id: i64, role_auth: bool, serial: &str) -> Result<bool, StoreError> {
        let sql = if role_auth {
            "UPDATE card_renewals SET new_auth_serial = $1 WHERE id = $2 AND status = 'started'"
        } else {
            "UPDATE card_renewals SET new_sign_serial = $1 WHERE id = $2 AND status = 'started'"
        };
        Ok(sqlx::query(sql).bind(serial).bind(id).execute(self.pool()).await?.rows_affected() > 0)
    }

    /// Ends a renewal attempt (`done` or `aborted`); for `done`, applies `card_change` to
    /// the card in the same transaction. False when it was not `started`.
    pub async fn finish_renewal(
        &self,
        id: i64,
        status: &str,
        note: &str,
        now: i64,
        card_change: Option<(&str, &CardChange, Option<&IdentityCheck>)>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE card_renewals SET status = $1, note = $2, finished_at = $3 WHERE id = $4 AND status = 'started'",
        )
        .bind(status)
        .bind(note)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        if let Some((serial, c, check)) = card_change {
            let certs = c.certificates.as_ref();
            sqlx::query(
                "UPDATE cards SET auth_serial = COALESCE($1, auth_serial), sign_serial = COALESCE($2, sign_serial), not_after = COALESCE($3, not_after), remote_renewals = COALESCE($4, remote_renewals), identity_checked_at = COALESCE($5, identity_checked_at), identity_checked_by = COALESCE($6, identity_checked_by) WHERE serial = $7",
            )
            .bind(certs.map(|c| c.0.clone()))
            .bind(certs.map(|c| c.1.clone()))
            .bind(certs.map(|c| c.2))
            .bind(c.remote_renewals)
            .bind(c.identity_checked.as_ref().map(|x| x.0))
            .bind(c.identity_checked.as_ref().map(|x| x.1.clone()))
            .bind(serial)
            .execute(&mut *tx)
            .await?;
            if let Some(ch) = check {
                insert_check(&mut tx, ch).await?;
            }
        }
        audit::append(&mut tx, self.engine(), events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a challenge for a card to sign.
    pub async fn insert_challenge(
        &self,
        nonce: &str,
        serial: &str,
        purpose: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO challenges (nonce, card_serial, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(nonce)
        .bind(serial)
        .bind(purpose)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The card a still-valid, unused challenge (or session key) belongs to, without using it.
    pub async fn peek_challenge(&self, nonce: &str, purpose: &str, now: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT card_serial FROM challenges WHERE nonce = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(nonce)
        .bind(purpose)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Uses a challenge once: returns its card serial if it was unused, unexpired and for
    /// `purpose`.
    pub async fn use_challenge(&self, nonce: &str, purpose: &str, now: i64) -> Result<Option<String>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "SELECT card_serial FROM challenges WHERE nonce = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(nonce)
        .bind(purpose)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let n = sqlx::query("UPDATE challenges SET used_at = $1 WHERE nonce = $2 AND used_at IS NULL")
            .bind(now)
            .bind(nonce)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok((n > 0).then(|| row.get(0)))
    }
}

async fn insert_check(tx: &mut sqlx::Transaction<'_, sqlx::Any>, c: &IdentityCheck) -> Result<(), StoreError> {
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

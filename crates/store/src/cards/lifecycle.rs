//! Cards: issue, read, change, and wrong passcodes.

use super::*;
use crate::audit::{self, AuditEvent};
use crate::{Store, StoreError};
use types::{Action, Actor};

impl Store {
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
            evs.push(AuditEvent::at(
                events.first().map(|e| e.at_ms).unwrap_or_default(),
                &Actor::System,
                Action::CardLocked,
                Actor::Card(serial.to_string()).to_string(),
                serde_json::json!({"after_wrong_passcodes": card.failed_passcodes}),
            ));
        }
        audit::append(&mut tx, self.engine(), &evs).await?;
        tx.commit().await?;
        Ok(card)
    }
}

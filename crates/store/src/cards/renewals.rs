//! Card renewal attempts.

use super::*;
use crate::audit::{self, AuditEvent};
use crate::{Cols, Store, StoreError};

impl Store {
    /// Starts a renewal attempt.
    pub async fn start_renewal(
        &self,
        serial: &str,
        kind: &str,
        now: i64,
        event: AuditEvent,
    ) -> Result<i64, StoreError> {
        let kind: RenewalKind = kind.parse().map_err(StoreError::Invalid)?;
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "INSERT INTO card_renewals (card_serial, kind, status, started_at) VALUES ($1, $2, 'started', $3) RETURNING id",
        )
        .bind(serial)
        .bind(kind.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        row.col("id")
    }

    /// One renewal attempt.
    pub async fn renewal(&self, id: i64) -> Result<Option<CardRenewal>, StoreError> {
        let row = sqlx::query(
            "SELECT id, card_serial, kind, status, new_auth_serial, new_sign_serial, started_at FROM card_renewals WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(renewal_from_row).transpose()
    }

    /// Unfinished renewal attempts of a card.
    pub async fn open_renewals(&self, serial: &str) -> Result<Vec<CardRenewal>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, card_serial, kind, status, new_auth_serial, new_sign_serial, started_at FROM card_renewals WHERE card_serial = $1 AND status = 'started' ORDER BY id",
        )
        .bind(serial)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(renewal_from_row).collect()
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
        let status: RenewalStatus = status.parse().map_err(StoreError::Invalid)?;
        if status == RenewalStatus::Started {
            return Err(StoreError::Invalid("a renewal ends done or aborted, not started".into()));
        }
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE card_renewals SET status = $1, note = $2, finished_at = $3 WHERE id = $4 AND status = 'started'",
        )
        .bind(status.as_str())
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
}

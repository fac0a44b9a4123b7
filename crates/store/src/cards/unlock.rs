//! One-time unlock codes.

use super::*;
use crate::audit::{self, AuditEvent};
use crate::{Cols, Store, StoreError};

impl Store {
    /// Stores a new unlock code (and where it went, masked), retiring older unused ones of
    /// the card (`superseded_at`).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_unlock_code(
        &self,
        serial: &str,
        channel: &str,
        code_hash: &str,
        sent_to: &str,
        now: i64,
        expires_at: i64,
        event: AuditEvent,
    ) -> Result<i64, StoreError> {
        let channel: Channel = channel.parse().map_err(StoreError::Invalid)?;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE unlock_codes SET used_at = $1, superseded_at = $1 WHERE card_serial = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(serial)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "INSERT INTO unlock_codes (card_serial, channel, code_hash, sent_to, tries, created_at, expires_at) VALUES ($1, $2, $3, $4, 0, $5, $6) RETURNING id",
        )
        .bind(serial)
        .bind(channel.as_str())
        .bind(code_hash)
        .bind(sent_to)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        row.col("id")
    }

    /// The newest unlock code of a card.
    pub async fn latest_unlock_code(&self, serial: &str) -> Result<Option<UnlockCode>, StoreError> {
        let row = sqlx::query(
            "SELECT id, channel, code_hash, tries, expires_at, used_at FROM unlock_codes WHERE card_serial = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(serial)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(UnlockCode {
                id: r.col("id")?,
                channel: r.parsed("channel")?,
                code_hash: r.col("code_hash")?,
                tries: r.col("tries")?,
                expires_at: r.col("expires_at")?,
                used_at: r.col("used_at")?,
            })
        })
        .transpose()
    }

    /// Reserves one try of card `serial`'s newest code before it is checked, in one
    /// conditional update (`tries < max`, unused, unexpired): N concurrent attempts take N
    /// tries, and no more than `max` are ever judged. Returns the code with its tries after
    /// this one, or None when no try is left (or the code is used or expired).
    pub async fn reserve_code_try(&self, serial: &str, max: i64, now: i64) -> Result<Option<UnlockCode>, StoreError> {
        let row = sqlx::query(
            "UPDATE unlock_codes SET tries = tries + 1 \
             WHERE id = (SELECT MAX(id) FROM unlock_codes WHERE card_serial = $1) \
             AND used_at IS NULL AND expires_at > $2 AND tries < $3 \
             RETURNING id, channel, code_hash, tries, expires_at, used_at",
        )
        .bind(serial)
        .bind(now)
        .bind(max)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(UnlockCode {
                id: r.col("id")?,
                channel: r.parsed("channel")?,
                code_hash: r.col("code_hash")?,
                tries: r.col("tries")?,
                expires_at: r.col("expires_at")?,
                used_at: r.col("used_at")?,
            })
        })
        .transpose()
    }

    /// Uses a code: marks it used (only if unused) and unlocks the card (only if locked), in
    /// one transaction. False when the code was used already or the card is not locked.
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
        let unlocked = sqlx::query(
            "UPDATE cards SET status = 'active', failed_passcodes = 0 WHERE serial = $1 AND status = 'locked'",
        )
        .bind(serial)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if unlocked == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, self.engine(), events).await?;
        tx.commit().await?;
        Ok(true)
    }
}

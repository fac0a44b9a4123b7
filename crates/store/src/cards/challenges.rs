//! Challenges a card signs (login, session keys).

use crate::{Cols, Store, StoreError};

impl Store {
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
        row.map(|r| r.col("card_serial")).transpose()
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
        if n > 0 { Ok(Some(row.col("card_serial")?)) } else { Ok(None) }
    }
}

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

    /// Uses a challenge once, in one conditional update: returns its card serial if it was
    /// unused, unexpired and for `purpose`.
    pub async fn use_challenge(&self, nonce: &str, purpose: &str, now: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "UPDATE challenges SET used_at = $1 WHERE nonce = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING card_serial",
        )
        .bind(now)
        .bind(nonce)
        .bind(purpose)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| r.col("card_serial")).transpose()
    }

    /// Stores a login challenge for card `serial`, issued to `source` (who asked for it).
    pub async fn insert_login_challenge(
        &self,
        nonce: &str,
        serial: &str,
        source: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO challenges (nonce, card_serial, purpose, created_at, expires_at, source) VALUES ($1, $2, 'card-login', $3, $4, $5)",
        )
        .bind(nonce)
        .bind(serial)
        .bind(now)
        .bind(expires_at)
        .bind(source)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Uses the login challenge `nonce` of card `serial` that was issued to `source`, in one
    /// conditional update. False when there is no such unused, unexpired challenge.
    pub async fn consume_login_challenge(
        &self,
        nonce: &str,
        serial: &str,
        source: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE challenges SET used_at = $1 WHERE nonce = $2 AND card_serial = $3 AND source = $4 \
             AND purpose = 'card-login' AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(nonce)
        .bind(serial)
        .bind(source)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }
}

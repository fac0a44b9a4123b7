//! Rate limits and back-off for card challenges and unlock codes: one row per key in
//! `card_limits`, changed only by conditional upserts, so every node sees the same limits.
//!
//! A limit is a GCRA bucket (a burst, then one more every `interval`) plus an hourly cap;
//! a key may also be blocked until a time (the back-off after unverified passcode failures).

use crate::{Cols, Store, StoreError};

/// One limit to take a token from.
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// The row's key (`pair:SERIAL|SOURCE`, `card:SERIAL`, `source:SOURCE`, …).
    pub key: String,
    /// The card the row concerns (so a successful login can reset its rows), if any.
    pub card_serial: Option<String>,
    /// Requests allowed at once.
    pub burst: i64,
    /// One more request every this many milliseconds.
    pub interval_ms: i64,
    /// At most this many requests per hour.
    pub per_hour: i64,
}

/// Why [`Store::take_limits`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Which of the limits refused.
    pub index: usize,
    /// Milliseconds until it allows again.
    pub wait_ms: i64,
    /// It refused because its key is blocked (a back-off), not because it is used up.
    pub blocked: bool,
}

/// Milliseconds to wait when `row` refuses a request at `now_ms`.
fn wait_ms(
    tat_ms: i64,
    window_start: i64,
    window_count: i64,
    blocked_until_ms: i64,
    l: &RateLimit,
    now_ms: i64,
) -> i64 {
    let burst_wait = tat_ms - now_ms - (l.burst - 1).max(0) * l.interval_ms;
    let hour_wait = if window_count >= l.per_hour { (window_start + 3600) * 1000 - now_ms } else { 0 };
    let block_wait = blocked_until_ms - now_ms;
    burst_wait.max(hour_wait).max(block_wait).max(1)
}

impl Store {
    /// Takes one request from each of `limits`, all or none, in one transaction. `Ok(None)`:
    /// allowed; `Ok(Some(refusal))`: refused, with which limit and when it allows again.
    pub async fn take_limits(&self, limits: &[RateLimit], now_ms: i64) -> Result<Option<Refusal>, StoreError> {
        let now = now_ms.div_euclid(1000);
        let mut tx = self.pool().begin().await?;
        for (i, l) in limits.iter().enumerate() {
            let taken = sqlx::query(
                "INSERT INTO card_limits (key, card_serial, tat_ms, window_start, window_count, failures, blocked_until_ms, updated_at) \
                 VALUES ($1, $2, $3 + $4, $5, 1, 0, 0, $5) \
                 ON CONFLICT (key) DO UPDATE SET \
                   tat_ms = (CASE WHEN card_limits.tat_ms > $3 THEN card_limits.tat_ms ELSE $3 END) + $4, \
                   window_start = CASE WHEN card_limits.window_start + 3600 <= $5 THEN $5 ELSE card_limits.window_start END, \
                   window_count = CASE WHEN card_limits.window_start + 3600 <= $5 THEN 1 ELSE card_limits.window_count + 1 END, \
                   updated_at = $5 \
                 WHERE (CASE WHEN card_limits.tat_ms > $3 THEN card_limits.tat_ms ELSE $3 END) - $3 <= $6 \
                   AND (card_limits.window_start + 3600 <= $5 OR card_limits.window_count < $7) \
                   AND card_limits.blocked_until_ms <= $3 \
                 RETURNING tat_ms",
            )
            .bind(l.key.clone())
            .bind(l.card_serial.clone())
            .bind(now_ms)
            .bind(l.interval_ms)
            .bind(now)
            .bind((l.burst - 1).max(0) * l.interval_ms)
            .bind(l.per_hour)
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_none() {
                let row = sqlx::query(
                    "SELECT tat_ms, window_start, window_count, blocked_until_ms FROM card_limits WHERE key = $1",
                )
                .bind(l.key.clone())
                .fetch_optional(&mut *tx)
                .await?;
                tx.rollback().await?;
                let (wait_ms, blocked) = match row {
                    Some(r) => {
                        let blocked_until: i64 = r.col("blocked_until_ms")?;
                        let ms = wait_ms(
                            r.col("tat_ms")?,
                            r.col("window_start")?,
                            r.col("window_count")?,
                            blocked_until,
                            l,
                            now_ms,
                        );
                        (ms, blocked_until > now_ms)
                    }
                    None => (1000, false),
                };
                return Ok(Some(Refusal { index: i, wait_ms, blocked }));
            }
        }
        tx.commit().await?;
        Ok(None)
    }

    /// Counts one failure against `key` and blocks it until `now_ms + backoff(failures)`
    /// (never shortening a block). Returns (failures, blocked until in ms).
    pub async fn add_backoff(
        &self,
        key: &str,
        card_serial: &str,
        now_ms: i64,
        backoff_ms: impl Fn(i64) -> i64,
    ) -> Result<(i64, i64), StoreError> {
        let now = now_ms.div_euclid(1000);
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "INSERT INTO card_limits (key, card_serial, tat_ms, window_start, window_count, failures, blocked_until_ms, updated_at) \
             VALUES ($1, $2, $3, $4, 0, 1, 0, $4) \
             ON CONFLICT (key) DO UPDATE SET failures = card_limits.failures + 1, updated_at = $4 \
             RETURNING failures",
        )
        .bind(key)
        .bind(card_serial)
        .bind(now_ms)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let failures: i64 = row.col("failures")?;
        let until = now_ms + backoff_ms(failures);
        sqlx::query(
            "UPDATE card_limits SET blocked_until_ms = CASE WHEN blocked_until_ms > $2 THEN blocked_until_ms ELSE $2 END WHERE key = $1",
        )
        .bind(key)
        .bind(until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((failures, until))
    }

    /// Unverified wrong passcodes counted against card `serial` (all sources) since the rows
    /// were last reset.
    pub async fn card_backoff_failures(&self, serial: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(failures), 0) AS BIGINT) AS n FROM card_limits WHERE card_serial = $1 AND key LIKE 'pair:%'",
        )
        .bind(serial)
        .fetch_one(self.pool())
        .await?;
        row.col("n")
    }

    /// Records the PIN-counter flags card `serial` last reported (text such as
    /// `count_low,final_try`).
    pub async fn set_token_flags(&self, serial: &str, flags: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE cards SET token_flags = $2 WHERE serial = $1")
            .bind(serial)
            .bind(flags)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Forgets the rows of card `serial` whose key starts with `prefix` (a successful login
    /// ends the back-off of every source for that card).
    pub async fn reset_limits(&self, serial: &str, prefix: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM card_limits WHERE card_serial = $1 AND key LIKE $2")
            .bind(serial)
            .bind(format!("{prefix}%"))
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// Deletes what has no further use: expired challenges and card sessions, expired unlock
    /// codes (used or not), and limit rows that would allow a full burst again (idle for an
    /// hour, no block). Returns the number of rows deleted.
    pub async fn purge_card_rows(&self, now_ms: i64) -> Result<u64, StoreError> {
        let now = now_ms.div_euclid(1000);
        let mut n = sqlx::query("DELETE FROM challenges WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
        // Expired codes lose their hash but keep their row for the delivery log (90 days).
        n += sqlx::query("UPDATE unlock_codes SET code_hash = '' WHERE expires_at <= $1 AND code_hash <> ''")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM unlock_codes WHERE expires_at + 7776000 <= $1")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM desk_tickets WHERE expires_at + 86400 <= $1 AND used_at IS NULL")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
        n += sqlx::query(
            "DELETE FROM card_limits WHERE updated_at + 3600 <= $1 AND tat_ms <= $2 AND blocked_until_ms <= $2",
        )
        .bind(now)
        .bind(now_ms)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n)
    }
}

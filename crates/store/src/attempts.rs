//! Counted attempt limits (EPOC PIN logons, web password + TOTP logins), taken **before**
//! the secret is verified: one conditional upsert reserves a try only while the key is not
//! locked, and returns the count, so N concurrent attempts consume N tries and no more than
//! the limit are ever judged. The try that reaches the limit sets the lock at once (so a
//! crash between reserving and judging cannot leave a key half-counted); a success clears
//! the row. Locks back off: each lock lasts twice the previous one, up to a cap.

use sqlx::AssertSqlSafe;

use crate::{Cols, Store, StoreError};

/// Which counted limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptLimit {
    /// EPOC + enrolment PIN (ecmt logon), keyed by EPOC.
    EpocPin,
    /// Password (and TOTP) login to the web pages, keyed by the user name typed.
    WebLogin,
}

impl AttemptLimit {
    fn table(self) -> &'static str {
        match self {
            Self::EpocPin => "login_failures",
            Self::WebLogin => "web_login_attempts",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Self::EpocPin => "epoc",
            Self::WebLogin => "username",
        }
    }
}

/// The numbers of one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptRule {
    /// Tries before the key locks (at least 1).
    pub max: i64,
    /// The first lock's length (seconds).
    pub lock_seconds: i64,
    /// The longest lock (seconds); each further lock doubles the previous one up to this.
    /// Equal to `lock_seconds`: no back-off.
    pub max_lock_seconds: i64,
}

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// A try was taken: the `number`-th since the count started. When `locked_until` is
    /// set (in the future), this was the last try: the key is locked until then unless this
    /// try succeeds.
    Granted {
        /// The count including this try.
        number: i64,
        /// The lock this try set (0: none).
        locked_until: i64,
    },
    /// Locked: no try was taken.
    Locked {
        /// Until when (Unix seconds).
        until: i64,
    },
}

impl Store {
    /// Reserves one try for `key` under `limit` at `now`, atomically (see the module).
    pub async fn reserve_attempt(
        &self,
        limit: AttemptLimit,
        key: &str,
        now: i64,
        rule: AttemptRule,
    ) -> Result<Reservation, StoreError> {
        let (t, k) = (limit.table(), limit.key());
        // The count after this try: a lock that has run out starts the count again.
        let count = format!("(CASE WHEN {t}.failures >= $3 THEN 1 ELSE {t}.failures + 1 END)");
        let next_lock = format!(
            "(CASE WHEN {t}.last_lock_seconds = 0 THEN $4 WHEN {t}.last_lock_seconds * 2 > $5 THEN $5 ELSE {t}.last_lock_seconds * 2 END)"
        );
        let sql = format!(
            "INSERT INTO {t} ({k}, failures, locked_until, last_lock_seconds, updated_at) \
             VALUES ($1, 1, CASE WHEN 1 >= $3 THEN $2 + $4 ELSE 0 END, CASE WHEN 1 >= $3 THEN $4 ELSE 0 END, $2) \
             ON CONFLICT ({k}) DO UPDATE SET \
               failures = {count}, \
               locked_until = CASE WHEN {count} >= $3 THEN $2 + {next_lock} ELSE 0 END, \
               last_lock_seconds = CASE WHEN {count} >= $3 THEN {next_lock} ELSE {t}.last_lock_seconds END, \
               updated_at = $2 \
             WHERE {t}.locked_until <= $2 \
             RETURNING failures, locked_until"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(key)
            .bind(now)
            .bind(rule.max)
            .bind(rule.lock_seconds)
            .bind(rule.max_lock_seconds.max(rule.lock_seconds))
            .fetch_optional(self.pool())
            .await?;
        if let Some(r) = row {
            return Ok(Reservation::Granted { number: r.col("failures")?, locked_until: r.col("locked_until")? });
        }
        let until: Option<i64> = sqlx::query(AssertSqlSafe(format!("SELECT locked_until FROM {t} WHERE {k} = $1")))
            .bind(key)
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.col("locked_until"))
            .transpose()?;
        Ok(Reservation::Locked { until: until.unwrap_or(now) })
    }

    /// The count and lock of `key`: `(tries taken, locked until)`, `(0, 0)` when none.
    pub async fn attempt_state(&self, limit: AttemptLimit, key: &str) -> Result<(i64, i64), StoreError> {
        let (t, k) = (limit.table(), limit.key());
        let row = sqlx::query(AssertSqlSafe(format!("SELECT failures, locked_until FROM {t} WHERE {k} = $1")))
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => Ok((r.col("failures")?, r.col("locked_until")?)),
            None => Ok((0, 0)),
        }
    }

    /// Clears the count of `key` (after a success).
    pub async fn clear_attempts(&self, limit: AttemptLimit, key: &str) -> Result<(), StoreError> {
        let (t, k) = (limit.table(), limit.key());
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {t} WHERE {k} = $1"))).bind(key).execute(self.pool()).await?;
        Ok(())
    }

    /// Maintenance: forgets attempt counts that are not locked at `now` and saw no try for
    /// `quiet_seconds`; deletes portal tickets, web sessions and ecmt sessions that expired
    /// (or ended) more than `quiet_seconds` ago. Returns how many rows went.
    pub async fn purge_expired(&self, now: i64, quiet_seconds: i64) -> Result<u64, StoreError> {
        let before = now - quiet_seconds;
        let mut n = 0;
        for limit in [AttemptLimit::EpocPin, AttemptLimit::WebLogin] {
            let t = limit.table();
            n += sqlx::query(AssertSqlSafe(format!("DELETE FROM {t} WHERE locked_until <= $1 AND updated_at < $2")))
                .bind(now)
                .bind(before)
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        for sql in [
            "DELETE FROM portal_tickets WHERE expires_at < $1",
            "DELETE FROM web_sessions WHERE expires_at < $1 OR ended_at < $1",
            "DELETE FROM enrol_sessions WHERE expires_at < $1 OR ended_at < $1",
        ] {
            n += sqlx::query(sql).bind(before).execute(self.pool()).await?.rows_affected();
        }
        Ok(n)
    }
}

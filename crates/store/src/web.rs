//! Web accounts and browser sessions (the RA console and the portal).

use serde::Serialize;
use sqlx::any::AnyRow;
use types::{Area, Operator, OperatorRole, Role, Roles, Scope, SessionEnd};

use crate::audit::{self, AuditEvent};
use crate::{Cols, Store, StoreError};

/// A web account.
#[derive(Debug, Clone, Serialize)]
pub struct WebAccount {
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// The card UID this person logs in with, if any.
    pub uid: Option<String>,
    /// Roles (`ra`, `operator`, `portal:<code>` …), each exactly one role; stored as a
    /// JSON list of role texts, so no text can carry a second role in.
    pub roles: Roles,
    /// Argon2id hash of the password, if password login is allowed.
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Disabled at.
    pub disabled_at: Option<i64>,
    /// TOTP secret (base32) of the second factor, if enrolled.
    #[serde(skip)]
    pub totp_secret: Option<String>,
    /// The operator role, when this is an operator account (`ca-admin`, `ra-officer`, …).
    pub operator_role: Option<OperatorRole>,
    /// The organisations / RA units an `ra-officer` acts for.
    pub scope: Vec<String>,
}

impl WebAccount {
    /// The operator this account acts as, if it is an operator account. Accounts made before
    /// operator roles existed map from their web role: `operator` → `ca-admin`, `ra` →
    /// `ra-officer` for every organisation (give them a scoped operator account with
    /// `carecert admin account create`).
    pub fn operator(&self) -> Option<Operator> {
        let role = match self.operator_role {
            Some(r) => r,
            None if self.roles.contains(&Role::Operator) => OperatorRole::CaAdmin,
            None if self.roles.contains(&Role::Ra) => OperatorRole::RaOfficer,
            None if self.roles.contains(&Role::portal_admin()) => OperatorRole::PortalAdmin,
            None => return None,
        };
        let scope =
            if role.is_scoped() && self.operator_role.is_some() { Scope::Orgs(self.scope.clone()) } else { Scope::All };
        Some(Operator { name: self.username.clone(), role, scope })
    }
}

fn account_from_row(r: &AnyRow) -> Result<WebAccount, StoreError> {
    let roles: String = r.col("roles")?;
    let username: String = r.col("username")?;
    let roles: Roles = serde_json::from_str(&roles)
        .map_err(|e| StoreError::Corrupt(format!("roles of web account '{username}': {e}")))?;
    Ok(WebAccount {
        username,
        name: r.col("name")?,
        uid: r.col("uid")?,
        roles,
        password_hash: r.col("password_hash")?,
        created_at: r.col("created_at")?,
        disabled_at: r.col("disabled_at")?,
        totp_secret: r.col("totp_secret")?,
        operator_role: r
            .col::<Option<String>>("operator_role")?
            .map(|t| t.parse::<OperatorRole>().map_err(StoreError::Corrupt))
            .transpose()?,
        scope: serde_json::from_str(&r.col::<String>("scope")?)
            .map_err(|e| StoreError::Corrupt(format!("scope of web account: {e}")))?,
    })
}

/// The stored form of a set of roles: a JSON list of role texts.
fn roles_json(roles: &Roles) -> Result<String, StoreError> {
    serde_json::to_string(roles).map_err(|e| StoreError::Corrupt(format!("roles: {e}")))
}

/// A browser session as stored.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// Account.
    pub username: String,
    /// The web area.
    pub area: Area,
    /// The role chosen at login.
    pub role: Role,
    /// Anti-CSRF token for this session's forms.
    pub csrf_token: String,
    /// The card it was opened with, if any.
    pub card_serial: Option<String>,
    /// Last request.
    pub last_seen: i64,
    /// Absolute expiry.
    pub expires_at: i64,
    /// Ended.
    pub ended_at: Option<i64>,
    /// Why it ended.
    pub end_reason: Option<SessionEnd>,
}

const ACCOUNT_COLUMNS: &str =
    "username, name, uid, roles, password_hash, created_at, disabled_at, totp_secret, operator_role, scope";

impl Store {
    /// Adds a web account.
    pub async fn insert_web_account(&self, a: &WebAccount, event: AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        insert_account(&mut tx, a).await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every account, by name.
    pub async fn web_accounts(&self) -> Result<Vec<WebAccount>, StoreError> {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} FROM web_accounts ORDER BY username")))
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(account_from_row).collect()
    }

    /// One account.
    pub async fn web_account(&self, username: &str) -> Result<Option<WebAccount>, StoreError> {
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} FROM web_accounts WHERE username = $1")))
                .bind(username)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Starts a browser session.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_web_session(
        &self,
        token_sha256: &str,
        username: &str,
        area: Area,
        role: &Role,
        csrf_token: &str,
        card_serial: Option<&str>,
        now: i64,
        expires_at: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO web_sessions (token_sha256, username, area, role, csrf_token, card_serial, created_at, last_seen, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
        )
        .bind(token_sha256)
        .bind(username)
        .bind(area.as_str())
        .bind(role.as_str())
        .bind(csrf_token)
        .bind(card_serial)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A session by token hash.
    pub async fn web_session(&self, token_sha256: &str) -> Result<Option<WebSession>, StoreError> {
        let row = sqlx::query(
            "SELECT username, area, role, csrf_token, card_serial, last_seen, expires_at, ended_at, end_reason FROM web_sessions WHERE token_sha256 = $1",
        )
        .bind(token_sha256)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let role: String = r.col("role")?;
            let end_reason: Option<String> = r.col("end_reason")?;
            Ok(WebSession {
                username: r.col("username")?,
                area: r.parsed("area")?,
                role: role.parse().map_err(|e| StoreError::Corrupt(format!("column 'role': {e}")))?,
                csrf_token: r.col("csrf_token")?,
                card_serial: r.col("card_serial")?,
                last_seen: r.col("last_seen")?,
                expires_at: r.col("expires_at")?,
                ended_at: r.col("ended_at")?,
                end_reason: end_reason
                    .map(|e| e.parse().map_err(|e| StoreError::Corrupt(format!("column 'end_reason': {e}"))))
                    .transpose()?,
            })
        })
        .transpose()
    }

    /// Records activity on a live session.
    pub async fn touch_web_session(&self, token_sha256: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE web_sessions SET last_seen = $1 WHERE token_sha256 = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(token_sha256)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends a session (logout, idle timeout, card removed). False if it had ended already.
    pub async fn end_web_session(
        &self,
        token_sha256: &str,
        now: i64,
        reason: SessionEnd,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE web_sessions SET ended_at = $1, end_reason = $2 WHERE token_sha256 = $3 AND ended_at IS NULL";
        Ok(self.end_sessions(sql, token_sha256, now, reason, event).await? > 0)
    }

    /// Ends the live sessions `sql` selects by `key`, with the audit entry, in one transaction.
    async fn end_sessions(
        &self,
        sql: &'static str,
        key: &str,
        now: i64,
        reason: SessionEnd,
        event: AuditEvent,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(sql).bind(now).bind(reason.as_str()).bind(key).execute(&mut *tx).await?.rows_affected();
        if n > 0 {
            audit::append(&mut tx, self.engine(), &[event]).await?;
        }
        tx.commit().await?;
        Ok(n)
    }
}

impl Store {
    /// Issued, unrevoked certificates (of `issuer`, or every CA) whose notAfter falls in each
    /// of the `weeks` weeks starting today. Weeks start at midnight UTC: week 0 is the rest of
    /// today (from `now`) and the next six days.
    ///
    /// Whole days are read from `certificate_expiry_days` (counts per CA and day, kept by
    /// triggers), so the time does not grow with the number of certificates stored; only the
    /// rest of today is counted from the certificates themselves (migration 0018).
    pub async fn certificates_expiring_per_week(
        &self,
        issuer: Option<&str>,
        now: i64,
        weeks: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let weeks = weeks.max(0);
        let mut out = vec![0; weeks as usize];
        if weeks == 0 {
            return Ok(out);
        }
        let today = now.div_euclid(86_400);
        let issuer = issuer.unwrap_or("").to_string();
        let rows = sqlx::query(
            "SELECT (day - $1) / 7 AS week, CAST(SUM(issued) AS BIGINT) AS n FROM certificate_expiry_days \
             WHERE day > $1 AND day < $2 AND ($3 = '' OR issuer = $3) GROUP BY (day - $1) / 7",
        )
        .bind(today)
        .bind(today + weeks * 7)
        .bind(issuer.clone())
        .fetch_all(self.pool())
        .await?;
        for r in rows {
            let (w, n): (i64, i64) = (r.col("week")?, r.col("n")?);
            if let Some(slot) = usize::try_from(w).ok().and_then(|w| out.get_mut(w)) {
                *slot = n;
            }
        }
        let rest_of_today = sqlx::query(
            "SELECT COUNT(*) AS n FROM certificates WHERE status = 'issued' AND not_after >= $1 AND not_after < $2 \
             AND ($3 = '' OR issuer = $3)",
        )
        .bind(now)
        .bind((today + 1) * 86_400)
        .bind(issuer)
        .fetch_one(self.pool())
        .await?;
        if let Some(week0) = out.first_mut() {
            *week0 += rest_of_today.col::<i64>("n")?;
        }
        Ok(out)
    }

    /// Cards not cancelled whose certificates expire in each of the `weeks` weeks from `now`.
    pub async fn cards_expiring_per_week(&self, now: i64, weeks: i64) -> Result<Vec<i64>, StoreError> {
        self.per_week(
            "SELECT (not_after - $1) / 604800 AS week, COUNT(*) AS n FROM cards WHERE status <> 'cancelled' AND not_after >= $1 AND not_after < $2 GROUP BY (not_after - $1) / 604800",
            now,
            weeks,
            None,
        )
        .await
    }

    /// Runs a `(week, count)` query over `[now, now + weeks)` and fills a count per week.
    async fn per_week(
        &self,
        sql: &'static str,
        now: i64,
        weeks: i64,
        filter: Option<&str>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut q = sqlx::query(sql).bind(now).bind(now + weeks * 604_800);
        if let Some(f) = filter {
            q = q.bind(f.to_string());
        }
        let rows = q.fetch_all(self.pool()).await?;
        let mut out = vec![0; weeks.max(0) as usize];
        for r in rows {
            let (w, n): (i64, i64) = (r.col("week")?, r.col("n")?);
            if let Some(slot) = usize::try_from(w).ok().and_then(|w| out.get_mut(w)) {
                *slot = n;
            }
        }
        Ok(out)
    }

    /// How many cards are locked.
    pub async fn locked_cards(&self) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM cards WHERE status = 'locked'").fetch_one(self.pool()).await?;
        r.col("n")
    }
}

impl Store {
    /// The agent reports the card present: every live session opened with it is seen now.
    pub async fn card_present(&self, card_serial: &str, now: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("UPDATE web_sessions SET card_seen = $1 WHERE card_serial = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(card_serial)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// Ends every live session opened with `card_serial` (card removed). Returns how many.
    pub async fn end_card_sessions(
        &self,
        card_serial: &str,
        now: i64,
        reason: SessionEnd,
        event: AuditEvent,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE web_sessions SET ended_at = $1, end_reason = $2 WHERE card_serial = $3 AND ended_at IS NULL";
        self.end_sessions(sql, card_serial, now, reason, event).await
    }

    /// Sets when the card of one session counts as last reported present (a session opened
    /// with the browser's certificate waits for its first report until then).
    pub async fn set_web_session_card_seen(&self, token_sha256: &str, seen: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE web_sessions SET card_seen = $1 WHERE token_sha256 = $2 AND ended_at IS NULL")
            .bind(seen)
            .bind(token_sha256)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// When the card of a session was last reported present.
    pub async fn card_seen(&self, token_sha256: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT card_seen FROM web_sessions WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.col::<Option<i64>>("card_seen")).transpose()?.flatten())
    }

    /// Sets the role of a session (the user picked one).
    pub async fn set_web_session_role(&self, token_sha256: &str, role: &Role) -> Result<(), StoreError> {
        sqlx::query("UPDATE web_sessions SET role = $1 WHERE token_sha256 = $2 AND ended_at IS NULL")
            .bind(role.as_str())
            .bind(token_sha256)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The account whose card UID is `uid`.
    pub async fn web_account_by_uid(&self, uid: &str) -> Result<Option<WebAccount>, StoreError> {
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} FROM web_accounts WHERE uid = $1")))
                .bind(uid)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(account_from_row).transpose()
    }
}

impl Store {
    /// Stores a one-time login ticket (its hash).
    pub async fn insert_portal_ticket(
        &self,
        ticket_sha256: &str,
        username: &str,
        card_serial: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO portal_tickets (ticket_sha256, username, card_serial, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(ticket_sha256)
            .bind(username)
            .bind(card_serial)
            .bind(now)
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Uses a ticket once: (username, card serial) if it was unused and unexpired.
    pub async fn use_portal_ticket(
        &self,
        ticket_sha256: &str,
        now: i64,
    ) -> Result<Option<(String, String)>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE portal_tickets SET used_at = $1 WHERE ticket_sha256 = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(ticket_sha256)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT username, card_serial FROM portal_tickets WHERE ticket_sha256 = $1")
            .bind(ticket_sha256)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((row.col("username")?, row.col("card_serial")?)))
    }
}

impl Store {
    /// Accepts TOTP time step `step` for `username` once: false if it (or a later one) was
    /// used already.
    pub async fn use_totp_step(&self, username: &str, step: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE web_accounts SET totp_last_step = $1 WHERE username = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(username)
        .execute(self.pool())
        .await?
        .rows_affected()
            > 0)
    }
}

/// Inserts a web account inside a transaction (a taken name is a conflict).
pub(crate) async fn insert_account(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    a: &WebAccount,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO web_accounts (username, name, uid, roles, password_hash, created_at, totp_secret, operator_role, scope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.username.clone())
    .bind(a.name.clone())
    .bind(a.uid.clone())
    .bind(roles_json(&a.roles)?)
    .bind(a.password_hash.clone())
    .bind(a.created_at)
    .bind(a.totp_secret.clone())
    .bind(a.operator_role.map(|r| r.as_str().to_string()))
    .bind(serde_json::to_string(&a.scope).map_err(|e| StoreError::Corrupt(format!("scope: {e}")))?)
    .execute(&mut **tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(format!("account {} exists already", a.username))
        }
        _ => StoreError::Database(e),
    })?;
    Ok(())
}

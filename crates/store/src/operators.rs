//! Operator accounts (web accounts with an operator role) and their API tokens.
//!
//! Tokens are stored as SHA-256 only. A token is looked up together with its account's
//! state in one query on every request: revoking a token or disabling an account takes
//! effect at once on every node (there is no cache).

use sqlx::any::AnyRow;
use types::{OperatorRole, Scope};

use crate::audit::{self, AuditEvent};
use crate::web::{WebAccount, insert_account};
use crate::{Cols, Store, StoreError};

/// An operator API token as stored (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorToken {
    /// Public handle (to list and revoke by).
    pub id: String,
    /// The account, `None` for the bootstrap token.
    pub account: Option<String>,
    /// The role it acts with.
    pub role: OperatorRole,
    /// Organisations (RA officers).
    pub scope: Vec<String>,
    /// A note to recognise it by.
    pub label: String,
    /// Who made it (audit actor text).
    pub created_by: String,
    /// Made at (Unix seconds).
    pub created_at: i64,
    /// Expires at (Unix seconds).
    pub expires_at: i64,
    /// When the bootstrap token was used.
    pub used_at: Option<i64>,
    /// Revoked at.
    pub revoked_at: Option<i64>,
    /// When its account was disabled (read with the token).
    pub account_disabled_at: Option<i64>,
}

impl OperatorToken {
    /// The scope as the permission check wants it.
    pub fn scope(&self) -> Scope {
        if self.role.is_scoped() { Scope::Orgs(self.scope.clone()) } else { Scope::All }
    }
}

/// A token to store: its hash and what it carries.
#[derive(Debug, Clone)]
pub struct NewOperatorToken {
    /// Public handle.
    pub id: String,
    /// SHA-256 (hex) of the token.
    pub token_sha256: String,
    /// The account (`None`: bootstrap).
    pub account: Option<String>,
    /// Role.
    pub role: OperatorRole,
    /// Scope.
    pub scope: Vec<String>,
    /// Label.
    pub label: String,
    /// Who made it.
    pub created_by: String,
    /// Made at.
    pub created_at: i64,
    /// Expires at.
    pub expires_at: i64,
}

const TOKEN_COLUMNS: &str = "t.id, t.account, t.role, t.scope, t.label, t.created_by, t.created_at, t.expires_at, t.used_at, t.revoked_at, a.disabled_at AS account_disabled_at";

/// The token with a given SHA-256 (`$1`), with its account's state: read through sqlx, or
/// inline through rusqlite on SQLite (`$1` is SQLite's first parameter too).
fn token_by_hash_sql() -> String {
    format!(
        "SELECT {TOKEN_COLUMNS} FROM operator_tokens t LEFT JOIN web_accounts a ON a.username = t.account WHERE t.token_sha256 = $1"
    )
}

/// A token row as read, before its role and scope are parsed (both engines' readers fill it).
struct RawToken {
    id: String,
    account: Option<String>,
    role: String,
    scope: String,
    label: String,
    created_by: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
    account_disabled_at: Option<i64>,
}

impl RawToken {
    fn parse(self) -> Result<OperatorToken, StoreError> {
        Ok(OperatorToken {
            id: self.id,
            account: self.account,
            role: self.role.parse().map_err(StoreError::Corrupt)?,
            scope: serde_json::from_str(&self.scope).map_err(|e| StoreError::Corrupt(format!("token scope: {e}")))?,
            label: self.label,
            created_by: self.created_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
            used_at: self.used_at,
            revoked_at: self.revoked_at,
            account_disabled_at: self.account_disabled_at,
        })
    }
}

fn token_from_row(r: &AnyRow) -> Result<OperatorToken, StoreError> {
    RawToken {
        id: r.col("id")?,
        account: r.col("account")?,
        role: r.col("role")?,
        scope: r.col("scope")?,
        label: r.col("label")?,
        created_by: r.col("created_by")?,
        created_at: r.col("created_at")?,
        expires_at: r.col("expires_at")?,
        used_at: r.col("used_at")?,
        revoked_at: r.col("revoked_at")?,
        account_disabled_at: r.col("account_disabled_at")?,
    }
    .parse()
}

async fn insert_token(tx: &mut sqlx::Transaction<'_, sqlx::Any>, t: &NewOperatorToken) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO operator_tokens (id, token_sha256, account, role, scope, label, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(t.id.clone())
    .bind(t.token_sha256.clone())
    .bind(t.account.clone())
    .bind(t.role.as_str())
    .bind(serde_json::to_string(&t.scope).map_err(|e| StoreError::Corrupt(format!("scope: {e}")))?)
    .bind(t.label.clone())
    .bind(t.created_by.clone())
    .bind(t.created_at)
    .bind(t.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks the bootstrap token `id` used, once: false when it was used already.
async fn consume_bootstrap(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str, now: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE operator_tokens SET used_at = $2 WHERE id = $1 AND role = 'bootstrap' AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    /// Stores a token on its own (the bootstrap token, or a token for an existing account).
    /// `bootstrap`: the bootstrap token being used for this (consumed in the same
    /// transaction; a second use is a conflict).
    pub async fn insert_operator_token(
        &self,
        t: &NewOperatorToken,
        bootstrap: Option<&str>,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        if let Some(id) = bootstrap
            && !consume_bootstrap(&mut tx, id, t.created_at).await?
        {
            return Err(StoreError::Conflict("the bootstrap token has been used already".into()));
        }
        insert_token(&mut tx, t).await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        self.tokens_changed();
        Ok(())
    }

    /// Adds an operator account, with its first token when given, in one transaction;
    /// consumes the bootstrap token `bootstrap` when that is what made it.
    pub async fn insert_operator_account(
        &self,
        a: &WebAccount,
        first_token: Option<&NewOperatorToken>,
        bootstrap: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        if let Some(id) = bootstrap
            && !consume_bootstrap(&mut tx, id, a.created_at).await?
        {
            return Err(StoreError::Conflict("the bootstrap token has been used already".into()));
        }
        insert_account(&mut tx, a).await?;
        if let Some(t) = first_token {
            insert_token(&mut tx, t).await?;
        }
        audit::append(&mut tx, self.engine(), events).await?;
        tx.commit().await?;
        self.tokens_changed();
        Ok(())
    }

    /// The token whose SHA-256 is `token_sha256`, with its account's state.
    pub async fn operator_token(&self, token_sha256: &str) -> Result<Option<OperatorToken>, StoreError> {
        if let Some(readers) = &self.readers {
            // SQLite: read inline on this thread (every admin request asks; `sqlite_read`).
            return readers
                .read(|conn| {
                    use rusqlite::OptionalExtension;
                    conn.prepare_cached(&token_by_hash_sql())?
                        .query_row([token_sha256], |r| {
                            Ok(RawToken {
                                id: r.get("id")?,
                                account: r.get("account")?,
                                role: r.get("role")?,
                                scope: r.get("scope")?,
                                label: r.get("label")?,
                                created_by: r.get("created_by")?,
                                created_at: r.get("created_at")?,
                                expires_at: r.get("expires_at")?,
                                used_at: r.get("used_at")?,
                                revoked_at: r.get("revoked_at")?,
                                account_disabled_at: r.get("account_disabled_at")?,
                            })
                        })
                        .optional()
                })?
                .map(RawToken::parse)
                .transpose();
        }
        // PostgreSQL: a round trip, unless this node keeps the token (`token_cache`).
        if let Some(kept) = self.tokens.as_ref().and_then(|c| c.get(token_sha256)) {
            return Ok(Some(kept));
        }
        let epoch = self.tokens.as_ref().and_then(|c| c.epoch());
        let row = sqlx::query(sqlx::AssertSqlSafe(token_by_hash_sql()))
            .bind(token_sha256)
            .fetch_optional(self.pool())
            .await?;
        let token = row.as_ref().map(token_from_row).transpose()?;
        if let (Some(cache), Some(epoch), Some(t)) = (&self.tokens, epoch, &token) {
            cache.keep(epoch, token_sha256, t);
        }
        Ok(token)
    }

    /// A token or account changed through this store: its kept tokens go at once (other
    /// nodes hear of it from the database's notification; `token_cache`).
    fn tokens_changed(&self) {
        if let Some(cache) = &self.tokens {
            cache.forget();
        }
    }

    /// Every token (of `account` when given), newest first.
    pub async fn operator_tokens(&self, account: Option<&str>) -> Result<Vec<OperatorToken>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM operator_tokens t LEFT JOIN web_accounts a ON a.username = t.account WHERE ($1 = '' OR t.account = $1) ORDER BY t.created_at DESC, t.id"
        )))
        .bind(account.unwrap_or("").to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes token `id` (false when unknown or already revoked).
    pub async fn revoke_operator_token(&self, id: &str, now: i64, event: AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("UPDATE operator_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        self.tokens_changed();
        Ok(true)
    }

    /// Disables account `username` and ends its open browser sessions (false when unknown or
    /// already disabled).
    pub async fn disable_web_account(&self, username: &str, now: i64, event: AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("UPDATE web_accounts SET disabled_at = $2 WHERE username = $1 AND disabled_at IS NULL")
            .bind(username)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE web_sessions SET ended_at = $2, end_reason = 'logout' WHERE username = $1 AND ended_at IS NULL",
        )
        .bind(username)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        self.tokens_changed();
        Ok(true)
    }

    /// Every operator account (web accounts with an operator role, or a legacy RA/operator
    /// web role), by name.
    pub async fn operator_accounts(&self) -> Result<Vec<WebAccount>, StoreError> {
        let all = self.web_accounts().await?;
        Ok(all.into_iter().filter(|a| a.operator().is_some()).collect())
    }
}

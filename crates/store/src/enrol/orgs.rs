//! Organisations, enrolment PINs, failed logins and enrolment sessions.

use super::*;
use crate::audit::{self, AuditEvent};
use crate::{Cols, Store, StoreError};
use sqlx::any::AnyRow;

fn failures_from_row(r: &AnyRow) -> Result<LoginFailures, StoreError> {
    Ok(LoginFailures { failures: r.col("failures")?, locked_until: r.col("locked_until")? })
}

impl Store {
    /// Stores a new organisation.
    pub async fn insert_organisation(&self, org: &Organisation, event: AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO organisations (epoc, name, kind, status, approval, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org.epoc.clone())
        .bind(org.name.clone())
        .bind(org.kind.as_str())
        .bind(org.status.as_str())
        .bind(org.approval.as_str())
        .bind(org.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("organisation {} exists already", org.epoc))
            }
            _ => StoreError::Database(e),
        })?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes an organisation's status and approval policy.
    pub async fn update_organisation(
        &self,
        epoc: &str,
        status: OrgStatus,
        approval: ApprovalPolicy,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("UPDATE organisations SET status = $1, approval = $2 WHERE epoc = $3")
            .bind(status.as_str())
            .bind(approval.as_str())
            .bind(epoc)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("organisation {epoc}")));
        }
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One organisation.
    pub async fn organisation(&self, epoc: &str) -> Result<Option<Organisation>, StoreError> {
        let row =
            sqlx::query("SELECT epoc, name, kind, status, approval, created_at FROM organisations WHERE epoc = $1")
                .bind(epoc)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(org_from_row).transpose()
    }

    /// Every organisation, by EPOC.
    pub async fn organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        let rows =
            sqlx::query("SELECT epoc, name, kind, status, approval, created_at FROM organisations ORDER BY epoc")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(org_from_row).collect()
    }

    /// Stores a new PIN for `epoc`, superseding every older active one, in one transaction.
    pub async fn issue_pin(
        &self,
        epoc: &str,
        pin_hash: &str,
        issued_by: &str,
        created_at: i64,
        expires_at: i64,
        event: AuditEvent,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE enrolment_pins SET status = 'superseded' WHERE epoc = $1 AND status = 'active'")
            .bind(epoc)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "INSERT INTO enrolment_pins (epoc, pin_hash, status, issued_by, created_at, expires_at) VALUES ($1, $2, 'active', $3, $4, $5) RETURNING id",
        )
        .bind(epoc)
        .bind(pin_hash)
        .bind(issued_by)
        .bind(created_at)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        // A new letter starts a fresh count of wrong PINs.
        sqlx::query("DELETE FROM login_failures WHERE epoc = $1").bind(epoc).execute(&mut *tx).await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        row.col("id")
    }

    /// The active (not superseded) PINs of `epoc` that have not expired at `now`.
    pub async fn active_pins(&self, epoc: &str, now: i64) -> Result<Vec<ActivePin>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, pin_hash, created_at, expires_at FROM enrolment_pins WHERE epoc = $1 AND status = 'active' AND expires_at > $2 ORDER BY id DESC",
        )
        .bind(epoc)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ActivePin {
                    id: r.col("id")?,
                    pin_hash: r.col("pin_hash")?,
                    created_at: r.col("created_at")?,
                    expires_at: r.col("expires_at")?,
                })
            })
            .collect()
    }

    /// Consecutive failed logins for `epoc`.
    pub async fn login_failures(&self, epoc: &str) -> Result<LoginFailures, StoreError> {
        let row = sqlx::query("SELECT failures, locked_until FROM login_failures WHERE epoc = $1")
            .bind(epoc)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(failures_from_row).transpose()?.unwrap_or_default())
    }

    /// Starts a session (and clears the failure count) in one transaction.
    pub async fn create_enrol_session(
        &self,
        token_sha256: &str,
        session: &EnrolSession,
        now: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO enrol_sessions (token_sha256, epoc, client_version, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_sha256)
        .bind(session.epoc.clone())
        .bind(session.client_version.clone())
        .bind(now)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM login_failures WHERE epoc = $1").bind(session.epoc.clone()).execute(&mut *tx).await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session whose token hashes to `token_sha256`.
    pub async fn enrol_session(&self, token_sha256: &str) -> Result<Option<EnrolSession>, StoreError> {
        let row = sqlx::query(
            "SELECT epoc, client_version, expires_at, ended_at FROM enrol_sessions WHERE token_sha256 = $1",
        )
        .bind(token_sha256)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(EnrolSession {
                epoc: r.col("epoc")?,
                client_version: r.col("client_version")?,
                expires_at: r.col("expires_at")?,
                ended_at: r.col("ended_at")?,
            })
        })
        .transpose()
    }

    /// Ends a session (logout). Returns false when it had ended already.
    pub async fn end_enrol_session(&self, token_sha256: &str, now: i64, event: AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("UPDATE enrol_sessions SET ended_at = $1 WHERE token_sha256 = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(token_sha256)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            audit::append(&mut tx, self.engine(), &[event]).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }
}

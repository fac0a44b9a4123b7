//! Card holders, card batches and sponsors.

use super::*;
use crate::audit::{self, AuditEvent};
use crate::{Cols, Store, StoreError};

impl Store {
    /// Registers a user.
    pub async fn insert_user(&self, u: &User, event: AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO users (uid, name, email, mobile, landline, landline_voice, roles, organisation, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(u.uid.clone())
        .bind(u.name.clone())
        .bind(u.email.clone())
        .bind(u.mobile.clone())
        .bind(u.landline.clone())
        .bind(i64::from(u.landline_voice))
        .bind(u.roles.join(","))
        .bind(u.organisation.clone())
        .bind(u.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("user {} exists already", u.uid))
            }
            _ => StoreError::Database(e),
        })?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One user.
    pub async fn user(&self, uid: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT uid, name, email, mobile, landline, landline_voice, roles, organisation, created_at FROM users WHERE uid = $1",
        )
        .bind(uid)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Registers a card batch and the minimum agent version it needs (insert or replace).
    pub async fn set_card_batch(
        &self,
        batch: &str,
        min_agent_version: &str,
        now: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO card_batches (batch, min_agent_version, created_at) VALUES ($1, $2, $3) ON CONFLICT (batch) DO UPDATE SET min_agent_version = excluded.min_agent_version",
        )
        .bind(batch)
        .bind(min_agent_version)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The minimum agent version of a batch.
    pub async fn card_batch(&self, batch: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT min_agent_version FROM card_batches WHERE batch = $1")
            .bind(batch)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.col("min_agent_version")).transpose()
    }

    /// Grants (or renews) a sponsor's unlock authority for an organisation.
    pub async fn grant_sponsor(
        &self,
        uid: &str,
        organisation: &str,
        by: &str,
        now: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO sponsors (sponsor_uid, organisation, granted_by, granted_at) VALUES ($1, $2, $3, $4) ON CONFLICT (sponsor_uid, organisation) DO UPDATE SET granted_by = excluded.granted_by, granted_at = excluded.granted_at, revoked_at = NULL",
        )
        .bind(uid)
        .bind(organisation)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether `uid` holds unlock authority for `organisation`.
    pub async fn is_sponsor(&self, uid: &str, organisation: &str) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT 1 FROM sponsors WHERE sponsor_uid = $1 AND organisation = $2 AND revoked_at IS NULL")
                .bind(uid)
                .bind(organisation)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }
}

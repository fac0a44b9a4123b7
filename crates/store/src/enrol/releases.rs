//! Client releases and the trust feed.

use super::*;
use crate::audit::{self, AuditEvent};
use crate::{Cols, Store, StoreError};

impl Store {
    /// Registers a client release.
    pub async fn add_release(&self, r: &Release, event: AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO releases (product, version, minimum, url, sha256, notes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.product.clone())
        .bind(r.version.clone())
        .bind(i64::from(r.minimum))
        .bind(r.url.clone())
        .bind(r.sha256.clone())
        .bind(r.notes.clone())
        .bind(r.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("{} {} is registered already", r.product, r.version))
            }
            _ => StoreError::Database(e),
        })?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every release of `product`.
    pub async fn releases(&self, product: &str) -> Result<Vec<Release>, StoreError> {
        let rows = sqlx::query(
            "SELECT product, version, minimum, url, sha256, notes, created_at FROM releases WHERE product = $1 ORDER BY created_at, version",
        )
        .bind(product)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Release {
                    product: r.col("product")?,
                    version: r.col("version")?,
                    minimum: r.col::<i64>("minimum")? != 0,
                    url: r.col("url")?,
                    sha256: r.col("sha256")?,
                    notes: r.col("notes")?,
                    created_at: r.col("created_at")?,
                })
            })
            .collect()
    }

    /// Trust-feed entries after `cursor`.
    pub async fn trust_events(&self, cursor: i64) -> Result<Vec<TrustEvent>, StoreError> {
        let rows = sqlx::query("SELECT seq, ca_name, kind, at, reason FROM trust_events WHERE seq > $1 ORDER BY seq")
            .bind(cursor)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TrustEvent {
                    seq: r.col("seq")?,
                    ca_name: r.col("ca_name")?,
                    kind: r.parsed("kind")?,
                    at: r.col("at")?,
                    reason: r.col("reason")?,
                })
            })
            .collect()
    }
}

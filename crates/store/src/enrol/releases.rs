//! Client releases and the trust feed.

use super::*;
use crate::audit::{self, AuditEvent};
use crate::{Cols, Store, StoreError};

impl Store {
    /// Registers a client release.
    pub async fn add_release(&self, r: &Release, event: AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO releases (product, version, minimum, url, sha256, notes, created_at, signature, key_id, file_path) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(r.product.clone())
        .bind(r.version.clone())
        .bind(i64::from(r.minimum))
        .bind(r.url.clone())
        .bind(r.sha256.clone())
        .bind(r.notes.clone())
        .bind(r.created_at)
        .bind(r.signature.clone())
        .bind(r.key_id.clone())
        .bind(r.file_path.clone())
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
            "SELECT product, version, minimum, url, sha256, notes, created_at, signature, key_id, file_path FROM releases WHERE product = $1 ORDER BY created_at, version",
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
                    signature: r.col("signature")?,
                    key_id: r.col("key_id")?,
                    file_path: r.col("file_path")?,
                })
            })
            .collect()
    }

    /// Registers a release-signing public key.
    pub async fn add_release_key(&self, k: &ReleaseKey, event: AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("INSERT INTO release_keys (key_id, product, public_key, created_at) VALUES ($1, $2, $3, $4)")
            .bind(k.key_id.clone())
            .bind(k.product.clone())
            .bind(k.public_key.clone())
            .bind(k.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    StoreError::Conflict(format!("release-signing key {} is registered already", k.key_id))
                }
                _ => StoreError::Database(e),
            })?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Registered release-signing keys (of `product`, or all), oldest first.
    pub async fn release_keys(&self, product: Option<&str>) -> Result<Vec<ReleaseKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, product, public_key, created_at FROM release_keys WHERE $1 = '' OR product = $1 ORDER BY created_at, key_id",
        )
        .bind(product.unwrap_or_default().to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReleaseKey {
                    key_id: r.col("key_id")?,
                    product: r.col("product")?,
                    public_key: r.col("public_key")?,
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

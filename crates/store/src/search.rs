//! Certificate searches that must stay fast on a database of millions of certificates
//! (the RA console's search by organisation), and the planner statistics they rely on.
//!
//! It must never scan the certificates table: every query here starts from an index
//! (organisations by EPOC or name, requests by organisation, certificates by key).

use sqlx::AssertSqlSafe;

use crate::certs::{CERT_COLUMNS, cert_from_row};
use crate::{CertificateRecord, Engine, Store, StoreError};

impl Store {
    /// The certificates issued for the organisations whose EPOC is `text` or whose name
    /// contains it (case-insensitively), newest request first, at most `limit`; only those
    /// with `status` when given. Found through `cert_requests` (indexed by organisation),
    /// so the cost follows the organisation's certificates, not the table's size.
    pub async fn certificates_of_organisation(
        &self,
        text: &str,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(vec![]);
        }
        let columns = CERT_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
        let like = match self.engine() {
            Engine::Sqlite => "o.name LIKE $2",
            Engine::Postgres => "o.name ILIKE $2",
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {columns} FROM cert_requests r \
             JOIN certificates c ON c.issuer = r.issuer AND c.serial = r.serial \
             WHERE r.epoc IN (SELECT o.epoc FROM organisations o WHERE o.epoc = $1 OR {like}) \
               AND ($3 = '' OR c.status = $3) \
             ORDER BY r.id DESC LIMIT $4"
        )))
        .bind(text.to_string())
        .bind(format!("%{}%", text.replace(['%', '_'], "")))
        .bind(status.unwrap_or("").to_string())
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(cert_from_row).collect()
    }

    /// Refreshes the planner's statistics (after a bulk load).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        let sql = match self.engine() {
            Engine::Sqlite => "ANALYZE",
            Engine::Postgres => "VACUUM ANALYZE",
        };
        sqlx::raw_sql(sql).execute(self.pool()).await?;
        Ok(())
    }
}

//! Certificate requests: storing, reading, listing and conditional state changes.

use sqlx::AssertSqlSafe;

use super::*;
use crate::audit::{self, AuditEvent};
use crate::{Cols, Store, StoreError};

impl Store {
    /// Stores a new request in state `status` and returns its number.
    pub async fn insert_request(
        &self,
        req: &NewRequest,
        status: RequestStatus,
        event: AuditEvent,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "INSERT INTO cert_requests (epoc, status, channel, csr_der, spki_sha256, policy_version, requested_by, renewal_of, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(req.epoc.clone())
        .bind(status.as_str())
        .bind(req.channel.as_str())
        .bind(req.csr_der.clone())
        .bind(req.spki_sha256.clone())
        .bind(req.policy_version.clone())
        .bind(req.requested_by.clone())
        .bind(req.renewal_of.clone())
        .bind(req.created_at)
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.col("id")?;
        if let Some(serial) = &req.renewal_of {
            // Once per certificate: the claim and the request commit together, or neither.
            let claimed = sqlx::query(
                "INSERT INTO certificate_renewals (serial, request_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (serial) DO NOTHING",
            )
            .bind(serial.clone())
            .bind(id)
            .bind(req.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                tx.rollback().await?;
                return Err(StoreError::Conflict(format!("certificate {serial} was already renewed")));
            }
        }
        let mut event = event;
        event.subject = format!("request/{id}");
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// One request.
    pub async fn request(&self, id: i64) -> Result<Option<CertRequest>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {REQUEST_COLUMNS} FROM cert_requests WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// The request that produced the certificate `serial`.
    pub async fn request_for_serial(&self, serial: &str) -> Result<Option<CertRequest>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {REQUEST_COLUMNS} FROM cert_requests WHERE serial = $1")))
            .bind(serial)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// Requests matching `f`, newest first.
    pub async fn requests(&self, f: &RequestFilter) -> Result<Vec<CertRequest>, StoreError> {
        let mut sql = format!("SELECT {REQUEST_COLUMNS} FROM cert_requests WHERE 1 = 1");
        let mut n = 0;
        if f.epoc.is_some() {
            n += 1;
            sql.push_str(&format!(" AND epoc = ${n}"));
        }
        if !f.status.is_empty() {
            sql.push_str(" AND status IN (");
            for i in 0..f.status.len() {
                n += 1;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${n}"));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(e) = &f.epoc {
            q = q.bind(e.clone());
        }
        for s in &f.status {
            q = q.bind(s.as_str());
        }
        q = q.bind(if f.limit > 0 { f.limit } else { 100 });
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Moves request `id` from one of `from` to `to`, writing `change` and the audit
    /// entry in one transaction. Returns false (and changes nothing) when the request was
    /// not in one of `from` any more.
    pub async fn transition_request(
        &self,
        id: i64,
        from: &[RequestStatus],
        to: RequestStatus,
        change: &RequestChange,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut sql = String::from(
            "UPDATE cert_requests SET status = $1, \
             decided_at = COALESCE($2, decided_at), decided_by = COALESCE($3, decided_by), \
             deny_reason = COALESCE($4, deny_reason), issuer = COALESCE($5, issuer), serial = COALESCE($6, serial), \
             downloaded_at = COALESCE(downloaded_at, $7), installed_at = COALESCE($8, installed_at) \
             WHERE id = $9 AND status IN (",
        );
        for i in 0..from.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("${}", 10 + i));
        }
        sql.push(')');
        let mut tx = self.pool().begin().await?;
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(to.as_str())
            .bind(change.decided.as_ref().map(|d| d.0))
            .bind(change.decided.as_ref().map(|d| d.1.clone()))
            .bind(change.deny_reason.clone())
            .bind(change.certificate.as_ref().map(|c| c.0.clone()))
            .bind(change.certificate.as_ref().map(|c| c.1.clone()))
            .bind(change.downloaded_at)
            .bind(change.installed_at)
            .bind(id);
        for s in from {
            q = q.bind(s.as_str());
        }
        let n = q.execute(&mut *tx).await?.rows_affected();
        if n == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }
}

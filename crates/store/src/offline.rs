//! What the offline root hands the serving nodes (intermediates it signed, pre-signed OCSP
//! answers), responder renewal, and reservations whose signing failed (issue 13).

use crate::audit::{self, AuditEvent};
use crate::certs::CaRecord;
use crate::{Cols, NewCertificate, Store, StoreError};

/// One OCSP answer the offline root signed in advance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedOcsp {
    /// The CA that signed it (the root).
    pub issuer: String,
    /// The serial asked about, canonical hex.
    pub serial: String,
    /// `sha1` or `sha256`: the hash of the CertID it answers.
    pub cert_id_hash: String,
    /// Whether the CertID's hash AlgorithmIdentifier carries NULL parameters.
    pub null_params: bool,
    /// thisUpdate (Unix seconds).
    pub this_update: i64,
    /// nextUpdate (Unix seconds).
    pub next_update: i64,
    /// The DER OCSPResponse.
    pub der: Vec<u8>,
}

impl Store {
    /// Records an intermediate CA the offline root signed: the CA row and its certificate
    /// (issued by the root) in one transaction with the audit entry. Refuses a name in use.
    pub async fn import_ca(
        &self,
        ca: &CaRecord,
        certificate: &NewCertificate,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO cas (name, parent, cert_der, key_ref, responder_cert_der, responder_key_ref, crl_number, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        )
        .bind(ca.name.clone())
        .bind(ca.parent.clone())
        .bind(ca.cert_der.clone())
        .bind(ca.key_ref.clone())
        .bind(ca.responder_cert_der.clone())
        .bind(ca.responder_key_ref.clone())
        .bind(ca.crl_number)
        .bind(ca.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("CA '{}' exists already", ca.name))
            }
            _ => StoreError::Database(e),
        })?;
        sqlx::query(
            "INSERT INTO certificates (issuer, serial, profile, subject, spki_sha256, not_before, not_after, created_at, status, der) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'issued',$9)",
        )
        .bind(certificate.issuer.clone())
        .bind(certificate.serial.clone())
        .bind(certificate.profile.clone())
        .bind(certificate.subject.clone())
        .bind(certificate.spki_sha256.clone())
        .bind(certificate.not_before)
        .bind(certificate.not_after)
        .bind(certificate.created_at)
        .bind(ca.cert_der.clone())
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, self.engine, &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores pre-signed OCSP answers (answers already stored are kept) and forgets those that
    /// expired more than a day before `now`; one audit entry.
    pub async fn store_presigned_ocsp(
        &self,
        answers: &[PresignedOcsp],
        now: i64,
        event: AuditEvent,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        // A write first: on SQLite the transaction then holds the write lock from its first
        // statement (waiting for it under busy_timeout) instead of failing "database is
        // locked" when a read transaction tries to upgrade while another connection writes.
        sqlx::query("DELETE FROM presigned_ocsp WHERE next_update < $1").bind(now - 86_400).execute(&mut *tx).await?;
        let mut added = 0;
        for a in answers {
            let exists = sqlx::query(
                "SELECT 1 AS one FROM presigned_ocsp WHERE issuer = $1 AND serial = $2 AND cert_id_hash = $3 AND null_params = $4 AND this_update = $5",
            )
            .bind(a.issuer.clone())
            .bind(a.serial.clone())
            .bind(a.cert_id_hash.clone())
            .bind(i32::from(a.null_params))
            .bind(a.this_update)
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_some() {
                continue;
            }
            sqlx::query(
                "INSERT INTO presigned_ocsp (issuer, serial, cert_id_hash, null_params, this_update, next_update, der) VALUES ($1,$2,$3,$4,$5,$6,$7)",
            )
            .bind(a.issuer.clone())
            .bind(a.serial.clone())
            .bind(a.cert_id_hash.clone())
            .bind(i32::from(a.null_params))
            .bind(a.this_update)
            .bind(a.next_update)
            .bind(a.der.clone())
            .execute(&mut *tx)
            .await?;
            added += 1;
        }
        audit::append(&mut tx, self.engine, &[event]).await?;
        tx.commit().await?;
        Ok(added)
    }

    /// The newest pre-signed answer valid at `now` for this CertID form.
    pub async fn presigned_ocsp(
        &self,
        issuer: &str,
        serial: &str,
        cert_id_hash: &str,
        null_params: bool,
        now: i64,
    ) -> Result<Option<PresignedOcsp>, StoreError> {
        let row = sqlx::query(
            "SELECT issuer, serial, cert_id_hash, null_params, this_update, next_update, der FROM presigned_ocsp WHERE issuer = $1 AND serial = $2 AND cert_id_hash = $3 AND null_params = $4 AND this_update <= $5 AND next_update > $5 ORDER BY this_update DESC LIMIT 1",
        )
        .bind(issuer)
        .bind(serial)
        .bind(cert_id_hash)
        .bind(i32::from(null_params))
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(PresignedOcsp {
                issuer: r.col("issuer")?,
                serial: r.col("serial")?,
                cert_id_hash: r.col("cert_id_hash")?,
                null_params: r.col::<i32>("null_params")? != 0,
                this_update: r.col("this_update")?,
                next_update: r.col("next_update")?,
                der: r.col("der")?,
            })
        })
        .transpose()
    }

    /// Replaces a CA's delegated OCSP responder only if it is still `current` (so two nodes
    /// renewing at once do not both win); returns whether this call replaced it.
    pub async fn replace_responder(
        &self,
        ca: &str,
        current: &[u8],
        cert_der: &[u8],
        key_ref: &str,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE cas SET responder_cert_der = $1, responder_key_ref = $2 WHERE name = $3 AND responder_cert_der = $4",
        )
        .bind(cert_der.to_vec())
        .bind(key_ref)
        .bind(ca)
        .bind(current.to_vec())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, self.engine, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Marks reservations made before `before` that were never signed as `failed`, each with
    /// its audit entry (built by `event` from issuer and serial), in one transaction; returns
    /// `(issuer, serial)` of each.
    pub async fn fail_stale_reservations(
        &self,
        before: i64,
        event: impl Fn(&str, &str) -> AuditEvent,
    ) -> Result<Vec<(String, String)>, StoreError> {
        // Read outside the transaction (a read that later upgrades to a write fails on SQLite
        // when another connection wrote meanwhile); each change below is conditional anyway.
        let rows = sqlx::query(
            "SELECT issuer, serial FROM certificates WHERE status = 'reserved' AND created_at < $1 LIMIT 1000",
        )
        .bind(before)
        .fetch_all(self.pool())
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool().begin().await?;
        let mut failed = Vec::new();
        let mut events = Vec::new();
        for r in &rows {
            let (issuer, serial): (String, String) = (r.col("issuer")?, r.col("serial")?);
            let n = sqlx::query(
                "UPDATE certificates SET status = 'failed' WHERE issuer = $1 AND serial = $2 AND status = 'reserved'",
            )
            .bind(issuer.clone())
            .bind(serial.clone())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                events.push(event(&issuer, &serial));
                failed.push((issuer, serial));
            }
        }
        if failed.is_empty() {
            return Ok(failed);
        }
        audit::append(&mut tx, self.engine, &events).await?;
        tx.commit().await?;
        Ok(failed)
    }
}

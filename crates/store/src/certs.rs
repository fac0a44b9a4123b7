//! CAs, certificates and revocation (the CRLs themselves: `crls.rs`).

use serde::Serialize;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::audit::{self, AuditEvent};
use crate::crls::CrlScope;
use crate::{Cols, Store, StoreError};

/// A CA as stored.
#[derive(Debug, Clone)]
pub struct CaRecord {
    /// Its name (`root`, `systems`, `smartcards`).
    pub name: String,
    /// The CA that issued it (`None` for the root).
    pub parent: Option<String>,
    /// Its certificate.
    pub cert_der: Vec<u8>,
    /// Where its key is: an encrypted PKCS#8 PEM, or a `pkcs11:` URI.
    pub key_ref: String,
    /// Its delegated OCSP responder's certificate.
    pub responder_cert_der: Option<Vec<u8>>,
    /// Its delegated OCSP responder's key reference.
    pub responder_key_ref: Option<String>,
    /// The last CRL number used.
    pub crl_number: i64,
    /// Creation time.
    pub created_at: i64,
}

/// A certificate decided before signing (the reservation, Boulder's "precertificate").
#[derive(Debug, Clone)]
pub struct NewCertificate {
    /// Issuing CA name.
    pub issuer: String,
    /// Serial, canonical hex.
    pub serial: String,
    /// Profile name.
    pub profile: String,
    /// Subject (display form).
    pub subject: String,
    /// SHA-256 of the subject public key info, hex.
    pub spki_sha256: String,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// When it was decided.
    pub created_at: i64,
    /// The CRL shard named in its CRL distribution point (`None`: the CA's whole CRL).
    pub crl_shard: Option<u16>,
}

/// The signed certificate that completes a reservation.
#[derive(Debug, Clone)]
pub struct CompletedCertificate {
    /// Issuing CA name.
    pub issuer: String,
    /// Serial, canonical hex.
    pub serial: String,
    /// The certificate.
    pub der: Vec<u8>,
    /// The audit entry recording the issuance.
    pub event: AuditEvent,
}

/// Where a certificate is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum CertStatus {
    /// Decided and stored, not (yet) signed.
    Reserved,
    /// Reserved, but its signing never completed (marked by maintenance): it was never
    /// signed, so OCSP answers unknown and there is nothing to revoke.
    Failed,
    /// Signed and valid (unless expired).
    Issued,
    /// Revoked.
    Revoked {
        /// When (Unix seconds).
        at: i64,
        /// CRLReason code.
        reason: u8,
    },
}

/// A stored certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateRecord {
    /// Issuing CA name.
    pub issuer: String,
    /// Serial, canonical hex.
    pub serial: String,
    /// Profile name.
    pub profile: String,
    /// Subject (display form).
    pub subject: String,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// Status.
    #[serde(flatten)]
    pub status: CertStatus,
    /// The certificate (absent while reserved).
    #[serde(skip)]
    pub der: Option<Vec<u8>>,
    /// When it was decided.
    pub created_at: i64,
}

/// RFC 5280 reason code keyCompromise.
pub(crate) const KEY_COMPROMISE: u8 = 1;

/// What a revocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Revoked now; the revocation clock moved to this value.
    Revoked {
        /// The new revocation clock value.
        seq: i64,
        /// The CRL that must list it.
        scope: CrlScope,
        /// Certificates revoked with it: for key compromise, every certificate renewed from
        /// it over mutual TLS, transitively.
        successors: Vec<RevokedCertificate>,
    },
    /// Was already revoked (nothing changed).
    AlreadyRevoked {
        /// When it was revoked.
        at: i64,
        /// Why.
        reason: u8,
    },
    /// Exists but was never signed (reserved only): nothing to revoke.
    NotIssued,
    /// No such certificate.
    NotFound,
}

/// A certificate a revocation changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedCertificate {
    /// Issuing CA.
    pub issuer: String,
    /// Serial, canonical hex.
    pub serial: String,
    /// The CRL that must list it.
    pub scope: CrlScope,
}

/// Search criteria for certificates.
#[derive(Debug, Clone, Default)]
pub struct CertificateFilter {
    /// Only this issuer.
    pub issuer: Option<String>,
    /// Only this status (`reserved`, `issued`, `revoked`).
    pub status: Option<String>,
    /// Subject contains this text.
    pub subject_contains: Option<String>,
    /// At most this many (newest first).
    pub limit: i64,
}

pub(crate) const CERT_COLUMNS: &str =
    "issuer, serial, profile, subject, not_before, not_after, status, der, created_at, revoked_at, revocation_reason";

pub(crate) fn cert_from_row(r: &AnyRow) -> Result<CertificateRecord, StoreError> {
    let status: String = r.col("status")?;
    let status = match status.as_str() {
        "reserved" => CertStatus::Reserved,
        "failed" => CertStatus::Failed,
        "issued" => CertStatus::Issued,
        "revoked" => CertStatus::Revoked {
            at: r.col::<Option<i64>>("revoked_at")?.unwrap_or_default(),
            reason: r.col::<Option<i32>>("revocation_reason")?.unwrap_or_default() as u8,
        },
        other => return Err(StoreError::Corrupt(format!("certificate status '{other}'"))),
    };
    Ok(CertificateRecord {
        issuer: r.col("issuer")?,
        serial: r.col("serial")?,
        profile: r.col("profile")?,
        subject: r.col("subject")?,
        not_before: r.col("not_before")?,
        not_after: r.col("not_after")?,
        status,
        der: r.col("der")?,
        created_at: r.col("created_at")?,
    })
}

fn ca_from_row(r: &AnyRow) -> Result<CaRecord, StoreError> {
    Ok(CaRecord {
        name: r.col("name")?,
        parent: r.col("parent")?,
        cert_der: r.col("cert_der")?,
        key_ref: r.col("key_ref")?,
        responder_cert_der: r.col("responder_cert_der")?,
        responder_key_ref: r.col("responder_key_ref")?,
        crl_number: r.col("crl_number")?,
        created_at: r.col("created_at")?,
    })
}

impl Store {
    /// Stores a reservation (group-committed: durable when this returns).
    pub async fn reserve_certificate(&self, c: NewCertificate) -> Result<(), StoreError> {
        self.writer.reserve(c).await
    }

    /// Stores the signed certificate for a reservation, with its audit entry
    /// (group-committed: durable when this returns).
    pub async fn complete_certificate(&self, c: CompletedCertificate) -> Result<(), StoreError> {
        self.writer.complete(c).await
    }

    /// Stores a certificate signed in this process and not yet handed to anyone: its row
    /// (status `issued`, with the DER) and its audit entry in one group-committed write,
    /// durable when this returns. The caller must not let the certificate leave the process
    /// before this returns `Ok` (ARCHITECTURE.md, "Issuance throughput").
    pub async fn record_issued(&self, n: NewCertificate, c: CompletedCertificate) -> Result<(), StoreError> {
        if n.issuer != c.issuer || n.serial != c.serial {
            return Err(StoreError::Invalid("the certificate and its record name different serials".into()));
        }
        self.writer.issue(n, c).await
    }

    /// Inserts a CA (with its audit entry).
    pub async fn insert_ca(&self, ca: &CaRecord, event: AuditEvent) -> Result<(), StoreError> {
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
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(format!("CA '{}' exists already", ca.name)),
            _ => StoreError::Database(e),
        })?;
        audit::append(&mut tx, self.engine, &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a CA's delegated OCSP responder.
    pub async fn set_responder(
        &self,
        ca: &str,
        cert_der: &[u8],
        key_ref: &str,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("UPDATE cas SET responder_cert_der = $1, responder_key_ref = $2 WHERE name = $3")
            .bind(cert_der.to_vec())
            .bind(key_ref)
            .bind(ca)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("CA '{ca}'")));
        }
        audit::append(&mut tx, self.engine, &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// All CAs, root first.
    pub async fn cas(&self) -> Result<Vec<CaRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, parent, cert_der, key_ref, responder_cert_der, responder_key_ref, crl_number, created_at FROM cas ORDER BY created_at, name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(ca_from_row).collect()
    }

    /// One certificate.
    pub async fn certificate(&self, issuer: &str, serial: &str) -> Result<Option<CertificateRecord>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CERT_COLUMNS} FROM certificates WHERE issuer = $1 AND serial = $2"
        )))
        .bind(issuer)
        .bind(serial)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(cert_from_row).transpose()
    }

    /// Certificates with this serial under any issuer.
    pub async fn certificates_by_serial(&self, serial: &str) -> Result<Vec<CertificateRecord>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {CERT_COLUMNS} FROM certificates WHERE serial = $1")))
            .bind(serial)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(cert_from_row).collect()
    }

    /// Searches certificates, newest first.
    pub async fn certificates(&self, f: &CertificateFilter) -> Result<Vec<CertificateRecord>, StoreError> {
        let mut sql = format!("SELECT {CERT_COLUMNS} FROM certificates WHERE 1 = 1");
        let mut n = 0;
        let mut binds: Vec<String> = Vec::new();
        if let Some(i) = &f.issuer {
            n += 1;
            sql.push_str(&format!(" AND issuer = ${n}"));
            binds.push(i.clone());
        }
        if let Some(s) = &f.status {
            n += 1;
            sql.push_str(&format!(" AND status = ${n}"));
            binds.push(s.clone());
        }
        if let Some(s) = &f.subject_contains {
            n += 1;
            sql.push_str(&format!(" AND subject LIKE ${n}"));
            binds.push(format!("%{}%", s.replace(['%', '_'], "")));
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY created_at DESC, serial LIMIT ${n}"));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.bind(f.limit.clamp(1, 10_000)).fetch_all(self.pool()).await?;
        rows.iter().map(cert_from_row).collect()
    }

    /// Revokes an issued certificate in one transaction: moves the revocation clock,
    /// changes the status only if it is `issued`, and appends the audit entry. Concurrent
    /// revocations share one transaction and one clock value (`revoke.rs`); nobody is
    /// answered before it commits.
    pub async fn revoke(
        &self,
        issuer: &str,
        serial: &str,
        reason: u8,
        at: i64,
        event: AuditEvent,
    ) -> Result<RevokeOutcome, StoreError> {
        let (reply, wait) = tokio::sync::oneshot::channel();
        let job = crate::revoke::Revocation { issuer: issuer.into(), serial: serial.into(), reason, at, event, reply };
        match self.revoker.send(job, wait).await? {
            Some((seq, scope, successors)) => Ok(RevokeOutcome::Revoked { seq, scope, successors }),
            None => Ok(match self.certificate(issuer, serial).await? {
                None => RevokeOutcome::NotFound,
                Some(CertificateRecord { status: CertStatus::Revoked { at, reason }, .. }) => {
                    RevokeOutcome::AlreadyRevoked { at, reason }
                }
                Some(_) => RevokeOutcome::NotIssued,
            }),
        }
    }

    /// The revocation clock: moves on every revocation, on every node. Caches of
    /// revocation status compare it to know when to drop what they hold.
    pub async fn revocation_clock(&self) -> Result<i64, StoreError> {
        sqlx::query("SELECT seq FROM revocation_clock WHERE id = 1").fetch_one(self.pool()).await?.col("seq")
    }

    /// Serials revoked since the clock stood at `after_seq`.
    pub async fn revoked_since(&self, after_seq: i64) -> Result<Vec<(String, String)>, StoreError> {
        let rows =
            sqlx::query("SELECT issuer, serial FROM certificates WHERE status = 'revoked' AND revocation_seq > $1")
                .bind(after_seq)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|r| Ok((r.col("issuer")?, r.col("serial")?))).collect()
    }

    /// Counts certificates by status (for metrics; statuses with none are left out), in the
    /// order failed, issued, reserved, revoked.
    ///
    /// Issued certificates are the sum of the per-day counts kept by triggers (migration
    /// 0018), not a count of millions of rows at every metrics scrape; the other statuses are
    /// few and counted from the `(status, …)` index.
    pub async fn certificate_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let issued = sqlx::query("SELECT CAST(COALESCE(SUM(issued), 0) AS BIGINT) AS n FROM certificate_expiry_days")
            .fetch_one(self.pool())
            .await?
            .col::<i64>("n")?;
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM certificates WHERE status IN ('failed', 'reserved', 'revoked') GROUP BY status",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = rows
            .iter()
            .map(|r| Ok((r.col("status")?, r.col("n")?)))
            .collect::<Result<Vec<(String, i64)>, StoreError>>()?;
        out.push(("issued".to_string(), issued));
        out.retain(|(_, n)| *n > 0);
        out.sort();
        Ok(out)
    }
}

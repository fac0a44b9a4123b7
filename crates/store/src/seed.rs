//! Bulk loading for benchmarks (`carecert bench seed`): organisations, and certificates
//! with their requests, written directly in large batches.
//!
//! This is how a benchmark gets a database of 1M or 10M certificates in minutes. It writes
//! the same tables and columns as the real paths, but no audit entries (one per row would
//! double the load time; the measured queries never read the audit log) and no CSRs
//! (a request's `csr_der` holds a few fixed bytes). It must never be used by a serving
//! path: it bypasses group commit and the audit chain on purpose.

use rusqlite::params;
use sqlx::Connection;

use crate::{Engine, Store, StoreError};

/// A certificate (and, with `epoc`, the installed request it came from) for [`Store::seed`].
#[derive(Debug, Clone)]
pub struct SeedCertificate {
    /// Issuing CA.
    pub issuer: String,
    /// Serial, canonical hex.
    pub serial: String,
    /// Profile name.
    pub profile: String,
    /// Subject (display form).
    pub subject: String,
    /// SHA-256 of the key, hex.
    pub spki_sha256: String,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// Creation time.
    pub created_at: i64,
    /// Revoked (time, reason), or issued.
    pub revoked: Option<(i64, u8)>,
    /// The organisation whose request it answers (machine certificates).
    pub epoc: Option<String>,
    /// The CRL shard its distribution point names.
    pub crl_shard: Option<u16>,
}

/// An organisation for [`Store::seed`].
#[derive(Debug, Clone)]
pub struct SeedOrganisation {
    /// EPOC.
    pub epoc: String,
    /// Name.
    pub name: String,
    /// Creation time.
    pub created_at: i64,
}

impl Store {
    /// Writes organisations and certificates in one transaction; `der` is stored as every
    /// certificate's DER. Revoked rows get fresh revocation-clock values and the clock moves
    /// past them, so caches and CRLs see them as any revocation.
    pub async fn seed(
        &self,
        orgs: Vec<SeedOrganisation>,
        certs: Vec<SeedCertificate>,
        der: Vec<u8>,
    ) -> Result<(), StoreError> {
        match self.engine {
            Engine::Sqlite => {
                let path = crate::group_sqlite::sqlite_path(&self.url);
                tokio::task::spawn_blocking(move || seed_sqlite(&path, &orgs, &certs, &der))
                    .await
                    .map_err(|e| StoreError::Sqlite(e.to_string()))?
            }
            Engine::Postgres => seed_postgres(&self.url, &orgs, &certs, &der).await,
        }
    }
}

fn seed_sqlite(path: &str, orgs: &[SeedOrganisation], certs: &[SeedCertificate], der: &[u8]) -> Result<(), StoreError> {
    let e = |e: rusqlite::Error| StoreError::Sqlite(e.to_string());
    let mut conn = rusqlite::Connection::open(path).map_err(e)?;
    // Keys that do not follow time (subjects, organisations; serials too when they were
    // random) land all over their indices: a large page cache turns those inserts from disk
    // reads into memory writes (1M random serials: 3k/s with the default 2 MB cache).
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA cache_size=-524288;",
    )
    .map_err(e)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(e)?;
    {
        let mut org = tx
            .prepare("INSERT INTO organisations (epoc, name, kind, status, approval, created_at) VALUES (?1, ?2, 'pharmacy', 'active', 'automatic', ?3)")
            .map_err(e)?;
        for o in orgs {
            org.execute(params![o.epoc, o.name, o.created_at]).map_err(e)?;
        }
        let mut seq: i64 =
            tx.query_row("SELECT seq FROM revocation_clock WHERE id = 1", [], |r| r.get(0)).map_err(e)?;
        let mut cert = tx
            .prepare(
                "INSERT INTO certificates (issuer, serial, profile, subject, spki_sha256, not_before, not_after, created_at, status, der, revoked_at, revocation_reason, revocation_seq, crl_shard) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
            )
            .map_err(e)?;
        let mut req = tx
            .prepare(
                "INSERT INTO cert_requests (epoc, status, channel, csr_der, spki_sha256, policy_version, requested_by, created_at, decided_at, decided_by, issuer, serial, downloaded_at, installed_at) VALUES (?1, 'installed', 'pin', X'3000', ?2, '1', 'seed', ?3, ?3, 'automatic', ?4, ?5, ?3, ?3)",
            )
            .map_err(e)?;
        for c in certs {
            let (status, at, reason, rseq) = match c.revoked {
                Some((at, reason)) => {
                    seq += 1;
                    ("revoked", Some(at), Some(i32::from(reason)), Some(seq))
                }
                None => ("issued", None, None, None),
            };
            cert.execute(params![
                c.issuer,
                c.serial,
                c.profile,
                c.subject,
                c.spki_sha256,
                c.not_before,
                c.not_after,
                c.created_at,
                status,
                der,
                at,
                reason,
                rseq,
                c.crl_shard
            ])
            .map_err(e)?;
            if let Some(epoc) = &c.epoc {
                req.execute(params![epoc, c.spki_sha256, c.created_at, c.issuer, c.serial]).map_err(e)?;
            }
        }
        tx.execute("UPDATE revocation_clock SET seq = ?1 WHERE id = 1", params![seq]).map_err(e)?;
    }
    tx.commit().map_err(e)?;
    // Fold the WAL into the database now: a server started on a large WAL reads all of it
    // before it serves (1M rows left 340 MB of WAL and 2.5 s more start-up).
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(e)
}

async fn seed_postgres(
    url: &str,
    orgs: &[SeedOrganisation],
    certs: &[SeedCertificate],
    der: &[u8],
) -> Result<(), StoreError> {
    let mut conn = sqlx::postgres::PgConnection::connect(url).await?;
    let mut tx = conn.begin().await?;
    if !orgs.is_empty() {
        sqlx::query(
            "INSERT INTO organisations (epoc, name, kind, status, approval, created_at) SELECT e, n, 'pharmacy', 'active', 'automatic', t FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS v(e, n, t)",
        )
        .bind(orgs.iter().map(|o| o.epoc.clone()).collect::<Vec<_>>())
        .bind(orgs.iter().map(|o| o.name.clone()).collect::<Vec<_>>())
        .bind(orgs.iter().map(|o| o.created_at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    let seq: i64 =
        sqlx::query_scalar("SELECT seq FROM revocation_clock WHERE id = 1 FOR UPDATE").fetch_one(&mut *tx).await?;
    let revoked = certs.iter().filter(|c| c.revoked.is_some()).count() as i64;
    let mut next = seq;
    let rseq: Vec<Option<i64>> = certs
        .iter()
        .map(|c| {
            c.revoked.map(|_| {
                next += 1;
                next
            })
        })
        .collect();
    sqlx::query(
        "INSERT INTO certificates (issuer, serial, profile, subject, spki_sha256, not_before, not_after, created_at, status, der, revoked_at, revocation_reason, revocation_seq, crl_shard)
         SELECT i, s, p, sub, k, nb, na, ca, st, $9, ra, rr, rs, sh FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::int8[], $10::text[], $11::int8[], $12::int4[], $13::int8[], $14::int4[])
         AS v(i, s, p, sub, k, nb, na, ca, st, ra, rr, rs, sh)",
    )
    .bind(certs.iter().map(|c| c.issuer.clone()).collect::<Vec<_>>())
    .bind(certs.iter().map(|c| c.serial.clone()).collect::<Vec<_>>())
    .bind(certs.iter().map(|c| c.profile.clone()).collect::<Vec<_>>())
    .bind(certs.iter().map(|c| c.subject.clone()).collect::<Vec<_>>())
    .bind(certs.iter().map(|c| c.spki_sha256.clone()).collect::<Vec<_>>())
    .bind(certs.iter().map(|c| c.not_before).collect::<Vec<_>>())
    .bind(certs.iter().map(|c| c.not_after).collect::<Vec<_>>())
    .bind(certs.iter().map(|c| c.created_at).collect::<Vec<_>>())
    .bind(der.to_vec())
    .bind(certs.iter().map(|c| if c.revoked.is_some() { "revoked" } else { "issued" }).collect::<Vec<_>>())
    .bind(certs.iter().map(|c| c.revoked.map(|r| r.0)).collect::<Vec<_>>())
    .bind(certs.iter().map(|c| c.revoked.map(|r| i32::from(r.1))).collect::<Vec<_>>())
    .bind(rseq)
    .bind(certs.iter().map(|c| c.crl_shard.map(i32::from)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let with_org: Vec<&SeedCertificate> = certs.iter().filter(|c| c.epoc.is_some()).collect();
    if !with_org.is_empty() {
        sqlx::query(
            "INSERT INTO cert_requests (epoc, status, channel, csr_der, spki_sha256, policy_version, requested_by, created_at, decided_at, decided_by, issuer, serial, downloaded_at, installed_at)
             SELECT e, 'installed', 'pin', '\\x3000'::bytea, k, '1', 'seed', t, t, 'automatic', i, s, t, t FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[]) AS v(e, k, t, i, s)",
        )
        .bind(with_org.iter().map(|c| c.epoc.clone().unwrap_or_default()).collect::<Vec<_>>())
        .bind(with_org.iter().map(|c| c.spki_sha256.clone()).collect::<Vec<_>>())
        .bind(with_org.iter().map(|c| c.created_at).collect::<Vec<_>>())
        .bind(with_org.iter().map(|c| c.issuer.clone()).collect::<Vec<_>>())
        .bind(with_org.iter().map(|c| c.serial.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("UPDATE revocation_clock SET seq = $1 WHERE id = 1").bind(seq + revoked).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

//! Revocations, many to a transaction.
//!
//! Each revocation used to be its own transaction: take the next value of the revocation
//! clock, update the certificate, append the audit entry, commit. Every one of them takes
//! the clock row's lock (PostgreSQL) or the database's write lock (SQLite) first, so
//! concurrent revocations queued behind each other's commits, and on SQLite behind the busy
//! handler's sleeps (1 ms, then 2, 5, 10 … 100 ms): 550–740 revocations a second with a p99
//! of 150–340 ms on an empty database (bench/README.md).
//!
//! Now callers hand their revocation to one task per store, which takes whatever has queued
//! (up to [`MAX_BATCH`]) and writes it in one transaction: one clock value for the batch
//! (as the certificates of one key-compromise cascade already shared one), one `UPDATE …
//! FROM (VALUES …)` statement for the batch's certificates (so PostgreSQL's statement-level
//! triggers lock their counters once, in key order, as the issuance writer's do), the
//! cascades of key compromise, then every audit entry, then the commit. Nobody is answered
//! before the commit. A batch that fails is retried one revocation at a time, so one bad
//! request never fails its neighbours.
//!
//! It must never change a certificate that is not `issued` (the update is conditional), and
//! never record a revocation without its audit entry in the same transaction.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, AssertSqlSafe};
use tokio::sync::{mpsc, oneshot};

use crate::audit::{self, AuditEvent};
use crate::certs::RevokedCertificate;
use crate::crls::{CrlScope, shard_col};
use crate::{Cols, Engine, StoreError, WriteGate};

/// The most revocations one transaction takes.
pub(crate) const MAX_BATCH: usize = 256;

/// What the batch did with one revocation: `Some((clock, its CRL, successors))` when it
/// revoked the certificate, `None` when no issued certificate matched (the caller finds out
/// why).
pub(crate) type Done = Option<(i64, CrlScope, Vec<RevokedCertificate>)>;

pub(crate) struct Revocation {
    pub(crate) issuer: String,
    pub(crate) serial: String,
    pub(crate) reason: u8,
    pub(crate) at: i64,
    pub(crate) event: AuditEvent,
    pub(crate) reply: oneshot::Sender<Result<Done, StoreError>>,
}

#[derive(Clone)]
pub(crate) struct Revoker {
    tx: mpsc::Sender<Revocation>,
}

impl Revoker {
    pub(crate) fn spawn(pool: AnyPool, engine: Engine, gate: WriteGate) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(pool, engine, gate, rx));
        Self { tx }
    }

    /// Hands one revocation to the batch task and waits for the batch's commit.
    pub(crate) async fn send(
        &self,
        job: Revocation,
        wait: oneshot::Receiver<Result<Done, StoreError>>,
    ) -> Result<Done, StoreError> {
        self.tx.send(job).await.map_err(|_| StoreError::WriterStopped)?;
        wait.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run(pool: AnyPool, engine: Engine, gate: WriteGate, mut rx: mpsc::Receiver<Revocation>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let turn = gate.enter().await;
        let written = write(&pool, engine, &batch).await;
        drop(turn);
        match written {
            Ok(done) => {
                for (job, d) in batch.drain(..).zip(done) {
                    let _ = job.reply.send(Ok(d));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    let _ = job.reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "revocation batch failed; retrying its revocations one by one");
                for job in batch.drain(..) {
                    let turn = gate.enter().await;
                    let r = write(&pool, engine, std::slice::from_ref(&job)).await.map(|mut d| d.pop().flatten());
                    drop(turn);
                    let _ = job.reply.send(r);
                }
            }
        }
    }
}

/// One transaction for the batch; the outcomes in the order of `jobs`.
async fn write(pool: &AnyPool, engine: Engine, jobs: &[Revocation]) -> Result<Vec<Done>, StoreError> {
    let mut tx = pool.begin().await?;
    let seq: i64 = sqlx::query("UPDATE revocation_clock SET seq = seq + 1 WHERE id = 1 RETURNING seq")
        .fetch_one(&mut *tx)
        .await?
        .col("seq")?;
    // VALUES columns are column1… on both engines; the casts type the parameters for both.
    let mut sql = String::from(
        "UPDATE certificates SET status = 'revoked', revoked_at = v.column3, revocation_reason = v.column4, revocation_seq = $1 FROM (VALUES ",
    );
    crate::push_values_cast(&mut sql, jobs.len(), 2, &[Some("TEXT"), Some("TEXT"), Some("BIGINT"), Some("INTEGER")]);
    sql.push_str(
        ") AS v WHERE certificates.issuer = v.column1 AND certificates.serial = v.column2 AND certificates.status = 'issued' RETURNING issuer, serial, crl_shard",
    );
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(seq);
    for j in jobs {
        q = q.bind(j.issuer.clone()).bind(j.serial.clone()).bind(j.at).bind(i32::from(j.reason));
    }
    let rows: Vec<AnyRow> = q.fetch_all(&mut *tx).await?;
    let mut revoked: Vec<RevokedCertificate> =
        rows.iter().map(revoked_certificate).collect::<Result<_, StoreError>>()?;
    let mut done = Vec::with_capacity(jobs.len());
    let mut events = Vec::with_capacity(jobs.len());
    for j in jobs {
        // The first job naming a certificate revoked it; a second one in the same batch finds
        // it revoked already, as it would have one transaction later.
        let Some(at) = revoked.iter().position(|c| c.issuer == j.issuer && c.serial == j.serial) else {
            done.push(None);
            continue;
        };
        let scope = revoked.swap_remove(at).scope;
        events.push(j.event.clone());
        let successors = if j.reason == crate::certs::KEY_COMPROMISE {
            cascade(&mut tx, seq, j, &mut events).await?
        } else {
            vec![]
        };
        done.push(Some((seq, scope, successors)));
    }
    if events.is_empty() {
        tx.rollback().await?;
    } else {
        audit::append(&mut tx, engine, &events).await?;
        tx.commit().await?;
    }
    Ok(done)
}

/// Key compromise: the key may have renewed itself (`cert_requests.renewal_of`), so every
/// certificate renewed from this one, and from those, goes too — in this same transaction,
/// each with its own audit entry.
async fn cascade(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    seq: i64,
    j: &Revocation,
    events: &mut Vec<AuditEvent>,
) -> Result<Vec<RevokedCertificate>, StoreError> {
    let mut successors = vec![];
    let mut todo = vec![(j.issuer.clone(), j.serial.clone())];
    while let Some((from_issuer, from_serial)) = todo.pop() {
        let rows = sqlx::query(
            "SELECT c.issuer, c.serial, c.crl_shard FROM cert_requests r JOIN certificates c ON c.issuer = r.issuer AND c.serial = r.serial WHERE r.renewal_of = $1 AND r.issuer = $2 AND c.status = 'issued'",
        )
        .bind(from_serial.clone())
        .bind(from_issuer.clone())
        .fetch_all(&mut **tx)
        .await?;
        for r in rows {
            let found = revoked_certificate(&r)?;
            let (i, s) = (found.issuer.clone(), found.serial.clone());
            let n = sqlx::query(
                "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2, revocation_seq = $3 WHERE issuer = $4 AND serial = $5 AND status = 'issued'",
            )
            .bind(j.at)
            .bind(i32::from(j.reason))
            .bind(seq)
            .bind(i.clone())
            .bind(s.clone())
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if n == 1 {
                events.push(AuditEvent {
                    subject: format!("{i}/{s}"),
                    details: serde_json::json!({
                        "reason": "keyCompromise",
                        "renewed_from": format!("{from_issuer}/{from_serial}"),
                        "cascade_of": format!("{}/{}", j.issuer, j.serial),
                    }),
                    ..j.event.clone()
                });
                successors.push(found);
                todo.push((i, s));
            }
        }
    }
    Ok(successors)
}

fn revoked_certificate(r: &AnyRow) -> Result<RevokedCertificate, StoreError> {
    Ok(RevokedCertificate { issuer: r.col("issuer")?, serial: r.col("serial")?, scope: CrlScope::of(shard_col(r)?) })
}

//! The PostgreSQL side of group commit: one task, one dedicated connection, one statement
//! per batch.
//!
//! A batch (reservations, merged issuances, completions and their audit entries) is written
//! by a single statement: writable CTEs over `UNNEST` arrays, one round trip. The audit
//! chain's head is cached here; the statement moves the head only if it still holds the
//! cached value (`WHERE seq = $cached AND hash = $cached`), and every other part of the
//! statement inserts only if the head moved — so a head changed by another node or
//! connection makes the statement write nothing, and the writer reads the head and tries
//! again. A statement outside a transaction is its own transaction: it commits, durably
//! (`synchronous_commit` as configured), before any caller is answered. A batch that holds
//! completions runs inside `BEGIN … COMMIT` instead, because a completion that finds no
//! reservation must fail the batch.
//!
//! It must never answer a caller before its write committed.

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};
use tokio::sync::mpsc;

use crate::StoreError;
use crate::audit::entry_hash;
use crate::group::{Job, MAX_BATCH};

/// The batch statement, with or without its completion part (`u`). A batch without completions
/// leaves `u` out rather than running it over empty arrays: even an update of no row fires the
/// statement-level triggers of `certificates` (and builds their transition tables). Both
/// variants take the same parameters; `$15`–`$17` go unused in the second, which PostgreSQL
/// accepts because sqlx sends every parameter's type.
macro_rules! batch_sql {
    ($u:literal, $completed:literal) => {
        concat!(
            "WITH h AS (
    UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3 AND hash = $4 RETURNING seq
), c AS (
    INSERT INTO certificates (issuer, serial, profile, subject, spki_sha256, not_before, not_after, created_at, status, der,
                              crl_shard)
    SELECT v.* FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int8[], $11::int8[],
                           $12::int8[], $13::text[], $14::bytea[], $26::int4[]) AS v
    WHERE EXISTS (SELECT 1 FROM h)
    RETURNING 1
)",
            $u,
            ", a AS (
    INSERT INTO audit_log (seq, at_ms, actor, action, subject, details, prev_hash, hash)
    SELECT v.* FROM UNNEST($18::int8[], $19::int8[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[],
                           $25::text[]) AS v
    WHERE EXISTS (SELECT 1 FROM h)
    RETURNING 1
)
SELECT (SELECT count(*) FROM h) AS head, ",
            $completed,
            " AS completed"
        )
    };
}

const BATCH_SQL: &str = batch_sql!(
    ", u AS (
    UPDATE certificates SET der = v.der, status = 'issued'
    FROM UNNEST($15::text[], $16::text[], $17::bytea[]) AS v(issuer, serial, der)
    WHERE certificates.issuer = v.issuer AND certificates.serial = v.serial AND certificates.status = 'reserved'
      AND EXISTS (SELECT 1 FROM h)
    RETURNING 1
)",
    "(SELECT count(*) FROM u)"
);

const BATCH_SQL_NO_COMPLETIONS: &str = batch_sql!("", "0::int8");

pub(crate) async fn run(url: String, mut rx: mpsc::Receiver<Job>) {
    let mut w = Writer { url, conn: None, head: None };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match w.write(&batch).await {
            Ok(()) => {
                for job in batch.drain(..) {
                    job.answer(Ok(()));
                }
            }
            Err(e) => {
                // One bad row must not fail its neighbours: retry each job on its own.
                tracing::warn!(error = %e, "group commit failed; retrying its jobs one by one");
                for job in batch.drain(..) {
                    let r = w.write(std::slice::from_ref(&job)).await;
                    job.answer(r);
                }
            }
        }
    }
}

struct Writer {
    url: String,
    conn: Option<PgConnection>,
    /// The audit head as this writer last wrote or read it.
    head: Option<(i64, String)>,
}

/// The batch as columns.
#[derive(Default)]
struct Columns {
    issuer: Vec<String>,
    serial: Vec<String>,
    profile: Vec<String>,
    subject: Vec<String>,
    spki: Vec<String>,
    not_before: Vec<i64>,
    not_after: Vec<i64>,
    created_at: Vec<i64>,
    status: Vec<&'static str>,
    der: Vec<Option<Vec<u8>>>,
    crl_shard: Vec<Option<i32>>,
    done_issuer: Vec<String>,
    done_serial: Vec<String>,
    done_der: Vec<Vec<u8>>,
}

impl Writer {
    async fn write(&mut self, jobs: &[Job]) -> Result<(), StoreError> {
        let result = self.try_write(jobs).await;
        if matches!(result, Err(StoreError::Database(sqlx::Error::Io(_) | sqlx::Error::Protocol(_)))) {
            self.conn = None; // reconnect next time
        }
        if result.is_err() {
            self.head = None;
        }
        result
    }

    async fn try_write(&mut self, jobs: &[Job]) -> Result<(), StoreError> {
        if self.conn.is_none() {
            self.conn = Some(PgConnection::connect(&self.url).await?);
        }
        let Some(conn) = self.conn.as_mut() else { return Err(StoreError::WriterStopped) };
        let mut cols = Columns::default();
        let mut events = Vec::with_capacity(jobs.len());
        for job in jobs {
            let (n, der) = match job {
                Job::Reserve(n, _) => (n, None),
                Job::Issue(b, _) => {
                    events.push(&b.1.event);
                    (&b.0, Some(b.1.der.clone()))
                }
                Job::Complete(c, _) => {
                    events.push(&c.event);
                    cols.done_issuer.push(c.issuer.clone());
                    cols.done_serial.push(c.serial.clone());
                    cols.done_der.push(c.der.clone());
                    continue;
                }
            };
            cols.issuer.push(n.issuer.clone());
            cols.serial.push(n.serial.clone());
            cols.profile.push(n.profile.clone());
            cols.subject.push(n.subject.clone());
            cols.spki.push(n.spki_sha256.clone());
            cols.not_before.push(n.not_before);
            cols.not_after.push(n.not_after);
            cols.created_at.push(n.created_at);
            cols.status.push(if der.is_some() { "issued" } else { "reserved" });
            cols.der.push(der);
            cols.crl_shard.push(n.crl_shard.map(i32::from));
        }
        let completions = cols.done_serial.len() as i64;
        let in_tx = completions > 0;
        // Inside a transaction the head is read under it.
        let mut head = if in_tx { None } else { self.head.take() };
        if in_tx {
            sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
        }
        let result = async {
            for _attempt in 0..100 {
                let (seq0, hash0) = match head.take() {
                    Some(h) => h,
                    None => {
                        let r =
                            sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&mut *conn).await?;
                        (r.try_get::<i64, _>("seq")?, r.try_get::<String, _>("hash")?)
                    }
                };
                let (mut seq, mut prev) = (seq0, hash0.clone());
                let mut a = AuditColumns::default();
                for e in &events {
                    seq += 1;
                    let details = e.details.to_string();
                    let hash = entry_hash(&prev, seq, e.at_ms, &e.actor, &e.action, &e.subject, &details);
                    a.seq.push(seq);
                    a.at_ms.push(e.at_ms);
                    a.actor.push(e.actor.clone());
                    a.action.push(e.action.clone());
                    a.subject.push(e.subject.clone());
                    a.details.push(details);
                    a.prev.push(std::mem::replace(&mut prev, hash.clone()));
                    a.hash.push(hash);
                }
                let row = sqlx::query(if completions > 0 { BATCH_SQL } else { BATCH_SQL_NO_COMPLETIONS })
                    .bind(seq)
                    .bind(&prev)
                    .bind(seq0)
                    .bind(&hash0)
                    .bind(&cols.issuer)
                    .bind(&cols.serial)
                    .bind(&cols.profile)
                    .bind(&cols.subject)
                    .bind(&cols.spki)
                    .bind(&cols.not_before)
                    .bind(&cols.not_after)
                    .bind(&cols.created_at)
                    .bind(&cols.status)
                    .bind(&cols.der)
                    .bind(&cols.done_issuer)
                    .bind(&cols.done_serial)
                    .bind(&cols.done_der)
                    .bind(&a.seq)
                    .bind(&a.at_ms)
                    .bind(&a.actor)
                    .bind(&a.action)
                    .bind(&a.subject)
                    .bind(&a.details)
                    .bind(&a.prev)
                    .bind(&a.hash)
                    .bind(&cols.crl_shard)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(d) if d.is_unique_violation() => {
                            StoreError::Conflict("serial number already used".into())
                        }
                        _ => StoreError::Database(e),
                    })?;
                if row.try_get::<i64, _>("head")? == 0 {
                    continue; // another writer moved the head: read it and try again
                }
                let completed: i64 = row.try_get("completed")?;
                if completed != completions {
                    return Err(StoreError::Conflict(format!(
                        "{} of {completions} completed certificates had no reservation",
                        completions - completed
                    )));
                }
                return Ok((seq, prev));
            }
            Err(StoreError::Conflict("the audit log head kept moving; try again".into()))
        }
        .await;
        match result {
            Ok(head) => {
                if in_tx {
                    sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
                }
                self.head = Some(head);
                Ok(())
            }
            Err(e) => {
                if in_tx {
                    sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await?;
                }
                Err(e)
            }
        }
    }
}

#[derive(Default)]
struct AuditColumns {
    seq: Vec<i64>,
    at_ms: Vec<i64>,
    actor: Vec<String>,
    action: Vec<String>,
    subject: Vec<String>,
    details: Vec<String>,
    prev: Vec<String>,
    hash: Vec<String>,
}

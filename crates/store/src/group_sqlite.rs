//! The SQLite side of group commit: one OS thread owns one rusqlite connection.
//!
//! sqlx runs each SQLite connection on a worker thread and hops to it for every statement
//! (begin, insert, update, audit head, audit rows, commit: six hops and wake-ups per
//! batch, each waking a tokio worker on the way back). Here the whole batch is one hop:
//! the thread takes every job queued, runs one `BEGIN IMMEDIATE … COMMIT` with cached
//! prepared statements, and answers each caller after the commit (`synchronous=FULL`, so
//! the answer means durable).
//!
//! It must never answer a caller before its transaction has committed, and never let one
//! bad row fail its neighbours (a failed batch is retried one job at a time).

use rusqlite::{Connection, TransactionBehavior, params};
use tokio::sync::mpsc;

use crate::StoreError;
use crate::audit::{AuditEvent, entry_hash};
use crate::group::{Job, MAX_BATCH};

/// Opens the writer's own connection to the database file behind `url` and starts its
/// thread. The schema is already migrated (by the pool) when this runs.
pub(crate) fn spawn(url: &str, rx: mpsc::Receiver<Job>, gate: crate::WriteGate) -> Result<(), StoreError> {
    let path = sqlite_path(url);
    let conn = Connection::open(&path).map_err(|e| StoreError::Unavailable(format!("{path}: {e}")))?;
    // The same settings as the pool's connections: WAL, every commit durable, writers queue.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
    )
    .map_err(|e| StoreError::Unavailable(format!("{path}: {e}")))?;
    crate::sqlite_read::stable_plans(&conn)?;
    conn.set_prepared_statement_cache_capacity(16);
    std::thread::Builder::new()
        .name("carecert-sqlite-writer".into())
        .spawn(move || run(conn, rx, gate))
        .map_err(|e| StoreError::Unavailable(format!("cannot start the database writer thread: {e}")))?;
    Ok(())
}

/// The file path in a `sqlite://PATH?…` / `sqlite:PATH` URL.
pub(crate) fn sqlite_path(url: &str) -> String {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    rest.split('?').next().unwrap_or(rest).to_string()
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>, gate: crate::WriteGate) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let turn = gate.enter_blocking();
        let written = write(&mut conn, &batch);
        drop(turn);
        match written {
            Ok(()) => {
                for job in batch.drain(..) {
                    job.answer(Ok(()));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "group commit failed; retrying its jobs one by one");
                for job in batch.drain(..) {
                    let turn = gate.enter_blocking();
                    let r = write(&mut conn, std::slice::from_ref(&job));
                    drop(turn);
                    job.answer(r);
                }
            }
        }
    }
}

fn db_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation)
            if e.to_string().contains("UNIQUE") || e.to_string().contains("PRIMARY KEY") =>
        {
            StoreError::Conflict("serial number already used".into())
        }
        _ => StoreError::Sqlite(e.to_string()),
    }
}

/// One transaction for the whole batch.
fn write(conn: &mut Connection, jobs: &[Job]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
    let mut events: Vec<&AuditEvent> = Vec::with_capacity(jobs.len());
    {
        let mut reserve = tx
            .prepare_cached(
                "INSERT INTO certificates (issuer, serial, profile, subject, spki_sha256, not_before, not_after, created_at, crl_shard, status) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,'reserved')",
            )
            .map_err(db_err)?;
        let mut issued = tx
            .prepare_cached(
                "INSERT INTO certificates (issuer, serial, profile, subject, spki_sha256, not_before, not_after, created_at, crl_shard, status, der) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,'issued',?10)",
            )
            .map_err(db_err)?;
        let mut complete = tx
            .prepare_cached(
                "UPDATE certificates SET der = ?3, status = 'issued' WHERE issuer = ?1 AND serial = ?2 AND status = 'reserved'",
            )
            .map_err(db_err)?;
        let mut unmatched = 0usize;
        for job in jobs {
            match job {
                Job::Reserve(c, _) => {
                    reserve
                        .execute(params![
                            c.issuer,
                            c.serial,
                            c.profile,
                            c.subject,
                            c.spki_sha256,
                            c.not_before,
                            c.not_after,
                            c.created_at,
                            c.crl_shard
                        ])
                        .map_err(db_err)?;
                }
                Job::Complete(c, _) => {
                    if complete.execute(params![c.issuer, c.serial, c.der]).map_err(db_err)? != 1 {
                        unmatched += 1;
                    }
                    events.push(&c.event);
                }
                Job::Issue(b, _) => {
                    let (n, c) = (&b.0, &b.1);
                    issued
                        .execute(params![
                            n.issuer,
                            n.serial,
                            n.profile,
                            n.subject,
                            n.spki_sha256,
                            n.not_before,
                            n.not_after,
                            n.created_at,
                            n.crl_shard,
                            c.der
                        ])
                        .map_err(db_err)?;
                    events.push(&c.event);
                }
            }
        }
        if unmatched > 0 {
            return Err(StoreError::Conflict(format!(
                "{unmatched} of {} completed certificates had no reservation",
                events.len()
            )));
        }
        append_audit(&tx, &events)?;
    }
    tx.commit().map_err(db_err)
}

/// The audit chain's append (see `audit::append`), on this connection: the head is read
/// inside the `BEGIN IMMEDIATE` transaction, so no other writer can fork the chain.
fn append_audit(tx: &rusqlite::Transaction<'_>, events: &[&AuditEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let (mut seq, mut prev): (i64, String) = tx
        .prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1")
        .map_err(db_err)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db_err)?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO audit_log (seq, at_ms, actor, action, subject, details, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
        )
        .map_err(db_err)?;
    for e in events {
        seq += 1;
        let details = e.details.to_string();
        let hash = entry_hash(&prev, seq, e.at_ms, &e.actor, &e.action, &e.subject, &details);
        insert.execute(params![seq, e.at_ms, e.actor, e.action, e.subject, details, prev, hash]).map_err(db_err)?;
        prev = hash;
    }
    tx.prepare_cached("UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1")
        .map_err(db_err)?
        .execute(params![seq, prev])
        .map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn the_file_path_is_taken_from_the_url() {
        assert_eq!(sqlite_path("sqlite:///var/lib/carecert/db.sqlite?mode=rwc"), "/var/lib/carecert/db.sqlite");
        assert_eq!(sqlite_path("sqlite://data/carecert.db"), "data/carecert.db");
        assert_eq!(sqlite_path("sqlite:carecert.db?mode=rwc&x=1"), "carecert.db");
    }
}

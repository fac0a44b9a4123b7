//! The append-only, hash-chained audit log.
//!
//! Entry *n* stores `hash_n = SHA-256(hash_{n-1} || "\n" || JSON[seq, at_ms, actor, action,
//! subject, details])`; the head row holds the last sequence number and hash, so removing
//! entries from the end is detected too. Triggers refuse UPDATE and DELETE on the table;
//! the chain detects what a person with direct database access does anyway.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Any, AssertSqlSafe, Transaction};

use crate::{Cols, Engine, Store, StoreError};
pub use types::AuditEvent;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A stored audit entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When (Unix milliseconds).
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// To what.
    pub subject: String,
    /// Further facts (JSON text as stored).
    pub details: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, Serialize)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: u64,
    /// The head's sequence number.
    pub head_seq: i64,
    /// `None` when the chain is intact; otherwise the first broken entry and what is wrong.
    pub first_broken: Option<BrokenLink>,
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenLink {
    /// The first sequence number that does not verify.
    pub seq: i64,
    /// What is wrong with it.
    pub problem: String,
}

pub(crate) fn entry_hash(
    prev: &str,
    seq: i64,
    at_ms: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &str,
) -> String {
    let body = serde_json::json!([seq, at_ms, actor, action, subject, details]).to_string();
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// Appends `events` inside the caller's transaction, extending the chain.
pub(crate) async fn append(
    tx: &mut Transaction<'_, Any>,
    _engine: Engine,
    events: &[AuditEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    // Writing the head first takes the write lock (SQLite) or the row lock (PostgreSQL)
    // before the head is read, so concurrent appenders queue instead of forking the chain.
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1").execute(&mut **tx).await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&mut **tx).await?;
    let mut seq: i64 = head.col("seq")?;
    let mut prev: String = head.col("hash")?;
    for chunk in events.chunks(200) {
        let mut sql = String::from(
            "INSERT INTO audit_log (seq, at_ms, actor, action, subject, details, prev_hash, hash) VALUES ",
        );
        crate::push_values(&mut sql, chunk.len(), 8);
        let mut rows = Vec::with_capacity(chunk.len());
        for e in chunk {
            seq += 1;
            let details = e.details.to_string();
            let hash = entry_hash(&prev, seq, e.at_ms, &e.actor, &e.action, &e.subject, &details);
            rows.push((seq, e, details, std::mem::replace(&mut prev, hash.clone()), hash));
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (s, e, details, p, h) in rows {
            q = q
                .bind(s)
                .bind(e.at_ms)
                .bind(e.actor.clone())
                .bind(e.action.clone())
                .bind(e.subject.clone())
                .bind(details)
                .bind(p)
                .bind(h);
        }
        q.execute(&mut **tx).await?;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(prev)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Audit entries after `after_seq`, oldest first, at most `limit`.
    pub async fn audit_entries(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, action, subject, details, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.col("seq")?,
                    at_ms: r.col("at_ms")?,
                    actor: r.col("actor")?,
                    action: r.col("action")?,
                    subject: r.col("subject")?,
                    details: r.col("details")?,
                    prev_hash: r.col("prev_hash")?,
                    hash: r.col("hash")?,
                })
            })
            .collect()
    }

    /// The newest audit entries, newest first.
    pub async fn recent_audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let head = self.audit_head().await?.0;
        let mut v = self.audit_entries((head - limit).max(0), limit).await?;
        v.reverse();
        Ok(v)
    }

    /// The head: the last sequence number and its hash.
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(self.pool()).await?;
        Ok((head.col("seq")?, head.col("hash")?))
    }

    /// Recomputes the whole chain and reports the first entry that does not verify.
    pub async fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        let (head_seq, head_hash) = self.audit_head().await?;
        let mut prev = GENESIS_HASH.to_string();
        let mut expected_seq = 1i64;
        let mut checked = 0u64;
        let broken = |seq: i64, problem: String, checked: u64| AuditVerification {
            entries: checked,
            head_seq,
            first_broken: Some(BrokenLink { seq, problem }),
        };
        loop {
            let page = self.audit_entries(expected_seq - 1, 5000).await?;
            if page.is_empty() {
                break;
            }
            for e in page {
                if e.seq != expected_seq {
                    return Ok(broken(
                        expected_seq,
                        format!("entry {expected_seq} is missing (next present is {})", e.seq),
                        checked,
                    ));
                }
                if e.prev_hash != prev {
                    return Ok(broken(e.seq, "its prev_hash does not match the previous entry's hash".into(), checked));
                }
                let h = entry_hash(&prev, e.seq, e.at_ms, &e.actor, &e.action, &e.subject, &e.details);
                if h != e.hash {
                    return Ok(broken(
                        e.seq,
                        "its content does not match its hash (the entry was altered)".into(),
                        checked,
                    ));
                }
                prev = e.hash;
                expected_seq += 1;
                checked += 1;
            }
        }
        let last = expected_seq - 1;
        if last != head_seq || prev != head_hash {
            return Ok(broken(
                last + 1,
                format!(
                    "the chain ends at entry {last} but the head says {head_seq}: entries were removed or the head was altered"
                ),
                checked,
            ));
        }
        Ok(AuditVerification { entries: checked, head_seq, first_broken: None })
    }
}

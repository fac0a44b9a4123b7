//! # store — carecert's database
//!
//! One interface over two engines: embedded **SQLite** (the default; WAL, `synchronous=FULL`)
//! and **PostgreSQL** (many stateless `carecert serve` nodes share one database). Both run the
//! same queries through sqlx's `AnyPool`; each engine has its own migrations.
//!
//! This crate owns the schema, every SQL statement, the **group commit** of issued
//! certificates and of revocations (`revoke.rs`), and the hash-chained **audit log**. Every state change is one
//! transaction, and every state change that matters to security appends its audit entry in
//! that same transaction.
//!
//! It must never decide policy (who may do what, which profile, which state comes next is
//! allowed): callers decide, the store records. State changes are conditional updates
//! (`… WHERE status = 'issued'`) so the database enforces the same transitions as the types.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attempts;
mod audit;
mod cards;
mod certs;
mod crls;
mod enrol;
mod group;
mod group_pg;
mod group_sqlite;
mod offline;
mod operators;
mod read;
mod reminders;
mod revoke;
mod search;
mod seed;
mod sqlite_read;
mod token_cache;
mod web;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow, install_default_drivers};
use sqlx::{Any, AnyPool, Decode, Row, Type};
use thiserror::Error;

pub use attempts::{AttemptLimit, AttemptRule, Reservation};
pub use audit::{AuditEntry, AuditEvent, AuditVerification, GENESIS_HASH};
pub use cards::{
    Card, CardChange, CardRenewal, CardStatus, CodeDelivery, Contact, DeskTicket, IdentityCheck, RateLimit, Refusal,
    UnlockCode, User,
};
pub use certs::{
    CaRecord, CertStatus, CertificateFilter, CertificateRecord, CompletedCertificate, NewCertificate, RevokeOutcome,
    RevokedCertificate,
};
pub use crls::{CRLS_PER_STATEMENT, CrlRecord, CrlScope, RevokedRow};
pub use enrol::{
    ActivePin, ApprovalPolicy, CertRequest, EnrolSession, LoginFailures, NewRequest, OrgKind, OrgStatus, Organisation,
    Release, ReleaseKey, RequestChange, RequestChannel, RequestFilter, RequestStatus, TrustEvent,
};
pub use offline::PresignedOcsp;
pub use operators::{NewOperatorToken, OperatorToken};
pub use read::StoreRead;
pub use reminders::{CardExpiry, MachineExpiry, ReminderClaim, ReminderKind, SentReminder};
pub use seed::{SeedCertificate, SeedOrganisation};
pub use web::{WebAccount, WebSession};

/// The database engine behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// What can go wrong in the store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL is not one carecert understands.
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://USER@HOST/DB")]
    BadUrl(String),
    /// The database cannot be reached or opened.
    #[error("cannot open the database: {0}")]
    Unavailable(String),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A row that should exist does not.
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness or state conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database holds something it should not (e.g. a bad status value).
    #[error("database content is inconsistent: {0}")]
    Corrupt(String),
    /// A value the store refuses to record (not one of a closed set).
    #[error("{0}")]
    Invalid(String),
    /// The group-commit writer has stopped (the server is shutting down).
    #[error("the database writer has stopped; the server is shutting down")]
    WriterStopped,
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A database error from the SQLite group-commit writer.
    #[error("database error: {0}")]
    Sqlite(String),
}

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    writer: group::GroupCommitter,
    /// Concurrent revocations, one transaction per batch (`revoke.rs`).
    revoker: revoke::Revoker,
    /// SQLite: the hot writers of this process take turns here (`WriteGate`).
    gate: WriteGate,
    /// The URL it was opened with (the writers and the bulk loader open their own connections).
    url: std::sync::Arc<str>,
    /// SQLite: connections for point reads on the caller's thread (`sqlite_read`).
    readers: Option<std::sync::Arc<sqlite_read::Readers>>,
    /// PostgreSQL: the operator tokens read, kept until a change is heard of (`token_cache`).
    tokens: Option<std::sync::Arc<token_cache::TokenCache>>,
}

/// SQLite has one write lock per database, and a connection that finds it taken sleeps in
/// SQLite's busy handler — 1 ms, then 2, 5, 10 … up to 100 ms a time — however soon the lock
/// is free again. Under a revocation load the revocation batches, the CRL numbers and the
/// CRL stores of one process met there; a quarter of a second's p99 came from those sleeps.
/// The writers that run all the time (the group-commit thread, the revocation batches, CRL
/// publication) take this in-process lock around their transaction instead, so they queue
/// and are woken the moment the previous one commits. Other writers keep the busy handler
/// (they cannot deadlock with these: nothing waits for the gate while holding the database
/// lock). PostgreSQL locks rows, not the database: no gate.
#[derive(Clone)]
pub(crate) struct WriteGate(Option<std::sync::Arc<tokio::sync::Mutex<()>>>);

impl WriteGate {
    fn new(engine: Engine) -> Self {
        Self((engine == Engine::Sqlite).then(|| std::sync::Arc::new(tokio::sync::Mutex::new(()))))
    }

    /// Waits for the turn of a task.
    pub(crate) async fn enter(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.0 {
            Some(m) => Some(m.lock().await),
            None => None,
        }
    }

    /// Waits for the turn of a thread outside the runtime (the SQLite writer thread).
    pub(crate) fn enter_blocking(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.0.as_ref().map(|m| m.blocking_lock())
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("engine", &self.engine).finish_non_exhaustive()
    }
}

/// Whether a `postgres://` URL names this machine (loopback address, `localhost`, or no host:
/// a Unix socket).
fn postgres_host_is_local(url: &str) -> bool {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.is_empty()
        || host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    ///
    /// `sqlite://PATH` (the file is created), `sqlite::memory:` is refused (a store must be
    /// durable), `postgres://…` / `postgresql://…`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        if url.contains(":memory:") {
            return Err(StoreError::BadUrl(url.to_string()));
        }
        let url = match engine {
            Engine::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            // A server on this machine: no network to protect, and TLS on loopback costs more
            // than half of PostgreSQL issuance throughput (bench/README.md). An explicit
            // `sslmode` always wins; another host needs `verify-full` (`check-config`).
            Engine::Postgres if !url.contains("sslmode=") && postgres_host_is_local(url) => {
                format!("{url}{}sslmode=disable", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let opts = AnyPoolOptions::new()
            .max_connections(match engine {
                Engine::Sqlite => 8,
                Engine::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10));
        let opts = if engine == Engine::Sqlite {
            opts.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; FULL makes each commit durable
                    // (group commit amortises the fsync); the busy timeout queues writers.
                    sqlx::raw_sql(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
                    )
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            })
        } else {
            opts
        };
        let pool = opts.connect(&url).await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let migrator = match engine {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|e| StoreError::Migration(e.to_string()))?;
        let gate = WriteGate::new(engine);
        let writer = group::GroupCommitter::spawn(engine, &url, gate.clone())?;
        let readers = (engine == Engine::Sqlite)
            .then(|| std::sync::Arc::new(sqlite_read::Readers::new(group_sqlite::sqlite_path(&url))));
        let revoker = revoke::Revoker::spawn(pool.clone(), engine, gate.clone());
        let tokens = (engine == Engine::Postgres).then(|| token_cache::TokenCache::spawn(url.clone()));
        Ok(Self { pool, engine, writer, revoker, gate, url: url.into(), readers, tokens })
    }

    /// Which engine this is.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The connection pool (for the store's own modules and tests).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Reads a setting.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.pool).await?;
        row.map(|r| r.col("value")).transpose()
    }

    /// Writes a setting (insert or replace).
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Reads setting `key`, first storing `value` when it has none (once across nodes: the
    /// first writer wins and every node reads that value).
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        self.setting(key).await?.ok_or_else(|| StoreError::Corrupt(format!("setting {key} vanished")))
    }

    /// Appends audit events on their own (events that change no other state, such as a
    /// failed login).
    pub async fn record(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        audit::append(&mut tx, self.engine, events).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Reading a row's columns by name.
///
/// Every row is read through [`Cols::col`]: a column that is missing or holds another type
/// than the code expects (the schema drifted from the code) is a [`StoreError::Corrupt`],
/// never a panic, and never a value read from the wrong position.
pub(crate) trait Cols {
    /// The column `name`, decoded as `T`.
    fn col<'r, T: Decode<'r, Any> + Type<Any>>(&'r self, name: &str) -> Result<T, StoreError>;

    /// The column `name`, parsed from its stored text (a closed set such as a status).
    fn parsed<T: FromStr<Err = String>>(&self, name: &str) -> Result<T, StoreError> {
        let text: String = self.col(name)?;
        text.parse().map_err(|e| StoreError::Corrupt(format!("column '{name}': {e}")))
    }
}

impl Cols for AnyRow {
    fn col<'r, T: Decode<'r, Any> + Type<Any>>(&'r self, name: &str) -> Result<T, StoreError> {
        self.try_get(name).map_err(|e| StoreError::Corrupt(format!("column '{name}': {e}")))
    }
}

/// Settings keys (the `settings` table).
pub mod settings {
    /// The base URL baked into AIA and CDP extensions, recorded by `carecert init`.
    pub const PUBLIC_URL: &str = "public_http_url";
}

/// Appends `rows` tuples of `cols` numbered placeholders (`($1,$2),($3,$4)`) for a
/// multi-row statement; values are always bound, never formatted into SQL.
pub(crate) fn push_values(sql: &mut String, rows: usize, cols: usize) {
    push_values_cast(sql, rows, 1, &vec![None; cols]);
}

/// The same, numbered from `$first`, with the column of each `Some(type)` in `types` written
/// `CAST($n AS type)` (a `VALUES` list joined in an `UPDATE … FROM`, whose column types
/// neither engine infers).
pub(crate) fn push_values_cast(sql: &mut String, rows: usize, first: usize, types: &[Option<&str>]) {
    let cols = types.len();
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for (c, ty) in types.iter().enumerate() {
            if c > 0 {
                sql.push(',');
            }
            let n = first + r * cols + c;
            match ty {
                Some(ty) => sql.push_str(&format!("CAST(${n} AS {ty})")),
                None => sql.push_str(&format!("${n}")),
            }
        }
        sql.push(')');
    }
}

impl FromStr for Engine {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sqlite" => Ok(Engine::Sqlite),
            "postgres" | "postgresql" => Ok(Engine::Postgres),
            other => Err(StoreError::BadUrl(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{postgres_host_is_local, push_values, push_values_cast};

    #[test]
    fn placeholders_are_numbered_row_after_row_and_cast_where_asked() {
        let mut sql = String::new();
        push_values(&mut sql, 2, 3);
        assert_eq!(sql, "($1,$2,$3),($4,$5,$6)");
        let mut sql = String::new();
        push_values_cast(&mut sql, 2, 2, &[Some("TEXT"), None]);
        assert_eq!(sql, "(CAST($2 AS TEXT),$3),(CAST($4 AS TEXT),$5)");
    }

    #[test]
    fn loopback_postgres_urls_are_local_and_other_hosts_are_not() {
        for local in [
            "postgres://postgres@127.0.0.1:5432/db",
            "postgresql://u:p@localhost/db?application_name=x",
            "postgres://[::1]:5432/db",
            "postgres:///db?host=/run/postgresql",
            "postgres://127.0.0.2/db",
        ] {
            assert!(postgres_host_is_local(local), "{local}");
        }
        for remote in [
            "postgres://carecert@db.example.nhs.uk/carecert",
            "postgres://u@10.0.0.5:5432/db",
            "postgres://[2001:db8::1]/db",
        ] {
            assert!(!postgres_host_is_local(remote), "{remote}");
        }
    }
}

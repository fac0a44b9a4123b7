//! # testkit — running carecert's tests on both database engines
//!
//! A fresh database per test: SQLite in a temporary directory, or a new database on the
//! PostgreSQL server named by `CARECERT_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped when the guard goes. PostgreSQL
//! tests **fail** when the server cannot be reached — they never skip silently — unless
//! `CARECERT_SKIP_PG=1` is set on purpose.
//!
//! Used only as a dev-dependency; it must never be a dependency of a shipped crate.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Test support: a failed setup is a failed test, so it may unwrap, expect and panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU32, Ordering};

/// A database engine to run a test on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Embedded SQLite.
    Sqlite,
    /// The PostgreSQL server.
    Postgres,
}

/// Drops the PostgreSQL test database when it goes (best effort: a leftover is harmless and
/// named `carecert_test_*`).
#[derive(Debug)]
pub struct DbGuard(Option<(String, String)>);

impl Drop for DbGuard {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.0.take() {
            let _ = std::process::Command::new("psql")
                .args([admin.as_str(), "-qc", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")])
                .output();
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The admin URL of the PostgreSQL test server.
pub fn pg_admin_url() -> String {
    std::env::var("CARECERT_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty database URL for `engine` (SQLite inside `dir`), and its guard. `None`
/// only for PostgreSQL with `CARECERT_SKIP_PG=1`.
///
/// # Panics
/// When the PostgreSQL test database cannot be created (the test must fail, not skip).
pub fn database(engine: Engine, dir: &tempfile::TempDir) -> Option<(String, DbGuard)> {
    match engine {
        Engine::Sqlite => Some((format!("sqlite://{}/carecert.db", dir.path().display()), DbGuard(None))),
        Engine::Postgres => {
            if std::env::var("CARECERT_SKIP_PG").as_deref() == Ok("1") {
                eprintln!("CARECERT_SKIP_PG=1: PostgreSQL test skipped on purpose");
                return None;
            }
            let admin = pg_admin_url();
            let name = format!("carecert_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
            let out = std::process::Command::new("psql")
                .args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
                .output()
                .expect("psql must be installed to run the PostgreSQL tests (Debian package postgresql-client)");
            assert!(
                out.status.success(),
                "cannot create a PostgreSQL test database at {admin}: {} — start PostgreSQL or set CARECERT_TEST_PG_URL (CARECERT_SKIP_PG=1 skips on purpose)",
                String::from_utf8_lossy(&out.stderr)
            );
            // Keep the query (`?sslmode=verify-full&sslrootcert=/path/ca.pem`): the database name
            // is the last path segment before it.
            let (path, query) = match admin.split_once('?') {
                Some((p, q)) => (p.to_string(), format!("?{q}")),
                None => (admin.clone(), String::new()),
            };
            let base = path.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(path.clone());
            Some((format!("{base}/{name}{query}"), DbGuard(Some((admin, name)))))
        }
    }
}

/// Runs each named `async fn(testkit::Engine)` of the enclosing module as a tokio test on
/// SQLite (module `on_sqlite`) and on PostgreSQL (module `on_postgres`).
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[tokio::test] async fn $name() { super::$name($crate::Engine::Sqlite).await } )*
        }
        mod on_postgres {
            $( #[tokio::test] async fn $name() { super::$name($crate::Engine::Postgres).await } )*
        }
    };
}

//! Point reads on SQLite without a thread hop: a few rusqlite connections of this store's
//! own, used inline on the calling thread.
//!
//! sqlx runs each SQLite connection on a worker thread of its own: every statement is a
//! hand-off there and a wake-up back, which for a lookup by primary key costs more than the
//! lookup (the operator-token read of every admin request was 11 % of the server's samples
//! under issuance load; bench/README.md). A read here takes an idle connection, runs one
//! prepared statement on the caller's thread (WAL: it sees every committed write and never
//! waits for the writer) and puts the connection back.
//!
//! Only short reads by key belong here (they block the calling task for microseconds); it
//! must never write, and never run a scan.

use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

/// Idle connections kept (more are opened under load and closed after use).
const IDLE: usize = 4;

/// The reader connections of one SQLite store.
pub(crate) struct Readers {
    path: String,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(path: String) -> Self {
        Self { path, idle: Mutex::new(Vec::new()) }
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", self.path)))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| StoreError::Sqlite(e.to_string()))?;
        stable_plans(&conn)?;
        conn.set_prepared_statement_cache_capacity(16);
        Ok(conn)
    }

    /// Runs `f` on an idle connection (opening one when none is idle).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let taken = self.idle.lock().map_err(|_| StoreError::Sqlite("reader pool poisoned".into()))?.pop();
        let conn = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let out = f(&conn).map_err(|e| StoreError::Sqlite(e.to_string()));
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE
        {
            idle.push(conn);
        }
        out
    }
}

/// Turns on SQLite's query planner stability guarantee (QPSG) for a connection that keeps
/// prepared statements. Once `ANALYZE` has written `sqlite_stat4` (the bench's seed does; an
/// operator may), the planner otherwise looks at the value bound to `col = ?` and marks the
/// statement to be prepared again whenever that parameter is bound anew: every operator-token
/// lookup re-parsed its SQL, 10 % of the server's CPU under issuance load at 10M certificates.
/// With QPSG a statement's plan depends on the schema and statistics only, so a cached
/// statement stays prepared.
pub(crate) fn stable_plans(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map(|_| ())
        .map_err(|e| StoreError::Sqlite(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed assumption is a failed test

    use rusqlite::{Connection, StatementStatus};

    use super::Readers;

    /// The shape of the operator-token lookup: a unique key, and a left join to its account.
    const LOOKUP: &str = "SELECT t.v FROM t LEFT JOIN u ON u.name = t.a WHERE t.k = ?1";

    /// Looks up three keys with one cached statement; how often SQLite prepared it again.
    fn reprepares(conn: &Connection) -> i32 {
        let mut stmt = conn.prepare_cached(LOOKUP).unwrap();
        for k in ["k1", "k500", "k999"] {
            let v: i64 = stmt.query_row([k], |r| r.get(0)).unwrap();
            assert_eq!(format!("k{v}"), k);
        }
        stmt.get_status(StatementStatus::RePrepare)
    }

    #[test]
    fn a_cached_lookup_stays_prepared_after_analyze() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch(
                "CREATE TABLE u (name TEXT PRIMARY KEY);
                 CREATE TABLE t (k TEXT NOT NULL UNIQUE, a TEXT REFERENCES u(name), v INTEGER NOT NULL);
                 INSERT INTO u (name) VALUES ('alice'), ('bob');",
            )
            .unwrap();
        for v in 0..1000 {
            let a = if v % 2 == 0 { "alice" } else { "bob" };
            setup
                .execute("INSERT INTO t (k, a, v) VALUES (?1, ?2, ?3)", rusqlite::params![format!("k{v}"), a, v])
                .unwrap();
        }
        setup.execute_batch("ANALYZE").unwrap();
        let stat4: i64 = setup.query_row("SELECT count(*) FROM sqlite_stat4", [], |r| r.get(0)).unwrap();
        assert!(stat4 > 0, "this SQLite keeps no STAT4 samples: the test shows nothing");
        // Without the guarantee, every new binding makes SQLite prepare the statement again.
        assert!(reprepares(&setup) > 0, "expected the unguarded connection to re-prepare");
        drop(setup);

        let readers = Readers::new(path.to_string_lossy().into_owned());
        assert_eq!(readers.read(|c| Ok(reprepares(c))).unwrap(), 0);
    }
}

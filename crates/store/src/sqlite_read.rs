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

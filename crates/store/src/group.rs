//! Group commit: many certificates, one durable transaction.
//!
//! An fsync costs ~0.3 ms on this class of disk, so one commit per certificate caps
//! issuance near 3,000/s. Callers hand their write to one writer and wait; the writer
//! takes whatever has queued while the previous commit ran (up to a limit), writes it in
//! one transaction, and answers every caller after the commit. Under no load a batch is a
//! single write and nothing waits for a timer.
//!
//! SQLite's writer is its own thread with its own connection (`group_sqlite.rs`);
//! PostgreSQL's is a tokio task with its own connection (`group_pg.rs`).

use tokio::sync::{mpsc, oneshot};

use crate::certs::{CompletedCertificate, NewCertificate};
use crate::{Engine, StoreError};

pub(crate) const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<(), StoreError>>;

pub(crate) enum Job {
    /// A reservation, before a slow (remote) signature.
    Reserve(NewCertificate, Reply),
    /// The signature that completes a reservation.
    Complete(CompletedCertificate, Reply),
    /// Reservation and signature in one write (an in-process signature that has not left
    /// the server: see ARCHITECTURE.md, "Issuance throughput").
    Issue(Box<(NewCertificate, CompletedCertificate)>, Reply),
}

#[derive(Clone)]
pub(crate) struct GroupCommitter {
    tx: mpsc::Sender<Job>,
}

impl GroupCommitter {
    pub(crate) fn spawn(engine: Engine, url: &str, gate: crate::WriteGate) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel(8192);
        match engine {
            Engine::Sqlite => crate::group_sqlite::spawn(url, rx, gate)?,
            Engine::Postgres => {
                tokio::spawn(crate::group_pg::run(url.to_string(), rx));
            }
        }
        Ok(Self { tx })
    }

    pub(crate) async fn issue(&self, n: NewCertificate, c: CompletedCertificate) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Job::Issue(Box::new((n, c)), done)).await.map_err(|_| StoreError::WriterStopped)?;
        wait.await.map_err(|_| StoreError::WriterStopped)?
    }

    pub(crate) async fn reserve(&self, c: NewCertificate) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Job::Reserve(c, done)).await.map_err(|_| StoreError::WriterStopped)?;
        wait.await.map_err(|_| StoreError::WriterStopped)?
    }

    pub(crate) async fn complete(&self, c: CompletedCertificate) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Job::Complete(c, done)).await.map_err(|_| StoreError::WriterStopped)?;
        wait.await.map_err(|_| StoreError::WriterStopped)?
    }
}

impl Job {
    pub(crate) fn answer(self, r: Result<(), StoreError>) {
        let tx = match self {
            Job::Reserve(_, tx) | Job::Complete(_, tx) | Job::Issue(_, tx) => tx,
        };
        let _ = tx.send(r);
    }
}

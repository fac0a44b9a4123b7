//! Group commit: many certificates, one durable transaction.
//!
//! An fsync costs ~0.3 ms on this class of disk, so one commit per certificate caps
//! issuance near 3,000/s. Callers hand their write to one writer task and wait; the
//! writer takes whatever has queued while the previous commit ran (up to a limit), writes
//! it in one transaction, and answers every caller after the commit. Under no load a
//! batch is a single write and nothing waits for a timer.

use tokio::sync::{mpsc, oneshot};

use crate::audit;
use crate::certs::{self, CompletedCertificate, NewCertificate};
use crate::{Engine, StoreError};

const MAX_BATCH: usize = 512;

enum Job {
    Reserve(NewCertificate, oneshot::Sender<Result<(), StoreError>>),
    Complete(CompletedCertificate, oneshot::Sender<Result<(), StoreError>>),
}

#[derive(Clone)]
pub(crate) struct GroupCommitter {
    tx: mpsc::Sender<Job>,
}

impl GroupCommitter {
    pub(crate) fn spawn(pool: sqlx::AnyPool, engine: Engine) -> Self {
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(run(pool, engine, rx));
        Self { tx }
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

async fn run(pool: sqlx::AnyPool, engine: Engine, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (reserves, completes): (Vec<_>, Vec<_>) = batch.drain(..).partition(|j| matches!(j, Job::Reserve(..)));
        let result = write_batch(&pool, engine, &reserves, &completes).await;
        match result {
            Ok(()) => {
                for job in reserves.into_iter().chain(completes) {
                    job.answer(Ok(()));
                }
            }
            Err(e) => {
                // One bad row must not fail its neighbours: retry each job on its own.
                tracing::warn!(error = %e, "group commit failed; retrying its jobs one by one");
                for job in reserves.into_iter().chain(completes) {
                    let r = match &job {
                        Job::Reserve(..) => write_batch(&pool, engine, std::slice::from_ref(&job), &[]).await,
                        Job::Complete(..) => write_batch(&pool, engine, &[], std::slice::from_ref(&job)).await,
                    };
                    job.answer(r);
                }
            }
        }
    }
}

impl Job {
    fn answer(self, r: Result<(), StoreError>) {
        let tx = match self {
            Job::Reserve(_, tx) | Job::Complete(_, tx) => tx,
        };
        let _ = tx.send(r);
    }
}

async fn write_batch(
    pool: &sqlx::AnyPool,
    engine: Engine,
    reserves: &[Job],
    completes: &[Job],
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let new: Vec<&NewCertificate> = reserves
        .iter()
        .filter_map(|j| match j {
            Job::Reserve(c, _) => Some(c),
            Job::Complete(..) => None,
        })
        .collect();
    if !new.is_empty() {
        certs::insert_reservations(&mut tx, &new).await?;
    }
    let done: Vec<&CompletedCertificate> = completes
        .iter()
        .filter_map(|j| match j {
            Job::Complete(c, _) => Some(c),
            Job::Reserve(..) => None,
        })
        .collect();
    if !done.is_empty() {
        let n = certs::complete(&mut tx, &done).await?;
        if n != done.len() as u64 {
            return Err(StoreError::Conflict(format!(
                "{} of {} completed certificates had no reservation",
                done.len() as u64 - n,
                done.len()
            )));
        }
        let events: Vec<_> = done.iter().map(|c| c.event.clone()).collect();
        audit::append(&mut tx, engine, &events).await?;
    }
    tx.commit().await?;
    Ok(())
}

//! Bounds the Argon2 work of password logins (finding M1): at most as many checks at once
//! as the shared semaphore has permits, on the blocking pool, and "busy" (HTTP 503) after a
//! short wait instead of an unbounded queue. `carecert serve` gives the enrolment service and
//! this one the same semaphore.

use std::sync::Arc;
use std::time::Duration;

use crate::PortalError;

/// The gate. Cheap to clone; clones share the permits.
#[derive(Debug, Clone)]
pub struct HashGate {
    permits: Arc<tokio::sync::Semaphore>,
    max_wait: Duration,
}

impl HashGate {
    /// A gate over a shared semaphore.
    pub fn new(permits: Arc<tokio::sync::Semaphore>, max_wait: Duration) -> Self {
        Self { permits, max_wait }
    }

    /// Waits (at most `max_wait`) for a turn.
    pub(crate) async fn enter(&self) -> Result<tokio::sync::OwnedSemaphorePermit, PortalError> {
        match tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(PortalError::Busy),
        }
    }

    /// Runs `f` on the blocking pool, holding `permit` until it ends.
    pub(crate) async fn run<R: Send + 'static>(
        permit: tokio::sync::OwnedSemaphorePermit,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PortalError> {
        tokio::task::spawn_blocking(move || {
            let r = f();
            drop(permit);
            r
        })
        .await
        .map_err(|e| PortalError::Internal(e.to_string()))
    }
}

impl Default for HashGate {
    /// Twice the available cores, 2 seconds' wait.
    fn default() -> Self {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        Self::new(Arc::new(tokio::sync::Semaphore::new(n)), Duration::from_secs(2))
    }
}

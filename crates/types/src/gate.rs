//! Bounds the Argon2 work of logons (review finding M1): at most as many password-hash checks
//! at once as the shared semaphore has permits, run on the blocking pool (never on the async
//! workers), and "busy" after a short wait instead of an unbounded queue. `carecert serve` gives
//! the enrolment service and the portal the same semaphore.

use std::sync::Arc;
use std::time::Duration;

/// Why the gate did not run the work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// No turn came within the wait: the caller answers "busy, try again" (HTTP 503).
    #[error("busy checking other logins: wait a few seconds and try again")]
    Busy,
    /// The work itself failed on the blocking pool (a panic): a bug, not the caller's fault.
    #[error("a password-hash task failed: {0}")]
    Failed(String),
}

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

    /// The default size: twice the available cores.
    pub fn default_size() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
    }

    /// Waits (at most `max_wait`) for a turn. Take it *before* counting an attempt, so that an
    /// overloaded node answers "busy" without using anyone's tries.
    pub async fn enter(&self) -> Result<tokio::sync::OwnedSemaphorePermit, GateError> {
        match tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(GateError::Busy),
        }
    }

    /// Runs `f` on the blocking pool, holding `permit` until it ends.
    pub async fn run<R: Send + 'static>(
        permit: tokio::sync::OwnedSemaphorePermit,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, GateError> {
        tokio::task::spawn_blocking(move || {
            let r = f();
            drop(permit);
            r
        })
        .await
        .map_err(|e| GateError::Failed(e.to_string()))
    }
}

impl Default for HashGate {
    /// Twice the available cores, 2 seconds' wait.
    fn default() -> Self {
        Self::new(Arc::new(tokio::sync::Semaphore::new(Self::default_size())), Duration::from_secs(2))
    }
}

//! PostgreSQL: the operator tokens this node has read, kept while the database says nothing
//! changed.
//!
//! Every admin API request names its operator by token, and on PostgreSQL reading it is a
//! round trip to a pool connection: under the issuance load that read cost the database more
//! CPU than the issuances themselves (bench/README.md, "Issue 12, seventh pass"). A token read
//! here is kept, and served again, until one of these comes first:
//!
//! - **a notification**: migration 0022's triggers `NOTIFY carecert_operator_tokens` in every
//!   transaction that changes `operator_tokens` or `web_accounts` (a revocation, a bootstrap
//!   token used, an account disabled — on any node, or by hand in `psql`); PostgreSQL delivers
//!   it when that transaction commits, and this node's listener then forgets every kept token;
//! - **a change made through this store**: the store forgets them itself right after its own
//!   commit, so a token revoked on this node is refused by its very next request;
//! - **[`KEPT_FOR`]**: the bound if a notification is lost with a connection that died
//!   without saying so.
//!
//! While the listener is not connected (at start, and after its connection is lost until it
//! is back and listening again), nothing is kept and every read goes to the database. Only
//! tokens that exist are kept (a flood of made-up tokens cannot fill memory), at most
//! [`CAPACITY`] of them. What is kept is the stored row; the caller still checks expiry,
//! revocation and the account against the clock on every request.
//!
//! It must never serve a token read before a change it has been told of (the epoch check in
//! [`TokenCache::keep`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;

use crate::operators::OperatorToken;

/// The channel migration 0022's triggers notify.
const CHANNEL: &str = "carecert_operator_tokens";
/// How long a kept token is served without a new read, notifications or not.
const KEPT_FOR: Duration = Duration::from_secs(1);
/// Most tokens kept at once (all are dropped when it is reached).
const CAPACITY: usize = 4096;
/// Pause before connecting the listener again after a failure.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    /// The listener is connected and listening: keeping is safe.
    live: bool,
    /// Moves on at every change heard of; a read started in an older epoch is not kept.
    epoch: u64,
    kept: HashMap<String, (Instant, OperatorToken)>,
}

/// The kept tokens of one store (see the module documentation).
pub(crate) struct TokenCache {
    state: Mutex<State>,
    /// Dropped with the cache: tells the listener task to stop.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TokenCache {
    /// A cache with its listener task on `url` (a PostgreSQL URL).
    pub(crate) fn spawn(url: String) -> Arc<Self> {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let cache = Arc::new(Self { state: Mutex::new(State::default()), _stop: stop });
        tokio::spawn(listen(url, Arc::downgrade(&cache), stopped));
        cache
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves nothing half-done worth refusing over.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The kept token with SHA-256 `hash`, if one is kept and fresh.
    pub(crate) fn get(&self, hash: &str) -> Option<OperatorToken> {
        let s = self.state();
        let (at, token) = s.kept.get(hash).filter(|_| s.live)?;
        (at.elapsed() < KEPT_FOR).then(|| token.clone())
    }

    /// The epoch to pass to [`keep`](Self::keep) for a read about to start (None: keep
    /// nothing now).
    pub(crate) fn epoch(&self) -> Option<u64> {
        let s = self.state();
        s.live.then_some(s.epoch)
    }

    /// Keeps `token`, read from the database in `epoch`, unless a change was heard of since.
    pub(crate) fn keep(&self, epoch: u64, hash: &str, token: &OperatorToken) {
        let mut s = self.state();
        if !s.live || s.epoch != epoch {
            return;
        }
        if s.kept.len() >= CAPACITY {
            s.kept.clear();
        }
        s.kept.insert(hash.to_string(), (Instant::now(), token.clone()));
    }

    /// Forgets every kept token (something changed).
    pub(crate) fn forget(&self) {
        let mut s = self.state();
        s.epoch += 1;
        s.kept.clear();
    }

    /// Starts or stops keeping, forgetting what was kept either way.
    fn set_live(&self, live: bool) {
        let mut s = self.state();
        s.epoch += 1;
        s.kept.clear();
        s.live = live;
    }
}

/// The listener task: connects, listens, forgets the kept tokens at every notification, and
/// stops keeping while it is not connected. Ends when the cache is dropped.
async fn listen(url: String, cache: Weak<TokenCache>, mut stopped: tokio::sync::oneshot::Receiver<()>) {
    loop {
        let connected = async {
            let mut l = PgListener::connect(&url).await?;
            // A lost connection ends this listener (below), which is then replaced.
            l.eager_reconnect(false);
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let mut listener = tokio::select! {
            r = connected => match r {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "operator-token listener: cannot connect; every token is read from the database");
                    tokio::select! {
                        _ = tokio::time::sleep(RECONNECT_AFTER) => continue,
                        _ = &mut stopped => return,
                    }
                }
            },
            _ = &mut stopped => return,
        };
        // Anything changed while not listening is forgotten with the rest.
        let Some(c) = cache.upgrade() else { return };
        c.set_live(true);
        drop(c);
        loop {
            let heard = tokio::select! {
                r = listener.try_recv() => r,
                _ = &mut stopped => return,
            };
            let Some(c) = cache.upgrade() else { return };
            match heard {
                Ok(Some(_)) => c.forget(),
                Ok(None) | Err(_) => {
                    tracing::warn!(
                        "operator-token listener: connection lost; reading every token from the database until it is back"
                    );
                    c.set_live(false);
                    break;
                }
            }
        }
        drop(listener);
        tokio::select! {
            _ = tokio::time::sleep(RECONNECT_AFTER) => {}
            _ = &mut stopped => return,
        }
    }
}

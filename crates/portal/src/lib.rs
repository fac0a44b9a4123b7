//! # portal — who is using the web pages
//!
//! Owns web accounts (RA staff, operators, portal users), password login (Argon2id),
//! browser sessions (256-bit random tokens stored as SHA-256, an idle timeout and an
//! absolute lifetime, ended on logout, timeout or card removal) and the per-session
//! anti-CSRF token.
//!
//! Roles are [`Role`] values, each parsed as exactly one role and stored as a list of them,
//! so no text can carry a second role in with it.
//!
//! It must never speak HTTP (cookies and pages are the `server` crate's) and never keep a
//! password or a session token in clear. It takes time from a [`types::Clock`] and never
//! uses the CA.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accounts;
mod card;
mod error;
mod operators;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use sha2::Digest;
use store::{AuditEvent, Store};
use types::{Action, Actor, Clock};

pub use accounts::NewAccount;
pub use error::PortalError;
pub use operators::{
    BOOTSTRAP_HOURS, DEFAULT_TOKEN_DAYS, IssuedToken, MAX_TOKEN_DAYS, NewOperator, TokenOperator, scope_list,
};
pub use sessions::{Login, Session, session_end_code};
pub use types::HashGate;
pub use types::{Area, Role, RoleError, Roles};

/// How long a card-bound session survives without a presence report from the agent.
pub const DEFAULT_HEARTBEAT_GRACE_SECS: u64 = 10;

/// How long a session opened with the browser's own TLS client certificate waits for the
/// first presence report of an agent watching its card (the page hands the agent the session's
/// presence token): the heartbeat grace plus this. Afterwards the usual heartbeat grace holds.
pub const FIRST_PRESENCE_EXTRA_SECS: i64 = 20;

/// Session timing.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// A session with no request for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after login in any case.
    pub max_age: Duration,
    /// A session opened with a card through the agent ends when the agent has not reported
    /// the card present for this long (the agent reports every few seconds; see
    /// ARCHITECTURE.md, "Card presence").
    pub heartbeat_grace: Duration,
    /// Failed password logins (wrong password or wrong code) before an account name locks.
    pub max_failures: i64,
    /// Failed password logins from one network address (any account names) before that
    /// address locks.
    pub max_failures_per_source: i64,
    /// The first lock's length; each further lock doubles it ...
    pub lockout: Duration,
    /// ... up to this.
    pub max_lockout: Duration,
    /// Bounds the Argon2 work (shared with the enrolment service).
    pub hash_gate: HashGate,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(15 * 60),
            max_age: Duration::from_secs(12 * 3600),
            heartbeat_grace: Duration::from_secs(DEFAULT_HEARTBEAT_GRACE_SECS),
            max_failures: 20,
            max_failures_per_source: 100,
            lockout: Duration::from_secs(15 * 60),
            max_lockout: Duration::from_secs(24 * 3600),
            hash_gate: HashGate::default(),
        }
    }
}

/// Web identities and sessions. Cheap to clone.
#[derive(Clone)]
pub struct Web {
    store: Store,
    clock: Arc<dyn Clock>,
    config: WebConfig,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web").field("config", &self.config).finish_non_exhaustive()
    }
}

fn sha(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

fn random_hex() -> Result<String, PortalError> {
    Ok(hex::encode(pki::random_bytes::<32>().map_err(|e| PortalError::Internal(e.to_string()))?))
}

impl Web {
    /// The service.
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: WebConfig) -> Self {
        Self { store, clock, config }
    }

    /// The timing rules.
    pub fn config(&self) -> &WebConfig {
        &self.config
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// An audit event about `subject`, happening now.
    fn event(
        &self,
        actor: &Actor,
        action: Action,
        subject: impl Into<String>,
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent::new(self.clock.as_ref(), actor, action, subject, details)
    }
}

//! `[logins]`: the limits on logons with a secret (issue 10) — the Argon2 work a node does at
//! once, the web password/TOTP attempt limit with back-off, and when quiet counts, expired
//! tickets and sessions are purged.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::DurationText;

/// Default password-hash checks at once (0: twice the available cores).
pub const DEFAULT_PASSWORD_HASH_CONCURRENCY: i64 = 0;
/// Default longest wait for a turn before "busy" (HTTP 503).
pub const DEFAULT_PASSWORD_HASH_WAIT: &str = "2s";
/// Default failed web logins (password or authenticator code) before an account name locks.
pub const DEFAULT_WEB_MAX_FAILURES: i64 = 20;
/// Default failed web logins from one network address (any names) before it locks.
pub const DEFAULT_WEB_MAX_FAILURES_PER_SOURCE: i64 = 100;
/// Default first lock of a web account name.
pub const DEFAULT_WEB_LOCKOUT: &str = "15m";
/// Default longest lock (each further lock doubles the previous one).
pub const DEFAULT_WEB_MAX_LOCKOUT: &str = "24h";
/// Default: forget attempt counts after this long without a try; purge tickets and sessions
/// this long after they expired or ended.
pub const DEFAULT_FORGET_AFTER: &str = "24h";

/// `[logins]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginsSection {
    /// Argon2 checks (EPOC PINs, web passwords) running at once on a node (0: 2 × cores).
    pub password_hash_concurrency: i64,
    /// How long a logon waits for a turn before it is answered "busy" (503).
    pub password_hash_wait: DurationText,
    /// Failed web logins before the account name locks.
    pub web_max_failures: i64,
    /// Failed web logins from one network address (any account names) before it locks.
    pub web_max_failures_per_source: i64,
    /// The first lock.
    pub web_lockout: DurationText,
    /// The longest lock.
    pub web_max_lockout: DurationText,
    /// When quiet attempt counts are forgotten and expired tickets and sessions purged.
    pub forget_after: DurationText,
}

impl Default for LoginsSection {
    fn default() -> Self {
        Self {
            password_hash_concurrency: DEFAULT_PASSWORD_HASH_CONCURRENCY,
            password_hash_wait: DEFAULT_PASSWORD_HASH_WAIT.into(),
            web_max_failures: DEFAULT_WEB_MAX_FAILURES,
            web_max_failures_per_source: DEFAULT_WEB_MAX_FAILURES_PER_SOURCE,
            web_lockout: DEFAULT_WEB_LOCKOUT.into(),
            web_max_lockout: DEFAULT_WEB_MAX_LOCKOUT.into(),
            forget_after: DEFAULT_FORGET_AFTER.into(),
        }
    }
}

/// The checked `[logins]`.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// Argon2 checks at once (resolved: never 0).
    pub password_hash_concurrency: usize,
    /// Longest wait for a turn.
    pub password_hash_wait: Duration,
    /// Failed web logins before a lock.
    pub web_max_failures: i64,
    /// Failed web logins from one address before it locks.
    pub web_max_failures_per_source: i64,
    /// First lock.
    pub web_lockout: Duration,
    /// Longest lock.
    pub web_max_lockout: Duration,
    /// Purge age.
    pub forget_after: Duration,
}

impl LoginsSection {
    /// Checks the section; problems are pushed as (key, message).
    pub(super) fn check(&self, problems: &mut Vec<(String, String)>) -> LoginSettings {
        let mut dur = |key: &str, v: &DurationText, default: u64| match v.parse() {
            Ok(d) => d,
            Err(m) => {
                problems.push((format!("logins.{key}"), m));
                Duration::from_secs(default)
            }
        };
        let wait = dur("password_hash_wait", &self.password_hash_wait, 2);
        let lockout = dur("web_lockout", &self.web_lockout, 900);
        let max_lockout = dur("web_max_lockout", &self.web_max_lockout, 86_400);
        let forget_after = dur("forget_after", &self.forget_after, 86_400);
        if max_lockout < lockout {
            problems.push(("logins.web_max_lockout".into(), "must not be shorter than logins.web_lockout".into()));
        }
        let concurrency = match self.password_hash_concurrency {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()) * 2,
            n @ 1..=1024 => n as usize,
            _ => {
                problems.push((
                    "logins.password_hash_concurrency".into(),
                    "must be between 1 and 1024, or 0 for twice the cores".into(),
                ));
                1
            }
        };
        if self.web_max_failures < 1 {
            problems.push(("logins.web_max_failures".into(), "must be at least 1".into()));
        }
        if self.web_max_failures_per_source < self.web_max_failures.max(1) {
            problems.push((
                "logins.web_max_failures_per_source".into(),
                "must be at least logins.web_max_failures (one address may serve several people)".into(),
            ));
        }
        LoginSettings {
            password_hash_concurrency: concurrency,
            password_hash_wait: wait,
            web_max_failures: self.web_max_failures.max(1),
            web_max_failures_per_source: self.web_max_failures_per_source.max(self.web_max_failures.max(1)),
            web_lockout: lockout,
            web_max_lockout: max_lockout,
            forget_after,
        }
    }
}

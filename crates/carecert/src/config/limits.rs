//! `[limits]`: what one source, and everyone together, may hold or ask of a node
//! (connection timeouts and caps on both listeners, per-source rates on the unauthenticated
//! endpoints) and the OCSP answer cache's bound.

use serde::{Deserialize, Serialize};

use super::DurationText;
use super::load::Problem;

/// Default header-read timeout (also the HTTP/1.1 keep-alive timeout).
pub const DEFAULT_HEADER_READ_TIMEOUT: &str = "10s";
/// Default TLS handshake timeout.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: &str = "10s";
/// Default idle timeout (no byte either way).
pub const DEFAULT_CONNECTION_IDLE_TIMEOUT: &str = "60s";

/// `[limits]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// A request's header must arrive within this time (and the next request on a kept-alive
    /// HTTP/1.1 connection too).
    pub header_read_timeout: DurationText,
    /// A TLS handshake must complete within this time.
    pub tls_handshake_timeout: DurationText,
    /// A connection on which no byte moves either way for this long is closed.
    pub idle_timeout: DurationText,
    /// Most open connections per listener.
    pub max_connections: i64,
    /// Most open connections per source address (IPv6: per /64) per listener.
    pub max_connections_per_source: i64,
    /// Logins per minute per source (EPOC login, portal and RA-console login forms).
    pub login_per_minute: i64,
    /// Logins at once per source after a quiet period.
    pub login_burst: i64,
    /// Unauthenticated card requests per minute per source (status, challenges, passcode
    /// failures, unlock codes, sponsor challenges).
    pub card_per_minute: i64,
    /// Unauthenticated card requests at once per source.
    pub card_burst: i64,
    /// Most sources the rate limiter remembers at once.
    pub rate_sources: i64,
    /// Most OCSP answers held in memory (answers about known certificates only; 0: none).
    pub ocsp_cache_entries: i64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT.into(),
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT.into(),
            idle_timeout: DEFAULT_CONNECTION_IDLE_TIMEOUT.into(),
            max_connections: server::DEFAULT_MAX_CONNECTIONS as i64,
            max_connections_per_source: server::DEFAULT_MAX_CONNECTIONS_PER_SOURCE as i64,
            login_per_minute: i64::from(server::DEFAULT_LOGIN_RATE.per_minute),
            login_burst: i64::from(server::DEFAULT_LOGIN_RATE.burst),
            card_per_minute: i64::from(server::DEFAULT_CARD_RATE.per_minute),
            card_burst: i64::from(server::DEFAULT_CARD_RATE.burst),
            rate_sources: server::DEFAULT_RATE_SOURCES as i64,
            ocsp_cache_entries: ca::DEFAULT_OCSP_CACHE_ENTRIES as i64,
        }
    }
}

impl LimitsSection {
    /// The typed limits and the OCSP cache bound, or every problem with its key.
    pub(crate) fn check(&self) -> Result<(server::Limits, usize), Vec<Problem>> {
        let mut problems = vec![];
        let mut duration = |key: &str, v: &DurationText| match v.parse() {
            Ok(d) => Some(d),
            Err(m) => {
                problems.push(Problem::new(key, m));
                None
            }
        };
        let header = duration("limits.header_read_timeout", &self.header_read_timeout);
        let handshake = duration("limits.tls_handshake_timeout", &self.tls_handshake_timeout);
        let idle = duration("limits.idle_timeout", &self.idle_timeout);
        let mut count = |key: &str, v: i64, min: i64, max: i64| match u32::try_from(v) {
            Ok(n) if (min..=max).contains(&v) => Some(n),
            _ => {
                problems.push(Problem::new(key, format!("must be a whole number from {min} to {max}")));
                None
            }
        };
        let max_connections = count("limits.max_connections", self.max_connections, 1, 1_000_000);
        let per_source = count("limits.max_connections_per_source", self.max_connections_per_source, 1, 1_000_000);
        let login_per_minute = count("limits.login_per_minute", self.login_per_minute, 1, 1_000_000);
        let login_burst = count("limits.login_burst", self.login_burst, 1, 1_000_000);
        let card_per_minute = count("limits.card_per_minute", self.card_per_minute, 1, 1_000_000);
        let card_burst = count("limits.card_burst", self.card_burst, 1, 1_000_000);
        let rate_sources = count("limits.rate_sources", self.rate_sources, 1, 10_000_000);
        let ocsp = count("limits.ocsp_cache_entries", self.ocsp_cache_entries, 0, 10_000_000);
        match (
            (header, handshake, idle),
            (max_connections, per_source, rate_sources, ocsp),
            (login_per_minute, login_burst, card_per_minute, card_burst),
        ) {
            (
                (Some(header_read_timeout), Some(tls_handshake_timeout), Some(idle_timeout)),
                (Some(max_connections), Some(per_source), Some(rate_sources), Some(ocsp)),
                (Some(lpm), Some(lb), Some(cpm), Some(cb)),
            ) if problems.is_empty() => Ok((
                server::Limits {
                    header_read_timeout,
                    tls_handshake_timeout,
                    idle_timeout,
                    max_connections: max_connections as usize,
                    max_connections_per_source: per_source as usize,
                    login_rate: server::Rate { per_minute: lpm, burst: lb },
                    card_rate: server::Rate { per_minute: cpm, burst: cb },
                    rate_sources: rate_sources as usize,
                },
                ocsp as usize,
            )),
            _ => Err(problems),
        }
    }
}

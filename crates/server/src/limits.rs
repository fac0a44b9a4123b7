//! What one source, and everyone together, may hold or ask of a node: connection timeouts and
//! caps (enforced by the accept loops in `listen.rs`) and per-source request rates on the
//! unauthenticated endpoints (enforced by `ratelimit.rs`). The operator sets them in
//! `carecert.toml` (`[limits]`); the defaults below are the documented ones.

use std::net::IpAddr;
use std::time::Duration;

/// Connection and rate limits of both listeners.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A client must send a request's complete header within this time, and the next request
    /// on a kept-alive HTTP/1.1 connection within this time too.
    pub header_read_timeout: Duration,
    /// A TLS handshake must complete within this time.
    pub tls_handshake_timeout: Duration,
    /// A connection (HTTP/1.1 or HTTP/2, before or after TLS) on which no byte moves either
    /// way for this long is closed.
    pub idle_timeout: Duration,
    /// Most open connections per listener; more are closed at accept.
    pub max_connections: usize,
    /// Most open connections per source address (IPv6: per /64) per listener.
    pub max_connections_per_source: usize,
    /// Logins: `POST /api/v1/sessions`, the portal's and the RA console's login forms.
    pub login_rate: Rate,
    /// The card endpoints an agent calls before it has a card session (status, challenges,
    /// passcode failures, unlock codes, sponsor challenges, unlock).
    pub card_rate: Rate,
    /// Most sources the rate limiter remembers at once (the oldest are forgotten first).
    pub rate_sources: usize,
}

/// Default header-read timeout.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default TLS handshake timeout.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default idle timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default connection cap per listener.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8_192;
/// Default connection cap per source.
pub const DEFAULT_MAX_CONNECTIONS_PER_SOURCE: usize = 256;
/// Default login rate per source: a practice behind one NAT address logs in a few dozen
/// machines and people at the start of a day.
pub const DEFAULT_LOGIN_RATE: Rate = Rate { per_minute: 60, burst: 30 };
/// Default card-endpoint rate per source: each card login is two or three calls, and a whole
/// practice may log in within a few minutes.
pub const DEFAULT_CARD_RATE: Rate = Rate { per_minute: 300, burst: 150 };
/// Default number of sources the rate limiter remembers.
pub const DEFAULT_RATE_SOURCES: usize = 100_000;

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_source: DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
            login_rate: DEFAULT_LOGIN_RATE,
            card_rate: DEFAULT_CARD_RATE,
            rate_sources: DEFAULT_RATE_SOURCES,
        }
    }
}

/// A sustained rate with a burst: `burst` requests at once, then one every
/// `60 / per_minute` seconds (the generic cell rate algorithm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

/// The address a limit counts against: IPv4-mapped IPv6 addresses as the IPv4 address they
/// are, other IPv6 addresses by their /64 (one subscriber's allocation).
pub(crate) fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::source_of;

    #[test]
    fn mapped_addresses_count_as_ipv4_and_ipv6_by_prefix() {
        assert_eq!(source_of("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(
            source_of("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::".parse::<std::net::IpAddr>().unwrap()
        );
    }
}

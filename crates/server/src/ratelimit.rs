//! Per-source request rates on the endpoints anyone can call without a credential: logins
//! (`POST /api/v1/sessions`, the portal's and the RA console's login forms) and the card
//! endpoints an agent calls before it has a card session. OCSP, CRLs and CA certificates are
//! not limited (public, cacheable, and relying parties behind one proxy look like one source).
//!
//! One generic-cell-rate (GCRA) state per (class, source) in a bounded map: a source that has
//! been quiet long enough is the same as one never seen, so those entries are dropped first
//! when the map is full, then the ones closest to that. Over the limit: 429 with
//! `Retry-After` (JSON for the API, a page for pages). The domains keep their own counted
//! limits (per EPOC, per card, per account); this only stops one address from hammering.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::html;
use parking_lot::Mutex;

use crate::error::ApiError;
use crate::limits::{Limits, Rate, source_of};
use crate::tls::PeerAddr;
use crate::web::layout::{Shell, page};

/// Which limit a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    Login,
    Card,
}

/// The limits and what each source has used.
pub(crate) struct RateLimiter {
    login: Gcra,
    card: Gcra,
    sources: usize,
    tat: Mutex<HashMap<(Class, IpAddr), Instant>>,
}

#[derive(Debug, Clone, Copy)]
struct Gcra {
    /// Time between two requests at the sustained rate.
    interval: Duration,
    /// How far ahead of now a source's theoretical arrival time may run (the burst).
    tolerance: Duration,
}

impl Gcra {
    fn new(r: Rate) -> Self {
        let interval = Duration::from_secs(60) / r.per_minute.max(1);
        Self { interval, tolerance: interval * r.burst.max(1).saturating_sub(1) }
    }
}

impl RateLimiter {
    pub(crate) fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            login: Gcra::new(limits.login_rate),
            card: Gcra::new(limits.card_rate),
            sources: limits.rate_sources.max(1),
            tat: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one request; `Err(wait)` when the source is over its limit.
    fn check(&self, class: Class, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let g = match class {
            Class::Login => self.login,
            Class::Card => self.card,
        };
        let key = (class, source_of(ip));
        let mut map = self.tat.lock();
        if map.len() >= self.sources && !map.contains_key(&key) {
            map.retain(|_, tat| *tat > now);
            if map.len() >= self.sources {
                let mut tats: Vec<Instant> = map.values().copied().collect();
                let evict = (self.sources / 10).max(1).min(tats.len());
                let (_, cut, _) = tats.select_nth_unstable(evict - 1);
                let cut = *cut;
                let mut left = evict;
                map.retain(|_, tat| {
                    if left > 0 && *tat <= cut {
                        left -= 1;
                        false
                    } else {
                        true
                    }
                });
            }
        }
        let tat = map.get(&key).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > g.tolerance {
            return Err(ahead - g.tolerance);
        }
        map.insert(key, tat + g.interval);
        Ok(())
    }
}

/// Which limit, if any, a request counts against.
fn classify(method: &Method, path: &str) -> Option<Class> {
    let login = [
        "/api/v1/sessions",
        "/portal/login",
        "/portal/login/card",
        "/portal/login/certificate",
        "/ra/login",
        "/ra/login/card",
    ];
    if method == Method::POST && login.contains(&path) {
        return Some(Class::Login);
    }
    // Everything under a card before a card session: status, challenges, passcode failures,
    // unlock codes, sponsor challenges, card login, unlock. Renewals need a card session.
    if let Some(rest) = path.strip_prefix("/api/v1/cards/")
        && !rest.ends_with("/renewals")
    {
        return Some(Class::Card);
    }
    None
}

/// The middleware: 429 with `Retry-After` once a source is over its limit.
pub(crate) async fn rate_limit(State(limiter): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    let Some(class) = classify(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let Some(ip) = req.extensions().get::<PeerAddr>().map(|p| p.0.ip()) else {
        return next.run(req).await;
    };
    match limiter.check(class, ip, Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => too_many(req.uri().path(), wait),
    }
}

fn too_many(path: &str, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let text = format!("too many requests from your address: wait {secs} seconds and try again");
    let mut resp = if path.starts_with("/api/") {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", text).into_response()
    } else {
        let shell =
            if path.starts_with("/ra") { Shell::Ra(None) } else { Shell::Portal { script: false, agent_url: "" } };
        page(
            StatusCode::TOO_MANY_REQUESTS,
            shell,
            "Too many attempts",
            html! { p.error role="alert" { "Too many attempts from your address. Wait " (secs) " seconds and try again." } },
        )
    };
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32, burst: u32, sources: usize) -> Arc<RateLimiter> {
        let limits = Limits {
            login_rate: Rate { per_minute, burst },
            card_rate: Rate { per_minute, burst },
            rate_sources: sources,
            ..Limits::default()
        };
        RateLimiter::new(&limits)
    }

    #[test]
    fn a_burst_then_the_sustained_rate_per_source() {
        let l = limiter(60, 3, 100);
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(Class::Login, a, t0).is_ok());
        }
        let wait = l.check(Class::Login, a, t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO, "{wait:?}");
        assert!(l.check(Class::Login, b, t0).is_ok(), "another source is not affected");
        assert!(l.check(Class::Card, a, t0).is_ok(), "another class is not affected");
        assert!(l.check(Class::Login, a, t0 + Duration::from_secs(1)).is_ok(), "one more after the interval");
    }

    #[test]
    fn the_map_stays_bounded() {
        let l = limiter(1, 1, 50);
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = l.check(Class::Card, ip, t0);
        }
        assert!(l.tat.lock().len() <= 50);
    }

    #[test]
    fn only_unauthenticated_endpoints_are_limited() {
        assert_eq!(classify(&Method::POST, "/api/v1/sessions"), Some(Class::Login));
        assert_eq!(classify(&Method::GET, "/portal/login"), None);
        assert_eq!(classify(&Method::POST, "/ra/login"), Some(Class::Login));
        assert_eq!(classify(&Method::POST, "/api/v1/cards/ABC/passcode-failures"), Some(Class::Card));
        assert_eq!(classify(&Method::GET, "/api/v1/cards/ABC"), Some(Class::Card));
        assert_eq!(classify(&Method::POST, "/api/v1/cards/ABC/renewals"), None);
        assert_eq!(classify(&Method::POST, "/ocsp"), None);
        assert_eq!(classify(&Method::GET, "/crl/systems.crl"), None);
    }
}

//! The spine's state: what every handler holds ([`AppState`]), who may reach a deployment
//! ([`Access`], enforced by [`admit`]), and the request middleware that runs before any route.
//!
//! The HTTP layer holds the domain services and a read-only storage handle
//! ([`store::StoreRead`], Boulder's `StorageAuthorityReadOnly`): pages and the admin read
//! endpoints query through it, every change goes through a domain service.

use axum::response::IntoResponse;
use ca::Authority;

use crate::error::ApiError;
use crate::tls::PeerAddr;

/// Shared state of every handler: one [`Services`] behind an `Arc`, so the clone every
/// extractor makes is one reference count, not a copy of every service handle.
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

impl From<Services> for AppState {
    fn from(s: Services) -> Self {
        Self(std::sync::Arc::new(s))
    }
}

/// What every handler reaches through [`AppState`].
pub struct Services {
    /// The CA.
    pub authority: Authority,
    /// Machine-certificate enrolment.
    pub enrol: enrol::Enrolment,
    /// Smartcards.
    pub cards: cards::Cards,
    /// Web accounts and sessions.
    pub web: portal::Web,
    /// Read-only queries for pages and the admin read endpoints: no handler can change
    /// state through it.
    pub read: store::StoreRead,
    /// The local carecert-agent URL the portal's pages talk to.
    pub agent_url: String,
    /// Which environment this deployment is, and who may reach it.
    pub access: Access,
    /// Connection timeouts and caps, and per-source request rates.
    pub limits: crate::limits::Limits,
}

impl Services {
    /// The services with the default agent URL, access and limits.
    pub fn new(
        authority: Authority,
        read: store::StoreRead,
        enrol: enrol::Enrolment,
        cards: cards::Cards,
        web: portal::Web,
    ) -> Self {
        Self {
            authority,
            enrol,
            cards,
            web,
            read,
            agent_url: "http://127.0.0.1:8477".into(),
            access: Access::default(),
            limits: crate::limits::Limits::default(),
        }
    }
}

/// A deployment is `live` or `test`. Each is its own carecert with its own CAs, so a card of
/// one never logs in to the other. A `test` deployment answers HTTPS only to addresses in its
/// allow-list (loopback included only if listed).
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `test` (true) or `live`.
    pub test: bool,
    /// Networks a test deployment admits.
    pub allow: Vec<ipnet::IpNet>,
}

impl Access {
    /// Whether this deployment talks to `ip` at all: a live one to everyone, a test one only
    /// to its allow-list (an IPv4-mapped IPv6 peer is checked as the IPv4 address it is).
    pub fn admits(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        !self.test || self.allow.iter().any(|n| n.contains(&ip))
    }
}

/// Refuses, on a test deployment, every address outside its allow-list. The accept loops
/// already close such connections before TLS; this is the second line.
pub(crate) async fn admit(
    axum::extract::State(access): axum::extract::State<Access>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if access.test {
        let ip = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
        if !ip.is_some_and(|ip| access.admits(ip)) {
            return ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "address_not_allowed",
                "this is a test environment: it admits only addresses on its allow-list; use the live service, or ask the operator to add your network",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// HTTP/2 carries the host as the `:authority` pseudo-header, not `Host`: copy it, so that
/// same-origin checks see the same thing on HTTP/1.1 and HTTP/2.
pub(crate) async fn host_from_authority(mut req: axum::extract::Request) -> axum::extract::Request {
    if !req.headers().contains_key(axum::http::header::HOST)
        && let Some(v) = req.uri().authority().and_then(|a| axum::http::HeaderValue::from_str(a.as_str()).ok())
    {
        req.headers_mut().insert(axum::http::header::HOST, v);
    }
    req
}

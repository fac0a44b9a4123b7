//! # server — carecert's HTTP layer
//!
//! axum over rustls: one HTTPS listener for everything (the JSON API, the admin API,
//! OpenAPI, metrics, and the public endpoints), and one plain-HTTP listener for what
//! RFC 5280 and RFC 6960 expect over HTTP (`/healthz`, `/ca`, `/crl`, `/ocsp`).
//!
//! Handlers are thin: parse, call the domain (`ca`, `enrol`, later `cards`, `portal`),
//! render. This crate must never contain SQL or policy; errors become HTTP statuses here
//! and only here (`error.rs`). Peer certificates from the TLS handshake reach handlers as
//! a request extension ([`ClientCertificates`]) for mutual-TLS endpoints.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin;
mod cards_api;
mod enrol_api;
mod error;
mod openapi;
mod pages;
mod portal_pages;
mod public;
mod tls;
mod web_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ca::Authority;
use parking_lot::Mutex;
use std::collections::HashMap;

pub use error::{ApiError, ErrorBody};
pub use openapi::openapi_json;
pub use tls::{ClientCertificates, PeerAddr, TlsFiles};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The CA.
    pub authority: Authority,
    /// Machine-certificate enrolment.
    pub enrol: enrol::Enrolment,
    /// Smartcards.
    pub cards: cards::Cards,
    /// Web accounts and sessions.
    pub web: portal::Web,
    /// The local carecert-agent URL the portal's pages talk to.
    pub agent_url: String,
    /// Which environment this deployment is, and who may reach it.
    pub access: Access,
    pub(crate) tokens: Arc<Mutex<HashMap<String, (String, std::time::Instant)>>>,
}

impl AppState {
    /// State for the given authority and domain services.
    pub fn new(authority: Authority, enrol: enrol::Enrolment, cards: cards::Cards, web: portal::Web) -> Self {
        Self {
            authority,
            enrol,
            cards,
            web,
            agent_url: "http://127.0.0.1:8477".into(),
            access: Access::default(),
            tokens: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// Where to listen and with which certificate.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// HTTPS address.
    pub listen: SocketAddr,
    /// Plain HTTP address (OCSP, CRL, CA certificates, health).
    pub http_listen: SocketAddr,
    /// The HTTPS certificate and key.
    pub tls: TlsFiles,
}

/// What can stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (is another carecert or program using it? choose another with --listen / --http-listen)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("the HTTPS certificate or key is unusable: {0}")]
    Tls(String),
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

async fn admit(
    axum::extract::State(access): axum::extract::State<Access>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if access.test {
        let ip = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
        let allowed = ip.is_some_and(|ip| access.allow.iter().any(|n| n.contains(&ip)));
        if !allowed {
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
async fn host_from_authority(mut req: axum::extract::Request) -> axum::extract::Request {
    if !req.headers().contains_key(axum::http::header::HOST)
        && let Some(v) = req.uri().authority().and_then(|a| axum::http::HeaderValue::from_str(a.as_str()).ok())
    {
        req.headers_mut().insert(axum::http::header::HOST, v);
    }
    req
}

/// The HTTPS application.
pub fn https_router(state: AppState) -> Router {
    Router::new()
        .merge(public::router())
        .merge(public::https_only())
        .merge(admin::router())
        .merge(enrol_api::router())
        .merge(cards_api::router())
        .merge(pages::router())
        .merge(portal_pages::router())
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(state.access.clone(), admit))
        .layer(axum::middleware::map_request(host_from_authority))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// The plain-HTTP application.
pub fn http_router(state: AppState) -> Router {
    public::router().with_state(state)
}

/// Bound listeners, ready to serve.
pub struct Bound {
    https: tokio::net::TcpListener,
    http: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: AppState,
}

impl Bound {
    /// The HTTPS address actually bound (useful with port 0).
    pub fn https_addr(&self) -> SocketAddr {
        self.https.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }
    /// The HTTP address actually bound.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` completes, then stops accepting and lets open requests finish
    /// (at most 10 seconds).
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let https = tls::serve_tls(self.https, self.tls, https_router(self.state.clone()), stop_rx.clone());
        let mut http_stop = stop_rx.clone();
        let http = axum::serve(self.http, http_router(self.state))
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .into_future();
        let https_task = tokio::spawn(https);
        let http_task = tokio::spawn(http);
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing open requests");
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            let _ = https_task.await;
            let _ = http_task.await;
        })
        .await;
    }
}

/// Binds both listeners.
pub async fn bind(state: AppState, cfg: &ServerConfig) -> Result<Bound, ServerError> {
    let roots: Vec<Vec<u8>> = state
        .authority
        .ca_certificates()
        .into_iter()
        .filter(|(_, parent, _)| parent.is_none())
        .map(|(_, _, der)| der)
        .collect();
    let tls = tls::server_config(&cfg.tls, &roots)?;
    let https = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServerError::Bind { addr: cfg.listen, source })?;
    let http = tokio::net::TcpListener::bind(cfg.http_listen)
        .await
        .map_err(|source| ServerError::Bind { addr: cfg.http_listen, source })?;
    Ok(Bound { https, http, tls, state })
}

//! # server — carecert's HTTP layer
//!
//! axum over rustls: one HTTPS listener for everything (the JSON API, the admin API,
//! OpenAPI, metrics, the public endpoints, the RA console and the portal), and one
//! plain-HTTP listener for what RFC 5280 and RFC 6960 expect over HTTP (`/healthz`, `/ca`,
//! `/crl`, `/ocsp`).
//!
//! The crate is a spine and two wings:
//! - the spine: `state.rs` (what handlers hold: the domain services `ca`, `enrol`, `cards`,
//!   `portal` and a read-only store handle), `extract.rs` (who is calling), `error.rs`
//!   (every domain error becomes one HTTP status, there and only there);
//! - the JSON wing `handlers/`, registered in one route table (`openapi.rs`) through
//!   `utoipa_axum`'s `OpenApiRouter`, so no JSON route exists without its OpenAPI operation;
//! - the HTML wing `web/` (one page shell, shared session and form extractors);
//! - the guards before any handler: `listen.rs` (both accept loops: allow-list, connection
//!   caps, handshake/header/idle timeouts), `ratelimit.rs` (per-source rates on the
//!   unauthenticated endpoints), `layers.rs` (security headers on every answer; HTTP/2 bodies
//!   kept until the answer is sent, so a 413 is read, not reset).
//!
//! This crate must never contain SQL or policy, and never write to the store except through
//! a domain service. Peer certificates from the TLS handshake reach handlers as a request
//! extension ([`ClientCertificates`]) for mutual-TLS endpoints.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod agent_release;
mod authz;
mod error;
mod extract;
mod handlers;
mod layers;
mod limits;
mod listen;
mod openapi;
mod ratelimit;
mod state;
mod tls;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

pub use error::{ApiError, ErrorBody, ServerError};
pub use limits::{
    DEFAULT_CARD_RATE, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_LOGIN_RATE, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE, DEFAULT_RATE_SOURCES, DEFAULT_TLS_HANDSHAKE_TIMEOUT, Limits, Rate,
};
pub use openapi::openapi_json;
pub use state::{Access, AppState, Services};
pub use tls::{ClientCertificates, PeerAddr, TlsFiles};

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

/// The HTTPS application: every described API route, then the pages.
pub fn https_router(state: AppState) -> Router {
    let (api, _doc) = openapi::all_routes().split_for_parts();
    let limiter = ratelimit::RateLimiter::new(&state.limits);
    let app = api
        .merge(web::router(&state.agent_url, state.access.test))
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(state.clone(), agent_release::require_minimum))
        .layer(axum::middleware::from_fn_with_state(limiter, ratelimit::rate_limit))
        .layer(axum::middleware::from_fn_with_state(state.access.clone(), state::admit))
        .layer(axum::middleware::map_request(state::host_from_authority));
    layers::https_headers(app)
        .layer(axum::middleware::from_fn(layers::h2_body_outlives_response))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// The plain-HTTP application: the public endpoints only.
pub fn http_router(state: AppState) -> Router {
    let (public, _doc) = openapi::public_routes().split_for_parts();
    // No HTTP/2 body layer here: plain-HTTP clients (OCSP, CRL) speak HTTP/1.1, and the OCSP
    // path stays free of per-request boxing.
    layers::http_headers(public.with_state(state))
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
        let limits = Arc::new(self.state.limits.clone());
        let access = self.state.access.clone();
        let https = listen::serve(
            self.https,
            listen::Transport::Tls(tokio_rustls::TlsAcceptor::from(self.tls)),
            https_router(self.state.clone()),
            limits.clone(),
            access.clone(),
            stop_rx.clone(),
        );
        let http = listen::serve(
            self.http,
            listen::Transport::Plain,
            http_router(self.state),
            limits,
            access,
            stop_rx.clone(),
        );
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

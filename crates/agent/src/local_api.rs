//! `carecert-agent run`: watches the readers, and serves the portal's pages on a loopback
//! address: `POST /v1/ticket` logs in with the card (passcode asked here, never in the
//! page) and returns a one-time portal login ticket. Only the configured portal origins may
//! call it (CORS). While a card session is open the agent sends a heartbeat every 2 seconds
//! and reports the card's removal at once, so the portal ends the session within a second.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use crate::{Agent, PasscodeArgs};

#[derive(Clone)]
struct Shared {
    agent: Agent,
    origins: Arc<Vec<String>>,
    passcode_file: Option<PathBuf>,
    /// The card session in use: (card serial, session token).
    session: Arc<Mutex<Option<(String, String)>>>,
}

pub(crate) async fn run(
    agent: Agent,
    poll_ms: u64,
    listen: SocketAddr,
    origins: Vec<String>,
    passcode_file: Option<PathBuf>,
) -> Result<()> {
    if !listen.ip().is_loopback() {
        bail!("the agent's API listens on loopback only: use 127.0.0.1:PORT");
    }
    let module = agent.module()?;
    for c in module.initialised_cards()? {
        println!("{}", json!({"event": "present", "card": c.serial}));
    }
    let shared = Shared { agent, origins: Arc::new(origins), passcode_file, session: Arc::new(Mutex::new(None)) };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _w = token::watch(module, Duration::from_millis(poll_ms), move |ev| tx.send(ev).is_ok());
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    println!("{}", json!({"event": "listening", "address": listen.to_string()}));
    let app = Router::new().route("/v1/ticket", post(ticket).options(preflight)).with_state(shared.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut beat = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                let (kind, serial) = match ev {
                    token::CardEvent::Inserted(s) => ("inserted", s),
                    token::CardEvent::Removed(s) => ("removed", s),
                };
                println!("{}", json!({"event": kind, "card": serial}));
                if kind == "removed" {
                    let current = shared.session.lock().ok().and_then(|mut g| g.take_if(|(s, _)| *s == serial));
                    if let Some((_, token)) = current {
                        let _ = shared.agent.client.with_bearer(&token).presence(false).await;
                        println!("{}", json!({"event": "session-ended", "card": serial}));
                    }
                }
            }
            _ = beat.tick() => {
                let current = shared.session.lock().ok().and_then(|g| g.clone());
                if let Some((_, token)) = current {
                    let _ = shared.agent.client.with_bearer(&token).presence(true).await;
                }
            }
        }
    }
    Ok(())
}

fn allowed_origin(shared: &Shared, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let o = origin.to_str().ok()?;
    shared.origins.iter().any(|a| a == o).then(|| origin.clone())
}

fn cors(mut resp: Response, origin: HeaderValue) -> Response {
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    resp
}

async fn preflight(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    match allowed_origin(&shared, &headers) {
        Some(o) => cors(StatusCode::NO_CONTENT.into_response(), o),
        None => StatusCode::FORBIDDEN.into_response(),
    }
}

async fn ticket(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let Some(origin) = allowed_origin(&shared, &headers) else {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(error_body("origin_not_allowed", "this site may not use the card agent")),
        )
            .into_response();
    };
    // Card work happens on its own thread: PKCS#11 sessions are not shared across threads.
    let s2 = shared.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<(String, String, String)> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            let module = s2.agent.module()?;
            let card = s2.agent.open_card(&module)?;
            let serial = card.info().serial.clone();
            let session = s2.agent.login(&card, &PasscodeArgs { passcode_file: s2.passcode_file.clone() }).await?;
            let t = s2.agent.client.with_bearer(&session.token).portal_ticket().await?;
            Ok((serial, session.token, t.ticket))
        })
    })
    .await;
    let resp = match result {
        Ok(Ok((serial, token, ticket))) => {
            if let Ok(mut g) = shared.session.lock() {
                *g = Some((serial, token));
            }
            (StatusCode::OK, axum::Json(api::TicketView { ticket })).into_response()
        }
        Ok(Err(e)) => {
            // The server's refusal code (e.g. `not_registered`) goes to the page, which shows
            // its own fixed text for it; anything else is a plain refusal.
            let code = match e.downcast_ref::<client::Error>() {
                Some(client::Error::Refused { code, .. }) => code.clone(),
                _ => "refused".to_string(),
            };
            (StatusCode::FORBIDDEN, axum::Json(error_body(&code, format!("{e:#}")))).into_response()
        }
        Err(e) => {
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error_body("internal", e.to_string()))).into_response()
        }
    };
    cors(resp, origin)
}

fn error_body(error: &str, message: impl Into<String>) -> api::ErrorBody {
    api::ErrorBody { error: error.into(), message: message.into() }
}

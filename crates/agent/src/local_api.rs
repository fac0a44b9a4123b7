//! `carecert-agent run`: watches the readers, and serves the portal's pages on a loopback
//! address (the contract is in ARCHITECTURE.md, "The agent's local API"):
//! `POST /v1/ticket` logs in with the card (passcode asked in the agent's dialog, never in
//! the page) and returns a one-time portal login ticket; `GET /v1/card` names the card in
//! the reader; `/v1/jobs…` runs card tasks (`local_jobs.rs`). Only the configured portal
//! origins may call it (CORS). While a card session (ticket) or a watched certificate
//! session is open the agent sends a heartbeat every 2 seconds and reports the card's
//! removal at once, so the portal ends the session within a second.
//!
//! It must never answer a passcode, a session token or a card's secrets to a page.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::Agent;
use crate::jobs::Job;
use crate::pinentry::Asker;

/// A portal session the agent keeps alive while its card is in the reader.
#[derive(Clone)]
pub(crate) struct Presence {
    /// The card.
    pub(crate) serial: String,
    /// The bearer token of the heartbeats (card session or presence token).
    pub(crate) token: String,
    /// Opened by `POST /v1/ticket` (one at a time) rather than a `watch` job.
    pub(crate) ticket: bool,
}

#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) agent: Agent,
    origins: Arc<Vec<String>>,
    pub(crate) ask: Asker,
    /// The sessions kept alive.
    pub(crate) sessions: Arc<Mutex<Vec<Presence>>>,
    /// Every job of this run, by id.
    pub(crate) jobs: Arc<Mutex<HashMap<String, Arc<Job>>>>,
    /// Held while the card is worked on: one job (or ticket) at a time.
    pub(crate) busy: Arc<tokio::sync::Mutex<()>>,
}

impl Shared {
    /// Keeps `p` alive (a ticket session replaces the previous ticket session).
    pub(crate) fn keep_alive(&self, p: Presence) {
        let mut g = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        g.retain(|s| !(p.ticket && s.ticket) && s.token != p.token);
        g.push(p);
    }
}

pub(crate) async fn run(
    agent: Agent,
    poll_ms: u64,
    listen: SocketAddr,
    origins: Vec<String>,
    ask: Asker,
) -> Result<()> {
    if !listen.ip().is_loopback() {
        bail!("the agent's API listens on loopback only: use 127.0.0.1:PORT");
    }
    let module = agent.module()?;
    for c in module.initialised_cards()? {
        println!("{}", json!({"event": "present", "card": c.serial}));
    }
    let shared = Shared {
        agent,
        origins: Arc::new(origins),
        ask,
        sessions: Arc::default(),
        jobs: Arc::default(),
        busy: Arc::new(tokio::sync::Mutex::new(())),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _w = token::watch(module, Duration::from_millis(poll_ms), move |ev| tx.send(ev).is_ok());
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    println!("{}", json!({"event": "listening", "address": listen.to_string()}));
    let app = Router::new()
        .route("/v1/ticket", post(ticket).options(preflight))
        .route("/v1/card", get(card).options(preflight))
        .merge(crate::local_jobs::routes())
        .with_state(shared.clone());
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
                    let ended: Vec<Presence> = {
                        let mut g = shared.sessions.lock().unwrap_or_else(PoisonError::into_inner);
                        let (gone, kept) = g.drain(..).partition(|p: &Presence| p.serial == serial);
                        *g = kept;
                        gone
                    };
                    for p in ended {
                        let _ = shared.agent.client.with_bearer(&p.token).presence(false).await;
                        println!("{}", json!({"event": "session-ended", "card": serial}));
                    }
                }
            }
            _ = beat.tick() => {
                let current = shared.sessions.lock().unwrap_or_else(PoisonError::into_inner).clone();
                for p in current {
                    // A token carecert no longer accepts (401/403: the session is over) ends
                    // the beats for it; anything else (unreachable, busy) is tried again.
                    if let Err(e) = shared.agent.client.with_bearer(&p.token).presence(true).await
                        && matches!(e.status(), Some(401 | 403))
                    {
                        shared.sessions.lock().unwrap_or_else(PoisonError::into_inner).retain(|s| s.token != p.token);
                        println!("{}", json!({"event": "session-ended", "card": p.serial, "reason": e.code()}));
                    }
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn allowed_origin(shared: &Shared, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let o = origin.to_str().ok()?;
    shared.origins.iter().any(|a| a == o).then(|| origin.clone())
}

pub(crate) fn cors(mut resp: Response, origin: HeaderValue) -> Response {
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type"));
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    resp
}

pub(crate) async fn preflight(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    match allowed_origin(&shared, &headers) {
        Some(o) => cors(StatusCode::NO_CONTENT.into_response(), o),
        None => StatusCode::FORBIDDEN.into_response(),
    }
}

/// `{error, message}` with `status`.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, axum::Json(api::ErrorBody { error: code.into(), message: message.into() })).into_response()
}

pub(crate) fn forbidden_origin() -> Response {
    error(StatusCode::FORBIDDEN, "origin_not_allowed", "this site may not use the card agent")
}

/// The local API's code for a failure: the dialog's Cancel, the server's refusal code, a
/// missing card, or `refused`.
pub(crate) fn code_of(e: &anyhow::Error) -> String {
    for c in e.chain() {
        if c.is::<crate::pinentry::Cancelled>() || c.is::<crate::jobs::JobCancelled>() {
            return "cancelled".into();
        }
        if let Some(r) = c.downcast_ref::<crate::tasks::Refusal>() {
            return r.code.into();
        }
        if let Some(ce) = c.downcast_ref::<client::Error>() {
            if let Some(code) = ce.code() {
                return code.into();
            }
            if ce.is_unreachable() {
                return "unreachable".into();
            }
        }
        if let Some(t) = c.downcast_ref::<token::TokenError>() {
            match t {
                token::TokenError::NoCard { .. } | token::TokenError::NoCardInserted | token::TokenError::Removed => {
                    return "no_card".into();
                }
                token::TokenError::SeveralCards { .. } => return "several_cards".into(),
                token::TokenError::NoBlankCard => return "no_blank_card".into(),
                _ => {}
            }
        }
    }
    "refused".into()
}

#[derive(serde::Deserialize)]
struct CardQuery {
    #[serde(default)]
    all: Option<String>,
}

/// `GET /v1/card`: the card in the reader (`?all=1`: every card).
async fn card(State(shared): State<Shared>, headers: HeaderMap, Query(q): Query<CardQuery>) -> Response {
    let Some(origin) = allowed_origin(&shared, &headers) else { return forbidden_origin() };
    let all = q.all.is_some_and(|v| v == "1" || v == "true");
    let agent = shared.agent.clone();
    let found = tokio::task::spawn_blocking(move || -> Result<serde_json::Value> {
        let module = agent.module()?;
        if all {
            let cards: Vec<_> = module
                .initialised_cards()?
                .into_iter()
                .map(|c| json!({"serial": c.serial, "label": c.label}))
                .collect();
            return Ok(json!({ "cards": cards }));
        }
        let c = module.find(agent.card.as_deref())?;
        Ok(json!({"serial": c.serial, "label": c.label, "present": true}))
    })
    .await;
    let resp = match found {
        Ok(Ok(v)) => (StatusCode::OK, axum::Json(v)).into_response(),
        Ok(Err(e)) => {
            let code = code_of(&e);
            let status = if code == "no_card" { StatusCode::NOT_FOUND } else { StatusCode::CONFLICT };
            error(status, &code, format!("{e:#}"))
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    cors(resp, origin)
}

async fn ticket(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let Some(origin) = allowed_origin(&shared, &headers) else { return forbidden_origin() };
    let Ok(guard) = shared.busy.clone().try_lock_owned() else {
        return cors(
            error(
                StatusCode::CONFLICT,
                "busy",
                "the agent is busy with another card task; try again when it has finished",
            ),
            origin,
        );
    };
    // Card work happens on its own thread: PKCS#11 sessions are not shared across threads,
    // and the passcode dialog blocks.
    let s2 = shared.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<(String, String, String)> {
        let _busy = guard;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            let module = s2.agent.module()?;
            let card = s2.agent.open_card(&module)?;
            let serial = card.info().serial.clone();
            let session = s2.agent.login(&card, &s2.ask).await?.session;
            let t = s2.agent.client.with_bearer(&session.token).portal_ticket().await?;
            Ok((serial, session.token, t.ticket))
        })
    })
    .await;
    let resp = match result {
        Ok(Ok((serial, token, ticket))) => {
            shared.keep_alive(Presence { serial, token, ticket: true });
            (StatusCode::OK, axum::Json(api::TicketView { ticket })).into_response()
        }
        // The server's refusal code (e.g. `not_registered`) goes to the page, which shows
        // its own fixed text for it; anything else is a plain refusal.
        Ok(Err(e)) => error(StatusCode::FORBIDDEN, &code_of(&e), format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    cors(resp, origin)
}

//! The local API's jobs: `POST /v1/jobs` starts a card task on its own thread (one at a
//! time), `GET /v1/jobs/ID/events` streams its events (server-sent events, past ones
//! replayed first), `GET /v1/jobs/ID` returns them at once, `POST /v1/jobs/ID/next` and
//! `/cancel` steer it. Tasks: change-passcode, unlock, sponsor-unlock, renew, ra-renew, issue,
//! watch.
//!
//! The page never sends or receives a passcode: the task asks in the agent's dialog.

use std::convert::Infallible;
use std::sync::{Arc, PoisonError};

use anyhow::Result;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::StreamExt as _;

use crate::jobs::{Job, Progress};
use crate::local_api::{Presence, Shared, allowed_origin, code_of, cors, error, forbidden_origin, preflight};
use crate::{renew, tasks};

/// A task and its parameters: the body of `POST /v1/jobs`.
#[derive(Debug, Deserialize)]
#[serde(tag = "task", rename_all = "kebab-case")]
enum Task {
    ChangePasscode {},
    Unlock {
        code: String,
    },
    SponsorUnlock {
        card: String,
        sponsor_card: String,
    },
    Renew {
        #[serde(default)]
        pause_between: bool,
    },
    /// In-person renewal at the RA desk, with the renewal desk ticket of the RA console.
    RaRenew {
        desk_ticket: String,
        documents: String,
        /// The card to renew (default: the one card in the reader).
        #[serde(default)]
        card: Option<String>,
    },
    Issue {
        uid: String,
        documents: String,
        #[serde(default = "default_batch")]
        batch: String,
        #[serde(default = "default_label")]
        label: String,
        desk_ticket: String,
    },
    Watch {
        presence_token: String,
    },
}

fn default_batch() -> String {
    "default".into()
}

fn default_label() -> String {
    "carecert card".into()
}

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/jobs", post(start).options(preflight))
        .route("/v1/jobs/{id}", get(show).options(preflight))
        .route("/v1/jobs/{id}/events", get(events).options(preflight))
        .route("/v1/jobs/{id}/next", post(next).options(preflight))
        .route("/v1/jobs/{id}/cancel", post(cancel).options(preflight))
}

fn job(shared: &Shared, id: &str) -> Option<Arc<Job>> {
    shared.jobs.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned()
}

fn no_job(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("there is no job {id} in this agent (it may have been restarted)"),
    )
}

/// `POST /v1/jobs`: `202 {job: ID}`, or 409 `busy`, 400 `bad_request`.
async fn start(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(origin) = allowed_origin(&shared, &headers) else { return forbidden_origin() };
    let task: Task = match serde_json::from_slice(&body) {
        Ok(t) => t,
        Err(e) => {
            return cors(
                error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!(
                        "the job is not understood ({e}): send {{\"task\": \"change-passcode\"|\"unlock\"|\"sponsor-unlock\"|\"renew\"|\"ra-renew\"|\"issue\"|\"watch\", …}}"
                    ),
                ),
                origin,
            );
        }
    };
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
    let job = match Job::new() {
        Ok(j) => j,
        Err(e) => return cors(error(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("{e:#}")), origin),
    };
    shared.jobs.lock().unwrap_or_else(PoisonError::into_inner).insert(job.id.clone(), job.clone());
    let id = job.id.clone();
    let s2 = shared.clone();
    tokio::task::spawn_blocking(move || {
        let _busy = guard;
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(run_task(&s2, task, &Progress::Job(job.clone()))));
        match result {
            Ok(v) => job.emit("done", v),
            Err(e) => {
                let unchanged = e.downcast_ref::<tasks::CardChanged>().is_none();
                job.emit("failed", json!({"error": code_of(&e), "message": format!("{e:#}"), "unchanged": unchanged}));
            }
        }
    });
    cors((StatusCode::ACCEPTED, axum::Json(json!({ "job": id }))).into_response(), origin)
}

/// Runs one task on this (blocking) thread's runtime; its result is the `done` event's data.
async fn run_task(shared: &Shared, task: Task, progress: &Progress) -> Result<Value> {
    let agent = &shared.agent;
    let ask = &shared.ask;
    let module = agent.module()?;
    match task {
        Task::ChangePasscode {} => {
            let card = agent.open_card(&module)?;
            tasks::change_passcode(agent, &card, ask).await?;
            Ok(json!({"changed": true}))
        }
        Task::Unlock { code } => {
            let card = agent.open_card(&module)?;
            tasks::unlock_with_code(agent, &card, code.trim(), ask).await?;
            Ok(json!({"unlocked": true, "serial": card.info().serial}))
        }
        Task::SponsorUnlock { card, sponsor_card } => {
            let locked = module.card(&card)?;
            tasks::sponsor_unlock(agent, &module, &locked, &sponsor_card, ask).await?;
            Ok(json!({"unlocked": true, "serial": card}))
        }
        Task::Renew { pause_between } => {
            let card = agent.open_card(&module)?;
            let view = renew::renew(agent, &card, ask, renew::Renewer::Holder, progress, pause_between).await?;
            Ok(serde_json::to_value(view)?)
        }
        Task::RaRenew { desk_ticket, documents, card } => {
            let card = match card {
                Some(serial) => module.card(&serial)?,
                None => agent.open_card(&module)?,
            };
            let who = renew::Renewer::Desk { ticket: desk_ticket, documents };
            let view = renew::renew(agent, &card, ask, who, progress, false).await?;
            Ok(serde_json::to_value(view)?)
        }
        Task::Issue { uid, documents, batch, label, desk_ticket } => {
            let a = tasks::IssueArgs { uid, documents, batch, label };
            let issued = tasks::issue(agent, &module, &desk_ticket, a, ask, progress).await?;
            Ok(json!({"card": issued.card, "auth": issued.auth, "sign": issued.sign}))
        }
        Task::Watch { presence_token } => {
            let card = agent.open_card(&module)?;
            let serial = card.info().serial.clone();
            // The first heartbeat now: a token the server refuses fails the job.
            agent.client.with_bearer(&presence_token).presence(true).await?;
            shared.keep_alive(Presence { serial: serial.clone(), token: presence_token, ticket: false });
            println!("{}", json!({"event": "watching", "card": serial}));
            Ok(json!({ "watching": serial }))
        }
    }
}

/// `GET /v1/jobs/ID`: `{state, events}`.
async fn show(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(origin) = allowed_origin(&shared, &headers) else { return forbidden_origin() };
    let resp = match job(&shared, &id) {
        Some(j) => {
            let (state, events) = j.snapshot();
            (StatusCode::OK, axum::Json(json!({"state": state, "events": events}))).into_response()
        }
        None => no_job(&id),
    };
    cors(resp, origin)
}

/// `GET /v1/jobs/ID/events`: server-sent events, the past ones first.
async fn events(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(origin) = allowed_origin(&shared, &headers) else { return forbidden_origin() };
    let Some(j) = job(&shared, &id) else { return cors(no_job(&id), origin) };
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(j.subscribe())
        .map(|ev| Ok::<_, Infallible>(Event::default().event(ev.event).data(ev.data.to_string())));
    cors(Sse::new(stream).keep_alive(KeepAlive::default()).into_response(), origin)
}

/// `POST /v1/jobs/ID/next`: 204.
async fn next(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(origin) = allowed_origin(&shared, &headers) else { return forbidden_origin() };
    let resp = match job(&shared, &id) {
        Some(j) => {
            j.next();
            StatusCode::NO_CONTENT.into_response()
        }
        None => no_job(&id),
    };
    cors(resp, origin)
}

/// `POST /v1/jobs/ID/cancel`: 204; the job stops at its next step.
async fn cancel(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(origin) = allowed_origin(&shared, &headers) else { return forbidden_origin() };
    let resp = match job(&shared, &id) {
        Some(j) => {
            if !j.finished() {
                j.cancel();
            }
            StatusCode::NO_CONTENT.into_response()
        }
        None => no_job(&id),
    };
    cors(resp, origin)
}

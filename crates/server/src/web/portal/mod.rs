//! The portal (`/portal/…`): smartcard login through the local agent (one-time tickets) or
//! the browser's own TLS client certificate, password login, role choice, the home page,
//! logout, and the event stream that closes the page within a second when the card is removed
//! or the session ends. "My card" (status, change passcode, sponsor unlock, Update My Card) is
//! in `card.rs`, the unlock pages reachable without a session in `unlock.rs`.
//!
//! Every signed-in page of a card-bound session carries the session's presence token
//! (`#presence`), which the page script hands to the local agent (`watch`), so a session the
//! browser opened with its TLS client certificate ends when the card is removed, like one
//! opened through the agent.

mod card;
mod unlock;

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use maud::{Markup, html};
use portal::{Area, PortalError};
use serde::Deserialize;

use crate::state::AppState;
use crate::tls::ClientCertificates;
use crate::web::forms::{
    MAX_FORM_BYTES, PORTAL_COOKIE as COOKIE, PortalForm, PortalUser, TicketForm, has_csrf, removal_cookie, same_origin,
    session_cookie,
};
use crate::web::layout::{APP_JS, Shell, error_page, portal_headers, security_headers};
use crate::web::notice::{Notice, code_of};

/// The portal's routes, with its security headers (the script may talk to the agent at
/// `agent_url`).
pub(crate) fn router(agent_url: &str) -> Router<AppState> {
    Router::new()
        .route("/portal/login", get(login_page).post(password_login))
        .route("/portal/login/card", post(card_login))
        .route("/portal/login/certificate", post(certificate_login))
        .route("/portal/role", get(role_page).post(choose_role))
        .route("/portal/", get(home))
        .route("/portal", get(|| async { Redirect::to("/portal/") }))
        .route("/portal/logout", post(logout))
        .route("/portal/logged-out", get(logged_out))
        .route("/portal/refused", get(refused))
        .route("/portal/events", get(events))
        .route("/portal/app.js", get(app_js))
        .route("/portal/card.js", get(card_js))
        .route("/portal/card", get(card::status_page))
        .route("/portal/card.json", get(card::status_json))
        .route("/portal/card/passcode", get(card::passcode_page))
        .route("/portal/card/renew", get(card::renew_page))
        .route("/portal/card/sponsor", get(card::sponsor_page))
        .route("/portal/unlock", get(unlock::unlock_page_get))
        .route("/portal/unlock/code", post(unlock::send_code))
        .route("/portal/admin/uids", get(uids_page).post(register_uid))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn_with_state(portal_headers(agent_url), security_headers))
}

/// A portal page.
pub(crate) fn page(title: &str, body: Markup, script: bool, agent_url: &str) -> Response {
    crate::web::layout::page(StatusCode::OK, Shell::Portal { script, agent_url }, title, body)
}

/// A signed-in portal page: the page script, the logout button, and for a card-bound session
/// its presence token (`#presence`), which the script hands to the local agent to watch the card.
pub(crate) fn signed_in_page(s: &AppState, sess: &portal::Session, token: &str, title: &str, body: Markup) -> Response {
    let presence = s.web.presence_token(token, sess);
    page(
        title,
        html! {
            (body)
            @if let Some(p) = presence {
                div id="presence" data-token=(p) data-card=[sess.card_serial.as_deref()] hidden {}
                p.nhsuk-body-s id="watch-status" role="status" aria-live="polite" {}
            }
            (logout_form(sess))
        },
        true,
        &s.agent_url,
    )
}

has_csrf!(RoleForm, UidForm);

/// The logout button every signed-in page carries.
fn logout_form(sess: &portal::Session) -> Markup {
    html! {
        form method="post" action="/portal/logout" {
            input type="hidden" name="csrf" value=(sess.csrf_token);
            button.nhsuk-button type="submit" id="logout" { "Log out" }
        }
    }
}

fn cookie(token: String) -> Cookie<'static> {
    session_cookie(COOKIE, token)
}

async fn login_page(State(s): State<AppState>, q: Notice) -> Response {
    page(
        "Log in",
        html! {
            @if let Some(m) = q.msg { p.error role="alert" { (m) } }
            h2 { "With your smartcard" }
            p { "Insert your card; the carecert agent on this computer asks for your passcode." }
            form id="card-login" method="post" action="/portal/login/card" {
                input type="hidden" name="ticket" id="ticket";
                button.nhsuk-button type="button" id="smartcard-login" { "Smartcard login" }
            }
            p.error id="card-error" role="alert" {}
            h2 { "With the smartcard certificate in this browser" }
            form method="post" action="/portal/login/certificate" {
                button.nhsuk-button type="submit" id="certificate-login" { "Log in with my certificate" }
            }
            h2 { "With a password" }
            form method="post" action="/portal/login" {
                p { label.nhsuk-label { "User name " input.nhsuk-input name="username" autocomplete="username" required; } }
                p { label.nhsuk-label { "Password " input.nhsuk-input name="password" type="password" autocomplete="current-password" required; } }
                p { button.nhsuk-button type="submit" { "Log in" } }
            }
        },
        true,
        &s.agent_url,
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    username: String,
    password: String,
}

async fn password_login(
    State(s): State<AppState>,
    crate::extract::Source(source): crate::extract::Source,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<PasswordForm>,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "this form was sent from another site").into_response();
    }
    match s.web.password_login_from(Area::Portal, &f.username, &f.password, None, None, source).await {
        Ok(l) => (jar.add(cookie(l.token)), Redirect::to("/portal/")).into_response(),
        Err(e @ (PortalError::Busy | PortalError::Store(_) | PortalError::Internal(_))) => {
            error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
        Err(e) => Redirect::to(&format!("/portal/login?msg={}", code_of(e))).into_response(),
    }
}

async fn card_login(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<TicketForm>,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "this form was sent from another site; nothing was changed").into_response();
    }
    match s.web.redeem_ticket(Area::Portal, &f.ticket).await {
        Ok((l, roles)) if roles.len() > 1 => (jar.add(cookie(l.token)), Redirect::to("/portal/role")).into_response(),
        Ok((l, _)) => (jar.add(cookie(l.token)), Redirect::to("/portal/")).into_response(),
        Err(e) => Redirect::to(&format!("/portal/refused?msg={}", code_of(e))).into_response(),
    }
}

async fn role_page(State(s): State<AppState>, PortalUser(sess, token): PortalUser) -> Response {
    signed_in_page(
        &s,
        &sess,
        &token,
        "Choose your role",
        html! {
            form method="post" action="/portal/role" {
                input type="hidden" name="csrf" value=(sess.csrf_token);
                @for r in sess.account.roles.iter().filter(|r| Area::Portal.admits(r)) {
                    p { label.nhsuk-label { input type="radio" name="role" value=(r.as_str()) required; " " (r.trim_start_matches("portal:")) } }
                }
                button.nhsuk-button type="submit" { "Continue" }
            }
        },
    )
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

async fn choose_role(State(s): State<AppState>, PortalForm(_sess, token, f): PortalForm<RoleForm>) -> Response {
    match s.web.choose_role(&token, &f.role).await {
        Ok(()) => Redirect::to("/portal/").into_response(),
        Err(e) => (StatusCode::FORBIDDEN, e.to_string()).into_response(),
    }
}

async fn home(State(s): State<AppState>, PortalUser(sess, token): PortalUser) -> Response {
    // The card's announcement (renewal due with its date, RA visit, locked); a card the
    // service cannot read just goes without one.
    let card = card::my_card(&s, &sess).await.ok().flatten();
    let announcement = card.as_ref().and_then(|c| card::announcement(&s, c));
    signed_in_page(
        &s,
        &sess,
        &token,
        "Home",
        html! {
            @if let Some(a) = announcement { (a) }
            p id="welcome" { "Welcome, " (sess.account.name) ". You are working as " strong id="role" { (sess.role.trim_start_matches("portal:")) } "." }
            @if let Some(c) = &sess.card_serial { p { "Logged in with smartcard " (c) ". Removing the card ends this session." } }
            @if card.is_some() { p { a href="/portal/card" id="my-card" { "My card" } " – status, Update My Card, change passcode" } }
            @if sess.role == "portal:admin" { p { a href="/portal/admin/uids" { "Register smartcard UIDs" } } }
        },
    )
}

async fn logout(
    State(s): State<AppState>,
    jar: CookieJar,
    PortalForm(_sess, token, _f): PortalForm<RoleForm>,
) -> Response {
    let _ = s.web.logout(&token).await;
    (jar.add(removal_cookie(COOKIE)), Redirect::to("/portal/logged-out?msg=logged_out")).into_response()
}

async fn logged_out(State(s): State<AppState>, q: Notice) -> Response {
    page(
        "Logged out",
        html! {
            p id="why" { (q.msg.unwrap_or_else(|| "You are logged out.".into())) }
            p { a href="/portal/login" { "Log in again" } }
        },
        false,
        &s.agent_url,
    )
}

async fn refused(State(s): State<AppState>, Query(raw): Query<MsgQuery>, q: Notice) -> Response {
    let locked = matches!(raw.msg.as_deref(), Some("locked" | "card_locked"));
    page(
        "Login refused",
        html! {
            p.error id="why" { (q.msg.unwrap_or_else(|| "The login was refused.".into())) }
            @if locked { p { a href="/portal/unlock" id="unlock-link" { "Unlock your card" } } }
            p id="helpdesk" { "Helpdesk: " (s.enrol.config().helpdesk) }
            p { a href="/portal/login" { "Back to the login page" } }
        },
        false,
        &s.agent_url,
    )
}

/// The refusal code of a redirect, to offer the unlock when the card is locked.
#[derive(Deserialize, Default)]
struct MsgQuery {
    #[serde(default)]
    msg: Option<String>,
}

/// Server-sent events for the open page: `ended` as soon as the session is over (logout
/// elsewhere, idle timeout, card removed, agent heartbeat missed). Checked every 200 ms.
async fn events(State(s): State<AppState>, jar: CookieJar) -> Response {
    let token = jar.get(COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
    let stream = async_stream(s, token);
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

fn async_stream(s: AppState, token: String) -> impl futures_core::Stream<Item = Result<Event, Infallible>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Event, Infallible>>(2);
    tokio::spawn(async move {
        loop {
            let live = s.web.still_live(&token).await.unwrap_or(false);
            if !live {
                let _ = tx.send(Ok(Event::default().event("ended").data("session ended"))).await;
                return;
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

pub(crate) async fn app_js() -> Response {
    let mut resp = (StatusCode::OK, APP_JS).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    resp
}

/// The "My card" pages' script: starts the agent's jobs and shows their progress.
const CARD_JS: &str = include_str!("../static/card.js");

async fn card_js() -> Response {
    let mut resp = (StatusCode::OK, CARD_JS).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    resp
}

/// Portal administrators register a smartcard UID to a portal user (no email to a helpdesk).
async fn uids_page(State(s): State<AppState>, PortalUser(sess, token): PortalUser, q: Notice) -> Response {
    if sess.role != "portal:admin" {
        return (StatusCode::FORBIDDEN, "registering UIDs needs the portal administrator role").into_response();
    }
    signed_in_page(
        &s,
        &sess,
        &token,
        "Register a smartcard UID",
        html! {
            @if let Some(d) = q.done { p role="status" { (d) } }
            @if let Some(m) = q.msg { p.error role="alert" { (m) } }
            form method="post" action="/portal/admin/uids" {
                input type="hidden" name="csrf" value=(sess.csrf_token);
                p { label.nhsuk-label { "UID on the card " input.nhsuk-input name="uid" required pattern="[0-9]{1,20}"; } }
                p { label.nhsuk-label { "User name " input.nhsuk-input name="username" required; } }
                p { label.nhsuk-label { "Full name " input.nhsuk-input name="name" required; } }
                p { label.nhsuk-label { "Role " input.nhsuk-input name="role" required placeholder="e.g. clinician"; } }
                button.nhsuk-button type="submit" { "Register" }
            }
            p { a href="/portal/" { "Back" } }
        },
    )
}

#[derive(Deserialize)]
struct UidForm {
    #[serde(default)]
    csrf: String,
    uid: String,
    username: String,
    name: String,
    role: String,
}

async fn register_uid(State(s): State<AppState>, PortalForm(sess, _token, f): PortalForm<UidForm>) -> Response {
    if sess.role != "portal:admin" {
        return (StatusCode::FORBIDDEN, "registering UIDs needs the portal administrator role").into_response();
    }
    if f.uid.is_empty() || f.uid.len() > 20 || !f.uid.bytes().all(|b| b.is_ascii_digit()) {
        return uid_refused(&s, StatusCode::BAD_REQUEST, "A UID is digits only (at most 20).");
    }
    // Exactly one portal role: `clinician,ra`, `ra ` and ` ra` are refused, not split or trimmed.
    let role = match format!("portal:{}", f.role.strip_prefix("portal:").unwrap_or(&f.role)).parse::<portal::Role>() {
        Ok(r) => r,
        Err(e) => return uid_refused(&s, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let actor = format!("web:{}", sess.account.username);
    match s.web.add_account(&f.username, &f.name, Some(&f.uid), &[role], None, &actor).await {
        Ok(_) => Redirect::to(&format!("/portal/admin/uids?done=uid_registered&uid={}", f.uid)).into_response(),
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            uid_refused(&s, e.status, &e.message)
        }
    }
}

/// The UID form's refusal, shown at once with the reason (never through the URL).
fn uid_refused(s: &AppState, status: StatusCode, message: &str) -> Response {
    let body: Markup = html! {
        p.error role="alert" { (message) }
        p { a href="/portal/admin/uids" { "Back" } }
    };
    crate::web::layout::page(status, Shell::Portal { script: false, agent_url: &s.agent_url }, "Not registered", body)
}

/// Login with the card's authentication certificate that the browser presented in the TLS
/// handshake (browsers with smartcard middleware): same checks as the agent's login, and the
/// session is bound to the card (see [`portal::Web::open_for_uid`]: the page hands the agent
/// its presence token; removal, or no agent watching, ends it).
async fn certificate_login(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    certs: Option<axum::Extension<ClientCertificates>>,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "this form was sent from another site").into_response();
    }
    let Some(leaf) = certs.and_then(|axum::Extension(c)| c.0.first().map(|c| c.as_ref().to_vec())) else {
        return Redirect::to("/portal/refused?msg=no_certificate").into_response();
    };
    let result = async {
        let (serial, uid) = s.cards.card_for_certificate(&leaf).await.map_err(code_of)?;
        s.web.open_for_uid(Area::Portal, &uid, &serial).await.map_err(code_of)
    }
    .await;
    match result {
        Ok((l, roles)) if roles.len() > 1 => (jar.add(cookie(l.token)), Redirect::to("/portal/role")).into_response(),
        Ok((l, _)) => (jar.add(cookie(l.token)), Redirect::to("/portal/")).into_response(),
        Err(code) => Redirect::to(&format!("/portal/refused?msg={code}")).into_response(),
    }
}

//! The RA and operator console (`/ra/…`): server-rendered pages (maud escapes everything),
//! no JavaScript needed, every form carries the session's anti-CSRF token and must come
//! from this origin, cookies are `__Host-`, `Secure`, `HttpOnly`, `SameSite=Strict`.

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use maud::{DOCTYPE, Markup, html};
use portal::{Area, PortalError, Session};
use serde::Deserialize;

use crate::AppState;

const RA_COOKIE: &str = "__Host-carecert_ra";
/// Largest form body accepted.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ra/login", get(login_page).post(login))
        .route("/ra/logout", post(logout))
        .route("/ra/", get(dashboard))
        .route("/ra/requests", get(queue))
        .route("/ra/requests/{id}/approve", post(approve))
        .route("/ra/requests/{id}/deny", post(deny))
        .route("/ra/audit", get(audit))
        .route("/ra", get(|| async { Redirect::to("/ra/") }))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
}

/// A page answer with the console's security headers.
fn page(status: StatusCode, title: &str, session: Option<&Session>, body: Markup) -> Response {
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · carecert RA" }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                header {
                    strong { "carecert RA console" }
                    @if let Some(s) = session {
                        nav {
                            a href="/ra/" { "Dashboard" } " "
                            a href="/ra/requests" { "Requests" } " "
                            a href="/ra/audit" { "Audit log" }
                        }
                        form.logout method="post" action="/ra/logout" {
                            span { (s.account.name) " (" (s.role) ") " }
                            input type="hidden" name="csrf" value=(s.csrf_token);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    };
    let mut resp = (status, doc).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    resp
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}header{display:flex;gap:2em;align-items:center;background:#005eb8;color:#fff;padding:.6em 1.2em}header a{color:#fff}form.logout{margin-left:auto}main{padding:1em 1.5em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.error{color:#b00;font-weight:bold}.ok{color:#060;font-weight:bold}.card{display:inline-block;border:1px solid #ccc;padding:1em;margin:.5em;min-width:10em}";

fn error_page(status: StatusCode, message: &str) -> Response {
    page(status, "Sorry", None, html! { p.error { (message) } p { a href="/ra/login" { "Log in" } } })
}

/// A logged-in RA or operator.
pub(crate) struct RaUser(Session);

impl FromRequestParts<AppState> for RaUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar.get(RA_COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
        match state.web.session(Area::Ra, &token).await {
            Ok(s) => Ok(RaUser(s)),
            Err(PortalError::SessionEnded(m)) => {
                Err(Redirect::to(&format!("/ra/login?msg={}", urlencode(&m))).into_response())
            }
            Err(e) => Err(error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())),
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The refusal of a form from another origin or without this session's token, if any.
fn check_form(state: &AppState, headers: &HeaderMap, session: Option<&Session>, csrf: &str) -> Option<Response> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if let Some(o) = origin
        && o != format!("https://{host}")
    {
        return Some(error_page(StatusCode::FORBIDDEN, "this form was sent from another site; nothing was changed"));
    }
    if let Some(s) = session
        && state.web.check_csrf(s, csrf).is_err()
    {
        return Some(error_page(StatusCode::FORBIDDEN, &PortalError::Csrf.to_string()));
    }
    None
}

#[derive(Deserialize)]
struct Msg {
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

async fn login_page(Query(q): Query<Msg>) -> Response {
    page(
        StatusCode::OK,
        "Log in",
        None,
        html! {
            @if let Some(m) = q.msg { p.error { (m) } }
            form method="post" action="/ra/login" {
                p { label { "User name " input name="username" autocomplete="username" required; } }
                p { label { "Password " input name="password" type="password" autocomplete="current-password" required; } }
                p { button type="submit" { "Log in" } }
            }
            p { "RA staff with a smartcard log in through the card agent; operators use a password." }
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(State(s): State<AppState>, headers: HeaderMap, jar: CookieJar, Form(f): Form<LoginForm>) -> Response {
    if let Some(r) = check_form(&s, &headers, None, "") {
        return r;
    }
    match s.web.password_login(Area::Ra, &f.username, &f.password, None).await {
        Ok(l) => {
            let c = Cookie::build((RA_COOKIE, l.token))
                .path("/")
                .secure(true)
                .http_only(true)
                .same_site(SameSite::Strict)
                .build();
            (jar.add(c), Redirect::to("/ra/")).into_response()
        }
        Err(e @ (PortalError::LoginFailed | PortalError::NoRole)) => {
            Redirect::to(&format!("/ra/login?msg={}", urlencode(&e.to_string()))).into_response()
        }
        Err(e) => error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    RaUser(session): RaUser,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = check_form(&s, &headers, Some(&session), &f.csrf) {
        return r;
    }
    if let Some(c) = jar.get(RA_COOKIE) {
        let _ = s.web.logout(c.value()).await;
    }
    (jar.remove(Cookie::build(RA_COOKIE).path("/")), Redirect::to("/ra/login?msg=You%20have%20logged%20out."))
        .into_response()
}

async fn dashboard(State(s): State<AppState>, RaUser(session): RaUser) -> Response {
    let pending = s
        .enrol
        .list_requests(&store::RequestFilter {
            status: vec![store::RequestStatus::Pending],
            limit: 1000,
            ..Default::default()
        })
        .await
        .map(|v| v.len())
        .unwrap_or(0);
    page(
        StatusCode::OK,
        "Dashboard",
        Some(&session),
        html! {
            div.card { h2 { "Pending requests" } p.big { (pending) } a href="/ra/requests" { "Open the queue" } }
            div.card { h2 { "Audit log" } a href="/ra/audit" { "Read and verify" } }
        },
    )
}

fn date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| format!("{:04}-{:02}-{:02} {:02}:{:02}", d.year(), u8::from(d.month()), d.day(), d.hour(), d.minute()))
        .unwrap_or_default()
}

async fn queue(State(s): State<AppState>, RaUser(session): RaUser, Query(q): Query<Msg>) -> Response {
    let rows = match s
        .enrol
        .list_requests(&store::RequestFilter {
            status: vec![store::RequestStatus::Pending],
            limit: 200,
            ..Default::default()
        })
        .await
    {
        Ok(r) => r,
        Err(e) => return error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    page(
        StatusCode::OK,
        "Requests waiting for the RA",
        Some(&session),
        html! {
            @if let Some(d) = q.done { p.ok role="status" { (d) } }
            @if let Some(m) = q.msg { p.error role="alert" { (m) } }
            @if rows.is_empty() { p { "No request is waiting." } } @else {
                table {
                    thead { tr { th { "Request ID" } th { "EPOC" } th { "Created" } th { "Approve" } th { "Deny" } } }
                    tbody {
                        @for r in &rows {
                            tr id=(format!("request-{}", r.id)) {
                                td { (r.id) } td { (r.epoc) } td { (date(r.created_at)) }
                                td { form method="post" action=(format!("/ra/requests/{}/approve", r.id)) {
                                    input type="hidden" name="csrf" value=(session.csrf_token);
                                    button type="submit" { "Approve" }
                                } }
                                td { form method="post" action=(format!("/ra/requests/{}/deny", r.id)) {
                                    input type="hidden" name="csrf" value=(session.csrf_token);
                                    input name="reason" placeholder="Reason (the requester sees it)" required maxlength="500";
                                    button type="submit" { "Deny" }
                                } }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize)]
struct DenyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn approve(
    State(s): State<AppState>,
    headers: HeaderMap,
    RaUser(session): RaUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = check_form(&s, &headers, Some(&session), &f.csrf) {
        return r;
    }
    let actor = format!("ra:{}", session.account.username);
    match s.enrol.approve(id, &actor).await {
        Ok(r) => Redirect::to(&format!(
            "/ra/requests?done={}",
            urlencode(&format!("Request {id} approved: certificate {} issued.", r.serial.unwrap_or_default()))
        ))
        .into_response(),
        Err(e) => Redirect::to(&format!("/ra/requests?msg={}", urlencode(&e.to_string()))).into_response(),
    }
}

async fn deny(
    State(s): State<AppState>,
    headers: HeaderMap,
    RaUser(session): RaUser,
    Path(id): Path<i64>,
    Form(f): Form<DenyForm>,
) -> Response {
    if let Some(r) = check_form(&s, &headers, Some(&session), &f.csrf) {
        return r;
    }
    let actor = format!("ra:{}", session.account.username);
    match s.enrol.deny(id, &actor, &f.reason).await {
        Ok(_) => {
            Redirect::to(&format!("/ra/requests?done={}", urlencode(&format!("Request {id} denied.")))).into_response()
        }
        Err(e) => Redirect::to(&format!("/ra/requests?msg={}", urlencode(&e.to_string()))).into_response(),
    }
}

async fn audit(State(s): State<AppState>, RaUser(session): RaUser) -> Response {
    let store = s.authority.store();
    let (entries, verified) = match (store.recent_audit_entries(100).await, store.verify_audit().await) {
        (Ok(e), Ok(v)) => (e, v),
        (Err(e), _) | (_, Err(e)) => return error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    page(
        StatusCode::OK,
        "Audit log",
        Some(&session),
        html! {
            @match &verified.first_broken {
                None => p.ok { "Chain verified: " (verified.entries) " entries intact." },
                Some(b) => p.error { "Chain BROKEN at entry " (b.seq) ": " (b.problem) },
            }
            table {
                thead { tr { th { "#" } th { "When (UTC)" } th { "Who" } th { "What" } th { "Subject" } th { "Details" } } }
                tbody {
                    @for e in &entries {
                        tr { td { (e.seq) } td { (date(e.at_ms / 1000)) } td { (e.actor) } td { (e.action) } td { (e.subject) } td { code { (e.details) } } }
                    }
                }
            }
        },
    )
}

//! The RA and operator console (`/ra/…`): server-rendered pages (maud escapes everything),
//! no JavaScript needed, every form carries the session's anti-CSRF token and must come
//! from this origin, cookies are `__Host-`, `Secure`, `HttpOnly`, `SameSite=Strict`.

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use maud::{DOCTYPE, Markup, html};
use portal::{Area, PortalError, Session};
use serde::Deserialize;

use crate::AppState;
use crate::web_common::{TicketForm, same_origin, session_cookie, urlencode};

const RA_COOKIE: &str = "__Host-carecert_ra";
/// Largest form body accepted.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ra/login", get(login_page).post(login))
        .route("/ra/login/card", post(card_login))
        .route("/ra/logout", post(logout))
        .route("/ra/", get(dashboard))
        .route("/ra/requests", get(queue))
        .route("/ra/requests/{id}/approve", post(approve))
        .route("/ra/requests/{id}/deny", post(deny))
        .route("/ra/audit", get(audit))
        .route("/ra/orgs", get(orgs).post(add_org))
        .route("/ra/orgs/{epoc}/pin-letter", post(pin_letter))
        .route("/ra/cards", get(cards_page))
        .route("/ra/certificates", get(certificates))
        .route("/ra/certificates/{issuer}/{serial}/revoke", post(revoke_certificate))
        .route("/ra/releases", get(releases).post(add_release))
        .route("/ra/users", get(users).post(add_user))
        .route("/ra/sponsors", post(grant_sponsor))
        .route("/ra/cards/{serial}/unlock", post(unlock_card))
        .route("/ra/cards/{serial}/cancel", post(cancel_card))
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
                            a href="/ra/orgs" { "Organisations" } " "
                            a href="/ra/certificates" { "Certificates" } " "
                            a href="/ra/users" { "People" } " "
                            a href="/ra/cards" { "Cards" } " "
                            a href="/ra/releases" { "Releases" } " "
                            a href="/ra/audit" { "Audit log" }
                        }
                        form.logout method="post" action="/ra/logout" {
                            span { (s.account.name) " (" (s.role.as_str()) ") " }
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

/// The refusal of a form from another origin or without this session's token, if any.
fn check_form(state: &AppState, headers: &HeaderMap, session: Option<&Session>, csrf: &str) -> Option<Response> {
    if !same_origin(headers) {
        return Some(error_page(StatusCode::FORBIDDEN, "this form was sent from another site; nothing was changed"));
    }
    if let Some(s) = session
        && state.web.check_csrf(s, csrf).is_err()
    {
        return Some(error_page(StatusCode::FORBIDDEN, &PortalError::Csrf.to_string()));
    }
    None
}

/// A form whose anti-CSRF token is checked.
trait HasCsrf {
    fn csrf(&self) -> &str;
}

/// Implements [`HasCsrf`] for forms with a `csrf` field.
macro_rules! has_csrf {
    ($($t:ty),* $(,)?) => { $(impl HasCsrf for $t { fn csrf(&self) -> &str { &self.csrf } })* };
}
has_csrf!(CsrfForm, DenyForm, OrgForm, DocumentsForm, RevokeForm, ReleaseForm, UserForm, SponsorForm);

/// A form posted by a logged-in RA user: from this origin, with the session's anti-CSRF
/// token, within the size limit — or the refusal page.
pub(crate) struct RaForm<T>(Session, T);

impl<T: serde::de::DeserializeOwned + HasCsrf + Send> FromRequest<AppState> for RaForm<T> {
    type Rejection = Response;
    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let RaUser(session) = RaUser::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let req = axum::extract::Request::from_parts(parts, body);
        let Form(f) = Form::<T>::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        if let Some(r) = check_form(state, &headers, Some(&session), f.csrf()) {
            return Err(r);
        }
        Ok(RaForm(session, f))
    }
}

#[derive(Deserialize)]
struct Msg {
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

async fn login_page(State(s): State<AppState>, Query(q): Query<Msg>) -> Response {
    let mut resp = page(
        StatusCode::OK,
        "Log in",
        None,
        html! {
            @if let Some(m) = q.msg { p.error role="alert" { (m) } }
            div data-agent=(s.agent_url) id="agent" {}
            h2 { "RA staff: with your smartcard" }
            form id="card-login" method="post" action="/ra/login/card" {
                input type="hidden" name="ticket" id="ticket";
                button type="button" id="smartcard-login" { "Smartcard login" }
            }
            p.error id="card-error" role="alert" {}
            h2 { "Operators: password and authenticator code" }
            form method="post" action="/ra/login" {
                p { label { "User name " input name="username" autocomplete="username" required; } }
                p { label { "Password " input name="password" type="password" autocomplete="current-password" required; } }
                p { label { "Code from your authenticator app " input name="code" inputmode="numeric" autocomplete="one-time-code" required pattern="[0-9]{6}"; } }
                p { button type="submit" { "Log in" } }
            }
            script src="/portal/app.js" defer {}
        },
    );
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self' {}; form-action 'self'; frame-ancestors 'none'",
        s.agent_url
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

async fn card_login(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<TicketForm>,
) -> Response {
    if let Some(r) = check_form(&s, &headers, None, "") {
        return r;
    }
    match s.web.redeem_ticket(Area::Ra, &f.ticket).await {
        Ok((l, _)) => {
            let c = session_cookie(RA_COOKIE, l.token);
            (jar.add(c), Redirect::to("/ra/")).into_response()
        }
        Err(e) => Redirect::to(&format!("/ra/login?msg={}", urlencode(&e.to_string()))).into_response(),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    code: String,
}

async fn login(State(s): State<AppState>, headers: HeaderMap, jar: CookieJar, Form(f): Form<LoginForm>) -> Response {
    if let Some(r) = check_form(&s, &headers, None, "") {
        return r;
    }
    match s.web.password_login(Area::Ra, &f.username, &f.password, Some(&f.code), None).await {
        Ok(l) => {
            let c = session_cookie(RA_COOKIE, l.token);
            (jar.add(c), Redirect::to("/ra/")).into_response()
        }
        Err(e @ (PortalError::LoginFailed | PortalError::NoRole | PortalError::SecondFactor)) => {
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

async fn logout(State(s): State<AppState>, jar: CookieJar, RaForm(_session, _form): RaForm<CsrfForm>) -> Response {
    if let Some(c) = jar.get(RA_COOKIE) {
        let _ = s.web.logout(c.value()).await;
    }
    (jar.remove(Cookie::build(RA_COOKIE).path("/")), Redirect::to("/ra/login?msg=You%20have%20logged%20out."))
        .into_response()
}

async fn dashboard(State(s): State<AppState>, RaUser(session): RaUser) -> Response {
    let store = s.authority.store();
    let now = s.authority.clock().now().unix_timestamp();
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
    let locked = store.locked_cards().await.unwrap_or(0);
    let certs = store.certificates_expiring_per_week(Some("systems"), now, 26).await.unwrap_or_default();
    let cards = store.cards_expiring_per_week(now, 26).await.unwrap_or_default();
    page(
        StatusCode::OK,
        "Dashboard",
        Some(&session),
        html! {
            div.card id="pending" { h2 { "Pending requests" } p.big { (pending) } a href="/ra/requests" { "Open the queue" } }
            div.card id="locked" { h2 { "Locked cards" } p.big { (locked) } a href="/ra/cards" { "Cards" } }
            h2 { "Expiring in the next 26 weeks" }
            (chart(&certs, &cards))
            p { "Bars per week from today: machine certificates (blue), smartcards (green)." }
        },
    )
}

/// A server-drawn SVG bar chart of two weekly series (no script needed).
fn chart(a: &[i64], b: &[i64]) -> Markup {
    let max = a.iter().chain(b.iter()).copied().max().unwrap_or(0).max(1) as f64;
    let (w, h, bar) = (26 * 28 + 40, 180.0, 11.0);
    html! {
        svg id="expiry-chart" width=(w) height="210" role="img" aria-label="Certificates and cards expiring per week" xmlns="http://www.w3.org/2000/svg" {
            @for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
                @let left = 30.0 + i as f64 * 28.0;
                @let ha = (*x as f64 / max) * h;
                @let hb = (*y as f64 / max) * h;
                rect x=(left) y=(190.0 - ha) width=(bar) height=(ha) fill="#005eb8" { title { "week " (i + 1) ": " (x) " certificates" } }
                rect x=(left + bar) y=(190.0 - hb) width=(bar) height=(hb) fill="#009639" { title { "week " (i + 1) ": " (y) " cards" } }
                @if i % 4 == 0 { text x=(left) y="205" font-size="10" { "w" (i + 1) } }
            }
            text x="0" y="12" font-size="10" { (max as i64) }
            line x1="28" y1="190" x2=(w) y2="190" stroke="#333";
        }
    }
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

async fn approve(State(s): State<AppState>, Path(id): Path<i64>, RaForm(session, _form): RaForm<CsrfForm>) -> Response {
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

async fn deny(State(s): State<AppState>, Path(id): Path<i64>, RaForm(session, f): RaForm<DenyForm>) -> Response {
    let actor = format!("ra:{}", session.account.username);
    match s.enrol.deny(id, &actor, &f.reason).await {
        Ok(_) => {
            Redirect::to(&format!("/ra/requests?done={}", urlencode(&format!("Request {id} denied.")))).into_response()
        }
        Err(e) => Redirect::to(&format!("/ra/requests?msg={}", urlencode(&e.to_string()))).into_response(),
    }
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

async fn audit(State(s): State<AppState>, RaUser(session): RaUser, Query(q): Query<Search>) -> Response {
    let store = s.authority.store();
    let needle = q.q.clone().unwrap_or_default().to_lowercase();
    let (entries, verified) = match (store.recent_audit_entries(2000).await, store.verify_audit().await) {
        (Ok(e), Ok(v)) => (e, v),
        (Err(e), _) | (_, Err(e)) => return error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|e| {
            needle.is_empty()
                || [&e.actor, &e.action, &e.subject, &e.details].iter().any(|f| f.to_lowercase().contains(&needle))
        })
        .take(200)
        .collect();
    page(
        StatusCode::OK,
        "Audit log",
        Some(&session),
        html! {
            form method="get" action="/ra/audit" {
                label { "Search " input name="q" value=(q.q.clone().unwrap_or_default()) placeholder="who, what, subject"; } " "
                button type="submit" { "Search" }
            }
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

async fn orgs(State(s): State<AppState>, RaUser(session): RaUser, Query(q): Query<Msg>) -> Response {
    let list = s.enrol.organisations().await.unwrap_or_default();
    page(
        StatusCode::OK,
        "Organisations",
        Some(&session),
        html! {
            @if let Some(d) = q.done { p.ok role="status" { (d) } }
            @if let Some(m) = q.msg { p.error role="alert" { (m) } }
            table {
                thead { tr { th { "EPOC" } th { "Name" } th { "Kind" } th { "Status" } th { "Approval" } th { "PIN letter" } } }
                tbody {
                    @for o in &list {
                        tr id=(format!("org-{}", o.epoc)) {
                            td { (o.epoc) } td { (o.name) } td { (o.kind) } td { (o.status) } td { (o.approval) }
                            td { form method="post" action=(format!("/ra/orgs/{}/pin-letter", o.epoc)) {
                                input type="hidden" name="csrf" value=(session.csrf_token);
                                button type="submit" { "Issue PIN letter (PDF)" }
                            } }
                        }
                    }
                }
            }
            h2 { "Add an organisation" }
            form method="post" action="/ra/orgs" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                label { "EPOC " input name="epoc" required pattern="[0-9]{1,12}"; } " "
                label { "Name " input name="name" required maxlength="64"; } " "
                label { "Kind " select name="kind" { option { "pharmacy" } option { "gp" } option { "dental" } option { "ophthalmic" } } } " "
                label { "Approval " select name="approval" { option { "ra-queue" } option { "automatic" } } } " "
                button type="submit" { "Add" }
            }
        },
    )
}

#[derive(Deserialize)]
struct OrgForm {
    #[serde(default)]
    csrf: String,
    epoc: String,
    name: String,
    kind: String,
    approval: String,
}

async fn add_org(State(s): State<AppState>, RaForm(session, f): RaForm<OrgForm>) -> Response {
    let actor = format!("ra:{}", session.account.username);
    let result = match (f.kind.parse(), f.approval.parse()) {
        (Ok(kind), Ok(approval)) => {
            s.enrol.add_organisation(&f.epoc, &f.name, kind, approval, &actor).await.map_err(|e| e.to_string())
        }
        _ => Err("choose a kind and an approval policy from the lists".to_string()),
    };
    match result {
        Ok(o) => Redirect::to(&format!("/ra/orgs?done={}", urlencode(&format!("Added {} ({}).", o.name, o.epoc))))
            .into_response(),
        Err(m) => Redirect::to(&format!("/ra/orgs?msg={}", urlencode(&m))).into_response(),
    }
}

async fn pin_letter(
    State(s): State<AppState>,
    Path(epoc): Path<String>,
    RaForm(session, _form): RaForm<CsrfForm>,
) -> Response {
    match s.enrol.issue_pin(&epoc, &format!("ra:{}", session.account.username)).await {
        Ok(p) => {
            let name = format!("attachment; filename=\"pin-letter-{}.pdf\"", p.letter.epoc);
            let mut resp = (StatusCode::OK, p.pdf).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
            if let Ok(v) = HeaderValue::from_str(&name) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => Redirect::to(&format!("/ra/orgs?msg={}", urlencode(&e.to_string()))).into_response(),
    }
}

#[derive(Deserialize)]
struct CardQuery {
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

async fn cards_page(State(s): State<AppState>, RaUser(session): RaUser, Query(q): Query<CardQuery>) -> Response {
    let found = match q.serial.as_deref().filter(|x| !x.is_empty()) {
        Some(serial) => Some(s.cards.view(serial).await.map_err(|e| e.to_string())),
        None => None,
    };
    page(
        StatusCode::OK,
        "Cards",
        Some(&session),
        html! {
            @if let Some(d) = q.done { p.ok role="status" { (d) } }
            @if let Some(m) = q.msg { p.error role="alert" { (m) } }
            form method="get" action="/ra/cards" {
                label { "Card serial " input name="serial" value=(q.serial.clone().unwrap_or_default()); } " "
                button type="submit" { "Find" }
            }
            @match found {
                None => {},
                Some(Err(m)) => p.error { (m) },
                Some(Ok(v)) => {
                    table id="card" {
                        tr { th { "Serial" } td { (v.card.serial) } }
                        tr { th { "Holder UID" } td { (v.card.uid) } }
                        tr { th { "Status" } td id="card-status" { (v.card.status) } }
                        tr { th { "Expires" } td { (v.card.not_after.map(date).unwrap_or_default()) } }
                        tr { th { "Remote renewals left" } td { (v.remote_renewals_left) } }
                    }
                    h2 { "Unlock face to face" }
                    form method="post" action=(format!("/ra/cards/{}/unlock", v.card.serial)) {
                        input type="hidden" name="csrf" value=(session.csrf_token);
                        label { "Identity documents checked " input name="documents" required maxlength="200"; } " "
                        button type="submit" { "Unlock" }
                    }
                    h2 { "Cancel the card" }
                    form method="post" action=(format!("/ra/cards/{}/cancel", v.card.serial)) {
                        input type="hidden" name="csrf" value=(session.csrf_token);
                        button type="submit" { "Cancel card and revoke its certificates" }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize)]
struct DocumentsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    documents: String,
}

async fn unlock_card(
    State(s): State<AppState>,
    Path(serial): Path<String>,
    RaForm(session, f): RaForm<DocumentsForm>,
) -> Response {
    if f.documents.trim().is_empty() {
        return Redirect::to(&format!(
            "/ra/cards?serial={}&msg={}",
            urlencode(&serial),
            urlencode("record the identity documents checked")
        ))
        .into_response();
    }
    match s.cards.ra_unlock(&serial, &format!("ra:{}", session.account.username), &f.documents).await {
        Ok(u) => page(
            StatusCode::OK,
            "Card unlocked",
            Some(&session),
            html! {
                p.ok role="status" { "Card " (u.card_serial) " is unlocked." }
                p { "In the card agent at this desk, set the holder's new passcode with this SO PIN (shown once): " code id="so-pin" { (u.so_pin) } }
                p { a href=(format!("/ra/cards?serial={}", urlencode(&u.card_serial))) { "Back to the card" } }
            },
        ),
        Err(e) => Redirect::to(&format!("/ra/cards?serial={}&msg={}", urlencode(&serial), urlencode(&e.to_string())))
            .into_response(),
    }
}

async fn cancel_card(
    State(s): State<AppState>,
    Path(serial): Path<String>,
    RaForm(session, _form): RaForm<CsrfForm>,
) -> Response {
    let actor = format!("ra:{}", session.account.username);
    match s.cards.cancel_card(&serial, &actor, pki::RevocationReason::AffiliationChanged).await {
        Ok(()) => Redirect::to(&format!(
            "/ra/cards?serial={}&done={}",
            urlencode(&serial),
            urlencode("Card cancelled; its certificates are revoked.")
        ))
        .into_response(),
        Err(e) => Redirect::to(&format!("/ra/cards?serial={}&msg={}", urlencode(&serial), urlencode(&e.to_string())))
            .into_response(),
    }
}

async fn certificates(State(s): State<AppState>, RaUser(session): RaUser, Query(q): Query<Search>) -> Response {
    let store = s.authority.store();
    let text = q.q.clone().unwrap_or_default();
    let status = q.status.clone().filter(|x| !x.is_empty());
    let found = match pki::cert::normalize_serial_hex(&text).filter(|_| text.len() >= 8) {
        Some(serial) => store.certificates_by_serial(&serial).await,
        None => {
            store
                .certificates(&store::CertificateFilter {
                    issuer: None,
                    status: status.clone(),
                    subject_contains: (!text.is_empty()).then(|| text.clone()),
                    limit: 200,
                })
                .await
        }
    };
    let rows = match found {
        Ok(r) => r,
        Err(e) => return error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    page(
        StatusCode::OK,
        "Certificates",
        Some(&session),
        html! {
            @if let Some(d) = q.done { p.ok role="status" { (d) } }
            @if let Some(m) = q.msg { p.error role="alert" { (m) } }
            form method="get" action="/ra/certificates" {
                label { "Organisation (EPOC or name), subject or serial " input name="q" value=(text); } " "
                label { "Status " select name="status" {
                    option value="" { "any" }
                    @for st in ["issued", "revoked", "reserved"] { option value=(st) selected[status.as_deref() == Some(st)] { (st) } }
                } } " "
                button type="submit" { "Search" }
            }
            table {
                thead { tr { th { "Serial" } th { "CA" } th { "Profile" } th { "Subject" } th { "Status" } th { "Expires" } th { "Revoke" } } }
                tbody {
                    @for c in &rows {
                        @let st = match c.status { store::CertStatus::Issued => "issued", store::CertStatus::Revoked { .. } => "revoked", store::CertStatus::Reserved => "reserved" };
                        tr id=(format!("cert-{}", c.serial)) {
                            td { code { (c.serial) } } td { (c.issuer) } td { (c.profile) } td { (c.subject) } td { (st) } td { (date(c.not_after)) }
                            td { @if st == "issued" {
                                form method="post" action=(format!("/ra/certificates/{}/{}/revoke", c.issuer, c.serial)) {
                                    input type="hidden" name="csrf" value=(session.csrf_token);
                                    select name="reason" {
                                        @for r in ["keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "unspecified"] { option { (r) } }
                                    }
                                    button type="submit" { "Revoke" }
                                }
                            } }
                        }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn revoke_certificate(
    State(s): State<AppState>,
    Path((issuer, serial)): Path<(String, String)>,
    RaForm(session, f): RaForm<RevokeForm>,
) -> Response {
    let Some(reason) = pki::RevocationReason::parse(&f.reason) else {
        return Redirect::to(&format!("/ra/certificates?msg={}", urlencode("choose a revocation reason")))
            .into_response();
    };
    let req = ca::RevokeRequest {
        ca: Some(issuer),
        serial: serial.clone(),
        reason,
        actor: format!("ra:{}", session.account.username),
    };
    match s.authority.revoke(req).await {
        Ok(r) => Redirect::to(&format!(
            "/ra/certificates?q={}&done={}",
            urlencode(&serial),
            urlencode(&format!(
                "Certificate {} revoked ({}); CRL {} lists it.",
                r.serial,
                r.reason.name(),
                r.crl_number
            ))
        ))
        .into_response(),
        Err(e) => Redirect::to(&format!("/ra/certificates?q={}&msg={}", urlencode(&serial), urlencode(&e.to_string())))
            .into_response(),
    }
}

async fn releases(State(s): State<AppState>, RaUser(session): RaUser, Query(q): Query<Search>) -> Response {
    let mut all = Vec::new();
    for product in ["ecmt", "carecert-agent"] {
        all.extend(s.enrol.releases(product).await.unwrap_or_default());
    }
    page(
        StatusCode::OK,
        "Releases and minimum versions",
        Some(&session),
        html! {
            @if let Some(d) = q.done { p.ok role="status" { (d) } }
            @if let Some(m) = q.msg { p.error role="alert" { (m) } }
            table {
                thead { tr { th { "Product" } th { "Version" } th { "Minimum" } th { "Download" } th { "Notes" } } }
                tbody { @for r in &all { tr { td { (r.product) } td { (r.version) } td { @if r.minimum { "yes" } } td { (r.url) } td { (r.notes) } } } }
            }
            h2 { "Register a release" }
            form method="post" action="/ra/releases" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                label { "Product " select name="product" { option { "ecmt" } option { "carecert-agent" } } } " "
                label { "Version " input name="version" required placeholder="1.4.2"; } " "
                label { input type="checkbox" name="minimum" value="true"; " minimum supported" } " "
                label { "Download URL " input name="url" required; } " "
                label { "SHA-256 " input name="sha256" required pattern="[0-9a-fA-F]{64}"; } " "
                label { "Notes " input name="notes"; } " "
                button type="submit" { "Register" }
            }
        },
    )
}

#[derive(Deserialize)]
struct ReleaseForm {
    #[serde(default)]
    csrf: String,
    product: String,
    version: String,
    #[serde(default)]
    minimum: Option<String>,
    url: String,
    sha256: String,
    #[serde(default)]
    notes: String,
}

async fn add_release(State(s): State<AppState>, RaForm(session, f): RaForm<ReleaseForm>) -> Response {
    let actor = format!("ra:{}", session.account.username);
    match s.enrol.add_release(&f.product, &f.version, f.minimum.is_some(), &f.url, &f.sha256, &f.notes, &actor).await {
        Ok(r) => Redirect::to(&format!(
            "/ra/releases?done={}",
            urlencode(&format!("Registered {} {}.", r.product, r.version))
        ))
        .into_response(),
        Err(e) => Redirect::to(&format!("/ra/releases?msg={}", urlencode(&e.to_string()))).into_response(),
    }
}

#[derive(Deserialize)]
struct UserQuery {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

async fn users(State(s): State<AppState>, RaUser(session): RaUser, Query(q): Query<UserQuery>) -> Response {
    let found = match q.uid.as_deref().filter(|u| !u.is_empty()) {
        Some(uid) => match s.cards.user(uid).await {
            Ok(u) => Some(Ok((u, s.authority.store().cards_of(uid).await.unwrap_or_default()))),
            Err(e) => Some(Err(e.to_string())),
        },
        None => None,
    };
    page(
        StatusCode::OK,
        "People",
        Some(&session),
        html! {
            @if let Some(d) = q.done { p.ok role="status" { (d) } }
            @if let Some(m) = q.msg { p.error role="alert" { (m) } }
            form method="get" action="/ra/users" { label { "UID " input name="uid" value=(q.uid.clone().unwrap_or_default()); } " " button type="submit" { "Find" } }
            @match found {
                None => {},
                Some(Err(m)) => p.error { (m) },
                Some(Ok((u, cards))) => {
                    table id="user" {
                        tr { th { "UID" } td { (u.uid) } } tr { th { "Name" } td { (u.name) } }
                        tr { th { "Organisation" } td { (u.organisation) } } tr { th { "Email" } td { (u.email.clone().unwrap_or_default()) } }
                        tr { th { "Mobile" } td { (u.mobile.clone().unwrap_or_default()) } }
                    }
                    h2 { "Cards" }
                    ul { @for c in &cards { li { a href=(format!("/ra/cards?serial={}", c.serial)) { (c.serial) } " " (c.status) " expires " (c.not_after.map(date).unwrap_or_default()) } } }
                    p { "Issue a card, or renew one in person: at this desk with " code { "carecert-agent card issue" } " / " code { "card renew --ra" } " (keys are made on the card)." }
                    h2 { "Sponsor authority" }
                    form method="post" action="/ra/sponsors" {
                        input type="hidden" name="csrf" value=(session.csrf_token);
                        input type="hidden" name="uid" value=(u.uid);
                        label { "May unlock cards of organisation " input name="organisation" required; } " "
                        button type="submit" { "Grant" }
                    }
                }
            }
            h2 { "Register a person" }
            form id="register-user" method="post" action="/ra/users" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                label { "UID " input name="uid" required pattern="[0-9]{1,20}"; } " "
                label { "Name " input name="name" required; } " "
                label { "Organisation " input name="organisation" required; } " "
                label { "Email " input name="email" type="email"; } " "
                label { "Mobile " input name="mobile"; } " "
                button type="submit" { "Register" }
            }
        },
    )
}

#[derive(Deserialize)]
struct UserForm {
    #[serde(default)]
    csrf: String,
    uid: String,
    name: String,
    organisation: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    mobile: String,
}

async fn add_user(State(s): State<AppState>, RaForm(session, f): RaForm<UserForm>) -> Response {
    let opt = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
    let (email, mobile) = (opt(&f.email), opt(&f.mobile));
    let actor = format!("ra:{}", session.account.username);
    match s
        .cards
        .add_user(&f.uid, &f.name, email.as_deref(), mobile.as_deref(), None, &[], &f.organisation, &actor)
        .await
    {
        Ok(u) => Redirect::to(&format!("/ra/users?uid={}&done={}", urlencode(&u.uid), urlencode("Registered.")))
            .into_response(),
        Err(e) => Redirect::to(&format!("/ra/users?msg={}", urlencode(&e.to_string()))).into_response(),
    }
}

#[derive(Deserialize)]
struct SponsorForm {
    #[serde(default)]
    csrf: String,
    uid: String,
    organisation: String,
}

async fn grant_sponsor(State(s): State<AppState>, RaForm(session, f): RaForm<SponsorForm>) -> Response {
    let actor = format!("ra:{}", session.account.username);
    match s.cards.grant_sponsor(&f.uid, &f.organisation, &actor).await {
        Ok(()) => Redirect::to(&format!(
            "/ra/users?uid={}&done={}",
            urlencode(&f.uid),
            urlencode(&format!("{} may now unlock cards of {}.", f.uid, f.organisation))
        ))
        .into_response(),
        Err(e) => Redirect::to(&format!("/ra/users?uid={}&msg={}", urlencode(&f.uid), urlencode(&e.to_string())))
            .into_response(),
    }
}

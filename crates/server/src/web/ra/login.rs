//! Logging in to the RA console (smartcard through the agent, or password and
//! authenticator code) and out.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use maud::html;
use portal::{Area, PortalError};
use serde::Deserialize;

use crate::state::AppState;
use crate::web::forms::{CsrfForm, RA_COOKIE, RaForm, TicketForm, check_form, removal_cookie, session_cookie};
use crate::web::layout::{error_page, scripted_csp};
use crate::web::notice::{Notice, code_of};
use crate::web::ra::ra_page as page;

pub(crate) async fn login_page(State(s): State<AppState>, q: Notice) -> Response {
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
                button.nhsuk-button type="button" id="smartcard-login" { "Smartcard login" }
            }
            p.error id="card-error" role="alert" {}
            h2 { "Operators: password and authenticator code" }
            form method="post" action="/ra/login" {
                p { label.nhsuk-label { "User name " input.nhsuk-input name="username" autocomplete="username" required; } }
                p { label.nhsuk-label { "Password " input.nhsuk-input name="password" type="password" autocomplete="current-password" required; } }
                p { label.nhsuk-label { "Code from your authenticator app " input.nhsuk-input name="code" inputmode="numeric" autocomplete="one-time-code" required pattern="[0-9]{6}"; } }
                p { button.nhsuk-button type="submit" { "Log in" } }
            }
            script src="/portal/app.js" defer {}
        },
    );
    if let Some(v) = scripted_csp(&s.agent_url) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

pub(crate) async fn card_login(
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
        Err(e) => Redirect::to(&format!("/ra/login?msg={}", code_of(e))).into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    code: String,
}

pub(crate) async fn login(
    State(s): State<AppState>,
    crate::extract::Source(source): crate::extract::Source,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Response {
    if let Some(r) = check_form(&s, &headers, None, "") {
        return r;
    }
    match s.web.password_login_from(Area::Ra, &f.username, &f.password, Some(&f.code), None, source).await {
        Ok(l) => {
            let c = session_cookie(RA_COOKIE, l.token);
            (jar.add(c), Redirect::to("/ra/")).into_response()
        }
        Err(
            e @ (PortalError::LoginFailed
            | PortalError::NoRole
            | PortalError::SecondFactor
            | PortalError::Locked { .. }),
        ) => Redirect::to(&format!("/ra/login?msg={}", code_of(e))).into_response(),
        Err(e) => error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

pub(crate) async fn logout(
    State(s): State<AppState>,
    jar: CookieJar,
    RaForm(_session, _form): RaForm<CsrfForm>,
) -> Response {
    if let Some(c) = jar.get(RA_COOKIE) {
        let _ = s.web.logout(c.value()).await;
    }
    (jar.add(removal_cookie(RA_COOKIE)), Redirect::to("/ra/login?msg=logged_out")).into_response()
}

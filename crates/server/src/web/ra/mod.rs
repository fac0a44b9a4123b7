//! The RA and operator console (`/ra/…`): server-rendered pages (maud escapes everything),
//! no JavaScript needed, every form carries the session's anti-CSRF token and must come
//! from this origin, cookies are `__Host-`, `Secure`, `HttpOnly`, `SameSite=Strict`.
//!
//! Pages read through the domain services and the read-only store handle; when a query
//! fails they show an error page, never an empty or zero answer.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;
use portal::Session;

use crate::state::AppState;
use crate::web::forms::MAX_FORM_BYTES;
use crate::web::layout::{Shell, page, page_with_crumbs, ra_headers, security_headers};

pub(crate) mod certificates;
pub(crate) mod contact;
pub(crate) mod desk;
pub(crate) mod desk_renew;
pub(crate) mod login;
pub(crate) mod nhs;
pub(crate) mod orgs;
pub(crate) mod people;
pub(crate) mod reminders;
pub(crate) mod requests;

/// A console page.
pub(crate) fn ra_page(status: StatusCode, title: &str, session: Option<&Session>, body: Markup) -> Response {
    page(status, Shell::Ra(session), title, body)
}

/// A console page with breadcrumbs above its heading (`crumbs`: (URL, label), home first).
pub(crate) fn ra_page_crumbs(
    status: StatusCode,
    title: &str,
    session: Option<&Session>,
    crumbs: &[(&str, &str)],
    body: Markup,
) -> Response {
    page_with_crumbs(status, Shell::Ra(session), title, crumbs, body)
}

/// The console's routes, with its security headers.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ra/login", get(login::login_page).post(login::login))
        .route("/ra/login/card", post(login::card_login))
        .route("/ra/logout", post(login::logout))
        .route("/ra/", get(requests::dashboard))
        .route("/ra/requests", get(requests::queue))
        .route("/ra/requests/{id}/approve", post(requests::approve))
        .route("/ra/requests/{id}/deny", post(requests::deny))
        .route("/ra/audit", get(certificates::audit))
        .route("/ra/orgs", get(orgs::orgs).post(orgs::add_org))
        .route("/ra/orgs/{epoc}/pin-letter", post(orgs::pin_letter))
        .route("/ra/cards", get(people::cards_page))
        .route("/ra/certificates", get(certificates::certificates))
        .route("/ra/certificates/{issuer}/{serial}/revoke", post(certificates::revoke_certificate))
        .route("/ra/releases", get(orgs::releases).post(orgs::add_release))
        .route("/ra/users", get(people::users).post(people::add_user))
        .route("/ra/sponsors", post(people::grant_sponsor))
        .route("/ra/cards/{serial}/unlock", post(people::unlock_card))
        .route("/ra/cards/{serial}/cancel", post(people::cancel_card))
        .route("/ra/users/{uid}/contact", get(contact::contact_page).post(contact::update_contact))
        .route("/ra/desk/issue", get(desk::issue_page).post(desk::issue))
        .route("/ra/desk/renew", get(desk_renew::renew_page).post(desk_renew::renew))
        .route("/ra/desk.js", get(desk::script))
        .route("/ra", get(|| async { Redirect::to("/ra/") }))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn_with_state(ra_headers(), security_headers))
}

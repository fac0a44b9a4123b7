//! The one page shell of the HTML wing: [`page`] draws every page of the RA console and the
//! portal (the two differ only in their header), [`error_page`] is the console's refusal and
//! failure page, [`date`] shows a time. The stylesheets and the page script are files
//! (`web/static/`) compiled in with `include_str!`. The security headers are not set per
//! page: [`security_headers`] is a layer on the whole wing.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use portal::Session;

use crate::error::ApiError;
use crate::state::AppState;

/// The RA console's stylesheet.
const RA_CSS: &str = include_str!("static/ra.css");
/// The portal's stylesheet.
const PORTAL_CSS: &str = include_str!("static/portal.css");
/// The page script: smartcard login through the local agent, and closing the page when the
/// session ends.
pub(crate) const APP_JS: &str = include_str!("static/app.js");

/// Which part of carecert a page belongs to: its header differs.
pub(crate) enum Shell<'a> {
    /// The RA console; with a session, its navigation and logout button.
    Ra(Option<&'a Session>),
    /// The portal; `script` loads the page script, which talks to the agent at `agent_url`.
    Portal {
        /// Whether the page loads `/portal/app.js`.
        script: bool,
        /// The local agent's URL.
        agent_url: &'a str,
    },
}

/// A page: the shell around `body`, with the status.
pub(crate) fn page(status: StatusCode, shell: Shell<'_>, title: &str, body: Markup) -> Response {
    let doc = match shell {
        Shell::Ra(session) => html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · carecert RA" }
                    style { (PreEscaped(RA_CSS)) }
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
        },
        Shell::Portal { script, agent_url } => html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    title { (title) " · carecert portal" }
                    style { (PreEscaped(PORTAL_CSS)) }
                    @if script { script src="/portal/app.js" defer {} }
                }
                body data-agent=(agent_url) {
                    header { strong { "carecert portal" } }
                    h1 { (title) }
                    (body)
                }
            }
        },
    };
    (status, doc).into_response()
}

/// The console's refusal or failure page.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    page(status, Shell::Ra(None), "Sorry", html! { p.error { (message) } p { a href="/ra/login" { "Log in" } } })
}

/// A console form's refusal, shown at once with the service's reason (never through the URL),
/// and a way back to the page the form was on.
pub(crate) fn form_refused(session: &Session, e: impl Into<ApiError>, back: &str) -> Response {
    let e = e.into();
    page(
        e.status,
        Shell::Ra(Some(session)),
        "Not done",
        html! { p.error role="alert" { (e.message) } p { a href=(back) { "Back" } } },
    )
}

/// The page for a request the service could not complete (the database did not answer, the
/// CA failed): the status and the message `error.rs` gives the error — never an empty or
/// zero answer in its place.
pub(crate) fn failure_page(e: impl Into<ApiError>) -> Response {
    let e = e.into();
    error_page(e.status, &e.message)
}

/// A time for people: `YYYY-MM-DD HH:MM ZONE`, local in the configured zone (storage stays UTC).
pub(crate) fn date(s: &AppState, t: i64) -> String {
    enrol::local_date(t, &s.enrol.config().time_zone, true)
}

/// The CSP source of an inline stylesheet: its SHA-256 (no `'unsafe-inline'` anywhere).
fn style_hash(css: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(css.as_bytes())))
}

/// `style-src` of every page: the two stylesheets, by hash.
fn style_src() -> String {
    format!("style-src {} {}", style_hash(RA_CSS), style_hash(PORTAL_CSS))
}

/// The Content-Security-Policy of a page that runs the page script (`/portal/app.js`, no
/// inline script), which talks to the local agent at `agent_url`.
pub(crate) fn scripted_csp(agent_url: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "default-src 'none'; script-src 'self'; {}; connect-src 'self' {agent_url}; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        style_src()
    ))
    .ok()
}

/// The security headers of every answer of the wing, as a layer: a page may set its own
/// Content-Security-Policy (the RA login page runs the script); the rest is not negotiable.
pub(crate) struct SecurityHeaders {
    /// The default Content-Security-Policy.
    pub(crate) csp: HeaderValue,
    /// Whether to send `Referrer-Policy: same-origin` (the RA console does).
    pub(crate) referrer: bool,
}

impl Clone for SecurityHeaders {
    fn clone(&self) -> Self {
        Self { csp: self.csp.clone(), referrer: self.referrer }
    }
}

/// The RA console's headers: no script at all.
pub(crate) fn ra_headers() -> SecurityHeaders {
    let csp = format!(
        "default-src 'none'; {}; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        style_src()
    );
    SecurityHeaders {
        csp: HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
        referrer: true,
    }
}

/// The portal's headers: its own script, which may talk to the local agent.
pub(crate) fn portal_headers(agent_url: &str) -> SecurityHeaders {
    SecurityHeaders {
        csp: scripted_csp(agent_url).unwrap_or_else(|| HeaderValue::from_static("default-src 'none'")),
        referrer: false,
    }
}

/// Adds the wing's security headers to an answer (a page's own CSP is kept).
pub(crate) async fn security_headers(State(h): State<SecurityHeaders>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    let mut set = |name: HeaderName, value: HeaderValue| {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_SECURITY_POLICY, h.csp);
    set(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    set(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if h.referrer {
        set(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    }
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_local_minutes() {
        let london = jiff::tz::TimeZone::get("Europe/London").unwrap();
        assert_eq!(enrol::local_date(1_782_864_000, &london, true), "2026-07-01 01:00 BST");
        assert_eq!(enrol::local_date(1_767_225_600, &london, true), "2026-01-01 00:00 GMT");
    }
}

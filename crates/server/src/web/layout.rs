//! The one page shell of the HTML wing, on the NHS.UK design system: [`page`] draws every
//! page of the RA console and the portal (skip link, NHS header with the service name, the
//! account menu and navigation, a "TEST" banner on a test deployment, the main wrapper and the
//! footer); [`error_page`] is the console's refusal and failure page, [`date`] shows a time.
//! The NHS.UK frontend stylesheet and icons (`nhsuk-frontend`, pinned in
//! `crates/server/assets/nhsuk/VERSION`, refreshed by `scripts/refresh-nhsuk`) and carecert's
//! own small stylesheet are compiled in and served by carecert itself under `/assets/`
//! ([`assets`]): no CDN, no inline style or script. The security headers are not set per
//! page: [`security_headers`] is a layer on the whole wing.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use portal::Session;

use crate::error::ApiError;
use crate::state::AppState;

/// The pinned `nhsuk-frontend` version (its files are under `/assets/`).
pub(crate) const NHSUK_VERSION: &str = include_str!("../../assets/nhsuk/VERSION");
/// The NHS.UK frontend stylesheet.
const NHSUK_CSS: &[u8] = include_bytes!("../../assets/nhsuk/nhsuk-frontend.min.css");
/// carecert's additions: the expiry chart, the dashboard tiles, the environment banner.
const CARECERT_CSS: &str = include_str!("static/carecert.css");
/// The page script: smartcard login through the local agent, and closing the page when the
/// session ends.
pub(crate) const APP_JS: &str = include_str!("static/app.js");

/// The icons the NHS.UK stylesheet and header use (`url(/assets/images/…)`).
const IMAGES: &[(&str, &[u8])] = &[
    ("favicon.ico", include_bytes!("../../assets/nhsuk/images/favicon.ico")),
    ("favicon.svg", include_bytes!("../../assets/nhsuk/images/favicon.svg")),
    ("nhsuk-icon-180.png", include_bytes!("../../assets/nhsuk/images/nhsuk-icon-180.png")),
    ("nhsuk-icon-arrow-down.svg", include_bytes!("../../assets/nhsuk/images/nhsuk-icon-arrow-down.svg")),
    ("nhsuk-icon-arrow-left.svg", include_bytes!("../../assets/nhsuk/images/nhsuk-icon-arrow-left.svg")),
    ("nhsuk-icon-arrow-right.svg", include_bytes!("../../assets/nhsuk/images/nhsuk-icon-arrow-right.svg")),
    ("nhsuk-icon-arrow-up-down.svg", include_bytes!("../../assets/nhsuk/images/nhsuk-icon-arrow-up-down.svg")),
    ("nhsuk-icon-arrow-up.svg", include_bytes!("../../assets/nhsuk/images/nhsuk-icon-arrow-up.svg")),
    (
        "nhsuk-icon-chevron-right-circle.svg",
        include_bytes!("../../assets/nhsuk/images/nhsuk-icon-chevron-right-circle.svg"),
    ),
    ("nhsuk-icon-cross.svg", include_bytes!("../../assets/nhsuk/images/nhsuk-icon-cross.svg")),
    ("nhsuk-icon-tick.svg", include_bytes!("../../assets/nhsuk/images/nhsuk-icon-tick.svg")),
    ("nhsuk-icon-user.svg", include_bytes!("../../assets/nhsuk/images/nhsuk-icon-user.svg")),
];

/// The stylesheet URL, versioned so that a refreshed package is fetched anew.
fn nhsuk_css_url() -> String {
    format!("/assets/nhsuk-frontend-{}.min.css", NHSUK_VERSION.trim())
}

tokio::task_local! {
    /// Whether the deployment serving this request is a test one (set by [`environment`]).
    static TEST_DEPLOYMENT: bool;
}

/// Marks every page request with the deployment's environment, so the shell can show the
/// "TEST" banner without every handler passing it along.
pub(crate) async fn environment(State(test): State<bool>, req: Request, next: Next) -> Response {
    TEST_DEPLOYMENT.scope(test, next.run(req)).await
}

fn is_test_deployment() -> bool {
    TEST_DEPLOYMENT.try_with(|t| *t).unwrap_or(false)
}

/// The files under `/assets/`: the NHS.UK stylesheet (by its versioned name), carecert's
/// stylesheet and the icons; cached for a day (a new version changes the stylesheet's name).
pub(crate) async fn assets(Path(name): Path<String>) -> Response {
    let (body, kind): (Vec<u8>, &'static str) = if name == nhsuk_css_url().trim_start_matches("/assets/") {
        (NHSUK_CSS.to_vec(), "text/css; charset=utf-8")
    } else if name == "carecert.css" {
        (CARECERT_CSS.as_bytes().to_vec(), "text/css; charset=utf-8")
    } else if let Some((file, bytes)) = name.strip_prefix("images/").and_then(|n| IMAGES.iter().find(|(f, _)| *f == n))
    {
        let kind = match file.rsplit('.').next() {
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            _ => "image/x-icon",
        };
        (bytes.to_vec(), kind)
    } else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        body,
    )
        .into_response()
}

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

/// The NHS logo (the design system's header logo, drawn inline).
fn nhs_logo() -> Markup {
    html! {
        svg.nhsuk-header__logo xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 80" height="40" width="100" focusable="false" role="img" aria-label="NHS" {
            title { "NHS" }
            path fill="currentcolor" d="M200 0v80H0V0h200Zm-27.5 5.5c-14.5 0-29 5-29 22 0 10.2 7.7 13.5 14.7 16.3l.7.3c5.4 2 10.1 3.9 10.1 8.4 0 6.5-8.5 7.5-14 7.5s-12.5-1.5-16-3.5L135 70c5.5 2 13.5 3.5 20 3.5 15.5 0 32-4.5 32-22.5 0-19.5-25.5-16.5-25.5-25.5 0-5.5 5.5-6.5 12.5-6.5a35 35 0 0 1 14.5 3l4-13.5c-4.5-2-12-3-20-3Zm-131 2h-22l-14 65H22l9-45h.5l13.5 45h21.5l14-65H64l-9 45h-.5l-13-45Zm63 0h-18l-13 65h17l6-28H117l-5.5 28H129l13.5-65H125L119.5 32h-20l5-24.5Z" {}
        }
    }
}

/// The RA console's navigation: (URL, label).
const RA_NAV: &[(&str, &str)] = &[
    ("/ra/", "Dashboard"),
    ("/ra/requests", "Requests"),
    ("/ra/orgs", "Organisations"),
    ("/ra/certificates", "Certificates"),
    ("/ra/users", "People"),
    ("/ra/cards", "Cards"),
    ("/ra/releases", "Releases"),
    ("/ra/audit", "Audit log"),
];

/// A page: the shell around `body`, with the status.
pub(crate) fn page(status: StatusCode, shell: Shell<'_>, title: &str, body: Markup) -> Response {
    page_with_crumbs(status, shell, title, &[], body)
}

/// A page with NHS.UK breadcrumbs (`crumbs`: the pages above this one, (URL, label), the
/// service's home first) above its heading.
pub(crate) fn page_with_crumbs(
    status: StatusCode,
    shell: Shell<'_>,
    title: &str,
    crumbs: &[(&str, &str)],
    body: Markup,
) -> Response {
    let (service, home, session, script, agent_url) = match shell {
        Shell::Ra(session) => ("carecert RA console", "/ra/", session, false, None),
        Shell::Portal { script, agent_url } => ("carecert portal", "/portal/", None, script, Some(agent_url)),
    };
    let test = is_test_deployment();
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover";
                meta name="theme-color" content="#005eb8";
                title { (title) " – " (service) @if test { " (TEST)" } }
                link rel="icon" href="/assets/images/favicon.ico" sizes="48x48";
                link rel="icon" href="/assets/images/favicon.svg" sizes="any" type="image/svg+xml";
                link rel="stylesheet" href=(nhsuk_css_url());
                link rel="stylesheet" href="/assets/carecert.css";
                @if script { script src="/portal/app.js" defer {} }
            }
            body data-agent=[agent_url] {
                a.nhsuk-skip-link href="#maincontent" { "Skip to main content" }
                header.nhsuk-header role="banner" {
                    div."nhsuk-header__container"."nhsuk-width-container" {
                        div.nhsuk-header__service {
                            a.nhsuk-header__service-logo href=(home) aria-label={ "NHS " (service) " homepage" } {
                                (nhs_logo())
                                span.nhsuk-header__service-name { (service) }
                            }
                        }
                        @if let Some(s) = session {
                            nav.nhsuk-header__account aria-label="Account" {
                                ul.nhsuk-header__account-list {
                                    li.nhsuk-header__account-item { (s.account.name) " (" (s.role.as_str()) ")" }
                                    li.nhsuk-header__account-item {
                                        form.nhsuk-header__account-form.logout method="post" action="/ra/logout" {
                                            input type="hidden" name="csrf" value=(s.csrf_token);
                                            button.nhsuk-header__account-button type="submit" { "Log out" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if session.is_some() {
                        nav.nhsuk-header__navigation aria-label="Menu" {
                            div."nhsuk-header__navigation-container"."nhsuk-width-container" {
                                ul.nhsuk-header__navigation-list {
                                    @for (href, label) in RA_NAV {
                                        li.nhsuk-header__navigation-item {
                                            a.nhsuk-header__navigation-link href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if test {
                    div.carecert-environment {
                        div.nhsuk-width-container {
                            p { strong."nhsuk-tag"."nhsuk-tag--orange" { "TEST" } " This is a test environment. Nothing done here affects the live service." }
                        }
                    }
                }
                div.nhsuk-width-container {
                    @if !crumbs.is_empty() {
                        nav.nhsuk-breadcrumb aria-label="Breadcrumb" {
                            ol.nhsuk-breadcrumb__list {
                                @for (href, label) in crumbs {
                                    li.nhsuk-breadcrumb__list-item { a.nhsuk-breadcrumb__link href=(href) { (label) } }
                                }
                            }
                        }
                    }
                    main.nhsuk-main-wrapper id="maincontent" {
                        h1.nhsuk-heading-l { (title) }
                        (body)
                    }
                }
                footer.nhsuk-footer role="contentinfo" {
                    div.nhsuk-width-container {
                        p.nhsuk-body-s { (service) " · NHS.UK frontend " (NHSUK_VERSION.trim()) }
                    }
                }
            }
        }
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

/// `style-src` of every page: the stylesheets carecert serves itself (no inline style).
fn style_src() -> String {
    "style-src 'self'".to_string()
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

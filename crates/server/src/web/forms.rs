//! What the pages share about requests: who is logged in ([`RaUser`], [`PortalUser`]), forms
//! that must come from this site with the session's anti-CSRF token ([`RaForm`],
//! [`PortalForm`], [`HasCsrf`], [`check_form`]), session cookies, query-string encoding, and
//! the small query and form shapes several pages use.

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use portal::{Area, PortalError, Session};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::state::AppState;
use crate::web::layout::error_page;

/// Largest form body accepted.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// The RA console's session cookie.
pub(crate) const RA_COOKIE: &str = "__Host-carecert_ra";
/// The portal's session cookie.
pub(crate) const PORTAL_COOKIE: &str = "__Host-carecert_portal";

/// Characters kept as they are in a query value (RFC 3986 unreserved).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `s` percent-encoded for a query-string value.
pub(crate) fn urlencode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// Whether a form came from this site: no `Origin` (same-site navigation) or our own.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(o) => o == format!("https://{host}"),
        None => true,
    }
}

/// A session cookie: `__Host-` name, `Secure`, `HttpOnly`, `SameSite=Strict`, path `/`.
pub(crate) fn session_cookie(name: &'static str, token: String) -> Cookie<'static> {
    Cookie::build((name, token)).path("/").secure(true).http_only(true).same_site(SameSite::Strict).build()
}

/// The cookie that deletes a session cookie: the same name and attributes (browsers ignore a
/// `__Host-` cookie without `Secure` and `Path=/`), empty, expired.
pub(crate) fn removal_cookie(name: &'static str) -> Cookie<'static> {
    let mut c = session_cookie(name, String::new());
    c.make_removal();
    c
}

/// The form that redeems a one-time login ticket from the card agent.
#[derive(Deserialize)]
pub(crate) struct TicketForm {
    #[serde(default)]
    pub(crate) ticket: String,
}

/// A form that carries nothing but the anti-CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// A search: text and status. (A page's outcome lines come from [`crate::web::notice`].)
#[derive(Deserialize)]
pub(crate) struct Search {
    #[serde(default)]
    pub(crate) q: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<String>,
}

/// A logged-in RA or operator.
pub(crate) struct RaUser(pub(crate) Session);

impl FromRequestParts<AppState> for RaUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar.get(RA_COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
        match state.web.session(Area::Ra, &token).await {
            Ok(s) => Ok(RaUser(s)),
            Err(PortalError::SessionEnded(_)) => Err(Redirect::to("/ra/login?msg=session_ended").into_response()),
            Err(e) => Err(error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())),
        }
    }
}

/// The refusal of a form from another origin or without this session's token, if any.
pub(crate) fn check_form(
    state: &AppState,
    headers: &HeaderMap,
    session: Option<&Session>,
    csrf: &str,
) -> Option<Response> {
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
pub(crate) trait HasCsrf {
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

/// Implements [`HasCsrf`] for forms with a `csrf` field.
macro_rules! has_csrf {
    ($($t:ty),* $(,)?) => { $(impl $crate::web::forms::HasCsrf for $t { fn csrf(&self) -> &str { &self.csrf } })* };
}
pub(crate) use has_csrf;

has_csrf!(CsrfForm);

/// Reads a form after the session extractor ran: the session, the headers and the form.
async fn read_form<T: DeserializeOwned + Send, U: FromRequestParts<AppState, Rejection = Response>>(
    req: Request,
    state: &AppState,
) -> Result<(U, HeaderMap, T), Response> {
    let (mut parts, body) = req.into_parts();
    let user = U::from_request_parts(&mut parts, state).await?;
    let headers = parts.headers.clone();
    let req = Request::from_parts(parts, body);
    let Form(f) = Form::<T>::from_request(req, state).await.map_err(IntoResponse::into_response)?;
    Ok((user, headers, f))
}

/// A form posted by a logged-in RA user: from this origin, with the session's anti-CSRF
/// token, within the size limit — or the refusal page.
pub(crate) struct RaForm<T>(pub(crate) Session, pub(crate) T);

impl<T: DeserializeOwned + HasCsrf + Send> FromRequest<AppState> for RaForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (RaUser(session), headers, f) = read_form::<T, RaUser>(req, state).await?;
        if let Some(r) = check_form(state, &headers, Some(&session), f.csrf()) {
            return Err(r);
        }
        Ok(RaForm(session, f))
    }
}

/// A portal user with a live session, and its token.
pub(crate) struct PortalUser(pub(crate) Session, pub(crate) String);

impl FromRequestParts<AppState> for PortalUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar.get(PORTAL_COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
        match state.web.session(Area::Portal, &token).await {
            Ok(sess) => Ok(PortalUser(sess, token)),
            // The logged-out page says why (card removed, idle, logged out, disabled).
            Err(e @ PortalError::SessionEnded(_)) => {
                Err(Redirect::to(&format!("/portal/logged-out?msg={}", portal::session_end_code(&e))).into_response())
            }
            Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()),
        }
    }
}

/// A form posted by a portal user: from this origin, with the session's anti-CSRF token —
/// or the portal's plain refusal.
pub(crate) struct PortalForm<T>(pub(crate) Session, pub(crate) String, pub(crate) T);

impl<T: DeserializeOwned + HasCsrf + Send> FromRequest<AppState> for PortalForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (PortalUser(session, token), headers, f) = read_form::<T, PortalUser>(req, state).await?;
        if !same_origin(&headers) || state.web.check_csrf(&session, f.csrf()).is_err() {
            return Err((StatusCode::FORBIDDEN, PortalError::Csrf.to_string()).into_response());
        }
        Ok(PortalForm(session, token, f))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_encoded() {
        assert_eq!(super::urlencode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
    }
}

//! What the web pages share.

use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::{Cookie, SameSite};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

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

/// The form that redeems a one-time login ticket from the card agent.
#[derive(Deserialize)]
pub(crate) struct TicketForm {
    #[serde(default)]
    pub(crate) ticket: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_encoded() {
        assert_eq!(super::urlencode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
    }
}

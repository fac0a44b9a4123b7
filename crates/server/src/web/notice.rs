//! What a page says after a redirect. The URL carries a *code* (`?done=approved&id=42`,
//! `?msg=second_factor`), never a sentence: each code maps to a fixed text here, and the only
//! parts taken from the URL are identifiers checked against their shape (digits, hex, a short
//! token without spaces), so a crafted link cannot make a genuine page say anything new.
//! Errors of a form are not redirected at all: the form's handler shows them at once.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use maud::{Markup, Render, html};
use serde::Deserialize;

/// The codes and identifiers of a redirect's query string (other parameters are ignored).
#[derive(Deserialize, Default)]
struct Raw {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    crl: Option<String>,
    #[serde(default)]
    epoc: Option<String>,
    #[serde(default)]
    product: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    org: Option<String>,
}

/// A page's outcome lines: the success (`done`) and the refusal (`msg`), as fixed texts.
#[derive(Default)]
pub(crate) struct Notice {
    /// The success text, if the code is known and its identifiers well-formed.
    pub(crate) done: Option<String>,
    /// The refusal text, if the code is known.
    pub(crate) msg: Option<String>,
}

fn digits(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| (1..=20).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()))
}

fn hex(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| (1..=42).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A short identifier: letters, digits and `.-_+`, no spaces — it cannot form a sentence.
fn token(s: &Option<String>) -> Option<&str> {
    s.as_deref()
        .filter(|v| (1..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b)))
}

fn done_text(code: &str, r: &Raw) -> Option<String> {
    Some(match code {
        "approved" => format!("Request {} approved.", digits(&r.id)?),
        "denied" => format!("Request {} denied.", digits(&r.id)?),
        "revoked" => format!(
            "Certificate {} revoked ({}); CRL {} lists it.",
            hex(&r.serial)?,
            pki::RevocationReason::parse(token(&r.reason)?)?.name(),
            digits(&r.crl)?
        ),
        "org_added" => format!("Added organisation {}.", digits(&r.epoc)?),
        "release_added" => match (token(&r.product), token(&r.version)) {
            (Some(p), Some(v)) => format!("Registered {p} {v}."),
            _ => "Release registered.".into(),
        },
        "user_registered" => "Registered.".into(),
        "contact_changed" => "Contact details saved.".into(),
        "sponsor_granted" => match (digits(&r.uid), token(&r.org)) {
            (Some(u), Some(o)) => format!("{u} may now unlock cards of {o}."),
            _ => "Sponsor authority granted.".into(),
        },
        "card_cancelled" => "Card cancelled; its certificates are revoked.".into(),
        "uid_registered" => format!("UID {} registered.", digits(&r.uid)?),
        _ => return None,
    })
}

/// The fixed text of a refusal code. Login refusals use the API's error codes.
pub(crate) fn msg_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "login_failed" => {
            "the user name, the password or the authenticator code is not right (each 6-digit code works once): check them and try again"
        }
        "second_factor" => "enter the current 6-digit code from your authenticator app (each code works once)",
        "no_role" => "your account has no role for this part of carecert: ask an administrator",
        "bad_ticket" => "the login ticket is not valid (used, expired or forged): log in with your card again",
        "not_registered" => {
            "your smartcard is not registered for this portal: ask a portal administrator to register it, or call the helpdesk"
        }
        // A login refusal code from the card agent: the card is unknown to this carecert
        // (another environment's card, or not issued yet).
        "not_found" => "this smartcard is not registered here: ask the RA desk, or call the helpdesk",
        "session_ended" => "Your session has ended (logged out, idle too long, or the card was removed): log in again.",
        "ended" => "Your session has ended (the card was removed, you were idle, or you logged out elsewhere).",
        "logged_out" => "You have logged out.",
        "card_removed" => {
            "Your session ended because your smartcard was removed (or the carecert agent stopped watching it): insert it and log in again."
        }
        "idle" => "Your session ended after a period without activity: log in again.",
        "disabled" => "Your account has been disabled: ask an administrator.",
        "csrf" => "the form has expired or did not come from this site: reload the page and try again",
        "no_certificate" => {
            "Your browser did not present a smartcard certificate: use Smartcard login with the carecert agent"
        }
        "card_locked" => "your card is locked: unlock it with the carecert agent, a sponsor or the RA desk",
        // Refusal codes of the card agent's login (its local API passes the server's through).
        "locked" => {
            "Your card is locked (3 wrong passcodes in a row): unlock it with a code sent to you (Unlock your card), or ask a sponsor or the RA desk."
        }
        "wrong_passcode" => {
            "The passcode was not right: log in again and type it carefully in the carecert agent's window."
        }
        "cancelled" => "Cancelled in the carecert agent's window: you are not logged in.",
        "no_card" => "No card in the reader: insert your card and try again.",
        "agent_too_old" => {
            "The carecert agent on this computer is too old for this service: install the current release (Download page) and try again."
        }
        "agent_unreachable" => "The carecert agent on this computer does not answer: start it and try again.",
        "refused" => "The login was refused.",
        "rate_limited" => "Too many attempts from your address: wait a minute and try again.",
        "locked_out" => {
            "Too many failed logins for this account: wait 15 minutes (longer after repeated locks), or ask an administrator."
        }
        "busy" => "The service is busy checking other logins: wait a few seconds and try again.",
        _ => return None,
    })
}

impl Notice {
    fn from_raw(r: &Raw) -> Self {
        Self {
            done: r.done.as_deref().and_then(|c| done_text(c, r)),
            msg: r.msg.as_deref().and_then(msg_text).map(str::to_string),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Notice {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = Query::<Raw>::from_request_parts(parts, state).await.map(|Query(r)| r).unwrap_or_default();
        Ok(Self::from_raw(&raw))
    }
}

/// The console's outcome lines (`p.ok role=status`, `p.error role=alert`).
impl Render for Notice {
    fn render(&self) -> Markup {
        html! {
            @if let Some(d) = &self.done { p.ok role="status" { (d) } }
            @if let Some(m) = &self.msg { p.error role="alert" { (m) } }
        }
    }
}

/// The query-string code a domain refusal is shown by on a login page (its API error code
/// when that has a fixed text, else the generic refusal).
pub(crate) fn code_of(e: impl Into<crate::error::ApiError>) -> String {
    let e = e.into();
    if msg_text(e.code).is_some() { e.code.to_string() } else { "refused".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(q: &str) -> Notice {
        Notice::from_raw(&serde_urlencoded_like(q))
    }

    fn serde_urlencoded_like(q: &str) -> Raw {
        let uri: axum::http::Uri = format!("/x?{q}").parse().unwrap();
        Query::<Raw>::try_from_uri(&uri).map(|Query(r)| r).unwrap_or_default()
    }

    #[test]
    fn codes_become_fixed_texts_and_free_text_is_dropped() {
        assert_eq!(notice("done=approved&id=42").done.as_deref(), Some("Request 42 approved."));
        assert_eq!(notice("msg=second_factor").msg.as_deref(), msg_text("second_factor"));
        assert!(notice("msg=Your%20card%20is%20locked%20call%20us").msg.is_none());
        assert!(notice("done=approved&id=42%20call%20us").done.is_none());
        assert_eq!(
            notice("done=sponsor_granted&uid=7&org=RA1").done.as_deref(),
            Some("7 may now unlock cards of RA1.")
        );
        assert_eq!(
            notice("done=sponsor_granted&uid=7&org=RA1%20call%20us").done.as_deref(),
            Some("Sponsor authority granted.")
        );
        assert_eq!(
            notice("done=revoked&serial=0A1B&reason=keyCompromise&crl=3").done.as_deref(),
            Some("Certificate 0A1B revoked (keyCompromise); CRL 3 lists it.")
        );
    }
}

//! The Smartcard Service Centre's unlock, in the portal — reachable **without** a session (a
//! locked card cannot log in): the page asks the local agent which card is in the reader,
//! offers the channels this holder may get a code by (email on an allowed domain, mobile,
//! landline only where registered for text-to-voice with no auto-attendant), the server sends
//! the code, the holder types it into the page and the agent's `unlock` job sets the new
//! passcode in its own dialog.
//!
//! It must never show who holds a card (anyone may type a serial) beyond the masked address
//! a code went to, and never take a passcode.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cards::{CardStatus, Channel};
use maud::{Markup, html};
use serde::Deserialize;

use crate::state::AppState;
use crate::web::forms::same_origin;
use crate::web::portal::card::{breadcrumbs, needs_script};
use crate::web::portal::page;

/// The card a page is about (`?serial=`).
#[derive(Deserialize, Default)]
pub(crate) struct SerialQuery {
    #[serde(default)]
    serial: Option<String>,
}

/// A card serial as the agent reports it: letters, digits, `-`, at most 64.
fn valid_serial(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The channels a code may go by for this card's holder, with their labels.
async fn channels(s: &AppState, serial: &str) -> Result<Vec<(Channel, &'static str)>, crate::error::ApiError> {
    let card = s.cards.card(serial).await?;
    let user = s.cards.user(&card.uid).await?;
    let cfg = s.cards.config();
    let mut out = Vec::new();
    if let Some(e) = &user.email {
        let domain = e.rsplit('@').next().unwrap_or("");
        if cfg.email_domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) && cfg.mailer.is_some() {
            out.push((Channel::Email, "Email, to the address on your record"));
        }
    }
    if user.mobile.is_some() && cfg.texter.is_some() {
        out.push((Channel::Sms, "Text message, to the mobile number on your record"));
    }
    if user.landline.is_some() && user.landline_voice && cfg.texter.is_some() {
        out.push((Channel::Voice, "Voice call, to the landline on your record (text-to-voice)"));
    }
    Ok(out)
}

fn unlock_page(s: &AppState, status: StatusCode, body: Markup) -> Response {
    let mut r = page("Unlock your card", body, true, &s.agent_url);
    *r.status_mut() = status;
    r
}

/// An NHS.UK error summary linking to the field at fault.
fn error_summary(message: &str, field: &str) -> Markup {
    html! {
        div.nhsuk-error-summary aria-labelledby="error-summary-title" role="alert" tabindex="-1" {
            h2.nhsuk-error-summary__title id="error-summary-title" { "There is a problem" }
            div.nhsuk-error-summary__body {
                ul."nhsuk-list"."nhsuk-error-summary__list" { li { a href={ "#" (field) } { (message) } } }
            }
        }
    }
}

/// `/portal/unlock`: which card (from the agent, or typed), then the channel choice.
pub(crate) async fn unlock_page_get(State(s): State<AppState>, Query(q): Query<SerialQuery>) -> Response {
    let serial = q.serial.filter(|v| !v.is_empty());
    match serial {
        None => unlock_page(&s, StatusCode::OK, find_card_form(None)),
        Some(serial) => choose_channel(&s, &serial, None).await,
    }
}

/// The first step: the script fills the serial from the agent; without script, type it.
fn find_card_form(error: Option<&str>) -> Markup {
    html! {
        (breadcrumbs(&[("/portal/login", "Log in")]))
        @if let Some(e) = error { (error_summary(e, "serial")) }
        div data-card-page="unlock-find" {
            p { "Your card locks after 3 wrong passcodes in a row. Unlock it here with a one-time code sent to you; you then choose a new passcode in the carecert agent's window." }
            p id="unlock-reader" role="status" aria-live="polite" { "Insert your card in the reader." }
            form method="get" action="/portal/unlock" novalidate {
                div.nhsuk-form-group."nhsuk-form-group--error"[error.is_some()] {
                    label.nhsuk-label for="serial" { "Card serial" }
                    div.nhsuk-hint id="serial-hint" { "Filled in from the card in your reader; it is also printed in the agent's window." }
                    input.nhsuk-input."nhsuk-input--error"[error.is_some()] id="serial" name="serial" type="text" aria-describedby="serial-hint" autocomplete="off" spellcheck="false";
                }
                button.nhsuk-button type="submit" id="unlock-continue" { "Continue" }
            }
        }
    }
}

/// The channel choice for `serial` (a locked card).
async fn choose_channel(s: &AppState, serial: &str, error: Option<&str>) -> Response {
    if !valid_serial(serial) {
        let e = "Enter the card serial: letters, digits and dashes only";
        return unlock_page(s, StatusCode::BAD_REQUEST, find_card_form(Some(e)));
    }
    let state = match s.cards.state(serial).await {
        Ok(st) => st,
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            let msg = if e.code == "not_found" {
                "This card is not known to this service: check the serial, or ask your Registration Authority (RA)"
                    .to_string()
            } else {
                e.message
            };
            return unlock_page(s, e.status, find_card_form(Some(&msg)));
        }
    };
    if state.status != CardStatus::Locked {
        let body = html! {
            (breadcrumbs(&[("/portal/login", "Log in")]))
            p id="not-locked" {
                @if state.status == CardStatus::Cancelled { "Card " (serial) " is cancelled: ask your Registration Authority (RA) for a new card." }
                @else { "Card " (serial) " is not locked. " a href="/portal/login" { "Log in" } " with it; you can change your passcode under My card." }
            }
        };
        return unlock_page(s, StatusCode::OK, body);
    }
    let allowed = match channels(s, serial).await {
        Ok(c) => c,
        Err(e) => return unlock_page(s, e.status, html! { p.error { (e.message) } }),
    };
    let body = html! {
        (breadcrumbs(&[("/portal/login", "Log in"), ("/portal/unlock", "Unlock your card")]))
        @if let Some(e) = error { (error_summary(e, "channel-0")) }
        p { "Card " strong id="unlock-serial" { (serial) } " is locked." }
        @if allowed.is_empty() {
            div.nhsuk-inset-text id="no-channel" {
                p { "No email address on an allowed domain, mobile number or text-to-voice landline is on your record, so a code cannot be sent. Ask your sponsor or your Registration Authority (RA) to unlock your card, or ask the RA to update your contact details." }
            }
        } @else {
            form method="post" action="/portal/unlock/code" {
                input type="hidden" name="serial" value=(serial);
                div.nhsuk-form-group."nhsuk-form-group--error"[error.is_some()] {
                    fieldset.nhsuk-fieldset aria-describedby="channel-hint" {
                        legend."nhsuk-fieldset__legend"."nhsuk-fieldset__legend--m" { "How should we send your unlock code?" }
                        div.nhsuk-hint id="channel-hint" { "The code has 8 digits, works once and expires after 10 minutes." }
                        div.nhsuk-radios {
                            @for (i, (c, label)) in allowed.iter().enumerate() {
                                div.nhsuk-radios__item {
                                    input.nhsuk-radios__input id={ "channel-" (i) } name="channel" type="radio" value=(c.as_str()) checked[i == 0];
                                    label."nhsuk-label"."nhsuk-radios__label" for={ "channel-" (i) } { (label) }
                                }
                            }
                        }
                    }
                }
                button.nhsuk-button type="submit" id="send-code" { "Send code" }
            }
        }
    };
    unlock_page(s, if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK }, body)
}

#[derive(Deserialize)]
pub(crate) struct SendForm {
    #[serde(default)]
    serial: String,
    #[serde(default)]
    channel: String,
}

/// Sends the code, then the code entry (the agent's `unlock` job does the rest).
pub(crate) async fn send_code(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<SendForm>) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "this form was sent from another site; nothing was changed").into_response();
    }
    if !valid_serial(&f.serial) {
        return choose_channel(&s, &f.serial, None).await;
    }
    let channel: Channel = match f.channel.parse() {
        Ok(c) => c,
        Err(_) => return choose_channel(&s, &f.serial, Some("Choose how to send your code")).await,
    };
    let allowed = channels(&s, &f.serial).await.unwrap_or_default();
    if !allowed.iter().any(|(c, _)| *c == channel) {
        return choose_channel(&s, &f.serial, Some("Choose one of the ways offered")).await;
    }
    let sent_to = match s.cards.send_unlock_code(&f.serial, channel).await {
        Ok(to) => to,
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            return choose_channel(&s, &f.serial, Some(&e.message)).await;
        }
    };
    let body = html! {
        (breadcrumbs(&[("/portal/login", "Log in"), ("/portal/unlock", "Unlock your card")]))
        div data-card-page="unlock" data-serial=(f.serial) {
            p id="code-sent" role="status" { "We have sent an unlock code to " strong { (sent_to) } "." }
            div.nhsuk-error-summary id="unlock-error" aria-labelledby="unlock-error-title" role="alert" tabindex="-1" hidden {
                h2.nhsuk-error-summary__title id="unlock-error-title" { "There is a problem" }
                div.nhsuk-error-summary__body {
                    ul."nhsuk-list"."nhsuk-error-summary__list" { li { a href="#code" id="unlock-error-text" {} } }
                }
            }
            (needs_script())
            form id="unlock-form" method="get" action="/portal/unlock" novalidate {
                input type="hidden" name="serial" value=(f.serial);
                div.nhsuk-form-group id="code-group" {
                    label.nhsuk-label for="code" { "Unlock code" }
                    div.nhsuk-hint id="code-hint" { "8 digits. Then choose your new passcode in the carecert agent's window (6 to 8 digits, twice)." }
                    p.nhsuk-error-message id="code-error" hidden {}
                    input.nhsuk-input."nhsuk-input--width-10" id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" aria-describedby="code-hint" spellcheck="false";
                }
                button.nhsuk-button type="submit" id="unlock-start" { "Unlock my card" }
            }
            p id="unlock-status" role="status" aria-live="polite" {}
            div.nhsuk-panel id="unlock-done" hidden {
                h2 { "Your card is unlocked" }
                p { "Your new passcode is set. " a href="/portal/login" { "Log in" } " with your card." }
            }
            p { a href={ "/portal/unlock?serial=" (f.serial) } { "Send a new code" } }
        }
    };
    unlock_page(&s, StatusCode::OK, body)
}

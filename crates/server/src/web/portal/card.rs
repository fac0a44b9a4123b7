//! "My card" in the portal: the card's status (server-drawn, works without script), change
//! passcode, sponsor unlock and **Update My Card**. The card work itself is done by the local
//! agent: these pages only start its jobs and show their progress (`/portal/card.js`); no page
//! ever sees a passcode — the agent asks for it in its own dialog (pinentry).
//!
//! It must never take a passcode or a one-time code into a server form, and never change a
//! card itself: every change goes through the cards API the agent calls.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cards::{CardStatus, CardView};
use maud::{Markup, html};

use crate::state::AppState;
use crate::web::forms::PortalUser;
use crate::web::portal::signed_in_page;

/// The holder's card and what the cards service says about it.
pub(crate) struct MyCard {
    /// The view (status, tries left, renewal window, remote renewals left).
    pub(crate) view: CardView,
    /// The holder's name.
    pub(crate) holder: String,
}

/// The card of this session: the one it was opened with, else the newest card of the
/// account's UID that is not cancelled (a password login). `None` when there is none.
pub(crate) async fn my_card(s: &AppState, sess: &portal::Session) -> Result<Option<MyCard>, crate::error::ApiError> {
    let serial = match &sess.card_serial {
        Some(c) => Some(c.clone()),
        None => match &sess.account.uid {
            Some(uid) => s
                .read
                .cards_of(uid)
                .await?
                .into_iter()
                .rev()
                .find(|c| c.status != CardStatus::Cancelled)
                .map(|c| c.serial),
            None => None,
        },
    };
    let Some(serial) = serial else { return Ok(None) };
    let view = s.cards.view(&serial).await?;
    let holder = s.cards.user(&view.card.uid).await.map(|u| u.name).unwrap_or_else(|_| sess.account.name.clone());
    Ok(Some(MyCard { view, holder }))
}

/// A date for people (the configured zone, no time).
pub(crate) fn day(s: &AppState, t: i64) -> String {
    enrol::local_date(t, &s.enrol.config().time_zone, false)
}

/// The NHS.UK breadcrumbs: (URL, label) of each level above the page.
pub(crate) fn breadcrumbs(levels: &[(&str, &str)]) -> Markup {
    html! {
        nav.nhsuk-breadcrumb aria-label="Breadcrumb" {
            ol.nhsuk-breadcrumb__list {
                @for (href, label) in levels {
                    li.nhsuk-breadcrumb__list-item { a.nhsuk-breadcrumb__link href=(href) { (label) } }
                }
            }
        }
    }
}

/// One row of a summary list, its value in an element with `id`.
fn row(key: &str, id: &str, value: Markup) -> Markup {
    html! {
        div.nhsuk-summary-list__row {
            dt.nhsuk-summary-list__key { (key) }
            dd.nhsuk-summary-list__value id=(id) { (value) }
        }
    }
}

/// The status tag of a card.
fn status_tag(status: CardStatus, expired: bool) -> Markup {
    match (status, expired) {
        (CardStatus::Cancelled, _) => html! { strong."nhsuk-tag"."nhsuk-tag--grey" { "Cancelled" } },
        (CardStatus::Locked, _) => html! { strong."nhsuk-tag"."nhsuk-tag--red" { "Locked" } },
        (CardStatus::Active, true) => html! { strong."nhsuk-tag"."nhsuk-tag--red" { "Expired" } },
        (CardStatus::Active, false) => html! { strong."nhsuk-tag"."nhsuk-tag--green" { "Active" } },
    }
}

/// Why the next renewal needs the RA in person, if it does: expired certificates, or the
/// remote renewals used up since the last identity check.
pub(crate) fn needs_ra(s: &AppState, v: &CardView) -> Option<String> {
    let max = s.cards.config().max_remote_renewals;
    if v.card.status == CardStatus::Cancelled {
        return Some("This card is cancelled. Ask your Registration Authority (RA) for a new card.".into());
    }
    if v.days_to_expiry.is_some_and(|d| d < 0) {
        return Some(
            "Your certificates have expired. Expired certificates cannot be renewed from this computer: visit your Registration Authority (RA), who checks your identity in person and renews them."
                .into(),
        );
    }
    if v.remote_renewals_left == 0 {
        return Some(format!(
            "You have renewed your certificates {max} times from this computer since your identity was last checked. The next renewal needs a face-to-face identity check: visit your Registration Authority (RA)."
        ));
    }
    None
}

/// What the holder should do next, in words, with a link where there is a page for it.
fn next_step(s: &AppState, v: &CardView) -> Markup {
    let expiry = v.card.not_after.map(|t| day(s, t)).unwrap_or_default();
    if v.card.status == CardStatus::Locked {
        return html! { "Your card is locked. " a href="/portal/unlock" { "Unlock your card" } " with a code sent to you, or ask a sponsor or the RA." };
    }
    if let Some(why) = needs_ra(s, v) {
        return html! { (why) };
    }
    if v.renewal_open {
        return html! { "Your certificates expire on " (expiry) ". " a href="/portal/card/renew" { "Update My Card" } " now." };
    }
    let window = s.cards.config().renewal_window.as_secs() as i64;
    match v.card.not_after {
        Some(t) => {
            html! { "Nothing to do. You can renew from " (day(s, t - window)) " (90 days before your certificates expire on " (expiry) ")." }
        }
        None => html! { "Nothing to do." },
    }
}

/// The announcement of the portal home when the card needs attention (renewal due, RA
/// visit, locked), else nothing.
pub(crate) fn announcement(s: &AppState, card: &MyCard) -> Option<Markup> {
    let v = &card.view;
    let expiry = v.card.not_after.map(|t| day(s, t)).unwrap_or_default();
    let text = if v.renewal_open {
        html! { "Your smartcard certificates expire on " strong { (expiry) } ". " a href="/portal/card/renew" { "Update My Card" } " to renew them." }
    } else if v.card.status == CardStatus::Locked {
        html! { "Your smartcard is locked. " a href="/portal/unlock" { "Unlock your card" } "." }
    } else if v.days_to_expiry.is_some_and(|d| d <= 90) {
        html! { (needs_ra(s, v).unwrap_or_default()) " " a href="/portal/card" { "My card" } }
    } else {
        return None;
    };
    Some(html! {
        div.nhsuk-warning-callout id="renewal-due" {
            h2.nhsuk-warning-callout__label { span.nhsuk-u-visually-hidden { "Important: " } "Your smartcard" }
            p { (text) }
        }
    })
}

/// The page a signed-in user without a card sees instead of a card page.
fn no_card(s: &AppState, sess: &portal::Session, token: &str, title: &str) -> Response {
    signed_in_page(
        s,
        sess,
        token,
        title,
        html! {
            (breadcrumbs(&[("/portal/", "Home")]))
            p id="no-card" { "There is no smartcard registered to your account. Ask your Registration Authority (RA)." }
        },
    )
}

/// `/portal/card`: the card's status and what to do next.
pub(crate) async fn status_page(State(s): State<AppState>, PortalUser(sess, token): PortalUser) -> Response {
    let card = match my_card(&s, &sess).await {
        Ok(Some(c)) => c,
        Ok(None) => return no_card(&s, &sess, &token, "My card"),
        Err(e) => return (e.status, e.message).into_response(),
    };
    let v = &card.view;
    let expiry = v.card.not_after.map(|t| day(&s, t)).unwrap_or_else(|| "—".into());
    let expired = v.days_to_expiry.is_some_and(|d| d < 0);
    let max = s.cards.config().max_remote_renewals;
    let used = (max - v.remote_renewals_left).max(0);
    let body = html! {
        (breadcrumbs(&[("/portal/", "Home")]))
        dl.nhsuk-summary-list id="card-status" {
            (row("Card holder", "holder", html! { (card.holder) }))
            (row("Card serial", "card-serial", html! { (v.card.serial) }))
            (row("Status", "card-state", status_tag(v.card.status, expired)))
            (row("Authentication certificate", "auth-certificate", html! {
                "Serial " span id="auth-serial" { (v.card.auth_serial.as_deref().unwrap_or("—")) }
                ", expires " span id="auth-expiry" { (expiry) }
            }))
            (row("Signing certificate", "sign-certificate", html! {
                "Serial " span id="sign-serial" { (v.card.sign_serial.as_deref().unwrap_or("—")) }
                ", expires " span id="sign-expiry" { (expiry) }
            }))
            (row("Passcode tries left", "tries-left", html! { (v.tries_left) " of " (s.cards.config().max_wrong_passcodes) }))
            (row("Remote renewals used", "renewals-used", html! { (used) " of " (max) }))
        }
        h2 { "What to do next" }
        p id="next-step" { (next_step(&s, v)) }
        h2 { "Card tasks" }
        ul.nhsuk-list {
            li { a href="/portal/card/renew" { "Update My Card" } " – renew your certificates" }
            li { a href="/portal/card/passcode" { "Change your passcode" } }
            li { a href="/portal/unlock" { "Unlock a card" } " (Smartcard Service Centre)" }
            li { a href="/portal/card/sponsor" { "Unlock someone else's card as their sponsor" } }
        }
    };
    signed_in_page(&s, &sess, &token, "My card", body)
}

/// A page's "the agent is working" area: the status line the script writes into, the
/// result panel and the error summary (hidden until used).
fn job_area(prefix: &str) -> Markup {
    html! {
        p id={ (prefix) "-status" } role="status" aria-live="polite" {}
        div.nhsuk-error-summary id={ (prefix) "-error" } aria-labelledby={ (prefix) "-error-title" } role="alert" tabindex="-1" hidden {
            h2.nhsuk-error-summary__title id={ (prefix) "-error-title" } { "There is a problem" }
            div.nhsuk-error-summary__body { p id={ (prefix) "-error-text" } {} }
        }
    }
}

/// The line every agent-driven page carries for browsers without script.
pub(crate) fn needs_script() -> Markup {
    html! {
        p.nhsuk-body-s id="needs-agent" {
            "This step is done by the carecert agent on this computer, with your card in the reader: this page needs JavaScript to talk to it. The agent asks for your passcode in its own window; never type it into a web page."
        }
    }
}

/// `/portal/card/passcode`: change the passcode in the agent's dialog.
pub(crate) async fn passcode_page(State(s): State<AppState>, PortalUser(sess, token): PortalUser) -> Response {
    let body = html! {
        (breadcrumbs(&[("/portal/", "Home"), ("/portal/card", "My card")]))
        div data-card-page="passcode" {
            p { "The carecert agent asks for your current passcode, then your new passcode twice (6 to 8 digits), in its own window." }
            (needs_script())
            button.nhsuk-button type="button" id="change-passcode" { "Change passcode" }
            (job_area("passcode"))
            div.nhsuk-panel id="passcode-done" hidden { h2 { "Passcode changed" } p { "Use your new passcode from now on." } }
        }
    };
    signed_in_page(&s, &sess, &token, "Change your passcode", body)
}

/// `/portal/card/sponsor`: a sponsor, logged in with their own card, unlocks a card in a
/// second reader.
pub(crate) async fn sponsor_page(State(s): State<AppState>, PortalUser(sess, token): PortalUser) -> Response {
    let body = html! {
        (breadcrumbs(&[("/portal/", "Home"), ("/portal/card", "My card")]))
        div data-card-page="sponsor" data-sponsor-card=[sess.card_serial.as_deref()] {
            p { "Put the locked card in the second reader. The carecert agent asks for your passcode (the sponsor's), then the card holder types their new passcode twice in its window." }
            @if sess.card_serial.is_none() {
                p.error id="sponsor-needs-card" { "Log in with your smartcard to unlock someone else's card: a sponsor's card signs the unlock." }
            }
            (needs_script())
            div.nhsuk-form-group {
                fieldset.nhsuk-fieldset {
                    legend."nhsuk-fieldset__legend"."nhsuk-fieldset__legend--m" { "Card to unlock" }
                    div.nhsuk-radios id="sponsor-cards" {}
                }
            }
            button.nhsuk-button type="button" id="sponsor-unlock" hidden { "Unlock this card" }
            (job_area("sponsor"))
            div.nhsuk-panel id="sponsor-done" hidden { h2 { "Card unlocked" } p id="sponsor-done-text" {} }
        }
    };
    signed_in_page(&s, &sess, &token, "Unlock a card as sponsor", body)
}

/// One certificate's line of the renewal progress.
fn progress_row(label: &str, id: &str) -> Markup {
    html! {
        div.nhsuk-summary-list__row {
            dt.nhsuk-summary-list__key { (label) }
            dd.nhsuk-summary-list__value { strong."nhsuk-tag"."nhsuk-tag--grey" id=(id) { "Pending" } }
        }
    }
}

/// `/portal/card/renew`: **Update My Card**.
pub(crate) async fn renew_page(State(s): State<AppState>, PortalUser(sess, token): PortalUser) -> Response {
    let card = match my_card(&s, &sess).await {
        Ok(Some(c)) => c,
        Ok(None) => return no_card(&s, &sess, &token, "Update My Card"),
        Err(e) => return (e.status, e.message).into_response(),
    };
    let v = &card.view;
    let expiry = v.card.not_after.map(|t| day(&s, t)).unwrap_or_default();
    let window = s.cards.config().renewal_window.as_secs() as i64;
    let body = html! {
        (breadcrumbs(&[("/portal/", "Home"), ("/portal/card", "My card")]))
        @if v.renewal_open {
            div data-card-page="renew" {
                p id="renewal-open" { "Updates are available: your certificates expire on " strong { (expiry) } ". Renew them now; it takes about a minute." }
                div.nhsuk-warning-callout {
                    h2.nhsuk-warning-callout__label { span.nhsuk-u-visually-hidden { "Important: " } "Do not remove your card" }
                    p { "Keep your card in the reader until the confirmation appears. If it is removed, nothing is lost: your old certificates stay as they are and you can try again." }
                }
                (needs_script())
                button.nhsuk-button type="button" id="renew-start" { "Update My Card" }
                div id="renew-progress" hidden {
                    h2 id="creating" { "Creating card" }
                    dl.nhsuk-summary-list {
                        (progress_row("Authentication certificate", "auth-state"))
                        (progress_row("Signing certificate", "sign-state"))
                    }
                    div id="renew-next-area" hidden {
                        p { "The first certificate has been renewed. Select Next to write the second." }
                        button.nhsuk-button type="button" id="renew-next" { "Next" }
                    }
                }
                (job_area("renew"))
                div id="renew-failed" hidden {
                    button."nhsuk-button"."nhsuk-button--secondary" type="button" id="renew-retry" { "Try again" }
                    p.nhsuk-body-s { "If the error persists, contact your Registration Authority (RA)." }
                }
                div.nhsuk-panel id="renew-done" hidden {
                    h2 { "Your certificates have been renewed" }
                    dl.nhsuk-summary-list {
                        (row("Authentication certificate", "new-auth-serial", html! {}))
                        (row("Signing certificate", "new-sign-serial", html! {}))
                        (row("Valid until", "new-expiry", html! {}))
                        (row("Remote renewals left", "new-renewals-left", html! {}))
                    }
                }
            }
        } @else if v.card.status == CardStatus::Locked {
            p id="renewal-closed" { "Your card is locked: " a href="/portal/unlock" { "unlock it" } " first, then renew." }
        } @else if let Some(why) = needs_ra(&s, v) {
            div.nhsuk-inset-text id="renewal-closed" { p id="visit-ra" { (why) } }
        } @else {
            p id="renewal-closed" {
                "No updates are available. Your certificates expire on " (expiry) "; renewal opens 90 days before, on "
                (v.card.not_after.map(|t| day(&s, t - window)).unwrap_or_default()) "."
            }
        }
    };
    signed_in_page(&s, &sess, &token, "Update My Card", body)
}

/// A JSON view of the portal user's card for the page script after a job (`/portal/card.json`).
pub(crate) async fn status_json(State(s): State<AppState>, PortalUser(sess, _): PortalUser) -> Response {
    match my_card(&s, &sess).await {
        Ok(Some(c)) => axum::Json(serde_json::json!({
            "serial": c.view.card.serial,
            "auth_serial": c.view.card.auth_serial,
            "sign_serial": c.view.card.sign_serial,
            "not_after": c.view.card.not_after.map(|t| day(&s, t)),
            "remote_renewals_left": c.view.remote_renewals_left,
        }))
        .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no card").into_response(),
        Err(e) => (e.status, e.message).into_response(),
    }
}

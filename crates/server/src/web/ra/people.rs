//! People and their cards: register, find, grant sponsor authority, unlock face to face,
//! cancel.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use crate::error::ApiError;
use types::Permission;

use crate::authz::{allow_session, card_org, user_org};
use crate::state::AppState;
use crate::web::forms::{CsrfForm, RaForm, RaUser, has_csrf, urlencode};
use crate::web::layout::{date, failure_page, form_refused};
use crate::web::notice::Notice;
use crate::web::ra::contact;
use crate::web::ra::nhs::{card_tag, summary, tag};
use crate::web::ra::{ra_page as page, ra_page_crumbs as page_crumbs};

has_csrf!(UserForm, SponsorForm, DocumentsForm);

#[derive(Deserialize)]
pub(crate) struct UserQuery {
    #[serde(default)]
    uid: Option<String>,
}

pub(crate) async fn users(
    State(s): State<AppState>,
    RaUser(session): RaUser,
    Query(q): Query<UserQuery>,
    notice: Notice,
) -> Response {
    let found = match q.uid.as_deref().filter(|u| !u.is_empty()) {
        Some(uid) => match s.cards.user(uid).await {
            Ok(u) => match s.read.cards_of(uid).await {
                Ok(cards) => {
                    let serials: Vec<String> = cards.iter().map(|c| c.serial.clone()).collect();
                    match contact::delivery_log(&s, &serials).await {
                        Ok(log) => Some(Ok((u, cards, log))),
                        Err(e) => return failure_page(e),
                    }
                }
                Err(e) => return failure_page(e),
            },
            Err(e @ cards::CardsError::UnknownUser(_)) => Some(Err(e.to_string())),
            Err(e) => return failure_page(e),
        },
        None => None,
    };
    let none = || html! { span.nhsuk-u-visually-hidden { "none" } "—" };
    page_crumbs(
        StatusCode::OK,
        "People",
        Some(&session),
        &[("/ra/", "RA console")],
        html! {
            (notice)
            form method="get" action="/ra/users" {
                div.nhsuk-form-group {
                    label.nhsuk-label for="find-uid" { "UID" }
                    input."nhsuk-input"."nhsuk-input--width-10" id="find-uid" name="uid" inputmode="numeric" value=(q.uid.clone().unwrap_or_default());
                }
                button."nhsuk-button"."nhsuk-button--secondary" type="submit" { "Find" }
            }
            @match found {
                None => {},
                Some(Err(m)) => p.error role="alert" { (m) },
                Some(Ok((u, cards, log))) => {
                    h2 { (u.name) }
                    dl.nhsuk-summary-list id="user" {
                        div.nhsuk-summary-list__row { dt.nhsuk-summary-list__key { "UID" } dd.nhsuk-summary-list__value { (u.uid) } dd.nhsuk-summary-list__actions {} }
                        div.nhsuk-summary-list__row { dt.nhsuk-summary-list__key { "Name" } dd.nhsuk-summary-list__value { (u.name) } dd.nhsuk-summary-list__actions {} }
                        div.nhsuk-summary-list__row { dt.nhsuk-summary-list__key { "Organisation" } dd.nhsuk-summary-list__value { (u.organisation) } dd.nhsuk-summary-list__actions {} }
                        @for (key, value) in [("Email", &u.email), ("Mobile", &u.mobile), ("Landline", &u.landline)] {
                            div.nhsuk-summary-list__row {
                                dt.nhsuk-summary-list__key { (key) }
                                dd.nhsuk-summary-list__value { @if let Some(v) = value { (v) } @else { (none()) } }
                                dd.nhsuk-summary-list__actions {
                                    a href=(format!("/ra/users/{}/contact", urlencode(&u.uid))) { "Change" span.nhsuk-u-visually-hidden { " " (key.to_lowercase()) } }
                                }
                            }
                        }
                        div.nhsuk-summary-list__row {
                            dt.nhsuk-summary-list__key { "Text-to-voice on the landline" }
                            dd.nhsuk-summary-list__value id="landline-voice" { @if u.landline_voice { (tag("Yes", "green")) " no auto-attendant" } @else { (tag("No", "grey")) } }
                            dd.nhsuk-summary-list__actions { a href=(format!("/ra/users/{}/contact", urlencode(&u.uid))) { "Change" span.nhsuk-u-visually-hidden { " text-to-voice" } } }
                        }
                    }
                    h2 { "Cards" }
                    @if cards.is_empty() { p.nhsuk-body { "No card yet." } } @else {
                        table.nhsuk-table id="user-cards" {
                            caption."nhsuk-table__caption"."nhsuk-u-visually-hidden" { "Cards of " (u.name) }
                            thead.nhsuk-table__head { tr.nhsuk-table__row { th.nhsuk-table__header scope="col" { "Card" } th.nhsuk-table__header scope="col" { "Status" } th.nhsuk-table__header scope="col" { "Expires" } } }
                            tbody.nhsuk-table__body {
                                @for c in &cards {
                                    tr.nhsuk-table__row {
                                        td.nhsuk-table__cell { a href=(format!("/ra/cards?serial={}", urlencode(&c.serial))) { (c.serial) } }
                                        td.nhsuk-table__cell { (card_tag(c.status)) }
                                        td.nhsuk-table__cell { (c.not_after.map(|t| date(&s, t)).unwrap_or_default()) }
                                    }
                                }
                            }
                        }
                    }
                    a."nhsuk-button" id="issue-at-desk" href=(format!("/ra/desk/issue?uid={}", urlencode(&u.uid))) draggable="false" role="button" { "Issue a card at the desk" }
                    p.nhsuk-body { "Renewing a card in person: open the card, then select Renew in person (keys are made on the card at this desk)." }
                    h2 { "Unlock codes sent" }
                    (log)
                    h2 { "Sponsor authority" }
                    form method="post" action="/ra/sponsors" {
                        input type="hidden" name="csrf" value=(session.csrf_token);
                        input type="hidden" name="uid" value=(u.uid);
                        div.nhsuk-form-group {
                            label.nhsuk-label for="sponsor-org" { "May unlock cards of organisation" }
                            input."nhsuk-input"."nhsuk-input--width-10" id="sponsor-org" name="organisation" required;
                        }
                        button."nhsuk-button"."nhsuk-button--secondary" type="submit" { "Grant" }
                    }
                }
            }
            h2 { "Register a person" }
            form id="register-user" method="post" action="/ra/users" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                label.nhsuk-label { "UID " input.nhsuk-input name="uid" required pattern="[0-9]{1,20}"; } " "
                label.nhsuk-label { "Name " input.nhsuk-input name="name" required; } " "
                label.nhsuk-label { "Organisation " input.nhsuk-input name="organisation" required; } " "
                label.nhsuk-label { "Email " input.nhsuk-input name="email" type="email"; } " "
                label.nhsuk-label { "Mobile " input.nhsuk-input name="mobile"; } " "
                button.nhsuk-button type="submit" { "Register" }
            }
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct UserForm {
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

pub(crate) async fn add_user(State(s): State<AppState>, RaForm(session, f): RaForm<UserForm>) -> Response {
    let opt = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
    let (email, mobile) = (opt(&f.email), opt(&f.mobile));
    let actor = match allow_session(
        &s,
        &session,
        Permission::ManageCardHolders,
        Some(&f.organisation),
        &format!("user/{}", f.uid),
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return form_refused(&session, e, "/ra/users"),
    };
    match s
        .cards
        .add_user(&f.uid, &f.name, email.as_deref(), mobile.as_deref(), None, &[], &f.organisation, &actor)
        .await
    {
        Ok(u) => Redirect::to(&format!("/ra/users?uid={}&done=user_registered", urlencode(&u.uid))).into_response(),
        Err(e) => form_refused(&session, e, "/ra/users"),
    }
}

#[derive(Deserialize)]
pub(crate) struct SponsorForm {
    #[serde(default)]
    csrf: String,
    uid: String,
    organisation: String,
}

pub(crate) async fn grant_sponsor(State(s): State<AppState>, RaForm(session, f): RaForm<SponsorForm>) -> Response {
    let back = format!("/ra/users?uid={}", urlencode(&f.uid));
    let subject = format!("user/{}", f.uid);
    let check = async {
        let holder_org = user_org(&s, &f.uid).await?;
        allow_session(&s, &session, Permission::GrantSponsors, Some(&holder_org), &subject).await?;
        allow_session(&s, &session, Permission::GrantSponsors, Some(&f.organisation), &subject).await
    };
    let actor = match check.await {
        Ok(a) => a,
        Err(e) => return form_refused(&session, e, &back),
    };
    match s.cards.grant_sponsor(&f.uid, &f.organisation, &actor).await {
        Ok(()) => Redirect::to(&format!(
            "/ra/users?uid={}&done=sponsor_granted&org={}",
            urlencode(&f.uid),
            urlencode(&f.organisation)
        ))
        .into_response(),
        Err(e) => form_refused(&session, e, &format!("/ra/users?uid={}", urlencode(&f.uid))),
    }
}

#[derive(Deserialize)]
pub(crate) struct CardQuery {
    #[serde(default)]
    serial: Option<String>,
}

pub(crate) async fn cards_page(
    State(s): State<AppState>,
    RaUser(session): RaUser,
    Query(q): Query<CardQuery>,
    notice: Notice,
) -> Response {
    let found = match q.serial.as_deref().filter(|x| !x.is_empty()) {
        Some(serial) => match s.cards.view(serial).await {
            Ok(v) => match contact::delivery_log(&s, std::slice::from_ref(&v.card.serial)).await {
                Ok(log) => Some(Ok((v, log))),
                Err(e) => return failure_page(e),
            },
            Err(e) => Some(Err(e.to_string())),
        },
        None => None,
    };
    page_crumbs(
        StatusCode::OK,
        "Cards",
        Some(&session),
        &[("/ra/", "RA console")],
        html! {
            (notice)
            form method="get" action="/ra/cards" {
                div.nhsuk-form-group {
                    label.nhsuk-label for="find-serial" { "Card serial" }
                    input."nhsuk-input"."nhsuk-input--width-20" id="find-serial" name="serial" value=(q.serial.clone().unwrap_or_default());
                }
                button."nhsuk-button"."nhsuk-button--secondary" type="submit" { "Find" }
            }
            @match found {
                None => {},
                Some(Err(m)) => p.error role="alert" { (m) },
                Some(Ok((v, log))) => {
                    (summary("card", &[
                        ("Serial", html! { (v.card.serial) }),
                        ("Holder UID", html! { a href=(format!("/ra/users?uid={}", urlencode(&v.card.uid))) { (v.card.uid) } }),
                        ("Status", html! { span id="card-status" { (card_tag(v.card.status)) } }),
                        ("Authentication certificate", html! { (v.card.auth_serial.clone().unwrap_or_default()) }),
                        ("Signing certificate", html! { (v.card.sign_serial.clone().unwrap_or_default()) }),
                        ("Expires", html! { (v.card.not_after.map(|t| date(&s, t)).unwrap_or_default()) }),
                        ("Remote renewals left", html! { (v.remote_renewals_left) }),
                        ("Identity last checked by", html! { (v.card.identity_checked_by.clone().unwrap_or_default()) }),
                    ]))
                    p { a."nhsuk-button"."nhsuk-button--secondary" id="renew-in-person" href=(format!("/ra/desk/renew?card={}", urlencode(&v.card.serial))) { "Renew in person" } }
                    h2 { "Unlock codes sent" }
                    (log)
                    h2 { "Unlock face to face" }
                    form method="post" action=(format!("/ra/cards/{}/unlock", v.card.serial)) {
                        input type="hidden" name="csrf" value=(session.csrf_token);
                        div.nhsuk-form-group {
                            label.nhsuk-label for="unlock-documents" { "Identity documents checked" }
                            input.nhsuk-input id="unlock-documents" name="documents" required maxlength="200";
                        }
                        button.nhsuk-button type="submit" { "Unlock" }
                    }
                    h2 { "Cancel the card" }
                    form method="post" action=(format!("/ra/cards/{}/cancel", v.card.serial)) {
                        input type="hidden" name="csrf" value=(session.csrf_token);
                        button."nhsuk-button"."nhsuk-button--warning" type="submit" { "Cancel card and revoke its certificates" }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct DocumentsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    documents: String,
}

pub(crate) async fn unlock_card(
    State(s): State<AppState>,
    Path(serial): Path<String>,
    RaForm(session, f): RaForm<DocumentsForm>,
) -> Response {
    if f.documents.trim().is_empty() {
        return form_refused(
            &session,
            ApiError::bad_request("invalid", "record the identity documents checked"),
            &format!("/ra/cards?serial={}", urlencode(&serial)),
        );
    }
    let actor = match card_action(&s, &session, Permission::UnlockCards, &serial).await {
        Ok(a) => a,
        Err(e) => return form_refused(&session, e, &format!("/ra/cards?serial={}", urlencode(&serial))),
    };
    match s.cards.ra_unlock(&serial, &actor, &f.documents).await {
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
        Err(e) => form_refused(&session, e, &format!("/ra/cards?serial={}", urlencode(&serial))),
    }
}

pub(crate) async fn cancel_card(
    State(s): State<AppState>,
    Path(serial): Path<String>,
    RaForm(session, _form): RaForm<CsrfForm>,
) -> Response {
    let actor = match card_action(&s, &session, Permission::CancelCards, &serial).await {
        Ok(a) => a,
        Err(e) => return form_refused(&session, e, &format!("/ra/cards?serial={}", urlencode(&serial))),
    };
    match s.cards.cancel_card(&serial, &actor, pki::RevocationReason::AffiliationChanged).await {
        Ok(()) => Redirect::to(&format!("/ra/cards?serial={}&done=card_cancelled", urlencode(&serial))).into_response(),
        Err(e) => form_refused(&session, e, &format!("/ra/cards?serial={}", urlencode(&serial))),
    }
}

/// `permission` on card `serial` for this session's operator (the holder's organisation).
async fn card_action(
    s: &AppState,
    session: &portal::Session,
    permission: Permission,
    serial: &str,
) -> Result<String, ApiError> {
    let org = card_org(s, serial).await?;
    allow_session(s, session, permission, Some(&org), &format!("card/{serial}")).await
}

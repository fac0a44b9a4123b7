//! A card holder's contact details, kept by the RA (email, mobile, landline and whether the
//! landline takes text-to-voice messages with no auto-attendant — the ways an unlock code can
//! travel), and the unlock-code delivery log (channel, masked destination, when, used or not).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use types::Permission;

use crate::authz::allow_session;
use crate::state::AppState;
use crate::web::forms::{RaForm, RaUser, has_csrf, urlencode};
use crate::web::layout::{date, failure_page, form_refused};
use crate::web::ra::nhs::{Errors, Field, tag};
use crate::web::ra::ra_page_crumbs;

has_csrf!(ContactForm);

#[derive(Deserialize, Default)]
pub(crate) struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    mobile: String,
    #[serde(default)]
    landline: String,
    #[serde(default)]
    landline_voice: Option<String>,
}

fn crumbs(uid: &str) -> [(String, String); 3] {
    [
        ("/ra/".into(), "RA console".into()),
        ("/ra/users".into(), "People".into()),
        (format!("/ra/users?uid={}", urlencode(uid)), format!("UID {uid}")),
    ]
}

fn page(status: StatusCode, session: &portal::Session, user: &store::User, body: Markup) -> Response {
    let c = crumbs(&user.uid);
    let refs: Vec<(&str, &str)> = c.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    ra_page_crumbs(status, &format!("Change contact details of {}", user.name), Some(session), &refs, body)
}

fn form(session: &portal::Session, uid: &str, f: &ContactForm, errors: &Errors) -> Markup {
    html! {
        (errors.summary())
        p.nhsuk-body { "Unlock codes are sent only to these. Leave a box empty to remove that detail." }
        form id="contact" method="post" action=(format!("/ra/users/{}/contact", urlencode(uid))) novalidate {
            input type="hidden" name="csrf" value=(session.csrf_token);
            (Field { id: "email", name: "email", label: "Email address", hint: Some("Codes go only to addresses on the allowed domains (such as nhs.net)."), value: &f.email, kind: "email", autocomplete: "off", inputmode: None, width: None }.render(errors.of("email")))
            (Field { id: "mobile", name: "mobile", label: "Mobile number", hint: Some("For codes by text message. For example, 07700 900 982."), value: &f.mobile, kind: "tel", autocomplete: "off", inputmode: None, width: Some("nhsuk-input--width-20") }.render(errors.of("mobile")))
            (Field { id: "landline", name: "landline", label: "Landline number", hint: Some("For codes read out by a text-to-voice call."), value: &f.landline, kind: "tel", autocomplete: "off", inputmode: None, width: Some("nhsuk-input--width-20") }.render(errors.of("landline")))
            div class=(if errors.of("landline_voice").is_some() { "nhsuk-form-group nhsuk-form-group--error" } else { "nhsuk-form-group" }) {
                fieldset.nhsuk-fieldset aria-describedby="landline_voice-hint" {
                    legend."nhsuk-fieldset__legend"."nhsuk-fieldset__legend--s" { "Text-to-voice" }
                    div.nhsuk-hint id="landline_voice-hint" { "Only if the landline is answered directly by the person, with no switchboard or auto-attendant in between." }
                    @if let Some(e) = errors.of("landline_voice") { span.nhsuk-error-message id="landline_voice-error" { span.nhsuk-u-visually-hidden { "Error: " } (e) } }
                    div.nhsuk-checkboxes {
                        div.nhsuk-checkboxes__item {
                            input.nhsuk-checkboxes__input id="landline_voice" name="landline_voice" type="checkbox" value="yes" checked[f.landline_voice.is_some()];
                            label."nhsuk-label"."nhsuk-checkboxes__label" for="landline_voice" { "The landline accepts text-to-voice calls (no auto-attendant)" }
                        }
                    }
                }
            }
            button.nhsuk-button type="submit" { "Save contact details" }
        }
    }
}

pub(crate) async fn contact_page(
    State(s): State<AppState>,
    RaUser(session): RaUser,
    Path(uid): Path<String>,
) -> Response {
    let user = match s.cards.user(&uid).await {
        Ok(u) => u,
        Err(e) => return failure_page(e),
    };
    let f = ContactForm {
        email: user.email.clone().unwrap_or_default(),
        mobile: user.mobile.clone().unwrap_or_default(),
        landline: user.landline.clone().unwrap_or_default(),
        landline_voice: user.landline_voice.then(|| "yes".to_string()),
        ..Default::default()
    };
    page(StatusCode::OK, &session, &user, form(&session, &uid, &f, &Errors::default()))
}

pub(crate) async fn update_contact(
    State(s): State<AppState>,
    Path(uid): Path<String>,
    RaForm(session, f): RaForm<ContactForm>,
) -> Response {
    let back = format!("/ra/users?uid={}", urlencode(&uid));
    let user = match s.cards.user(&uid).await {
        Ok(u) => u,
        Err(e) => return form_refused(&session, e, "/ra/users"),
    };
    let actor = match allow_session(
        &s,
        &session,
        Permission::ManageCardHolders,
        Some(&user.organisation),
        &format!("user/{uid}"),
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return form_refused(&session, e, &back),
    };
    let contact = cards::Contact {
        email: Some(f.email.clone()),
        mobile: Some(f.mobile.clone()),
        landline: Some(f.landline.clone()),
        landline_voice: f.landline_voice.is_some(),
    };
    match s.cards.update_contact(&uid, contact, &actor).await {
        Ok(()) => Redirect::to(&format!("/ra/users?uid={}&done=contact_changed", urlencode(&uid))).into_response(),
        Err(e @ (cards::CardsError::BadInput(_) | cards::CardsError::DeskTicket(_))) => {
            let mut errors = Errors::default();
            let field = match &e {
                cards::CardsError::BadInput(cards::InputProblem::Email(_)) => "email",
                cards::CardsError::DeskTicket(cards::DeskProblem::Phone { what: "mobile", .. }) => "mobile",
                cards::CardsError::DeskTicket(cards::DeskProblem::Phone { .. }) => "landline",
                cards::CardsError::DeskTicket(cards::DeskProblem::VoiceWithoutLandline) => "landline_voice",
                _ => "email",
            };
            errors.add(field, sentence(&e.to_string()));
            page(StatusCode::BAD_REQUEST, &session, &user, form(&session, &uid, &f, &errors))
        }
        Err(e) => form_refused(&session, e, &back),
    }
}

/// A domain message as a sentence for the error summary (capital first letter).
fn sentence(m: &str) -> String {
    let mut c = m.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// The delivery log of the unlock codes of `cards` (serials), newest first, as a table; or
/// the failure to read it.
pub(crate) async fn delivery_log(s: &AppState, serials: &[String]) -> Result<Markup, cards::CardsError> {
    let now = s.authority.clock().now().unix_timestamp();
    let mut rows = Vec::new();
    for serial in serials {
        for d in s.cards.code_deliveries(serial).await? {
            rows.push((serial.clone(), d));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.created_at));
    Ok(html! {
        @if rows.is_empty() {
            p.nhsuk-body id="code-log-empty" { "No unlock code has been sent." }
        } @else {
            table.nhsuk-table id="code-log" {
                caption."nhsuk-table__caption"."nhsuk-table__caption--s" { "Unlock codes sent" }
                thead.nhsuk-table__head { tr.nhsuk-table__row {
                    th.nhsuk-table__header scope="col" { "Card" } th.nhsuk-table__header scope="col" { "Channel" }
                    th.nhsuk-table__header scope="col" { "Sent to" } th.nhsuk-table__header scope="col" { "Sent" }
                    th.nhsuk-table__header scope="col" { "Status" }
                } }
                tbody.nhsuk-table__body {
                    @for (serial, d) in &rows {
                        tr.nhsuk-table__row {
                            td.nhsuk-table__cell { (serial) }
                            td.nhsuk-table__cell { (channel_name(d.channel)) }
                            td.nhsuk-table__cell { (d.sent_to) }
                            td.nhsuk-table__cell { (date(s, d.created_at)) }
                            td.nhsuk-table__cell {
                                @if let Some(t) = d.used_at { (tag("Used", "green")) " " (date(s, t)) }
                                @else if d.superseded_at.is_some() { (tag("Replaced", "grey")) " by a newer code" }
                                @else if now >= d.expires_at { (tag("Expired unused", "grey")) }
                                @else { (tag("Not used yet", "yellow")) " valid until " (date(s, d.expires_at)) }
                            }
                        }
                    }
                }
            }
        }
    })
}

fn channel_name(c: types::Channel) -> &'static str {
    match c {
        types::Channel::Email => "Email",
        types::Channel::Sms => "Text message",
        types::Channel::Voice => "Text-to-voice call",
    }
}

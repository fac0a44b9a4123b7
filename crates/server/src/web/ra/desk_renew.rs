//! Renewing a card in person at the RA desk (issue 14): the identity-check form for an
//! existing card (`/ra/desk/renew?card=SERIAL`), which records the check (the signed-in RA is
//! "checked by") and mints a renewal desk ticket for that card; then the page hands the job to
//! the desk's local card agent (`/ra/desk.js`, the agent's `ra-renew` job) and shows "Creating
//! card" and each certificate's Pending → Writing → Done, then the new serials.
//!
//! Allowed for expired cards and after the last remote renewal (that is what the RA renewal
//! is for); refused for cancelled or locked cards. The page never sees a passcode.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use types::Permission;

use crate::authz::allow_session;
use crate::state::AppState;
use crate::web::forms::{RaForm, RaUser, urlencode};
use crate::web::layout::{date, form_refused, scripted_csp};
use crate::web::ra::desk::{DeskForm, documents_fields, progress_table, result_list};
use crate::web::ra::nhs::{Errors, summary};
use crate::web::ra::ra_page_crumbs;

const CRUMBS: &[(&str, &str)] = &[("/ra/", "RA console"), ("/ra/cards", "Cards")];
const TITLE: &str = "Renew a card in person";

#[derive(Deserialize)]
pub(crate) struct RenewQuery {
    #[serde(default)]
    card: String,
}

pub(crate) async fn renew_page(
    State(s): State<AppState>,
    RaUser(session): RaUser,
    Query(q): Query<RenewQuery>,
) -> Response {
    let mut form = DeskForm::default();
    form.card = q.card.trim().to_string();
    let back = format!("/ra/cards?serial={}", urlencode(&form.card));
    match s.cards.view(&form.card).await {
        Ok(v) => ra_page_crumbs(
            StatusCode::OK,
            TITLE,
            Some(&session),
            CRUMBS,
            form_body(&s, &session, &form, &v, &Errors::default()),
        ),
        Err(e) => form_refused(&session, e, &back),
    }
}

fn card_summary(s: &AppState, v: &cards::CardView) -> Markup {
    let expiry = v.card.not_after.map(|t| date(s, t)).unwrap_or_default();
    summary(
        "renew-card",
        &[
            ("Card serial", html! { (v.card.serial) }),
            ("Holder UID", html! { (v.card.uid) }),
            ("Expires", html! { (expiry) }),
            ("Remote renewals left", html! { (v.remote_renewals_left) }),
        ],
    )
}

fn form_body(s: &AppState, session: &portal::Session, f: &DeskForm, v: &cards::CardView, errors: &Errors) -> Markup {
    html! {
        (errors.summary())
        p.nhsuk-body { "Check the holder's identity in person and record what you saw. Then the holder puts their card in this desk's reader and types their passcode into the carecert agent's own dialog, never into this page. An in-person renewal works for an expired card and after the last remote renewal, and starts the count of remote renewals again." }
        (card_summary(s, v))
        form id="desk-renew" method="post" action="/ra/desk/renew" novalidate {
            input type="hidden" name="csrf" value=(session.csrf_token);
            input type="hidden" name="card" value=(v.card.serial);
            (documents_fields(f, errors))
            (summary("checked-by", &[("Checked by", html! { (session.account.name) " (" (session.account.username) ")" })]))
            button.nhsuk-button type="submit" { "Record the identity check" }
        }
    }
}

pub(crate) async fn renew(State(s): State<AppState>, RaForm(session, f): RaForm<DeskForm>) -> Response {
    let serial = f.card.trim().to_string();
    let back = format!("/ra/cards?serial={}", urlencode(&serial));
    let v = match s.cards.view(&serial).await {
        Ok(v) => v,
        Err(e) => return form_refused(&session, e, &back),
    };
    let mut errors = Errors::default();
    let documents = f.documents();
    if documents.is_empty() {
        errors.add("doc_passport", "Select the identity documents you checked, or describe them under other documents");
    } else if documents.chars().count() > 500 {
        errors.add("documents_other", "Describe the other documents in fewer words (500 characters in all)");
    }
    if !errors.is_empty() {
        return ra_page_crumbs(
            StatusCode::BAD_REQUEST,
            TITLE,
            Some(&session),
            CRUMBS,
            form_body(&s, &session, &f, &v, &errors),
        );
    }
    let holder = match s.cards.user(&v.card.uid).await {
        Ok(u) => u,
        Err(e) => return form_refused(&session, e, &back),
    };
    let actor = match allow_session(
        &s,
        &session,
        Permission::RenewCards,
        Some(&holder.organisation),
        &format!("card/{serial}"),
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return form_refused(&session, e, &back),
    };
    let check = cards::DeskCheck {
        uid: holder.uid.clone(),
        documents,
        batch: v.card.batch.clone(),
        ra_account: session.account.username.clone(),
        ra_actor: actor,
        ra_name: session.account.name.clone(),
    };
    let minted = match s.cards.mint_desk_renewal_ticket(&serial, check).await {
        Ok(m) => m,
        Err(e) => return form_refused(&session, e, &back),
    };
    let t = &minted.ticket;
    let mut resp = ra_page_crumbs(
        StatusCode::OK,
        "Renew the card",
        Some(&session),
        CRUMBS,
        html! {
            p.ok role="status" id="check-recorded" { "Identity check recorded for " (holder.name) " (UID " (holder.uid) "), card " (serial) "." }
            (summary("desk-check", &[
                ("Holder", html! { (holder.name) " (UID " (holder.uid) ")" }),
                ("Card serial", html! { (serial) }),
                ("Documents seen", html! { (t.documents) }),
                ("Checked by", html! { (session.account.name) }),
                ("Ticket valid until", html! { (date(&s, t.expires_at)) " (10 minutes, this card once)" }),
            ]))
            div id="desk-job" data-task="ra-renew" data-agent=(s.agent_url) data-card=(serial) data-documents=(t.documents) data-ticket=(minted.token) {
                div.nhsuk-inset-text id="desk-nojs" {
                    p { "Renewing the card needs JavaScript and the carecert agent running at this desk. Turn on JavaScript, or renew with " code { "carecert-agent card renew --ra" } "." }
                }
                p.nhsuk-body { "Put the holder's card in the desk's reader, then select Renew card. The holder then types their passcode into the carecert agent's dialog. New keys are made on the card; the old certificates stay until both new ones are written." }
                button.nhsuk-button type="button" id="desk-start" disabled { "Renew card" }
                (progress_table())
                p.nhsuk-body id="desk-status" role="status" aria-live="polite" {}
                div.nhsuk-error-summary id="desk-error" role="alert" tabindex="-1" hidden {
                    h2.nhsuk-error-summary__title { "The card was not renewed" }
                    div.nhsuk-error-summary__body { p id="desk-error-text" {} p { "The card keeps its current certificates. Fix the problem, then select Renew card again (the ticket still works until it expires, unless the renewal had started), or record the check again." } }
                }
                div id="desk-result" hidden {
                    h2 { "Card renewed" }
                    (result_list("New authentication certificate", "New signing certificate"))
                    p { a id="result-link" href=(back) { "Open the card" } }
                }
            }
            p { a href=(back) { "Back to card " (serial) } }
            script src="/ra/desk.js" defer {}
        },
    );
    if let Some(v) = scripted_csp(&s.agent_url) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

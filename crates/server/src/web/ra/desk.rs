//! The RA desk in the browser (issue 14): the identity-check form for issuing a card, which
//! records the check (the signed-in RA is "checked by") and mints a **desk ticket**; then the
//! page hands the job to the desk's local card agent (`/ra/desk.js`, the agent's `issue`
//! job) and shows "Creating card" and each certificate's Pending → Writing → Done.
//!
//! The form works without JavaScript; only the card step needs the script and the agent.
//! The page never sees a passcode: the holder types it into the agent's own dialog.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use types::Permission;

use crate::authz::allow_session;
use crate::state::AppState;
use crate::web::forms::{RaForm, RaUser, has_csrf, urlencode};
use crate::web::layout::{date, form_refused, scripted_csp};
use crate::web::ra::nhs::{Errors, Field, summary};
use crate::web::ra::ra_page_crumbs;

/// The desk page's script (served as `/ra/desk.js`): drives the agent's `issue` job.
const DESK_JS: &str = include_str!("desk.js");

/// The identity documents the checklist offers: (form name, text recorded).
pub(crate) const DOCUMENTS: &[(&str, &str)] = &[
    ("doc_passport", "passport"),
    ("doc_licence", "photocard driving licence"),
    ("doc_id_card", "national identity card"),
    ("doc_brp", "biometric residence permit"),
    ("doc_birth", "birth or adoption certificate"),
    ("doc_address", "proof of address (utility bill or bank statement)"),
    ("doc_employer", "employer's identity badge or letter"),
];

has_csrf!(DeskForm);

/// The identity-check form, as sent (every checkbox its own name: a form may send none).
#[derive(Deserialize, Default)]
pub(crate) struct DeskForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    uid: String,
    /// The card to renew (the renewal page).
    #[serde(default)]
    pub(super) card: String,
    #[serde(default)]
    doc_passport: Option<String>,
    #[serde(default)]
    doc_licence: Option<String>,
    #[serde(default)]
    doc_id_card: Option<String>,
    #[serde(default)]
    doc_brp: Option<String>,
    #[serde(default)]
    doc_birth: Option<String>,
    #[serde(default)]
    doc_address: Option<String>,
    #[serde(default)]
    doc_employer: Option<String>,
    #[serde(default)]
    documents_other: String,
    #[serde(default)]
    batch: String,
    #[serde(default)]
    label: String,
}

impl DeskForm {
    fn ticked(&self, name: &str) -> bool {
        let v = match name {
            "doc_passport" => &self.doc_passport,
            "doc_licence" => &self.doc_licence,
            "doc_id_card" => &self.doc_id_card,
            "doc_brp" => &self.doc_brp,
            "doc_birth" => &self.doc_birth,
            "doc_address" => &self.doc_address,
            "doc_employer" => &self.doc_employer,
            _ => &None,
        };
        v.is_some()
    }

    /// The documents as recorded: the ticked names, then "other: …" for the free text.
    pub(super) fn documents(&self) -> String {
        let mut seen: Vec<String> =
            DOCUMENTS.iter().filter(|(n, _)| self.ticked(n)).map(|(_, t)| (*t).to_string()).collect();
        let other = self.documents_other.split_whitespace().collect::<Vec<_>>().join(" ");
        if !other.is_empty() {
            seen.push(format!("other: {other}"));
        }
        seen.join("; ")
    }
}

#[derive(Deserialize)]
pub(crate) struct DeskQuery {
    #[serde(default)]
    uid: Option<String>,
}

/// The breadcrumbs above the desk pages.
const CRUMBS: &[(&str, &str)] = &[("/ra/", "RA console"), ("/ra/users", "People")];

pub(crate) async fn issue_page(RaUser(session): RaUser, Query(q): Query<DeskQuery>) -> Response {
    let form = DeskForm { uid: q.uid.unwrap_or_default(), batch: "default".into(), ..Default::default() };
    ra_page_crumbs(
        StatusCode::OK,
        "Issue a card at the desk",
        Some(&session),
        CRUMBS,
        form_body(&session, &form, &Errors::default()),
    )
}

fn form_body(session: &portal::Session, f: &DeskForm, errors: &Errors) -> Markup {
    html! {
        (errors.summary())
        p.nhsuk-body { "Check the holder's identity in person, record what you saw, then put a blank card in this desk's reader. The holder types their first passcode into the carecert agent's own dialog, never into this page." }
        form id="desk-issue" method="post" action="/ra/desk/issue" novalidate {
            input type="hidden" name="csrf" value=(session.csrf_token);
            (Field { id: "uid", name: "uid", label: "Holder's UID", hint: Some("The person's UID, digits only (find it under People)."), value: &f.uid, kind: "text", autocomplete: "off", inputmode: Some("numeric"), width: Some("nhsuk-input--width-10") }.render(errors.of("uid")))
            (documents_fields(f, errors))
            (Field { id: "batch", name: "batch", label: "Card batch", hint: Some("As printed on the card box (default: default)."), value: &f.batch, kind: "text", autocomplete: "off", inputmode: None, width: Some("nhsuk-input--width-10") }.render(errors.of("batch")))
            (Field { id: "label", name: "label", label: "Label written on the card (optional)", hint: Some("Up to 32 characters; the holder's name is a good label."), value: &f.label, kind: "text", autocomplete: "off", inputmode: None, width: None }.render(errors.of("label")))
            (summary("checked-by", &[("Checked by", html! { (session.account.name) " (" (session.account.username) ")" })]))
            button.nhsuk-button type="submit" { "Record the identity check" }
        }
    }
}

/// The identity-document checklist and the free text (issue and renewal pages).
pub(super) fn documents_fields(f: &DeskForm, errors: &Errors) -> Markup {
    let docs_error = errors.of("doc_passport");
    html! {
            div class=(if docs_error.is_some() { "nhsuk-form-group nhsuk-form-group--error" } else { "nhsuk-form-group" }) {
            fieldset.nhsuk-fieldset aria-describedby=(if docs_error.is_some() { "documents-hint documents-error" } else { "documents-hint" }) {
                legend."nhsuk-fieldset__legend"."nhsuk-fieldset__legend--m" { h2.nhsuk-fieldset__heading { "Identity documents seen" } }
                div.nhsuk-hint id="documents-hint" { "Tick every original document you checked in person. Select all that apply." }
                @if let Some(e) = docs_error { span.nhsuk-error-message id="documents-error" { span.nhsuk-u-visually-hidden { "Error: " } (e) } }
                div.nhsuk-checkboxes {
                    @for (name, text) in DOCUMENTS {
                        div.nhsuk-checkboxes__item {
                            input.nhsuk-checkboxes__input id=(name) name=(name) type="checkbox" value="yes" checked[f.ticked(name)];
                            label."nhsuk-label"."nhsuk-checkboxes__label" for=(name) { (capitalised(text)) }
                        }
                    }
                }
            }
        }
        div class=(if errors.of("documents_other").is_some() { "nhsuk-form-group nhsuk-form-group--error" } else { "nhsuk-form-group" }) {
            label.nhsuk-label for="documents_other" { "Other documents or details (optional)" }
            div.nhsuk-hint id="documents_other-hint" { "For example the document numbers you noted, or a document not in the list." }
            @if let Some(e) = errors.of("documents_other") { span.nhsuk-error-message id="documents_other-error" { span.nhsuk-u-visually-hidden { "Error: " } (e) } }
            textarea.nhsuk-textarea id="documents_other" name="documents_other" rows="2" aria-describedby="documents_other-hint" { (f.documents_other) }
        }
    }
}

/// The card and certificate serials the desk's agent reports at the end (`desk.js` fills them
/// in), shared by the issue and renewal pages, which name the two certificates.
pub(super) fn result_list(auth: &str, sign: &str) -> Markup {
    html! {
        dl.nhsuk-summary-list {
            div."nhsuk-summary-list__row"."nhsuk-summary-list__row--no-actions" { dt.nhsuk-summary-list__key { "Card serial" } dd.nhsuk-summary-list__value id="result-card" {} }
            div."nhsuk-summary-list__row"."nhsuk-summary-list__row--no-actions" { dt.nhsuk-summary-list__key { (auth) } dd.nhsuk-summary-list__value id="result-auth" {} }
            div."nhsuk-summary-list__row"."nhsuk-summary-list__row--no-actions" { dt.nhsuk-summary-list__key { (sign) } dd.nhsuk-summary-list__value id="result-sign" {} }
        }
    }
}

/// The per-certificate progress the desk's agent reports (Pending → Writing → Done), shared by
/// the issue and renewal pages; `desk.js` fills it in.
pub(super) fn progress_table() -> Markup {
    html! {
        div id="desk-progress" hidden {
            h2 id="desk-creating" { "Creating card" }
            table.nhsuk-table {
                caption."nhsuk-table__caption"."nhsuk-u-visually-hidden" { "Certificates written to the card" }
                thead.nhsuk-table__head { tr.nhsuk-table__row { th.nhsuk-table__header scope="col" { "Certificate" } th.nhsuk-table__header scope="col" { "Progress" } } }
                tbody.nhsuk-table__body {
                    tr.nhsuk-table__row { td.nhsuk-table__cell { "Authentication" } td.nhsuk-table__cell { strong."nhsuk-tag"."nhsuk-tag--grey" id="cert-authentication" { "Pending" } } }
                    tr.nhsuk-table__row { td.nhsuk-table__cell { "Signing" } td.nhsuk-table__cell { strong."nhsuk-tag"."nhsuk-tag--grey" id="cert-signing" { "Pending" } } }
                }
            }
        }
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub(crate) async fn issue(State(s): State<AppState>, RaForm(session, f): RaForm<DeskForm>) -> Response {
    let mut errors = Errors::default();
    let uid = f.uid.trim().to_string();
    let mut holder = None;
    if uid.is_empty() {
        errors.add("uid", "Enter the holder's UID");
    } else if uid.len() > 20 || !uid.bytes().all(|b| b.is_ascii_digit()) {
        errors.add("uid", "The UID must be digits only, like 5550001");
    } else {
        match s.cards.user(&uid).await {
            Ok(u) => holder = Some(u),
            Err(cards::CardsError::UnknownUser(_)) => {
                errors.add("uid", format!("There is no person with UID {uid}: register them under People first"))
            }
            Err(e) => return form_refused(&session, e, "/ra/desk/issue"),
        }
    }
    let documents = f.documents();
    if documents.is_empty() {
        errors.add("doc_passport", "Select the identity documents you checked, or describe them under other documents");
    } else if documents.chars().count() > 500 {
        errors.add("documents_other", "Describe the other documents in fewer words (500 characters in all)");
    }
    let batch = f.batch.trim();
    let batch = if batch.is_empty() { "default" } else { batch }.to_string();
    if batch.len() > 32 || !batch.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c)) {
        errors.add("batch", "Enter the batch as printed on the box: letters, digits, '.', '-' or '_', up to 32");
    }
    let label = f.label.trim().to_string();
    if label.chars().count() > 32 {
        errors.add("label", "The label must be 32 characters or fewer");
    }
    let Some(holder) = holder.filter(|_| errors.is_empty()) else {
        return ra_page_crumbs(
            StatusCode::BAD_REQUEST,
            "Issue a card at the desk",
            Some(&session),
            CRUMBS,
            form_body(&session, &f, &errors),
        );
    };
    let actor =
        match allow_session(&s, &session, Permission::IssueCards, Some(&holder.organisation), &format!("user/{uid}"))
            .await
        {
            Ok(a) => a,
            Err(e) => return form_refused(&session, e, "/ra/desk/issue"),
        };
    let check = cards::DeskCheck {
        uid: uid.clone(),
        documents,
        batch,
        ra_account: session.account.username.clone(),
        ra_actor: actor,
        ra_name: session.account.name.clone(),
    };
    let minted = match s.cards.mint_desk_ticket(check).await {
        Ok(m) => m,
        Err(e) => return form_refused(&session, e, &format!("/ra/desk/issue?uid={}", urlencode(&uid))),
    };
    let label = if label.is_empty() { holder.name.chars().take(32).collect() } else { label };
    let t = &minted.ticket;
    let mut resp = ra_page_crumbs(
        StatusCode::OK,
        "Create the card",
        Some(&session),
        CRUMBS,
        html! {
            p.ok role="status" id="check-recorded" { "Identity check recorded for " (holder.name) " (UID " (holder.uid) ")." }
            (summary("desk-check", &[
                ("Holder", html! { (holder.name) " (UID " (holder.uid) ")" }),
                ("Documents seen", html! { (t.documents) }),
                ("Batch", html! { (t.batch) }),
                ("Label", html! { (label) }),
                ("Checked by", html! { (session.account.name) }),
                ("Ticket valid until", html! { (date(&s, t.expires_at)) " (10 minutes, one card)" }),
            ]))
            div id="desk-job" data-agent=(s.agent_url) data-uid=(t.uid) data-documents=(t.documents) data-batch=(t.batch) data-label=(label) data-ticket=(minted.token) {
                div.nhsuk-inset-text id="desk-nojs" {
                    p { "Making the card needs JavaScript and the carecert agent running at this desk. Turn on JavaScript, or issue the card with " code { "carecert-agent card issue" } "." }
                }
                p.nhsuk-body { "Put the blank card in the desk's reader, then select Create card. The holder then types their first passcode (6 to 8 digits) twice into the carecert agent's dialog." }
                button.nhsuk-button type="button" id="desk-start" disabled { "Create card" }
                (progress_table())
                p.nhsuk-body id="desk-status" role="status" aria-live="polite" {}
                div.nhsuk-error-summary id="desk-error" role="alert" tabindex="-1" hidden {
                    h2.nhsuk-error-summary__title { "The card was not made" }
                    div.nhsuk-error-summary__body { p id="desk-error-text" {} p { "Nothing was issued. Fix the problem, then select Create card again (the ticket still works until it expires), or record the check again." } }
                }
                div id="desk-result" hidden {
                    h2 { "Card issued" }
                    (result_list("Authentication certificate", "Signing certificate"))
                    p { a id="result-link" href="/ra/cards" { "Open the card" } }
                }
            }
            p { a href=(format!("/ra/users?uid={}", urlencode(&holder.uid))) { "Back to " (holder.name) } }
            script src="/ra/desk.js" defer {}
        },
    );
    if let Some(v) = scripted_csp(&s.agent_url) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// `/ra/desk.js`: the desk page's script.
pub(crate) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], DESK_JS)
        .into_response()
}

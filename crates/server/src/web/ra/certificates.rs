//! Certificates (search, revoke) and the audit log (search, chain check).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use crate::error::ApiError;
use types::Permission;

use crate::authz::allow_session;
use crate::state::AppState;
use crate::web::forms::{RaForm, RaUser, Search, has_csrf, urlencode};
use crate::web::layout::{date, failure_page, form_refused};
use crate::web::notice::Notice;
use crate::web::ra::nhs::tag;
use crate::web::ra::ra_page_crumbs as page_crumbs;

has_csrf!(RevokeForm);

pub(crate) async fn certificates(
    State(s): State<AppState>,
    RaUser(session): RaUser,
    Query(q): Query<Search>,
    notice: Notice,
) -> Response {
    let store = &s.read;
    let text = q.q.clone().unwrap_or_default();
    let status = q.status.clone().filter(|x| !x.is_empty());
    let found = match pki::cert::normalize_serial_hex(&text).filter(|_| text.len() >= 8) {
        Some(serial) => store.certificates_by_serial(&serial).await,
        // An organisation (EPOC or name) is found through its requests (indexed); other
        // text searches subjects.
        None => match store.certificates_of_organisation(&text, status.as_deref(), 200).await {
            Ok(rows) if !rows.is_empty() => Ok(rows),
            Err(e) => Err(e),
            Ok(_) => {
                store
                    .certificates(&store::CertificateFilter {
                        issuer: None,
                        status: status.clone(),
                        subject_contains: (!text.is_empty()).then(|| text.clone()),
                        limit: 200,
                    })
                    .await
            }
        },
    };
    let rows = match found {
        Ok(r) => r,
        Err(e) => return failure_page(e),
    };
    page_crumbs(
        StatusCode::OK,
        "Certificates",
        Some(&session),
        &[("/ra/", "RA console")],
        html! {
            (notice)
            form method="get" action="/ra/certificates" {
                label.nhsuk-label { "Organisation (EPOC or name), subject or serial " input.nhsuk-input name="q" value=(text); } " "
                label.nhsuk-label { "Status " select.nhsuk-select name="status" {
                    option value="" { "any" }
                    @for st in ["issued", "revoked", "reserved"] { option value=(st) selected[status.as_deref() == Some(st)] { (st) } }
                } } " "
                button.nhsuk-button type="submit" { "Search" }
            }
            table.nhsuk-table {
                thead.nhsuk-table__head { tr.nhsuk-table__row { th.nhsuk-table__header { "Serial" } th.nhsuk-table__header { "CA" } th.nhsuk-table__header { "Profile" } th.nhsuk-table__header { "Subject" } th.nhsuk-table__header { "Status" } th.nhsuk-table__header { "Expires" } th.nhsuk-table__header { "Revoke" } } }
                tbody.nhsuk-table__body {
                    @for c in &rows {
                        @let st = match c.status { store::CertStatus::Issued => "issued", store::CertStatus::Revoked { .. } => "revoked", store::CertStatus::Reserved => "reserved", store::CertStatus::Failed => "failed" };
                        tr.nhsuk-table__row id=(format!("cert-{}", c.serial)) {
                            td.nhsuk-table__cell { code { (c.serial) } } td.nhsuk-table__cell { (c.issuer) } td.nhsuk-table__cell { (c.profile) } td.nhsuk-table__cell { (c.subject) } td.nhsuk-table__cell { (tag(st, match st { "issued" => "green", "revoked" => "red", _ => "grey" })) } td.nhsuk-table__cell { (date(&s, c.not_after)) }
                            td.nhsuk-table__cell { @if st == "issued" {
                                form method="post" action=(format!("/ra/certificates/{}/{}/revoke", c.issuer, c.serial)) {
                                    input type="hidden" name="csrf" value=(session.csrf_token);
                                    select.nhsuk-select name="reason" aria-label=(format!("Reason for revoking certificate {}", c.serial)) {
                                        @for r in ["keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "unspecified"] { option { (r) } }
                                    }
                                    button."nhsuk-button"."nhsuk-button--warning" type="submit" { "Revoke" }
                                }
                            } }
                        }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn revoke_certificate(
    State(s): State<AppState>,
    Path((issuer, serial)): Path<(String, String)>,
    RaForm(session, f): RaForm<RevokeForm>,
) -> Response {
    let Some(reason) = pki::RevocationReason::parse(&f.reason) else {
        return form_refused(
            &session,
            ApiError::bad_request("invalid", "choose a revocation reason"),
            "/ra/certificates",
        );
    };
    let actor = match allow_session(
        &s,
        &session,
        Permission::RevokeCertificates,
        None,
        &format!("certificate/{issuer}/{serial}"),
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return form_refused(&session, e, &format!("/ra/certificates?q={}", urlencode(&serial))),
    };
    let req = ca::RevokeRequest { ca: Some(issuer), serial: serial.clone(), reason, actor };
    match s.authority.revoke(req).await {
        Ok(r) => Redirect::to(&format!(
            "/ra/certificates?q={}&done=revoked&serial={}&reason={}&crl={}",
            urlencode(&serial),
            urlencode(&r.serial),
            r.reason.name(),
            r.crl_number
        ))
        .into_response(),
        Err(e) => form_refused(&session, e, &format!("/ra/certificates?q={}", urlencode(&serial))),
    }
}

pub(crate) async fn audit(State(s): State<AppState>, RaUser(session): RaUser, Query(q): Query<Search>) -> Response {
    let store = &s.read;
    let needle = q.q.clone().unwrap_or_default().to_lowercase();
    let (entries, verified) = match (store.recent_audit_entries(2000).await, store.verify_audit().await) {
        (Ok(e), Ok(v)) => (e, v),
        (Err(e), _) | (_, Err(e)) => return failure_page(e),
    };
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|e| {
            needle.is_empty()
                || [&e.actor, &e.action, &e.subject, &e.details].iter().any(|f| f.to_lowercase().contains(&needle))
        })
        .take(200)
        .collect();
    page_crumbs(
        StatusCode::OK,
        "Audit log",
        Some(&session),
        &[("/ra/", "RA console")],
        html! {
            form method="get" action="/ra/audit" {
                label.nhsuk-label { "Search " input.nhsuk-input name="q" value=(q.q.clone().unwrap_or_default()) placeholder="who, what, subject"; } " "
                button.nhsuk-button type="submit" { "Search" }
            }
            @match &verified.first_broken {
                None => p.ok { "Chain verified: " (verified.entries) " entries intact." },
                Some(b) => p.error { "Chain BROKEN at entry " (b.seq) ": " (b.problem) },
            }
            table.nhsuk-table {
                thead.nhsuk-table__head { tr.nhsuk-table__row { th.nhsuk-table__header { "#" } th.nhsuk-table__header { "When" } th.nhsuk-table__header { "Who" } th.nhsuk-table__header { "What" } th.nhsuk-table__header { "Subject" } th.nhsuk-table__header { "Details" } } }
                tbody.nhsuk-table__body {
                    @for e in &entries {
                        tr.nhsuk-table__row { td.nhsuk-table__cell { (e.seq) } td.nhsuk-table__cell { (date(&s, e.at_ms / 1000)) } td.nhsuk-table__cell { (e.actor) } td.nhsuk-table__cell { (e.action) } td.nhsuk-table__cell { (e.subject) } td.nhsuk-table__cell { code { (e.details) } } }
                    }
                }
            }
        },
    )
}

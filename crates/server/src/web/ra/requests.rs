//! The dashboard and the queue of machine-certificate requests waiting for the RA.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use types::Permission;

use crate::authz::{allow_session, request_org};
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::forms::{CsrfForm, RaForm, RaUser, has_csrf};
use crate::web::layout::{date, failure_page, form_refused};
use crate::web::notice::Notice;
use crate::web::ra::nhs::request_tag;
use crate::web::ra::{ra_page as page, ra_page_crumbs as page_crumbs};

has_csrf!(DenyForm);

pub(crate) async fn dashboard(State(s): State<AppState>, RaUser(session): RaUser) -> Response {
    let now = s.authority.clock().now().unix_timestamp();
    let counts = async {
        let pending = s
            .enrol
            .list_requests(&store::RequestFilter {
                status: vec![store::RequestStatus::Pending],
                limit: 1000,
                ..Default::default()
            })
            .await
            .map_err(ApiError::from)?
            .len();
        let locked = s.read.locked_cards().await?;
        let certs = s.read.certificates_expiring_per_week(Some("systems"), now, 26).await?;
        let cards = s.read.cards_expiring_per_week(now, 26).await?;
        let due = crate::web::ra::reminders::due_section(&s, now).await?;
        Ok::<_, ApiError>((pending, locked, certs, cards, due))
    };
    let (pending, locked, certs, cards, due) = match counts.await {
        Ok(c) => c,
        Err(e) => return failure_page(e),
    };
    page(
        StatusCode::OK,
        "Dashboard",
        Some(&session),
        html! {
            div.card id="pending" { h2 { "Pending requests" } p.big { (pending) } a href="/ra/requests" { "Open the queue" } }
            div.card id="locked" { h2 { "Locked cards" } p.big { (locked) } a href="/ra/cards" { "Cards" } }
            h2 { "Expiring in the next 26 weeks" }
            (chart(&certs, &cards))
            p { "Bars per week from today: machine certificates (blue), smartcards (green)." }
            (due)
        },
    )
}

/// A server-drawn SVG bar chart of two weekly series (no script needed).
fn chart(a: &[i64], b: &[i64]) -> Markup {
    let max = a.iter().chain(b.iter()).copied().max().unwrap_or(0).max(1) as f64;
    let (w, h, bar) = (26 * 28 + 40, 180.0, 11.0);
    html! {
        svg id="expiry-chart" width=(w) height="210" role="img" aria-label="Certificates and cards expiring per week" xmlns="http://www.w3.org/2000/svg" {
            @for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
                @let left = 30.0 + i as f64 * 28.0;
                @let ha = (*x as f64 / max) * h;
                @let hb = (*y as f64 / max) * h;
                rect x=(left) y=(190.0 - ha) width=(bar) height=(ha) fill="#005eb8" { title { "week " (i + 1) ": " (x) " certificates" } }
                rect x=(left + bar) y=(190.0 - hb) width=(bar) height=(hb) fill="#009639" { title { "week " (i + 1) ": " (y) " cards" } }
                @if i % 4 == 0 { text x=(left) y="205" font-size="10" { "w" (i + 1) } }
            }
            text x="0" y="12" font-size="10" { (max as i64) }
            line x1="28" y1="190" x2=(w) y2="190" stroke="#333";
        }
    }
}

pub(crate) async fn queue(State(s): State<AppState>, RaUser(session): RaUser, notice: Notice) -> Response {
    let rows = match s
        .enrol
        .list_requests(&store::RequestFilter {
            status: vec![store::RequestStatus::Pending],
            limit: 200,
            ..Default::default()
        })
        .await
    {
        Ok(r) => r,
        Err(e) => return failure_page(e),
    };
    page_crumbs(
        StatusCode::OK,
        "Requests waiting for the RA",
        Some(&session),
        &[("/ra/", "RA console")],
        html! {
            (notice)
            @if rows.is_empty() { p { "No request is waiting." } } @else {
                table.nhsuk-table {
                    thead.nhsuk-table__head { tr.nhsuk-table__row { th.nhsuk-table__header { "Request ID" } th.nhsuk-table__header { "EPOC" } th.nhsuk-table__header { "Created" } th.nhsuk-table__header { "Status" } th.nhsuk-table__header { "Approve" } th.nhsuk-table__header { "Deny" } } }
                    tbody.nhsuk-table__body {
                        @for r in &rows {
                            tr.nhsuk-table__row id=(format!("request-{}", r.id)) {
                                td.nhsuk-table__cell { (r.id) } td.nhsuk-table__cell { (r.epoc) } td.nhsuk-table__cell { (date(&s, r.created_at)) } td.nhsuk-table__cell { (request_tag(r.status.as_str())) }
                                td.nhsuk-table__cell { form method="post" action=(format!("/ra/requests/{}/approve", r.id)) {
                                    input type="hidden" name="csrf" value=(session.csrf_token);
                                    button.nhsuk-button type="submit" { "Approve" }
                                } }
                                td.nhsuk-table__cell { form method="post" action=(format!("/ra/requests/{}/deny", r.id)) {
                                    input type="hidden" name="csrf" value=(session.csrf_token);
                                    input.nhsuk-input name="reason" aria-label=(format!("Reason for denying request {} (the requester sees it)", r.id)) placeholder="Reason (the requester sees it)" required maxlength="500";
                                    button."nhsuk-button"."nhsuk-button--secondary" type="submit" { "Deny" }
                                } }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct DenyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn approve(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    RaForm(session, _form): RaForm<CsrfForm>,
) -> Response {
    let actor = match decide(&s, &session, id).await {
        Ok(a) => a,
        Err(e) => return form_refused(&session, e, "/ra/requests"),
    };
    match s.enrol.approve(id, &actor).await {
        Ok(_) => Redirect::to(&format!("/ra/requests?done=approved&id={id}")).into_response(),
        Err(e) => form_refused(&session, e, "/ra/requests"),
    }
}

pub(crate) async fn deny(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    RaForm(session, f): RaForm<DenyForm>,
) -> Response {
    let actor = match decide(&s, &session, id).await {
        Ok(a) => a,
        Err(e) => return form_refused(&session, e, "/ra/requests"),
    };
    match s.enrol.deny(id, &actor, &f.reason).await {
        Ok(_) => Redirect::to(&format!("/ra/requests?done=denied&id={id}")).into_response(),
        Err(e) => form_refused(&session, e, "/ra/requests"),
    }
}

/// The decision on request `id` is this session's operator's to make (its organisation).
async fn decide(s: &AppState, session: &portal::Session, id: i64) -> Result<String, ApiError> {
    let org = request_org(s, id).await?;
    allow_session(s, session, Permission::DecideRequests, Some(&org), &format!("request/{id}")).await
}

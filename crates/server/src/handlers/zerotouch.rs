//! Issue 11 (zero touch): withdrawing a CA from the trust feed, an organisation's reminder
//! contact (admin token), and the renewal window of the presented certificate (mutual TLS).

use axum::Json;
use axum::extract::{Path, State};

use crate::authz::allow;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiJson, ClientLeaf};
use crate::state::AppState;
use types::Permission;

#[utoipa::path(post, path = "/api/v1/admin/trust/{ca}/withdraw", tag = "admin", request_body = api::WithdrawTrustBody,
    description = "Withdraws a CA from the trust feed (a CA being retired): every ecmt removes it at its next update check and shows the reason.",
    responses((status = 200, body = api::TrustWithdrawnView), (status = 400, description = "No reason, or the root", body = ErrorBody),
              (status = 404, description = "Unknown CA", body = ErrorBody), (status = 409, description = "Withdrawn already", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn withdraw_trust(
    State(s): State<AppState>,
    a: Admin,
    Path(ca): Path<String>,
    ApiJson(b): ApiJson<api::WithdrawTrustBody>,
) -> Result<Json<api::TrustWithdrawnView>, ApiError> {
    let actor = allow(&s, a.op(), Permission::ManageTrust, None, &format!("trust/{ca}")).await?;
    let seq = s.enrol.withdraw_trust(&ca, &b.reason, &actor).await?;
    Ok(Json(api::TrustWithdrawnView { name: ca, seq }))
}

#[utoipa::path(put, path = "/api/v1/admin/organisations/{epoc}/contact", tag = "admin", request_body = api::OrgContactBody,
    description = "Sets where the organisation's certificate expiry reminders are emailed (null: nowhere).",
    responses((status = 200, body = api::OrgContactView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn set_contact(
    State(s): State<AppState>,
    a: Admin,
    Path(epoc): Path<String>,
    ApiJson(b): ApiJson<api::OrgContactBody>,
) -> Result<Json<api::OrgContactView>, ApiError> {
    let actor = allow(&s, a.op(), Permission::ManageOrganisations, Some(&epoc), &format!("org:{epoc}")).await?;
    let email = b.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    s.enrol.set_contact(&epoc, email, &actor).await?;
    Ok(Json(api::OrgContactView { epoc, email: email.map(str::to_string) }))
}

#[utoipa::path(get, path = "/api/v1/renewals/window", tag = "ecmt",
    description = "Mutual TLS: when the presented certificate may renew itself (the service's clock decides, not the client's).",
    responses((status = 200, body = api::RenewalWindowView), (status = 401, description = "No client certificate", body = ErrorBody),
              (status = 403, description = "Certificate revoked, expired, unknown, or organisation not active", body = ErrorBody)))]
pub(crate) async fn renewal_window(
    State(s): State<AppState>,
    leaf: Result<ClientLeaf, ApiError>,
) -> Result<Json<api::RenewalWindowView>, ApiError> {
    let ClientLeaf(leaf) = leaf?;
    let w = s.enrol.renewal_window(&leaf).await?;
    Ok(Json(api::RenewalWindowView {
        open: w.open(),
        serial: w.serial,
        not_after: w.not_after,
        opens_at: w.opens_at,
        now: w.now,
        percent: w.percent,
    }))
}

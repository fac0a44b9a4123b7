//! The portal's JSON endpoints the smartcard agent calls: a one-time login ticket for its
//! card, and the card-presence heartbeat that ends card-bound web sessions.

use api::{PresenceBody, TicketView};
use axum::extract::State;
use axum::http::StatusCode;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, CardSession};
use crate::state::AppState;

/// The agent asks for a one-time login ticket for its card (Bearer card-session token).
#[utoipa::path(post, path = "/api/v1/portal/tickets", tag = "cards", description = "A one-time portal login ticket for the card of this card session (the agent asks).", responses((status = 200, body = TicketView), (status = 403, description = "Not registered, revoked, expired or locked", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn ticket(
    State(s): State<AppState>,
    CardSession(serial): CardSession,
) -> Result<axum::Json<TicketView>, ApiError> {
    let uid = s.cards.login_identity(&serial).await?;
    let ticket = s.web.issue_ticket(&uid, &serial).await?;
    Ok(axum::Json(TicketView { ticket }))
}

/// The agent's heartbeat (`present: true`) or removal report (`present: false`).
#[utoipa::path(post, path = "/api/v1/portal/presence", tag = "cards", description = "The agent's heartbeat (present: true) or removal report (present: false).", request_body = PresenceBody, responses((status = 204, description = "Recorded"), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn presence(
    State(s): State<AppState>,
    CardSession(serial): CardSession,
    ApiJson(b): ApiJson<PresenceBody>,
) -> Result<StatusCode, ApiError> {
    if b.present {
        s.web.card_present(&serial).await?;
    } else {
        s.web.card_removed(&serial).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

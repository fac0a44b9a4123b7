//! The portal's JSON endpoints the smartcard agent calls: a one-time login ticket for its
//! card, and the card-presence heartbeat that ends card-bound web sessions (made with the
//! agent's card session, or with the presence token of a session the browser opened with its
//! own TLS client certificate, which the page handed to the agent).

use api::{PresenceBody, TicketView};
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, CardSession, bearer};
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

/// Who reports a card's presence: the agent's card session (`Bearer CARD-SESSION-TOKEN`), or a
/// web session's presence token (`Bearer KEY.MAC`, handed to the agent by the page of a session
/// opened with the browser's TLS client certificate).
pub(crate) enum PresenceCaller {
    /// A card session: the card's serial.
    Card(String),
    /// A presence token.
    Page(String),
}

impl FromRequestParts<AppState> for PresenceCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match bearer(parts) {
            Some(t) if t.contains('.') => Ok(PresenceCaller::Page(t.to_string())),
            _ => CardSession::from_request_parts(parts, state).await.map(|CardSession(c)| PresenceCaller::Card(c)),
        }
    }
}

/// The agent's heartbeat (`present: true`) or removal report (`present: false`).
#[utoipa::path(post, path = "/api/v1/portal/presence", tag = "cards", description = "The agent's heartbeat (present: true) or removal report (present: false), with its card session or a web session's presence token.", request_body = PresenceBody, responses((status = 204, description = "Recorded"), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn presence(
    State(s): State<AppState>,
    caller: PresenceCaller,
    ApiJson(b): ApiJson<PresenceBody>,
) -> Result<StatusCode, ApiError> {
    let serial = match caller {
        PresenceCaller::Card(serial) => serial,
        PresenceCaller::Page(token) => {
            s.web.presence_with_token(&token, b.present).await?;
            return Ok(StatusCode::NO_CONTENT);
        }
    };
    if b.present {
        s.web.card_present(&serial).await?;
    } else {
        s.web.card_removed(&serial).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

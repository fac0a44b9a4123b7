//! The one place where errors become HTTP statuses.
//!
//! Every domain error (`pki`, `ca`, `store`, `enrol`, `cards`, `portal`) has exactly one
//! `From<…> for ApiError` here, so each variant becomes one status and one stable code.
//! Handlers and extractors never rewrite a status afterwards: where the same domain error
//! means something else at one entrance (an unknown certificate at the message-store gate,
//! any refusal of a card-session token), the entrance wraps it in its own type
//! ([`GateRefusal`], [`CardSessionRefusal`]) and that type's mapping lives here too.
//! [`ServerError`] is what can stop the server from starting.

use std::net::SocketAddr;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The JSON body of every API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code (`weak_key`, `not_found`, …).
    pub error: &'static str,
    /// What happened and what to do, for a person.
    pub message: String,
}

/// An API error: status, code, message.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Message for a person.
    pub message: String,
    /// Seconds after which the client may try again (sent as `Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

/// What can stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (is another carecert or program using it? choose another with --listen / --http-listen)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("the HTTPS certificate or key is unusable: {0}")]
    Tls(String),
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }
    /// The same error, telling the client to try again after `seconds` (`Retry-After`).
    pub fn retry_after(self, seconds: u64) -> Self {
        Self { retry_after: Some(seconds.max(1)), ..self }
    }
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    fn internal(what: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the {what} could not complete the request; the operator can find the cause in the server log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(ErrorBody { error: self.code, message: self.message })).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(s));
        }
        r
    }
}

impl From<pki::PkiError> for ApiError {
    fn from(e: pki::PkiError) -> Self {
        use pki::PkiError as P;
        let code = match &e {
            P::TooLarge { .. } => return Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()),
            P::Malformed { .. } => "malformed",
            P::BadSignature => "bad_signature",
            P::WeakKey(_) => "weak_key",
            P::WrongPassphrase => "wrong_passphrase",
            P::Pkcs12(_) => "bad_pkcs12",
            _ => "invalid",
        };
        Self::bad_request(code, e.to_string())
    }
}

impl From<ca::CaError> for ApiError {
    fn from(e: ca::CaError) -> Self {
        use ca::CaError as C;
        match e {
            C::BadInput(p) => p.into(),
            C::UnknownCa(_) => Self::new(StatusCode::NOT_FOUND, "unknown_ca", e.to_string()),
            C::ProfileNotAllowed { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "profile_not_allowed", e.to_string())
            }
            C::UnknownCertificate(_) | C::UnknownCrl(_) => Self::not_found(e.to_string()),
            C::AmbiguousSerial(_) => Self::new(StatusCode::CONFLICT, "ambiguous_serial", e.to_string()),
            C::AlreadyRevoked { .. } => Self::new(StatusCode::CONFLICT, "already_revoked", e.to_string()),
            C::NotIssued(_) => Self::new(StatusCode::CONFLICT, "not_issued", e.to_string()),
            C::NotInitialised => Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_initialised", e.to_string()),
            C::Offline(_) => Self::new(StatusCode::CONFLICT, "ca_offline", e.to_string()),
            C::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "CA error");
                Self::internal("CA")
            }
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            store::StoreError::NotFound(m) => Self::not_found(format!("{m} not found")),
            other => {
                tracing::error!(error = %other, "storage error");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the database did not complete the request; nothing was changed — try again, and tell the operator if it persists",
                )
            }
        }
    }
}

impl From<enrol::EnrolError> for ApiError {
    fn from(e: enrol::EnrolError) -> Self {
        use enrol::EnrolError as E;
        let msg = e.to_string();
        match e {
            E::LoginFailed { .. } => Self::new(StatusCode::UNAUTHORIZED, "login_failed", msg),
            E::LockedOut { .. } => Self::new(StatusCode::TOO_MANY_REQUESTS, "locked_out", msg),
            E::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", msg),
            E::RenewalNotYet { .. } => Self::new(StatusCode::CONFLICT, "renewal_not_yet", msg),
            E::AlreadyRenewed { .. } => Self::new(StatusCode::CONFLICT, "already_renewed", msg),
            E::ClientTooOld { .. } => Self::new(StatusCode::UPGRADE_REQUIRED, "client_too_old", msg),
            E::SessionInvalid => Self::new(StatusCode::UNAUTHORIZED, "session_invalid", msg),
            E::UnknownOrganisation(_) => Self::new(StatusCode::NOT_FOUND, "unknown_organisation", msg),
            E::OrganisationNotActive { .. } => Self::new(StatusCode::FORBIDDEN, "organisation_not_active", msg),
            E::PolicyNotAccepted { .. } => Self::new(StatusCode::BAD_REQUEST, "policy_not_accepted", msg),
            E::BadCsr(p) => Self { message: msg, ..p.into() },
            E::KeyReused => Self::new(StatusCode::BAD_REQUEST, "key_reused", msg),
            E::UnknownRequest(_) => Self::new(StatusCode::NOT_FOUND, "unknown_request", msg),
            E::WrongState { ref status, .. } => {
                let code = if status == "denied" { "request_denied" } else { "wrong_state" };
                Self::new(StatusCode::CONFLICT, code, msg)
            }
            E::CertificateRefused(_) => Self::new(StatusCode::FORBIDDEN, "certificate_refused", msg),
            E::BadInput(_) => Self::bad_request("invalid", msg),
            E::Conflict(_) => Self::new(StatusCode::CONFLICT, "conflict", msg),
            E::Ca(c) => c.into(),
            E::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "enrolment error");
                Self::internal("service")
            }
        }
    }
}

impl From<cards::CardsError> for ApiError {
    fn from(e: cards::CardsError) -> Self {
        use cards::CardsError as E;
        let msg = e.to_string();
        match e {
            E::UnknownUser(_) | E::UnknownCard(_) => Self::new(StatusCode::NOT_FOUND, "not_found", msg),
            E::Locked(_) => Self::new(StatusCode::LOCKED, "card_locked", msg),
            E::Cancelled(_) => Self::new(StatusCode::GONE, "card_cancelled", msg),
            E::WrongPasscode { .. } => Self::new(StatusCode::UNAUTHORIZED, "wrong_passcode", msg),
            E::BadPasscode => Self::bad_request("bad_passcode", msg),
            E::RenewalNotYet { .. } => Self::new(StatusCode::CONFLICT, "renewal_not_yet", msg),
            E::NeedsRa(_) => Self::new(StatusCode::FORBIDDEN, "needs_ra", msg),
            E::AgentTooOld { .. } => Self::new(StatusCode::UPGRADE_REQUIRED, "agent_too_old", msg),
            E::CodeRefused(_) => Self::new(StatusCode::FORBIDDEN, "code_refused", msg),
            E::ChannelUnavailable(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "channel_unavailable", msg),
            E::SponsorRefused(_) => Self::new(StatusCode::FORBIDDEN, "sponsor_refused", msg),
            E::RenewalRefused(_) => Self::new(StatusCode::CONFLICT, "renewal_refused", msg),
            E::WrongCard => Self::new(StatusCode::FORBIDDEN, "wrong_card", msg),
            E::Delivery { .. } => Self::new(StatusCode::BAD_GATEWAY, "delivery_failed", msg),
            E::Throttled { retry_after, .. } => {
                // Whole seconds, rounded up, so a client that waits exactly this long is let in.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", msg).retry_after(secs)
            }
            E::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", msg).retry_after(2),
            E::NotLocked(_) => Self::new(StatusCode::CONFLICT, "card_not_locked", msg),
            E::BadInput(cards::InputProblem::CardSignature) => Self::bad_request("card_signature", msg),
            E::BadInput(_) => Self::bad_request("invalid", msg),
            E::DeskTicket(p) => {
                use cards::DeskProblem as D;
                match p {
                    D::Unknown | D::Used | D::Expired => {
                        Self::new(StatusCode::UNAUTHORIZED, "desk_ticket_refused", msg)
                    }
                    D::InUse => Self::new(StatusCode::CONFLICT, "desk_ticket_in_use", msg),
                    D::Scope { .. } | D::RenewScope { .. } => {
                        Self::new(StatusCode::FORBIDDEN, "desk_ticket_scope", msg)
                    }
                    _ => Self::bad_request("invalid", msg),
                }
            }
            E::Conflict(_) => Self::new(StatusCode::CONFLICT, "conflict", msg),
            E::Ca(c) => c.into(),
            E::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "cards error");
                Self::internal("service")
            }
        }
    }
}

impl From<portal::PortalError> for ApiError {
    fn from(e: portal::PortalError) -> Self {
        use portal::PortalError as E;
        let msg = e.to_string();
        match e {
            E::LoginFailed => Self::new(StatusCode::UNAUTHORIZED, "login_failed", msg),
            E::SecondFactor => Self::new(StatusCode::UNAUTHORIZED, "login_failed", msg),
            E::Locked { .. } => Self::new(StatusCode::TOO_MANY_REQUESTS, "locked_out", msg),
            E::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", msg),
            E::NoRole => Self::new(StatusCode::FORBIDDEN, "no_role", msg),
            E::SessionEnded(_) => Self::new(StatusCode::UNAUTHORIZED, "session_ended", msg),
            E::NotRegistered(_) => Self::new(StatusCode::FORBIDDEN, "not_registered", msg),
            E::BadTicket => Self::new(StatusCode::UNAUTHORIZED, "bad_ticket", msg),
            E::Csrf => Self::new(StatusCode::FORBIDDEN, "csrf", msg),
            E::BadInput(_) => Self::bad_request("invalid", msg),
            E::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            E::Unauthorized => Self::new(StatusCode::UNAUTHORIZED, "unauthorized", msg),
            E::NotFound(_) => Self::not_found(msg),
            E::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "portal error");
                Self::internal("service")
            }
        }
    }
}

/// A refusal at the message-store gate: a certificate the enrolment does not know is a
/// refused sender (403), not a missing resource (404).
#[derive(Debug)]
pub(crate) struct GateRefusal(pub(crate) enrol::EnrolError);

impl From<GateRefusal> for ApiError {
    fn from(GateRefusal(e): GateRefusal) -> Self {
        let a = ApiError::from(e);
        if a.status == StatusCode::NOT_FOUND { Self { status: StatusCode::FORBIDDEN, ..a } } else { a }
    }
}

/// A card-session token the cards domain does not accept: always 401, whatever the reason
/// (unknown, expired, card locked or cancelled), with the domain's message.
#[derive(Debug)]
pub(crate) struct CardSessionRefusal(pub(crate) cards::CardsError);

impl From<CardSessionRefusal> for ApiError {
    fn from(CardSessionRefusal(e): CardSessionRefusal) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, ..ApiError::from(e) }
    }
}

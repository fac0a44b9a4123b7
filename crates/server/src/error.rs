//! The one place where errors become HTTP statuses.

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
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: self.code, message: self.message })).into_response()
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
            C::UnknownCertificate(_) => Self::not_found(e.to_string()),
            C::AmbiguousSerial(_) => Self::new(StatusCode::CONFLICT, "ambiguous_serial", e.to_string()),
            C::AlreadyRevoked { .. } => Self::new(StatusCode::CONFLICT, "already_revoked", e.to_string()),
            C::NotIssued(_) => Self::new(StatusCode::CONFLICT, "not_issued", e.to_string()),
            C::NotInitialised => Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_initialised", e.to_string()),
            C::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "CA error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the CA could not complete the request; the operator can find the cause in the server log",
                )
            }
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        tracing::error!(error = %e, "storage error");
        match e {
            store::StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            store::StoreError::NotFound(m) => Self::not_found(format!("{m} not found")),
            _ => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the database did not complete the request; nothing was changed — try again, and tell the operator if it persists",
            ),
        }
    }
}

//! The extractors every JSON handler shares: the JSON body with carecert's error format
//! ([`ApiJson`]), the bearer token ([`bearer`]), and who is calling — an administrator
//! ([`Admin`]), a card session ([`CardSession`]), an organisation session ([`OrgSession`]),
//! or a system presenting its certificate over mutual TLS ([`ClientLeaf`]).
//!
//! Extractors authenticate and nothing more: what the caller may then do is the domain's rule.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, CardSessionRefusal, GateRefusal};
use crate::state::AppState;
use crate::tls::{ClientCertificates, PeerAddr};

/// Largest JSON body the API reads.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// JSON body extractor whose rejections use carecert's error format.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with 'Content-Type: application/json'",
            )),
            Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the request body is larger than {MAX_JSON_BYTES} bytes"),
            )),
            // Well-formed JSON whose values are not allowed (an unknown enum value, a wrong
            // type): the input is invalid, not malformed.
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::bad_request("invalid", format!("the JSON body is not valid: {}", e.body_text())))
            }
            Err(e) => {
                Err(ApiError::bad_request("malformed_json", format!("the JSON body is not valid: {}", e.body_text())))
            }
        }
    }
}

/// The bearer token of a request (`Authorization: Bearer TOKEN`), if it has a plausible one
/// (1 to 256 characters).
pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

/// An operator authenticated by an API token (`Authorization: Bearer TOKEN`): who, with
/// which role and scope. The token and its account are read from the database on every
/// request (no per-node cache), so a revoked token or a disabled account is refused at once on
/// every node. What the operator may do is decided by [`crate::authz::allow`].
pub(crate) struct Admin(pub(crate) portal::TokenOperator);

impl Admin {
    /// The operator.
    pub(crate) fn op(&self) -> &types::Operator {
        &self.0.operator
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send your operator token as 'Authorization: Bearer TOKEN' (carecert admin reads it from --token-file, CARECERT_ADMIN_TOKEN or DATA_DIR/admin-token)",
            )
        })?;
        Ok(Admin(state.web.operator_for_token(token).await?))
    }
}

/// A card session (`Authorization: Bearer CARD-SESSION-TOKEN`): the card it belongs to.
pub(crate) struct CardSession(pub(crate) String);

impl FromRequestParts<AppState> for CardSession {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "card_session_required",
                "log in with the card first (its passcode)",
            )
        })?;
        let serial = state.cards.session_card(token).await.map_err(CardSessionRefusal)?;
        Ok(CardSession(serial))
    }
}

/// The bearer token of a card renewal call: a card-login session, or an RA renewal token
/// (bound to one renewal); the handler asks the cards domain which, for the renewal in the path.
pub(crate) struct RenewalToken(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for RenewalToken {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "card_session_required",
                "log in with the card first (its passcode), or start the renewal at the RA desk",
            )
        })?;
        Ok(RenewalToken(token.to_string()))
    }
}

/// The network address a request came from (the TCP peer), when the listener knows it: the
/// key of per-source login limits.
pub(crate) struct Source(pub(crate) Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(parts.extensions.get::<PeerAddr>().map(|p| p.0.ip())))
    }
}

/// A logged-on organisation (`Authorization: Bearer SESSION-TOKEN`): its context and token.
pub(crate) struct OrgSession(pub(crate) enrol::SessionContext, pub(crate) String);

impl FromRequestParts<AppState> for OrgSession {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(enrol::EnrolError::SessionInvalid)?.to_string();
        let ctx = state.enrol.session(&token).await?;
        Ok(OrgSession(ctx, token))
    }
}

/// The leaf certificate (DER) a system presented in the TLS handshake (mutual TLS).
pub(crate) struct ClientLeaf(pub(crate) Vec<u8>);

impl<S: Send + Sync> FromRequestParts<S> for ClientLeaf {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ClientCertificates>()
            .and_then(|c| c.0.first().map(|c| ClientLeaf(c.as_ref().to_vec())))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "client_certificate_required",
                    "this endpoint needs mutual TLS: present your system's certificate (curl --cert cert.pem --key key.pem)",
                )
            })
    }
}

/// Who asks for a card's login challenge or reports a wrong passcode: an enrolled workstation
/// when the request came over mutual TLS with a machine certificate that enrolment's
/// `identify` accepts (system-client profile, issued, in validity, organisation active) —
/// a certificate it refuses is refused here too (403), never silently downgraded — or else
/// the peer's network address.
pub(crate) struct CardCaller(pub(crate) cards::Source);

impl FromRequestParts<AppState> for CardCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let leaf = parts.extensions.get::<ClientCertificates>().and_then(|c| c.0.first().map(|c| c.as_ref().to_vec()));
        if let Some(leaf) = leaf {
            let sender = state.enrol.identify(&leaf).await.map_err(GateRefusal)?;
            return Ok(CardCaller(cards::Source::Workstation(sender.serial)));
        }
        let ip = parts
            .extensions
            .get::<PeerAddr>()
            .map(|p| p.0.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        Ok(CardCaller(cards::Source::Address(ip)))
    }
}

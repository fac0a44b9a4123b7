//! Who may do what, asked in one place for the admin API and the RA console alike.
//!
//! [`allow`] runs [`types::Operator::check`] (roles are fixed sets of permissions; an
//! `ra-officer` acts only on the organisations in its scope). A refusal is audited
//! (`operator.refused`, naming the person) and answered 403 before anything changes.
//! The helpers below find the organisation a request, card, card holder or CA-level
//! profile belongs to, so handlers pass it.

use axum::http::StatusCode;
use portal::Session;
use types::{Operator, Permission};

use crate::error::ApiError;
use crate::state::AppState;

/// Checks `permission` (on `org`) for `op`; the audit actor text on success. A refusal is
/// recorded (nothing else changes) and becomes 403.
pub(crate) async fn allow(
    s: &AppState,
    op: &Operator,
    permission: Permission,
    org: Option<&str>,
    subject: &str,
) -> Result<String, ApiError> {
    match op.check(permission, org) {
        Ok(()) => Ok(op.actor().to_string()),
        Err(why) => {
            s.web.refuse(op, permission, org, subject, &why).await?;
            Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", why.to_string()))
        }
    }
}

/// The same check for a console session: the session's account must be an operator.
pub(crate) async fn allow_session(
    s: &AppState,
    session: &Session,
    permission: Permission,
    org: Option<&str>,
    subject: &str,
) -> Result<String, ApiError> {
    let op = session.account.operator().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your account is not an operator account: ask a ca-admin (carecert admin account create)",
        )
    })?;
    allow(s, &op, permission, org, subject).await
}

/// The organisation (EPOC) of machine-certificate request `id`.
pub(crate) async fn request_org(s: &AppState, id: i64) -> Result<String, ApiError> {
    Ok(s.enrol.request(id).await?.epoc)
}

/// The organisation / RA unit the holder of card `serial` is registered under.
pub(crate) async fn card_org(s: &AppState, serial: &str) -> Result<String, ApiError> {
    let card = s.cards.card(serial).await?;
    Ok(s.cards.user(&card.uid).await?.organisation)
}

/// The organisation / RA unit card holder `uid` is registered under.
pub(crate) async fn user_org(s: &AppState, uid: &str) -> Result<String, ApiError> {
    Ok(s.cards.user(uid).await?.organisation)
}

/// The permission issuing `profile` from `ca` needs: CA-level for anything from the root and
/// for the `issuing-ca`, `ocsp-responder` and `tls-server` profiles.
pub(crate) fn issue_permission(ca: &str, profile: &str) -> Permission {
    if ca == "root" || matches!(profile, "root-ca" | "issuing-ca" | "ocsp-responder" | "tls-server") {
        Permission::IssueCaCertificates
    } else {
        Permission::IssueCertificates
    }
}

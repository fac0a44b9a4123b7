//! What can go wrong in the web identity service.

use thiserror::Error;

/// What can go wrong. Login failures never say whether the account exists.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PortalError {
    /// Wrong user name or password.
    #[error("the user name or the password is not right")]
    LoginFailed,
    /// RA console: the user name, the password or the authenticator code is wrong — one
    /// answer for all three, so the form never confirms a right password.
    #[error(
        "the user name, the password or the authenticator code is not right: enter the current 6-digit code from your authenticator app (each code works once)"
    )]
    SecondFactor,
    /// Too many failed logins for this account name.
    #[error(
        "too many failed logins for this account: logins are refused until {until} (UTC). Wait, or ask an administrator"
    )]
    Locked {
        /// Unix seconds.
        until_unix: i64,
        /// Human form.
        until: String,
    },
    /// Too many logins are being checked at once.
    #[error("the service is busy checking other logins: wait a few seconds and try again")]
    Busy,
    /// The account may not use this area or role.
    #[error("your account has no role for this part of carecert: ask an administrator")]
    NoRole,
    /// The session is missing, ended or timed out.
    #[error("{0}")]
    SessionEnded(String),
    /// The card's UID is not registered to a portal user.
    #[error(
        "your smartcard (UID {0}) is not registered for this portal: ask a portal administrator to register it, or call the helpdesk"
    )]
    NotRegistered(String),
    /// The ticket is unknown, used or expired.
    #[error("the login ticket is not valid (used, expired or forged): log in with your card again")]
    BadTicket,
    /// Form tampering or a cross-site request.
    #[error("the form has expired or did not come from this site: reload the page and try again")]
    Csrf,
    /// Bad input.
    #[error("{0}")]
    BadInput(String),
    /// A role that is not exactly one known role.
    #[error(transparent)]
    BadRole(#[from] types::RoleError),
    /// Conflict.
    #[error("{0}")]
    Conflict(String),
    /// An API token that is unknown, expired, revoked, used (bootstrap) or whose account is
    /// disabled: one answer for all.
    #[error(
        "the token is not valid (unknown, expired, revoked, or its account is disabled): ask a ca-admin for a new one (carecert admin token create)"
    )]
    Unauthorized,
    /// Not found.
    #[error("{0}")]
    NotFound(String),
    /// Storage.
    #[error(transparent)]
    Store(store::StoreError),
    /// Inside.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<store::StoreError> for PortalError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Conflict(m) => PortalError::Conflict(m),
            other => PortalError::Store(other),
        }
    }
}

impl From<types::GateError> for PortalError {
    fn from(e: types::GateError) -> Self {
        match e {
            types::GateError::Busy => Self::Busy,
            types::GateError::Failed(m) => Self::Internal(m),
        }
    }
}

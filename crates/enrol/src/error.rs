use thiserror::Error;

/// What can go wrong with machine certificates. Each message says what happened and what
/// to do next; none of them says whether an EPOC exists.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EnrolError {
    /// Wrong EPOC or PIN (deliberately the same for both).
    #[error(
        "the organisation code (EPOC) or the PIN is not right: check both against your PIN letter. After {max} wrong attempts logon for this EPOC is locked for {lock_minutes} minutes"
    )]
    LoginFailed {
        /// Attempts allowed.
        max: i64,
        /// Lock length.
        lock_minutes: i64,
    },
    /// Too many wrong PINs.
    #[error(
        "too many wrong PINs for this EPOC: logon is locked until {until} (UTC). Wait, then try again with the PIN from your newest letter"
    )]
    LockedOut {
        /// Unix seconds.
        until_unix: i64,
        /// Human form.
        until: String,
    },
    /// The client is below the minimum supported version.
    #[error(
        "{product} {version} is no longer supported (the minimum is {minimum}): download the current version from {download_page}"
    )]
    ClientTooOld {
        /// Product.
        product: String,
        /// Its version.
        version: String,
        /// The minimum.
        minimum: String,
        /// Where to get a newer one.
        download_page: String,
    },
    /// The session token is unknown, expired or logged out.
    #[error("your session has ended or is not valid: log on again with your EPOC and PIN (ecmt login)")]
    SessionInvalid,
    /// No such organisation (admin calls only; logon never says this).
    #[error("there is no organisation with EPOC {0}: check the code, or add it with `carecert admin org add`")]
    UnknownOrganisation(String),
    /// The organisation may not use certificates now.
    #[error(
        "organisation {epoc} is {status}: its systems cannot request or use certificates. Call the helpdesk: {helpdesk}"
    )]
    OrganisationNotActive {
        /// EPOC.
        epoc: String,
        /// Status.
        status: String,
        /// Helpdesk.
        helpdesk: String,
    },
    /// The acceptable-use policy was not accepted (or an old version was).
    #[error(
        "the acceptable-use policy (version {current}) must be accepted before a certificate is requested: read it (ecmt status) and accept it (--accept-policy)"
    )]
    PolicyNotAccepted {
        /// The current version.
        current: String,
    },
    /// The CSR is unacceptable.
    #[error("the certificate request is not acceptable: {0}")]
    BadCsr(pki::PkiError),
    /// A renewal reuses the current key.
    #[error("the new request uses the same key as the current certificate: generate a new key pair and request again")]
    KeyReused,
    /// No such request (or not this organisation's).
    #[error("there is no request {0} for this organisation: list them with `ecmt requests`")]
    UnknownRequest(i64),
    /// The request is in the wrong state for this.
    #[error("request {id} is {status}: {hint}")]
    WrongState {
        /// Request.
        id: i64,
        /// Its state.
        status: String,
        /// What to do.
        hint: String,
    },
    /// A client certificate is not acceptable (gate, renewal).
    #[error("the client certificate is not accepted: {0}")]
    CertificateRefused(String),
    /// Other bad input.
    #[error("{0}")]
    BadInput(String),
    /// Conflicts with what exists.
    #[error("{0}")]
    Conflict(String),
    /// From the CA.
    #[error(transparent)]
    Ca(#[from] ca::CaError),
    /// From the store.
    #[error(transparent)]
    Store(store::StoreError),
    /// Something inside broke.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<store::StoreError> for EnrolError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Conflict(m) => EnrolError::Conflict(m),
            other => EnrolError::Store(other),
        }
    }
}

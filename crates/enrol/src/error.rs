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
    /// Too many logons are being checked at once (the password-hash work is bounded).
    #[error("the service is busy checking other logons: wait a few seconds and try again")]
    Busy,
    /// Renewal with the current certificate is allowed only near its end.
    #[error(
        "certificate {serial} cannot be renewed yet: renewal opens on {opens} (UTC), in the last part of its lifetime. Try again then, or ask for a new PIN letter if the key was lost"
    )]
    RenewalNotYet {
        /// The certificate.
        serial: String,
        /// When the window opens (human form).
        opens: String,
    },
    /// The certificate was renewed once already.
    #[error(
        "certificate {serial} was already renewed once: renew with the newest certificate, or log on with a PIN letter (call the helpdesk if you did not renew it)"
    )]
    AlreadyRenewed {
        /// The certificate.
        serial: String,
    },
    /// The client is below the minimum supported version.
    #[error(
        "{product} {version} is no longer supported (the minimum is {minimum}): run `{product} update` to download, verify and install the current version, or download it from {download_page}"
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
    CertificateRefused(CertificateProblem),
    /// Other bad input.
    #[error(transparent)]
    BadInput(InputProblem),
    /// Conflicts with what exists (a uniqueness or state conflict found by the store, in
    /// its words).
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

/// Why a client certificate is not accepted.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// It cannot be parsed.
    #[error("it cannot be read ({0})")]
    Unreadable(pki::PkiError),
    /// Not issued by the machine CA.
    #[error("serial {serial} was not issued by the '{ca}' CA")]
    NotIssuedHere {
        /// Its serial.
        serial: String,
        /// The machine CA.
        ca: String,
    },
    /// The bytes differ from the certificate on record.
    #[error("it does not match the certificate with serial {serial} on record")]
    NotOnRecord {
        /// Its serial.
        serial: String,
    },
    /// Another profile.
    #[error("it is not a system certificate")]
    NotSystem,
    /// Revoked.
    #[error("certificate {serial} is revoked ({reason}); request a new one with your PIN letter (ecmt renew)")]
    Revoked {
        /// Its serial.
        serial: String,
        /// RFC 5280 reason name.
        reason: &'static str,
    },
    /// Reserved but never signed.
    #[error("certificate {serial} was never issued")]
    NeverIssued {
        /// Its serial.
        serial: String,
    },
    /// Not yet or no longer valid.
    #[error("certificate {serial} is outside its validity period; request a new one with your PIN letter")]
    OutsideValidity {
        /// Its serial.
        serial: String,
    },
    /// No request of any organisation produced it.
    #[error("certificate {serial} belongs to no organisation")]
    NoOrganisation {
        /// Its serial.
        serial: String,
    },
}

/// Input that breaks a rule.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InputProblem {
    /// Not an EPOC.
    #[error("'{0}' is not an EPOC: use the organisation code, 1 to 12 digits")]
    Epoc(String),
    /// An organisation name out of bounds.
    #[error("the organisation name must be 1 to 64 printable characters")]
    OrganisationName,
    /// Not a version number.
    #[error("'{0}' is not a version number: use one to four numbers such as 4.1.0.0 or 1.4.2")]
    Version(String),
    /// Not one of the clients.
    #[error("unknown product '{0}': use ecmt or carecert-agent")]
    Product(String),
    /// Not a SHA-256 in hex.
    #[error("the SHA-256 must be 64 hex digits (sha256sum prints it)")]
    Sha256,
    /// Not an http(s) URL.
    #[error("the download URL must start with https://")]
    DownloadUrl,
    /// A release signature, key or file that cannot be accepted (the text says why).
    #[error("{0}")]
    Release(String),
    /// A denial without a (reasonable) reason.
    #[error("give a reason (1 to 500 characters): the requester sees it")]
    DenyReason,
    /// A trust withdrawal without a usable reason.
    #[error("give a reason for the withdrawal (1 to 500 characters): every ecmt shows it")]
    WithdrawReason,
    /// The root cannot be withdrawn through the feed.
    #[error(
        "the root CA cannot be withdrawn through the trust feed (every client connects with it): replace the hierarchy instead"
    )]
    RootWithdrawal,
    /// Not an email address.
    #[error("'{0}' is not an email address: use name@domain")]
    ContactEmail(String),
}

impl From<types::GateError> for EnrolError {
    fn from(e: types::GateError) -> Self {
        match e {
            types::GateError::Busy => Self::Busy,
            types::GateError::Failed(m) => Self::Internal(m),
        }
    }
}

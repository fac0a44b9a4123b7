use thiserror::Error;

/// What can go wrong in the CA. Each message says what happened and what to do.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CaError {
    /// The input (CSR, subject, profile, …) is unacceptable.
    #[error(transparent)]
    BadInput(#[from] pki::PkiError),
    /// No CA of that name.
    #[error("there is no CA named '{0}': GET /ca lists the CAs (root, systems, smartcards)")]
    UnknownCa(String),
    /// The CA may not issue that profile.
    #[error("CA '{ca}' does not issue '{profile}' certificates (it issues: {allowed})")]
    ProfileNotAllowed {
        /// The CA.
        ca: String,
        /// The profile asked for.
        profile: String,
        /// What it issues.
        allowed: String,
    },
    /// No certificate with that serial.
    #[error(
        "no certificate with serial {0} was issued by this CA: check the serial (hex, as `openssl x509 -serial` prints it)"
    )]
    UnknownCertificate(String),
    /// No CRL of that name (a shard the CA does not publish).
    #[error("{0}: the CRL address is in the certificate's CRL distribution point")]
    UnknownCrl(String),
    /// The serial exists under several CAs; the caller must say which.
    #[error("serial {0} exists under more than one CA: name the CA")]
    AmbiguousSerial(String),
    /// Revoking something that is already revoked.
    #[error("certificate {serial} was already revoked ({reason}); nothing changed")]
    AlreadyRevoked {
        /// Serial.
        serial: String,
        /// Its recorded reason.
        reason: String,
    },
    /// Revoking a reservation that was never signed.
    #[error("certificate {0} was never issued (its signing did not complete); nothing to revoke")]
    NotIssued(String),
    /// The CA has not been initialised.
    #[error("the CA is not initialised: run `carecert init` (or `carecert serve --dev` for a demo CA)")]
    NotInitialised,
    /// The CA exists already.
    #[error("the CA is already initialised in this database; nothing changed")]
    AlreadyInitialised,
    /// A CA key could not be decrypted.
    #[error(
        "cannot unlock the key of CA '{0}': the CA passphrase is wrong (check CARECERT_CA_PASSPHRASE or --ca-passphrase-file)"
    )]
    WrongPassphrase(String),
    /// A key reference this build cannot use.
    #[error("the key of CA '{0}' is held in a way this build cannot use ({1})")]
    UnsupportedKey(String, String),
    /// The CA's key is kept off line (the root): this node cannot sign with it.
    #[error(
        "the key of CA '{0}' is off line: run `carecert root …` on the offline machine and import its output with `carecert ca import`"
    )]
    Offline(String),
    /// Nothing pre-signed covers this answer any more.
    #[error("no pre-signed answer of CA '{0}' is valid now: run `carecert root presign` and `carecert ca import`")]
    PresignedMissing(String),
    /// Persistence failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Something inside the CA broke.
    #[error("internal CA error: {0}")]
    Internal(String),
}

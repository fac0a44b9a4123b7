use thiserror::Error;

/// Everything that can go wrong while building or parsing PKI objects.
///
/// Each variant says what was wrong with the input, so that the layers above can tell a
/// person what to fix.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The input is larger than this parser accepts.
    #[error("{what} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// What was being parsed.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input is not valid DER/PEM of the expected type.
    #[error("{what} could not be parsed: {detail}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// The parser's explanation.
        detail: String,
    },
    /// The request's self-signature does not verify: the requester does not prove possession.
    #[error("the certificate request's signature does not verify (proof of possession failed)")]
    BadSignature,
    /// The key is of a type or size the policy refuses.
    #[error("key refused: {0}")]
    WeakKey(String),
    /// Signing failed (HSM error, wrong key, …).
    #[error("signing failed: {0}")]
    Signing(String),
    /// A private key could not be decrypted — almost always a wrong passphrase.
    #[error("the private key could not be decrypted: wrong passphrase, or the file is damaged")]
    WrongPassphrase,
    /// A PKCS#12 file could not be opened.
    #[error("the PKCS#12 file could not be opened: {0}")]
    Pkcs12(String),
    /// A parameter given by the caller is invalid.
    #[error("invalid parameter: {0}")]
    Invalid(String),
    /// An OCSP answer that cannot be trusted (bad signature, unauthorised responder, stale,
    /// another certificate, a nonce that does not match).
    #[error("the OCSP answer cannot be trusted: {0}")]
    OcspUntrusted(String),
}

impl PkiError {
    pub(crate) fn malformed(what: &'static str, detail: impl std::fmt::Display) -> Self {
        PkiError::Malformed { what, detail: detail.to_string() }
    }
}

//! The one error of the client: unreachable, refused, not understood, or not set up.

use thiserror::Error;

/// What went wrong with a call.
///
/// The messages already carry their causes' text, so the causes are not reported again
/// as `source()` (an `{:#}` of an `anyhow` chain would print them twice).
#[derive(Debug, Error)]
pub enum Error {
    /// No answer: the network, the address or the server is down. Nothing was done.
    #[error("cannot reach the carecert service at {url}: {}{hint}", chain(cause))]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// Why.
        cause: reqwest::Error,
        /// What to check, for the person (set by the front end; may be empty).
        hint: String,
    },
    /// The server refused, with its reason.
    #[error("{message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's stable error code (`not_found`, `session_invalid`, …).
        code: String,
        /// The server's sentence for a person.
        message: String,
    },
    /// The server answered with something that is not the contract.
    #[error("the server's answer was not understood: {0}")]
    Answer(serde_json::Error),
    /// The client could not be set up.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// Why a [`crate::Client`] could not be built.
#[derive(Debug, Error)]
pub enum SetupError {
    /// The base URL is not `https://…` or `http://…`.
    #[error("'{0}' is not a server URL: write it as https://HOST:PORT")]
    BadUrl(String),
    /// A plain `http://` URL (allowed only to this machine, with the client's `--insecure`).
    #[error(
        "'{0}' is plain HTTP: secrets would cross the network in clear. Use the server's https:// URL (plain http:// only to this machine, with --insecure)"
    )]
    Plaintext(String),
    /// An `https://` URL without a root certificate to trust.
    #[error("no root certificate to trust for {0}")]
    NoRoot(String),
    /// The root certificate is not PEM.
    #[error("the root certificate is not a PEM certificate: {0}")]
    BadRoot(reqwest::Error),
    /// The client certificate and key cannot be used.
    #[error("the installed certificate cannot be used for TLS: {0}")]
    BadIdentity(reqwest::Error),
    /// TLS could not be set up.
    #[error("cannot set up HTTPS: {0}")]
    Tls(reqwest::Error),
}

impl Error {
    /// The server could not be reached (front ends exit with code 3).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }

    /// The server's error code, if it refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, if the server refused.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The `{error, message}` body of a refusal, read leniently (a proxy may answer HTML).
#[derive(serde::Deserialize)]
struct Refusal {
    error: Option<String>,
    message: Option<String>,
}

pub(crate) fn refused(status: u16, body: &[u8]) -> Error {
    let r = serde_json::from_slice::<Refusal>(body).unwrap_or(Refusal { error: None, message: None });
    Error::Refused {
        status,
        code: r.error.unwrap_or_else(|| "error".into()),
        message: r.message.unwrap_or_else(|| format!("the server answered HTTP {status} with no explanation")),
    }
}

/// The error and its causes, joined with `: ` (reqwest's own text is terse).
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let next = s.to_string();
        if !text.ends_with(&next) {
            text = format!("{text}: {next}");
        }
        src = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_code_and_message() {
        let e = refused(404, br#"{"error":"not_found","message":"no certificate with serial 0A"}"#);
        assert_eq!(e.code(), Some("not_found"));
        assert_eq!(e.status(), Some(404));
        assert_eq!(e.to_string(), "no certificate with serial 0A");
        let e = refused(502, b"<html>bad gateway</html>");
        assert_eq!(e.code(), Some("error"));
        assert_eq!(e.to_string(), "the server answered HTTP 502 with no explanation");
    }
}

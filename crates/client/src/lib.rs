//! # client — the one typed HTTPS client of carecert's service API
//!
//! `ecmt`, `carecert-agent` and `carecert admin` talk to the server through this crate
//! only: one [`Client`] with a typed method per endpoint they call (request and answer
//! bodies are the types of `api`), and one [`Error`] that says whether the server could
//! not be reached ([`Error::Unreachable`]: `{ url, cause }`, exit code 3 in the front ends), refused with
//! its code and sentence ([`Error::Refused`]), answered something that is not the
//! contract ([`Error::Answer`]), or the client could not be set up ([`Error::Setup`]).
//!
//! It owns: building the HTTPS client (rustls, trusting only the root given, optionally
//! presenting a client certificate), the bearer token, timeouts, URL and query encoding,
//! and turning the server's `{error, message}` body into [`Error::Refused`].
//!
//! It is built from plain values — base URL, trusted root PEM, optional identity PEM,
//! optional bearer token, timeouts — and must never read files, environment variables,
//! command-line structures or data directories, print, prompt, or decide what a refusal
//! means for the user: that is the front ends' work.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

mod admin;
mod cards;
mod ecmt;
mod error;
mod update;
mod zerotouch;

pub use error::{Error, SetupError};

/// Timeout of a whole call unless [`ClientBuilder::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of the connection set-up unless [`ClientBuilder::connect_timeout`] says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to one carecert server. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    hint: String,
}

/// How to build a [`Client`]: see [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base: String,
    root_pem: Option<Vec<u8>>,
    identity_pem: Option<Vec<u8>>,
    token: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    hint: String,
    http_loopback: bool,
    user_agent: Option<String>,
}

/// Whether `base` (`http://HOST[:PORT][/…]`) names this machine.
fn is_loopback(base: &str) -> bool {
    let rest = base.strip_prefix("http://").unwrap_or(base);
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(authority)
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

impl ClientBuilder {
    /// Allows a plain `http://` base URL, and only one naming this machine (tests, a local
    /// proxy): the `--insecure` flag of the clients. Without it only `https://` is accepted,
    /// so a PIN, a passcode-derived secret or a token never crosses the network in clear.
    pub fn allow_http_loopback(mut self, allow: bool) -> Self {
        self.http_loopback = allow;
        self
    }

    /// Trusts only this root certificate (PEM) for the server's TLS certificate. Needed
    /// for an `https://` base URL.
    pub fn root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_pem = Some(pem.into());
        self
    }

    /// Presents this client certificate (certificate chain and key, PEM): mutual TLS.
    pub fn identity_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.identity_pem = Some(pem.into());
        self
    }

    /// Sends `Authorization: Bearer TOKEN` with every call.
    pub fn bearer(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Gives up on a call after this long.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Gives up on connecting after this long.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// What [`Error::Unreachable`] adds after the cause, for the person (e.g. `". Check
    /// the network; the card was not changed"`).
    pub fn unreachable_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }

    /// Sends `User-Agent: VALUE` with every call (the agent sends `carecert-agent/VERSION`,
    /// which the server checks against the minimum release).
    pub fn user_agent(mut self, value: impl Into<String>) -> Self {
        self.user_agent = Some(value.into());
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let base = self.base.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(SetupError::BadUrl(base).into());
        }
        if base.starts_with("http://") && !(self.http_loopback && is_loopback(&base)) {
            return Err(SetupError::Plaintext(base).into());
        }
        let mut b = reqwest::Client::builder().timeout(self.timeout).connect_timeout(self.connect_timeout);
        if let Some(ua) = &self.user_agent {
            b = b.user_agent(ua.clone());
        }
        if base.starts_with("https://") {
            let pem = self.root_pem.ok_or_else(|| SetupError::NoRoot(base.clone()))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(SetupError::BadRoot)?;
            b = b.tls_certs_only([cert]);
        }
        if let Some(id) = &self.identity_pem {
            b = b.identity(reqwest::Identity::from_pem(id).map_err(SetupError::BadIdentity)?);
        }
        let http = b.build().map_err(SetupError::Tls)?;
        Ok(Client { http, base, token: self.token, hint: self.hint })
    }
}

impl Client {
    /// Starts building a client for the server at `base_url` (`https://host:8443`).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base_url.into(),
            root_pem: None,
            identity_pem: None,
            token: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            hint: String::new(),
            http_loopback: false,
            user_agent: None,
        }
    }

    /// The same connection with another bearer token (a card session, an admin token).
    pub fn with_bearer(&self, token: &str) -> Client {
        Client { token: Some(token.to_string()), ..self.clone() }
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, segments: &[&str]) -> String {
        let mut u = self.base.clone();
        for s in segments {
            u.push('/');
            push_encoded(&mut u, s);
        }
        u
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, Error> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let unreachable = |cause| Error::Unreachable { url: self.base.clone(), cause, hint: self.hint.clone() };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(error::refused(status.as_u16(), &body));
        }
        let body: &[u8] = if body.is_empty() { b"null" } else { &body };
        serde_json::from_slice(body).map_err(Error::Answer)
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, Error> {
        self.send(self.http.get(self.url(segments))).await
    }

    async fn get_query<T: DeserializeOwned>(&self, segments: &[&str], q: &impl Serialize) -> Result<T, Error> {
        self.send(self.http.get(self.url(segments)).query(q)).await
    }

    async fn post<T: DeserializeOwned>(&self, segments: &[&str], body: &impl Serialize) -> Result<T, Error> {
        self.send(self.http.post(self.url(segments)).json(body)).await
    }

    async fn post_empty<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, Error> {
        self.post(segments, &Empty {}).await
    }

    async fn patch<T: DeserializeOwned>(&self, segments: &[&str], body: &impl Serialize) -> Result<T, Error> {
        self.send(self.http.patch(self.url(segments)).json(body)).await
    }

    /// POST for an answer without content (204); any content is ignored.
    async fn post_unit(&self, segments: &[&str], body: &impl Serialize) -> Result<(), Error> {
        let _: serde::de::IgnoredAny = self.post(segments, body).await?;
        Ok(())
    }

    async fn delete(&self, segments: &[&str]) -> Result<(), Error> {
        let _: serde::de::IgnoredAny = self.send(self.http.delete(self.url(segments))).await?;
        Ok(())
    }
}

/// `{}`: the body of POSTs that carry nothing.
#[derive(Serialize)]
pub(crate) struct Empty {}

/// Appends `s` as one path segment: everything but RFC 3986 unreserved characters is
/// percent-encoded, so a serial or name cannot add a segment or a query.
fn push_encoded(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        let c = Client::builder("http://127.0.0.1:1/").allow_http_loopback(true).build().unwrap();
        assert_eq!(c.url(&["api", "v1", "cards", "A B/../x?y"]), "http://127.0.0.1:1/api/v1/cards/A%20B%2F..%2Fx%3Fy");
    }

    #[test]
    fn https_needs_a_root() {
        let e = Client::builder("https://example.invalid").build().err().unwrap();
        assert!(matches!(e, Error::Setup(SetupError::NoRoot(_))), "{e}");
        assert!(Client::builder("ftp://x").build().is_err());
    }

    #[test]
    fn plain_http_only_to_this_machine_and_only_when_allowed() {
        let e = Client::builder("http://127.0.0.1:8080").build().err().unwrap();
        assert!(matches!(e, Error::Setup(SetupError::Plaintext(_))), "{e}");
        assert!(e.to_string().contains("https://"), "{e}");
        for far in ["http://ca.example.org:8443", "http://10.0.0.1", "http://127.0.0.1.example.org"] {
            let e = Client::builder(far).allow_http_loopback(true).build().err().unwrap();
            assert!(matches!(e, Error::Setup(SetupError::Plaintext(_))), "{far}: {e}");
        }
        for near in ["http://127.0.0.1:1", "http://localhost:2/x", "http://[::1]:3"] {
            assert!(Client::builder(near).allow_http_loopback(true).build().is_ok(), "{near}");
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let c = Client::builder(format!("http://127.0.0.1:{port}"))
            .allow_http_loopback(true)
            .unreachable_hint("; nothing was changed")
            .build()
            .unwrap();
        let e = c.card_status("X").await.unwrap_err();
        assert!(e.is_unreachable());
        let text = e.to_string();
        assert!(text.starts_with("cannot reach the carecert service at http://127.0.0.1:"), "{text}");
        assert!(text.ends_with("; nothing was changed"), "{text}");
    }
}

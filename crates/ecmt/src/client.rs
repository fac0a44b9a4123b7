//! The HTTPS client of carecert's machine-certificate API.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

/// What the server (or the way to it) said.
#[derive(Debug, Error)]
pub enum ClientError {
    /// No answer.
    #[error(
        "cannot reach the carecert service at {url}: {detail}. Check the network and the server address (--server / ECMT_SERVER); nothing on this machine was changed"
    )]
    Unreachable {
        /// Server URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// The server refused, with its reason.
    #[error("{message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
        /// The server's sentence.
        message: String,
    },
    /// Local setup problems (trust file, identity).
    #[error("{0}")]
    Setup(String),
}

impl ClientError {
    /// The server's error code, if it answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A connection to the service.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// Builds the HTTP client: trusts only `root_pem`; presents `identity_pem` (certificate
/// chain + key, PEM) when given.
pub fn build(server: &str, root: &Path, identity_pem: Option<&[u8]>) -> Result<Client, ClientError> {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30)).connect_timeout(Duration::from_secs(10));
    if server.starts_with("https://") {
        let pem = std::fs::read(root).map_err(|e| {
            ClientError::Setup(format!(
                "cannot read the carecert root certificate {} ({e}): pass it with --ca-file (or ECMT_CA_FILE)",
                root.display()
            ))
        })?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| ClientError::Setup(format!("{} is not a PEM certificate: {e}", root.display())))?;
        b = b.tls_certs_only([cert]);
    }
    if let Some(id) = identity_pem {
        let identity = reqwest::Identity::from_pem(id)
            .map_err(|e| ClientError::Setup(format!("the installed certificate cannot be used for TLS: {e}")))?;
        b = b.identity(identity);
    }
    let http = b.build().map_err(|e| ClientError::Setup(format!("cannot set up HTTPS: {e}")))?;
    Ok(Client { http, base: server.trim_end_matches('/').to_string(), token: None })
}

impl Client {
    /// Uses a session token for the following calls.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, ClientError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.map_err(|e| {
            let mut detail = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                detail = format!("{detail}: {s}");
                src = s.source();
            }
            ClientError::Unreachable { url: self.base.clone(), detail }
        })?;
        let status = resp.status();
        if status == StatusCode::NO_CONTENT {
            return serde_json::from_value(Value::Null)
                .map_err(|e| ClientError::Setup(format!("unexpected empty answer: {e}")));
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(ClientError::Refused {
                status: status.as_u16(),
                code: body.get("error").and_then(Value::as_str).unwrap_or("error").to_string(),
                message: body
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("the server answered HTTP {}", status.as_u16())),
            });
        }
        serde_json::from_value(body)
            .map_err(|e| ClientError::Setup(format!("the server's answer was not understood: {e}")))
    }

    /// GET.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    /// POST JSON.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl serde::Serialize) -> Result<T, ClientError> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        let _: Value = self.send(self.http.delete(format!("{}{path}", self.base))).await?;
        Ok(())
    }
}

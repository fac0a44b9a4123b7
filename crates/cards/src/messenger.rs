//! Delivering one-time codes: email over SMTP (lettre), SMS and landline text-to-voice
//! through an HTTP gateway whose URL is configured.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use std::sync::Mutex;

use crate::CardsError;

/// How a code travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Email to the registered address.
    Email,
    /// Text message to the registered mobile.
    Sms,
    /// Text-to-voice call to the registered landline.
    Voice,
}

impl Channel {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }
}

impl std::str::FromStr for Channel {
    type Err = CardsError;
    fn from_str(s: &str) -> Result<Self, CardsError> {
        match s {
            "email" => Ok(Channel::Email),
            "sms" => Ok(Channel::Sms),
            "voice" => Ok(Channel::Voice),
            o => Err(CardsError::BadInput(format!("'{o}' is not a way to send a code: use email, sms or voice"))),
        }
    }
}

/// Boxed future returned by [`Messenger::send`].
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CardsError>> + Send + 'a>>;

/// Something that delivers a short text to an address or number.
pub trait Messenger: Send + Sync {
    /// Delivers `text` by `channel` to `to`.
    fn send<'a>(&'a self, channel: Channel, to: &'a str, subject: &'a str, text: &'a str) -> SendFuture<'a>;
}

/// Email over SMTP.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// Plain SMTP to `host:port` (a relay on the local network or a test server); `from`
    /// is the sender address.
    pub fn new(host: &str, port: u16, from: &str) -> Result<Self, CardsError> {
        let from = from.parse().map_err(|e| CardsError::BadInput(format!("sender address '{from}': {e}")))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port).build();
        Ok(Self { transport, from })
    }
}

impl Messenger for SmtpMailer {
    fn send<'a>(&'a self, channel: Channel, to: &'a str, subject: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            if channel != Channel::Email {
                return Err(CardsError::Internal("the mailer only sends email".into()));
            }
            let to: Mailbox = to
                .parse()
                .map_err(|e| CardsError::BadInput(format!("the registered email '{to}' is not valid: {e}")))?;
            let msg = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(subject)
                .body(text.to_string())
                .map_err(|e| CardsError::Internal(format!("building the email: {e}")))?;
            self.transport
                .send(msg)
                .await
                .map_err(|e| CardsError::Delivery { channel: "email".into(), detail: e.to_string() })?;
            Ok(())
        })
    }
}

/// SMS and text-to-voice through an HTTP gateway: `POST URL` with JSON
/// `{"channel": "sms"|"voice", "to": NUMBER, "text": TEXT}`; any 2xx is success.
#[derive(Clone)]
pub struct HttpTextGateway {
    url: String,
    http: reqwest::Client,
}

impl HttpTextGateway {
    /// A gateway at `url`.
    pub fn new(url: &str) -> Result<Self, CardsError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| CardsError::Internal(format!("HTTP client: {e}")))?;
        Ok(Self { url: url.into(), http })
    }
}

impl Messenger for HttpTextGateway {
    fn send<'a>(&'a self, channel: Channel, to: &'a str, _subject: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let body = serde_json::json!({"channel": channel.as_str(), "to": to, "text": text});
            let resp = self
                .http
                .post(&self.url)
                .json(&body)
                .send()
                .await
                .map_err(|e| CardsError::Delivery { channel: channel.as_str().into(), detail: e.to_string() })?;
            if !resp.status().is_success() {
                return Err(CardsError::Delivery {
                    channel: channel.as_str().into(),
                    detail: format!("the gateway answered HTTP {}", resp.status().as_u16()),
                });
            }
            Ok(())
        })
    }
}

/// Keeps messages in memory instead of sending them (for a server without a mail relay
/// in `--dev`, where the operator reads them from the log).
#[derive(Default, Clone)]
pub struct Outbox(Arc<Mutex<Vec<(Channel, String, String)>>>);

impl Outbox {
    /// Messages "sent" so far.
    pub fn messages(&self) -> Vec<(Channel, String, String)> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Messenger for Outbox {
    fn send<'a>(&'a self, channel: Channel, to: &'a str, _subject: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::warn!(channel = channel.as_str(), to, "no delivery configured: message kept in the dev outbox");
            if let Ok(mut v) = self.0.lock() {
                v.push((channel, to.to_string(), text.to_string()));
            }
            Ok(())
        })
    }
}

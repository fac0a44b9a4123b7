//! Delivering one-time codes: the [`Messenger`] port the binary wires adapters into (SMTP
//! and the text gateway live in `carecert`, not here), and the in-memory [`Outbox`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::CardsError;
use crate::error::InputProblem;

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
            o => Err(CardsError::BadInput(InputProblem::Channel(o.into()))),
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

//! The delivery adapters the server is wired with: email over SMTP (lettre), and SMS and
//! landline text-to-voice through an HTTP gateway whose URL is configured. They implement
//! [`cards::Messenger`]; the `cards` crate decides what is sent and to whom, and never
//! speaks SMTP or HTTP itself.

use cards::{CardsError, Channel, Messenger, SendFuture};
use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};

/// How the SMTP connection is secured (`[smtp] tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS, required: a relay that does not offer it is refused; the relay's certificate
    /// is checked against the system's trust store and its name.
    StartTls,
    /// Implicit TLS from the first byte (usually port 465).
    Wrapper,
    /// Plaintext: only in a test environment or with `serve --dev` (the configuration refuses it
    /// otherwise).
    Plain,
}

/// Email over SMTP.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// SMTP to `host:port`, secured as `tls` says; `from` is the sender address.
    pub fn new(host: &str, port: u16, from: &str, tls: SmtpTls) -> anyhow::Result<Self> {
        let from = from.parse().map_err(|e| anyhow::anyhow!("sender address '{from}': {e}"))?;
        let builder = match tls {
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| anyhow::anyhow!("SMTP relay '{host}': {e}"))?,
            SmtpTls::Wrapper => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| anyhow::anyhow!("SMTP relay '{host}': {e}"))?,
            SmtpTls::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        Ok(Self { transport: builder.port(port).build(), from })
    }
}

impl Messenger for SmtpMailer {
    fn send<'a>(&'a self, channel: Channel, to: &'a str, subject: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let failed = |detail: String| CardsError::Delivery { channel: channel.as_str().into(), detail };
            if channel != Channel::Email {
                return Err(failed("the mailer only sends email".into()));
            }
            let to: Mailbox =
                to.parse().map_err(|e| failed(format!("the registered email '{to}' is not valid: {e}")))?;
            let msg = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(subject)
                .body(text.to_string())
                .map_err(|e| CardsError::Internal(format!("building the email: {e}")))?;
            self.transport.send(msg).await.map_err(|e| failed(e.to_string()))?;
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
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow::anyhow!("HTTP client: {e}"))?;
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

#[cfg(test)]
mod tests {
    //! A real SMTP conversation (lettre → a local SMTP server in this test) and a local HTTP
    //! receiver standing in for the SMS gateway.

    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::sync::mpsc;

    /// A local SMTP server: accepts every message and hands its text to the test.
    async fn smtp_server() -> (u16, mpsc::UnboundedReceiver<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let (r, mut w) = s.into_split();
                    let mut r = BufReader::new(r);
                    w.write_all(b"220 test.local ESMTP\r\n").await.unwrap();
                    let mut line = String::new();
                    let mut data = String::new();
                    let mut in_data = false;
                    loop {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if in_data {
                            if line == ".\r\n" {
                                in_data = false;
                                tx.send(std::mem::take(&mut data)).unwrap();
                                w.write_all(b"250 queued\r\n").await.unwrap();
                            } else {
                                data.push_str(&line);
                            }
                            continue;
                        }
                        let cmd = line.to_ascii_uppercase();
                        let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                            b"250 test.local\r\n"
                        } else if cmd.starts_with("DATA") {
                            in_data = true;
                            b"354 go ahead\r\n"
                        } else if cmd.starts_with("QUIT") {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        w.write_all(reply).await.unwrap();
                    }
                });
            }
        });
        (port, rx)
    }

    /// A local HTTP receiver for the SMS / voice gateway: hands each JSON body to the test.
    async fn text_gateway(status: &'static str) -> (String, mpsc::UnboundedReceiver<serde_json::Value>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/send", l.local_addr().unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else { return };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let len: usize = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse().unwrap())
                                })
                                .unwrap_or(0);
                            if body.len() >= len {
                                tx.send(serde_json::from_str(&body[..len]).unwrap()).unwrap();
                                let answer =
                                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                                s.write_all(answer.as_bytes()).await.unwrap();
                                return;
                            }
                        }
                    }
                });
            }
        });
        (url, rx)
    }

    #[tokio::test]
    async fn the_mailer_speaks_smtp_and_refuses_other_channels() {
        let (port, mut mail) = smtp_server().await;
        let mailer = SmtpMailer::new("127.0.0.1", port, "carecert <noreply@carecert.test>", SmtpTls::Plain).unwrap();
        mailer.send(Channel::Email, "alice@nhs.net", "carecert card unlock code", "code is 12345678").await.unwrap();
        let text = mail.recv().await.unwrap();
        assert!(text.contains("alice@nhs.net") && text.contains("code is 12345678"), "{text}");
        let e = mailer.send(Channel::Sms, "+447700900123", "s", "t").await.unwrap_err();
        assert!(matches!(e, CardsError::Delivery { .. }), "{e}");
        assert!(SmtpMailer::new("127.0.0.1", port, "not an address", SmtpTls::Plain).is_err());
    }

    #[tokio::test]
    async fn starttls_is_required_a_relay_without_it_gets_nothing() {
        // The test relay offers no STARTTLS: the mailer refuses to send the code in clear.
        let (port, mut mail) = smtp_server().await;
        let mailer = SmtpMailer::new("127.0.0.1", port, "carecert <noreply@carecert.test>", SmtpTls::StartTls).unwrap();
        let e = mailer.send(Channel::Email, "alice@nhs.net", "unlock", "code is 12345678").await.unwrap_err();
        assert!(matches!(e, CardsError::Delivery { .. }), "{e}");
        assert!(mail.try_recv().is_err(), "no message went out in clear");
    }

    #[tokio::test]
    async fn the_gateway_posts_json_and_reports_a_refusal() {
        let (url, mut texts) = text_gateway("200 OK").await;
        let gw = HttpTextGateway::new(&url).unwrap();
        gw.send(Channel::Sms, "+447700900123", "", "code is 12345678").await.unwrap();
        let sms = texts.recv().await.unwrap();
        assert_eq!((sms["channel"].as_str(), sms["to"].as_str()), (Some("sms"), Some("+447700900123")));
        assert_eq!(sms["text"], "code is 12345678");
        let (url, _texts) = text_gateway("503 Service Unavailable").await;
        let e = HttpTextGateway::new(&url).unwrap().send(Channel::Voice, "+441130000000", "", "x").await.unwrap_err();
        assert!(e.to_string().contains("HTTP 503"), "{e}");
    }
}

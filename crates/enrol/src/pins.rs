//! PIN letters: a new enrolment PIN for an organisation, and its letter.

use crate::EnrolError;
use crate::letter::{PinLetter, render_letter};
use crate::pin::EnrolmentPin;
use crate::service::Enrolment;

/// A PIN just issued: the secret and its letter. Shown once, then dropped.
#[derive(Debug, Clone)]
pub struct IssuedPin {
    /// The PIN.
    pub pin: EnrolmentPin,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
    /// The letter.
    pub letter: PinLetter,
    /// The letter as PDF.
    pub pdf: Vec<u8>,
}

impl Enrolment {
    /// Issues a new PIN for `epoc`, superseding older ones, and renders its letter.
    pub async fn issue_pin(&self, epoc: &str, actor: &str) -> Result<IssuedPin, EnrolError> {
        let org = self.organisation(epoc).await?;
        self.require_active(&org)?;
        let pin = EnrolmentPin::generate()?;
        // Argon2 is slow on purpose: run it off the async workers, through the node's gate.
        let hash = {
            let pin = pin.clone();
            let permit = self.inner.config.hash_gate.enter().await?;
            crate::service::HashGate::run(permit, move || pin.hash()).await??
        };
        let now = self.now();
        let expires_at = now + self.inner.config.pin_validity.as_secs() as i64;
        let ev = self.event(actor, "pin.issued", &format!("org:{epoc}"), serde_json::json!({"expires_at": expires_at}));
        self.store().issue_pin(&org.epoc, &hash, actor, now, expires_at, ev).await?;
        let fmt_date = |t: i64, with_time: bool| crate::letter::local_date(t, &self.inner.config.time_zone, with_time);
        let letter = PinLetter {
            epoc: org.epoc.clone(),
            organisation: org.name.clone(),
            pin: pin.expose().to_string(),
            issued_on: fmt_date(now, false),
            expires: fmt_date(expires_at, true),
            helpdesk: self.inner.config.helpdesk_for(org.kind).to_string(),
            download_page: self.inner.config.download_page.clone(),
        };
        let pdf = render_letter(&letter);
        Ok(IssuedPin { pin, expires_at, letter, pdf })
    }
}

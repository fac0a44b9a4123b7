//! Issue 11 (zero touch): withdrawing a CA from the trust feed, the organisation's reminder
//! contact, and the renewal window as the server sees it (so a client with a wrong clock, or a
//! test that moves the service's clock, still renews at the right time).

use crate::EnrolError;
use crate::error::InputProblem;
use crate::service::Enrolment;

/// When the installed certificate may renew itself over mutual TLS.
#[derive(Debug, Clone)]
pub struct RenewalWindow {
    /// The certificate's serial.
    pub serial: String,
    /// Its notAfter (Unix seconds).
    pub not_after: i64,
    /// When renewal over mutual TLS opens (Unix seconds).
    pub opens_at: i64,
    /// The service's time (Unix seconds).
    pub now: i64,
    /// The window's share of the lifetime (percent).
    pub percent: i64,
}

impl RenewalWindow {
    /// Whether renewal is allowed now.
    pub fn open(&self) -> bool {
        self.now >= self.opens_at
    }
}

impl Enrolment {
    /// When a certificate valid from `not_before` to `not_after` may renew itself: the last
    /// `renewal_window_percent` of its lifetime.
    pub(crate) fn window_opens(&self, not_before: i64, not_after: i64) -> i64 {
        let lifetime = not_after - not_before;
        let pct = i64::from(self.inner.config.renewal_window_percent.clamp(1, 100));
        not_after - lifetime * pct / 100
    }

    /// The renewal window of a client certificate (which must be acceptable, as for renewal).
    pub async fn renewal_window(&self, leaf_der: &[u8]) -> Result<RenewalWindow, EnrolError> {
        let sender = self.identify(leaf_der).await?;
        Ok(RenewalWindow {
            serial: sender.serial,
            not_after: sender.not_after,
            opens_at: self.window_opens(sender.not_before, sender.not_after),
            now: self.now(),
            percent: i64::from(self.inner.config.renewal_window_percent.clamp(1, 100)),
        })
    }

    /// Withdraws CA `ca` from the trust feed: every ecmt removes it from its trust store at its
    /// next update check and shows the reason. The root cannot be withdrawn this way.
    pub async fn withdraw_trust(&self, ca: &str, reason: &str, actor: &str) -> Result<i64, EnrolError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
            return Err(EnrolError::BadInput(InputProblem::WithdrawReason));
        }
        if ca == "root" {
            return Err(EnrolError::BadInput(InputProblem::RootWithdrawal));
        }
        let ev = self.event(actor, "trust.withdrawn", ca, serde_json::json!({"reason": reason}));
        Ok(self.store().withdraw_trust(ca, reason, self.now(), ev).await?)
    }

    /// Sets (or clears) where `epoc`'s expiry reminders go.
    pub async fn set_contact(&self, epoc: &str, email: Option<&str>, actor: &str) -> Result<(), EnrolError> {
        let org = self.organisation(epoc).await?;
        if let Some(e) = email {
            let ok = e.len() <= 254
                && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
                && !e.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
            if !ok {
                return Err(EnrolError::BadInput(InputProblem::ContactEmail(e.into())));
            }
        }
        let ev = self.event(actor, "organisation.contact_set", &org.epoc, serde_json::json!({"email": email}));
        Ok(self.store().set_org_contact(&org.epoc, email, ev).await?)
    }

    /// Where `epoc`'s expiry reminders go, if anywhere.
    pub async fn contact(&self, epoc: &str) -> Result<Option<String>, EnrolError> {
        let org = self.organisation(epoc).await?;
        Ok(self.store().org_contact(&org.epoc).await?)
    }
}

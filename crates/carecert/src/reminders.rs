//! Expiry reminders (issue 11): a task on every node of `carecert serve` emails an
//! organisation's contact N days before its machine certificate expires (`[reminders]
//! machine_days`, default 60, 30, 7) unless it was renewed, and card holders N days before
//! their card certificates expire (`card_days`, default 90, 30, 7) — each message saying
//! exactly what to do.
//!
//! Once per threshold, across nodes: a pass picks, for each item, the *tightest* threshold
//! already reached (a node that was down for weeks sends the 7-day reminder, not three at
//! once), then claims `(kind, subject, threshold)` with a conditional insert in the same
//! transaction as the `reminder.sent` audit entry, *before* sending (`Store::claim_reminder`).
//! A node that loses the race sends nothing. A failed send releases the claim
//! (`reminder.failed`) and the next pass tries again; a node that dies between the claim and
//! the send loses that reminder. We chose **at most once**: a duplicate reminder teaches
//! people to ignore them, and the next threshold follows anyway.

use std::sync::Arc;

use anyhow::Result;
use cards::{Channel, Messenger};
use store::{AuditEvent, CardExpiry, MachineExpiry, ReminderClaim, ReminderKind, Store};

use crate::config::ReminderSettings;

/// What the job needs.
#[derive(Clone)]
pub struct ReminderJob {
    /// The database.
    pub store: Store,
    /// The service's clock (moved in tests with `serve --dev --clock-offset-days`).
    pub clock: Arc<dyn ca::Clock>,
    /// Email (None: reminders are not sent; the pass only logs what is due).
    pub mailer: Option<Arc<dyn Messenger>>,
    /// `[reminders]`.
    pub settings: ReminderSettings,
    /// Machine certificates' issuing CA, helpdesks, time zone.
    pub enrol: enrol::EnrolConfig,
    /// Remote card renewals allowed before the RA must check identity.
    pub max_remote_renewals: i64,
    /// Card renewal opens this long before expiry.
    pub card_renewal_window_days: i64,
    /// This node, recorded with each claim.
    pub node: String,
}

/// The tightest threshold (days) already reached by an expiry at `not_after`, at `now`.
pub fn due_threshold(days: &[i64], not_after: i64, now: i64) -> Option<i64> {
    days.iter().copied().filter(|d| not_after - now <= d * 86_400).min()
}

/// One pass's outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    /// Reminders this node claimed and sent.
    pub sent: usize,
    /// Reminders another pass or node had sent already.
    pub already: usize,
    /// Due, but nobody to send to (no contact, no email, no relay) or the send failed.
    pub undelivered: usize,
}

impl ReminderJob {
    fn event(&self, action: &str, subject: &str, details: serde_json::Value) -> AuditEvent {
        AuditEvent {
            at_ms: self.clock.now().unix_timestamp() * 1000,
            actor: "system:reminders".into(),
            action: action.into(),
            subject: subject.into(),
            details,
        }
    }

    fn date(&self, t: i64) -> String {
        enrol::local_date(t, &self.enrol.time_zone, false)
    }

    /// The email to an organisation about its machine certificate.
    pub fn machine_message(&self, m: &MachineExpiry, days: i64) -> (String, String) {
        let kind = m.kind.parse().unwrap_or(store::OrgKind::Pharmacy);
        let helpdesk = self.enrol.helpdesk_for(kind);
        let subject =
            format!("carecert: the system certificate of {} (EPOC {}) expires in {days} days", m.name, m.epoc);
        let body = format!(
            "The system certificate of your organisation expires in {days} days.\n\n\
             Organisation: EPOC {epoc}\n\
             \x20             {name}\n\
             Certificate:  {serial}\n\
             Expires on:   {date}\n\n\
             After that date your system cannot send or receive messages.\n\n\
             What to do, on the computer that holds the certificate,\n\
             as administrator:\n\n\
             \x20   ecmt renew\n\n\
             No PIN letter is needed while the certificate is valid.\n\
             If automatic renewal is installed (ecmt service install),\n\
             it renews by itself: check with `ecmt service status`.\n\n\
             If the certificate has expired, or the computer was replaced,\n\
             call for a PIN letter:\n\
             \x20   {helpdesk}\n\
             then run `ecmt renew --with-pin`.\n\n\
             This is the {days}-day reminder. No more are sent once the\n\
             certificate is renewed.\n",
            name = m.name,
            epoc = m.epoc,
            serial = m.serial,
            date = self.date(m.not_after),
        );
        (subject, body)
    }

    /// The email to a card holder.
    pub fn card_message(&self, c: &CardExpiry, days: i64) -> (String, String) {
        let opens = c.not_after - self.card_renewal_window_days * 86_400;
        let remote = if c.remote_renewals >= self.max_remote_renewals {
            format!(
                "Your card was renewed remotely {} times since your last\n\
                 identity check, so this renewal must be done by your\n\
                 Registration Authority: book a visit now and bring your\n\
                 identity documents (passport or photo driving licence).\n\n",
                c.remote_renewals
            )
        } else {
            format!(
                "What to do: put the card in the reader of your workstation\n\
                 and run\n\n\
                 \x20   carecert-agent card renew\n\n\
                 then enter your passcode when asked. This works from\n\
                 {} until {}.\n\n",
                self.date(opens),
                self.date(c.not_after)
            )
        };
        let subject = format!("carecert: your smartcard certificates expire in {days} days");
        let body = format!(
            "Dear {name},\n\n\
             The certificates on your smartcard {serial} expire on {date}.\n\
             After that date the card no longer logs you in.\n\n\
             {remote}\
             After the expiry date only your Registration Authority can\n\
             renew the card, in person. Questions:\n\
             \x20   {helpdesk}\n\n\
             This is the {days}-day reminder. No more are sent once the\n\
             card is renewed.\n",
            name = c.name,
            serial = c.serial,
            date = self.date(c.not_after),
            helpdesk = self.enrol.helpdesk,
        );
        (subject, body)
    }

    /// Claims, sends (and on failure releases) one reminder.
    async fn remind(&self, claim: ReminderClaim, subject: &str, body: &str, report: &mut PassReport) -> Result<()> {
        let Some(mailer) = &self.mailer else {
            report.undelivered += 1;
            return Ok(());
        };
        let details = serde_json::json!({
            "kind": claim.kind.as_str(), "threshold_days": claim.threshold_days, "owner": claim.owner,
            "to": claim.recipient, "not_after": claim.not_after, "node": claim.node,
        });
        let ev = self.event("reminder.sent", &claim.subject, details.clone());
        if !self.store.claim_reminder(&claim, ev).await? {
            report.already += 1;
            return Ok(());
        }
        match mailer.send(Channel::Email, &claim.recipient, subject, body).await {
            Ok(()) => {
                report.sent += 1;
                tracing::info!(kind = claim.kind.as_str(), subject = %claim.subject, days = claim.threshold_days, to = %claim.recipient, "expiry reminder sent");
            }
            Err(e) => {
                report.undelivered += 1;
                tracing::warn!(error = %e, subject = %claim.subject, "expiry reminder not sent; the next pass tries again");
                let mut d = details;
                d["error"] = serde_json::Value::String(e.to_string());
                let ev = self.event("reminder.failed", &claim.subject, d);
                self.store.release_reminder(claim.kind, &claim.subject, claim.threshold_days, ev).await?;
            }
        }
        Ok(())
    }

    /// One pass over everything due.
    pub async fn pass(&self) -> Result<PassReport> {
        let now = self.clock.now().unix_timestamp();
        let mut report = PassReport::default();
        let horizon = |days: &[i64]| now + days.iter().copied().max().unwrap_or(0) * 86_400;
        let machines = self
            .store
            .machine_certs_expiring(&self.enrol.issuing_ca, now, horizon(&self.settings.machine_days))
            .await?;
        for m in machines {
            let Some(days) = due_threshold(&self.settings.machine_days, m.not_after, now) else { continue };
            let Some(to) = m.contact_email.clone() else {
                tracing::warn!(epoc = %m.epoc, days, "machine certificate expiring but the organisation has no reminder contact (carecert admin contact set)");
                report.undelivered += 1;
                continue;
            };
            let (subject, body) = self.machine_message(&m, days);
            let claim = ReminderClaim {
                kind: ReminderKind::Machine,
                subject: m.serial.clone(),
                threshold_days: days,
                owner: m.epoc.clone(),
                recipient: to,
                not_after: m.not_after,
                at: now,
                node: self.node.clone(),
            };
            self.remind(claim, &subject, &body, &mut report).await?;
        }
        for c in self.store.cards_expiring(now, horizon(&self.settings.card_days)).await? {
            let Some(days) = due_threshold(&self.settings.card_days, c.not_after, now) else { continue };
            let Some(to) = c.email.clone() else {
                report.undelivered += 1;
                continue;
            };
            let (subject, body) = self.card_message(&c, days);
            let claim = ReminderClaim {
                kind: ReminderKind::Card,
                subject: c.serial.clone(),
                threshold_days: days,
                owner: c.uid.clone(),
                recipient: to,
                not_after: c.not_after,
                at: now,
                node: self.node.clone(),
            };
            self.remind(claim, &subject, &body, &mut report).await?;
        }
        Ok(report)
    }

    /// Runs a pass now and then every `interval`.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.settings.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match self.pass().await {
                    Ok(r) => tracing::info!(
                        sent = r.sent,
                        already = r.already,
                        undelivered = r.undelivered,
                        "expiry reminder pass done"
                    ),
                    Err(e) => tracing::warn!(error = %e, "expiry reminder pass failed; retrying at the next interval"),
                }
            }
        })
    }
}

/// This node's name for the claims: host name and process id.
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}:{}", host.trim(), std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_line_of_the_messages_fits_plain_seven_bit_mail() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let job = ReminderJob {
            store,
            clock: Arc::new(ca::SystemClock),
            mailer: None,
            settings: crate::config::Config::default().validate().unwrap().reminders,
            enrol: enrol::EnrolConfig::default(),
            max_remote_renewals: 2,
            card_renewal_window_days: 90,
            node: node_name(),
        };
        let m = MachineExpiry {
            epoc: "123456789012".into(),
            name: "A rather long organisation name, Pharmacy & Co".into(),
            kind: "pharmacy".into(),
            contact_email: Some("x@example.org".into()),
            serial: "0123456789ABCDEF0123456789ABCDEF".into(),
            not_after: 1_800_000_000,
        };
        let c = CardExpiry {
            serial: "CARD0123456789".into(),
            uid: "5".into(),
            name: "Dr Somebody With A Long Name".into(),
            email: Some("a@nhs.net".into()),
            not_after: 1_800_000_000,
            remote_renewals: 0,
        };
        let (_, machine) = job.machine_message(&m, 60);
        let (_, card) = job.card_message(&c, 90);
        let (_, ra) = job.card_message(&CardExpiry { remote_renewals: 2, ..c.clone() }, 7);
        for body in [&machine, &card, &ra] {
            for line in body.lines() {
                assert!(line.len() < 76 && line.is_ascii(), "{line:?} would force quoted-printable");
            }
        }
        assert!(machine.contains("ecmt renew") && machine.contains("60-day reminder"), "{machine}");
        assert!(card.contains("carecert-agent card renew"), "{card}");
        assert!(ra.contains("Registration Authority") && !ra.contains("carecert-agent card renew"), "{ra}");
    }

    #[test]
    fn the_tightest_threshold_reached_is_due() {
        let days = [60, 30, 7];
        let now = 1_000_000_000;
        let d = |n: i64| now + n * 86_400;
        assert_eq!(due_threshold(&days, d(61), now), None);
        assert_eq!(due_threshold(&days, d(60), now), Some(60));
        assert_eq!(due_threshold(&days, d(31), now), Some(60));
        assert_eq!(due_threshold(&days, d(30), now), Some(30));
        assert_eq!(due_threshold(&days, d(7), now), Some(7));
        assert_eq!(due_threshold(&days, d(1), now), Some(7));
    }
}

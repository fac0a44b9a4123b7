//! The dashboard's "due for renewal" section (issue 11): organisations whose machine
//! certificate and cards whose certificates expire within [`HORIZON_DAYS`], with the dates
//! their expiry reminders were sent ("reminded on").

use maud::{Markup, html};

use crate::error::ApiError;
use crate::state::AppState;
use crate::web::layout::date;

/// How far ahead the section looks (the largest default reminder threshold).
pub(crate) const HORIZON_DAYS: i64 = 90;

fn reminded(s: &AppState, sent: &[&store::SentReminder]) -> Markup {
    html! {
        @if sent.is_empty() { "not yet" }
        @for (i, r) in sent.iter().enumerate() {
            @if i > 0 { br; }
            (date(s, r.sent_at)) " (" (r.threshold_days) "-day, to " (r.recipient) ")"
        }
    }
}

/// The section; errors become the dashboard's failure page.
pub(crate) async fn due_section(s: &AppState, now: i64) -> Result<Markup, ApiError> {
    let until = now + HORIZON_DAYS * 86_400;
    let issuer = s.enrol.config().issuing_ca.clone();
    let machines = s.read.machine_certs_expiring(&issuer, now, until).await?;
    let cards = s.read.cards_expiring(now, until).await?;
    let sent = s.read.reminders_sent(now).await?;
    let of = |kind: &str, subject: &str| -> Vec<&store::SentReminder> {
        sent.iter().filter(|r| r.kind == kind && r.subject == subject).collect()
    };
    Ok(html! {
        h2 id="due" { "Due for renewal in the next " (HORIZON_DAYS) " days" }
        table.nhsuk-table id="due-orgs" {
            thead.nhsuk-table__head { tr.nhsuk-table__row { th.nhsuk-table__header { "EPOC" } th.nhsuk-table__header { "Organisation" } th.nhsuk-table__header { "Certificate" } th.nhsuk-table__header { "Expires" } th.nhsuk-table__header { "Contact" } th.nhsuk-table__header { "Reminded on" } } }
            tbody.nhsuk-table__body {
                @for m in &machines {
                    tr.nhsuk-table__row id=(format!("due-org-{}", m.epoc)) {
                        td.nhsuk-table__cell { (m.epoc) } td.nhsuk-table__cell { (m.name) } td.nhsuk-table__cell { code { (m.serial) } } td.nhsuk-table__cell { (date(s, m.not_after)) }
                        td.nhsuk-table__cell { @match &m.contact_email { Some(e) => { (e) }, None => em { "none: carecert admin contact set" }, } }
                        td.nhsuk-table__cell { (reminded(s, &of("machine", &m.serial))) }
                    }
                }
                @if machines.is_empty() { tr.nhsuk-table__row { td.nhsuk-table__cell colspan="6" { "No organisation's certificate is due." } } }
            }
        }
        table.nhsuk-table id="due-cards" {
            thead.nhsuk-table__head { tr.nhsuk-table__row { th.nhsuk-table__header { "Card" } th.nhsuk-table__header { "Holder" } th.nhsuk-table__header { "UID" } th.nhsuk-table__header { "Expires" } th.nhsuk-table__header { "Email" } th.nhsuk-table__header { "Reminded on" } } }
            tbody.nhsuk-table__body {
                @for c in &cards {
                    tr.nhsuk-table__row id=(format!("due-card-{}", c.serial)) {
                        td.nhsuk-table__cell { code { (c.serial) } } td.nhsuk-table__cell { (c.name) } td.nhsuk-table__cell { (c.uid) } td.nhsuk-table__cell { (date(s, c.not_after)) }
                        td.nhsuk-table__cell { @match &c.email { Some(e) => { (e) }, None => em { "none" }, } }
                        td.nhsuk-table__cell { (reminded(s, &of("card", &c.serial))) }
                    }
                }
                @if cards.is_empty() { tr.nhsuk-table__row { td.nhsuk-table__cell colspan="6" { "No card is due." } } }
            }
        }
    })
}

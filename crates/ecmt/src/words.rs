//! The words users were taught (the eCMT guides) and the times they read.
//!
//! Status words: the server's states are `pending`, `approved`, `downloaded`, `installed`,
//! `denied`, `cancelled`; people see "Pending", "Available for Download", "Downloaded",
//! "Installed", "Denied — call <helpdesk>" (the helpdesk of the organisation's kind, sent by
//! the server with every request: `[helpdesk.phones]` in carecert.toml) and "Cancelled".
//!
//! Times are local in the configured zone (`--time-zone` / `ECMT_TIME_ZONE`, IANA name,
//! default Europe/London, as the server's `display.time_zone`), with the zone's abbreviation.

use std::sync::OnceLock;

use anyhow::{Result, anyhow};

/// Default zone (as carecert's `display.time_zone`).
pub const DEFAULT_TIME_ZONE: &str = "Europe/London";

static ZONE: OnceLock<jiff::tz::TimeZone> = OnceLock::new();

/// Sets the zone times are shown in (once, at start-up).
pub fn set_time_zone(name: &str) -> Result<()> {
    let tz = jiff::tz::TimeZone::get(name).map_err(|e| {
        anyhow!(
            "'{name}' is not a time zone ({e}): use an IANA name such as Europe/London (--time-zone / ECMT_TIME_ZONE)"
        )
    })?;
    let _ = ZONE.set(tz);
    Ok(())
}

fn zone() -> jiff::tz::TimeZone {
    ZONE.get().cloned().unwrap_or_else(|| jiff::tz::TimeZone::get(DEFAULT_TIME_ZONE).unwrap_or(jiff::tz::TimeZone::UTC))
}

/// `YYYY-MM-DD HH:MM ZONE`, local.
pub fn local_time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.to_zoned(zone()).strftime("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default()
}

/// The helpdesk to call, as the server named it for this organisation's kind.
pub fn helpdesk(r: &api::RequestView) -> &str {
    if r.helpdesk.is_empty() { "the helpdesk" } else { &r.helpdesk }
}

/// The status as users know it.
pub fn status_word(r: &api::RequestView) -> String {
    match r.status {
        api::RequestStatus::Pending => "Pending".into(),
        api::RequestStatus::Approved => "Available for Download".into(),
        api::RequestStatus::Downloaded => "Downloaded".into(),
        api::RequestStatus::Installed => "Installed".into(),
        api::RequestStatus::Denied => format!("Denied — call {}", helpdesk(r)),
        api::RequestStatus::Cancelled => "Cancelled".into(),
    }
}

/// The short form for a narrow table column ("Denied" without the helpdesk).
pub fn status_short(r: &api::RequestView) -> &'static str {
    match r.status {
        api::RequestStatus::Pending => "Pending",
        api::RequestStatus::Approved => "Available for Download",
        api::RequestStatus::Downloaded => "Downloaded",
        api::RequestStatus::Installed => "Installed",
        api::RequestStatus::Denied => "Denied",
        api::RequestStatus::Cancelled => "Cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: api::RequestStatus, helpdesk: &str) -> api::RequestView {
        api::RequestView {
            id: 7,
            epoc: "1".into(),
            status,
            channel: api::RequestChannel::Pin,
            created_at: 0,
            decided_at: None,
            deny_reason: None,
            serial: None,
            message: String::new(),
            helpdesk: helpdesk.into(),
        }
    }

    #[test]
    fn statuses_read_as_in_the_guide() {
        assert_eq!(status_word(&view(api::RequestStatus::Approved, "")), "Available for Download");
        assert_eq!(status_word(&view(api::RequestStatus::Pending, "")), "Pending");
        assert_eq!(
            status_word(&view(api::RequestStatus::Denied, "NHS PDS Dental Helpdesk (0345 034 2458)")),
            "Denied — call NHS PDS Dental Helpdesk (0345 034 2458)"
        );
        assert_eq!(status_word(&view(api::RequestStatus::Denied, "")), "Denied — call the helpdesk");
    }

    #[test]
    fn times_are_local_with_the_zone() {
        set_time_zone("Europe/London").unwrap();
        // 2026-07-01 12:00 UTC is 13:00 BST; 2026-01-01 12:00 UTC is 12:00 GMT.
        assert_eq!(local_time(1_782_907_200), "2026-07-01 13:00 BST");
        assert_eq!(local_time(1_767_268_800), "2026-01-01 12:00 GMT");
        assert!(set_time_zone("Mars/Olympus").is_err());
    }
}

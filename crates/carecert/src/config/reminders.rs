//! `[reminders]` (issue 11): expiry reminders emailed to organisations (machine certificates)
//! and card holders (smartcard certificates).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::DurationText;

/// Default days before a machine certificate expires on which its organisation is reminded.
pub const DEFAULT_MACHINE_DAYS: [i64; 3] = [60, 30, 7];
/// Default days before card certificates expire on which the holder is reminded.
pub const DEFAULT_CARD_DAYS: [i64; 3] = [90, 30, 7];
/// Default time between reminder passes on each node.
pub const DEFAULT_REMINDER_INTERVAL: &str = "1h";

/// `[reminders]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemindersSection {
    /// Send reminders (needs `[smtp] relay`).
    pub enabled: bool,
    /// Days before a machine certificate expires on which the organisation's contact is emailed.
    pub machine_days: Vec<i64>,
    /// Days before card certificates expire on which the holder is emailed.
    pub card_days: Vec<i64>,
    /// Time between passes (each node; a reminder is sent once whichever node claims it).
    pub interval: DurationText,
}

impl Default for RemindersSection {
    fn default() -> Self {
        Self {
            enabled: true,
            machine_days: DEFAULT_MACHINE_DAYS.to_vec(),
            card_days: DEFAULT_CARD_DAYS.to_vec(),
            interval: DEFAULT_REMINDER_INTERVAL.into(),
        }
    }
}

/// The checked `[reminders]`.
#[derive(Debug, Clone)]
pub struct ReminderSettings {
    /// Send reminders.
    pub enabled: bool,
    /// Machine certificate thresholds, largest first.
    pub machine_days: Vec<i64>,
    /// Card thresholds, largest first.
    pub card_days: Vec<i64>,
    /// Time between passes.
    pub interval: Duration,
}

fn days(key: &str, v: &[i64], problems: &mut Vec<(String, String)>) -> Vec<i64> {
    if v.is_empty() || v.len() > 10 || v.iter().any(|d| !(1..=730).contains(d)) {
        problems.push((
            format!("reminders.{key}"),
            "must list 1 to 10 whole days between 1 and 730, e.g. [60, 30, 7]".into(),
        ));
    }
    let mut d: Vec<i64> = v.iter().copied().filter(|d| (1..=730).contains(d)).collect();
    d.sort_unstable_by(|a, b| b.cmp(a));
    d.dedup();
    d
}

impl RemindersSection {
    /// Checks the section; problems are pushed as (key, message).
    pub(super) fn check(&self, problems: &mut Vec<(String, String)>) -> ReminderSettings {
        let interval = match self.interval.parse() {
            Ok(d) if d >= Duration::from_secs(1) => d,
            Ok(_) => {
                problems.push(("reminders.interval".into(), "must be at least 1s".into()));
                Duration::from_secs(3600)
            }
            Err(m) => {
                problems.push(("reminders.interval".into(), m));
                Duration::from_secs(3600)
            }
        };
        ReminderSettings {
            enabled: self.enabled,
            machine_days: days("machine_days", &self.machine_days, problems),
            card_days: days("card_days", &self.card_days, problems),
            interval,
        }
    }
}

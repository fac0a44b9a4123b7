//! `carecert.toml`: everything an operator sets without recompiling.
//!
//! Owns the file's shape (serde structs that refuse unknown keys), the named defaults, and
//! [`Config::validate`], which turns the raw file into typed [`Settings`] or reports *every*
//! problem at once, each with its dotted key (`portal.idle_timeout: must be positive`).
//! Precedence, lowest first: the defaults here, the file, environment variables, command-line
//! flags (`serve.rs` writes the last two into the [`Config`] before validating, so a bad flag
//! is reported like a bad key).
//!
//! Durations are strings with a unit: `"30s"`, `"15m"`, `"8h"`, `"14d"`, or combined
//! (`"1h30m"`). A bare number is refused, so no one has to guess the unit.
//!
//! Must never: open the database, touch the network, or read any file but the one it is given.

pub mod command;
mod crl;
mod duration;
mod limits;
mod load;
mod logins;
mod reminders;
mod wire;

use serde::{Deserialize, Serialize};

pub use crl::{CrlSection, CrlSettings};
pub use duration::DurationText;
pub use limits::LimitsSection;
pub use load::{Problem, Settings, load};
pub use logins::{LoginSettings, LoginsSection};
pub use reminders::{ReminderSettings, RemindersSection};

/// Default HTTPS listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Default plain-HTTP listen address.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8080";
/// Default URL of the local carecert-agent the portal pages talk to.
pub const DEFAULT_AGENT_URL: &str = "http://127.0.0.1:8477";
/// Default environment.
pub const DEFAULT_ENVIRONMENT: &str = "live";
/// Default display time zone (IANA name). Storage is always UTC.
pub const DEFAULT_TIME_ZONE: &str = "Europe/London";
/// Default helpdesk name.
pub const DEFAULT_HELPDESK_NAME: &str = "the carecert helpdesk";
/// Default general helpdesk phone number.
pub const DEFAULT_HELPDESK_PHONE: &str = "0300 123 4567";
/// Default helpdesk email address.
pub const DEFAULT_HELPDESK_EMAIL: &str = "helpdesk@carecert.example";
/// Default acceptable-use policy version.
pub const DEFAULT_POLICY_VERSION: &str = "2026-1";
/// Default acceptable-use policy text.
pub const DEFAULT_POLICY_TEXT: &str = "carecert acceptable-use policy, version 2026-1.\n\
    The certificate identifies your organisation's system to the message store. Install it only on \
    the system it was requested for; keep the private key and any backup file protected by a strong \
    password; tell the helpdesk at once if the system or a backup is lost or stolen, so the \
    certificate can be revoked; do not use it for anything but sending and receiving messages for \
    your organisation.";
/// Default client download page.
pub const DEFAULT_DOWNLOAD_PAGE: &str = "https://carecert.example/downloads";
/// Default PIN letter validity.
pub const DEFAULT_PIN_VALIDITY: &str = "14d";
/// Default consecutive wrong PINs before the lockout.
pub const DEFAULT_PIN_MAX_FAILURES: i64 = 5;
/// Default PIN lockout.
pub const DEFAULT_PIN_LOCKOUT: &str = "15m";
/// Default share of a machine certificate's lifetime (percent, the last third) in which it
/// may renew itself over mutual TLS.
pub const DEFAULT_RENEWAL_WINDOW_PERCENT: i64 = 33;
/// Default enrolment (ecmt) session lifetime.
pub const DEFAULT_ENROL_SESSION_LIFETIME: &str = "8h";
/// Default idle timeout of portal and RA-console sessions.
pub const DEFAULT_IDLE_TIMEOUT: &str = "15m";
/// Default maximum lifetime of portal and RA-console sessions.
pub const DEFAULT_WEB_SESSION_LIFETIME: &str = "12h";
/// Default smartcard certificate lifetime in days.
pub const DEFAULT_CARD_CERTIFICATE_DAYS: i64 = 730;
/// Default wrong card passcodes before the card locks.
pub const DEFAULT_MAX_WRONG_PASSCODES: i64 = 3;
/// Default unlock-code lifetime.
pub const DEFAULT_UNLOCK_CODE_LIFETIME: &str = "10m";
/// Default wrong tries an unlock code survives.
pub const DEFAULT_UNLOCK_CODE_TRIES: i64 = 3;
/// Default email domain unlock codes may be sent to.
pub const DEFAULT_UNLOCK_EMAIL_DOMAIN: &str = "nhs.net";
/// Default sender of unlock-code emails.
pub const DEFAULT_SMTP_FROM: &str = "carecert <noreply@carecert.invalid>";

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Addresses, URLs and files of this deployment.
    pub server: ServerSection,
    /// Live or test, and who a test deployment admits.
    pub access: AccessSection,
    /// How times are shown to people.
    pub display: DisplaySection,
    /// The helpdesk named in refusals, letters and pages.
    pub helpdesk: HelpdeskSection,
    /// The acceptable-use policy clients must accept.
    pub policy: PolicySection,
    /// Where the clients are downloaded.
    pub clients: ClientsSection,
    /// Machine-certificate enrolment (PIN letters, ecmt sessions).
    pub enrolment: EnrolmentSection,
    /// Portal and RA-console web sessions.
    pub portal: PortalSection,
    /// Smartcards and their unlock codes.
    pub cards: CardsSection,
    /// The SMTP relay for unlock-code emails.
    pub smtp: SmtpSection,
    /// The HTTP gateway for SMS and text-to-voice unlock codes.
    pub text_gateway: TextGatewaySection,
    /// Connection timeouts and caps, per-source rates, the OCSP cache bound.
    pub limits: LimitsSection,
    /// Limits on logons with a secret (Argon2 work, web login lockout, purging).
    pub logins: LoginsSection,
    /// Certificate expiry reminders by email.
    pub reminders: RemindersSection,
    /// CRL shards, validity and refresh.
    pub crl: CrlSection,
    /// `serve --dev` (not a key of the file): plaintext SMTP and an `http://` text gateway
    /// are allowed, as in a test environment.
    #[serde(skip)]
    pub dev: bool,
}

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Base URL of the plain HTTP listener as relying parties reach it (None: the one recorded at init).
    pub public_url: Option<String>,
    /// HTTPS address.
    pub listen: String,
    /// Plain HTTP address.
    pub http_listen: String,
    /// Data directory (None: ~/.local/share/carecert).
    pub data_dir: Option<std::path::PathBuf>,
    /// Database URL (None: SQLite in the data directory).
    pub database: Option<String>,
    /// The local carecert-agent URL the portal's pages talk to.
    pub agent_url: String,
    /// HTTPS certificate chain (PEM).
    pub tls_cert: Option<std::path::PathBuf>,
    /// HTTPS private key (PEM).
    pub tls_key: Option<std::path::PathBuf>,
    /// Extra DNS names for the self-issued HTTPS certificate.
    pub tls_names: Vec<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            public_url: None,
            listen: DEFAULT_LISTEN.into(),
            http_listen: DEFAULT_HTTP_LISTEN.into(),
            data_dir: None,
            database: None,
            agent_url: DEFAULT_AGENT_URL.into(),
            tls_cert: None,
            tls_key: None,
            tls_names: vec![],
        }
    }
}

/// `[access]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessSection {
    /// `live` or `test`.
    pub environment: String,
    /// Networks a test deployment admits (CIDR).
    pub allow: Vec<String>,
}

impl Default for AccessSection {
    fn default() -> Self {
        Self { environment: DEFAULT_ENVIRONMENT.into(), allow: vec![] }
    }
}

/// `[display]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisplaySection {
    /// IANA time zone for pages, letters and the CLI.
    pub time_zone: String,
}

impl Default for DisplaySection {
    fn default() -> Self {
        Self { time_zone: DEFAULT_TIME_ZONE.into() }
    }
}

/// `[helpdesk]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HelpdeskSection {
    /// Its name, as in "Contact {name} (phone, email)".
    pub name: String,
    /// The general phone number.
    pub phone: String,
    /// Its email address ("" for none).
    pub email: String,
    /// Phone numbers per organisation kind (unset: the general one).
    pub phones: KindPhones,
}

impl Default for HelpdeskSection {
    fn default() -> Self {
        Self {
            name: DEFAULT_HELPDESK_NAME.into(),
            phone: DEFAULT_HELPDESK_PHONE.into(),
            email: DEFAULT_HELPDESK_EMAIL.into(),
            phones: KindPhones::default(),
        }
    }
}

/// `[helpdesk.phones]`: one per organisation kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KindPhones {
    /// Community pharmacies.
    pub pharmacy: Option<String>,
    /// General practices.
    pub gp: Option<String>,
    /// Dental practices.
    pub dental: Option<String>,
    /// Opticians.
    pub ophthalmic: Option<String>,
}

/// `[policy]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySection {
    /// Current version (clients must accept this one).
    pub version: String,
    /// Its text.
    pub text: String,
}

impl Default for PolicySection {
    fn default() -> Self {
        Self { version: DEFAULT_POLICY_VERSION.into(), text: DEFAULT_POLICY_TEXT.into() }
    }
}

/// `[clients]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientsSection {
    /// The client download page.
    pub download_page: String,
}

impl Default for ClientsSection {
    fn default() -> Self {
        Self { download_page: DEFAULT_DOWNLOAD_PAGE.into() }
    }
}

/// `[enrolment]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrolmentSection {
    /// How long a PIN letter is valid.
    pub pin_validity: DurationText,
    /// Consecutive wrong PINs before the lockout.
    pub pin_max_failures: i64,
    /// How long the lockout lasts.
    pub pin_lockout: DurationText,
    /// How long an ecmt session lasts.
    pub session_lifetime: DurationText,
    /// Renewal with the current certificate (mutual TLS) opens when this share of the
    /// certificate's lifetime, in percent, is left.
    pub renewal_window_percent: i64,
}

impl Default for EnrolmentSection {
    fn default() -> Self {
        Self {
            pin_validity: DEFAULT_PIN_VALIDITY.into(),
            pin_max_failures: DEFAULT_PIN_MAX_FAILURES,
            pin_lockout: DEFAULT_PIN_LOCKOUT.into(),
            session_lifetime: DEFAULT_ENROL_SESSION_LIFETIME.into(),
            renewal_window_percent: DEFAULT_RENEWAL_WINDOW_PERCENT,
        }
    }
}

/// `[portal]` (the portal and the RA console).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalSection {
    /// A session with no request for this long ends.
    pub idle_timeout: DurationText,
    /// A session ends this long after login in any case.
    pub session_lifetime: DurationText,
}

impl Default for PortalSection {
    fn default() -> Self {
        Self { idle_timeout: DEFAULT_IDLE_TIMEOUT.into(), session_lifetime: DEFAULT_WEB_SESSION_LIFETIME.into() }
    }
}

/// `[cards]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardsSection {
    /// Smartcard certificate lifetime in days.
    pub certificate_days: i64,
    /// Wrong passcodes before a card locks.
    pub max_wrong_passcodes: i64,
    /// How long an unlock code is valid.
    pub unlock_code_lifetime: DurationText,
    /// Wrong tries an unlock code survives.
    pub unlock_code_tries: i64,
    /// Email domains unlock codes may be sent to.
    pub unlock_email_domains: Vec<String>,
    /// Rate limits, back-off and the Argon2 bound (`[cards.limits]`).
    pub limits: CardLimitsSection,
}

/// One rate limit in the file: a burst, then one more every `interval`, at most `per_hour`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSection {
    /// Requests allowed at once.
    pub burst: i64,
    /// One more request every this long.
    pub interval: DurationText,
    /// At most this many per hour.
    pub per_hour: i64,
}

/// A whole-second duration in the largest unit that divides it (`900 s` → `"15m"`), as the
/// example file writes the defaults.
fn duration_text(d: std::time::Duration) -> DurationText {
    let s = d.as_secs();
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s > 0 && s.is_multiple_of(n) {
            return DurationText::Text(format!("{}{unit}", s / n));
        }
    }
    DurationText::seconds(s)
}

impl From<cards::Limit> for LimitSection {
    fn from(l: cards::Limit) -> Self {
        Self { burst: l.burst, interval: duration_text(l.interval), per_hour: l.per_hour }
    }
}

/// `[cards.limits]`: what keeps unauthenticated callers from locking cards, sending codes
/// without end, or tying up the Argon2 workers. Defaults: `cards::CardLimits::default()`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardLimitsSection {
    /// Login challenges for one card from one source (address or enrolled workstation).
    pub challenges_per_card_source: LimitSection,
    /// Login challenges for one card from all unenrolled sources together.
    pub challenges_per_card: LimitSection,
    /// Login challenges from one source, all cards.
    pub challenges_per_source: LimitSection,
    /// First back-off after a wrong passcode from an unenrolled workstation (doubles each time).
    pub backoff_base: DurationText,
    /// Longest back-off.
    pub backoff_max: DurationText,
    /// Unlock codes sent for one card.
    pub code_sends_per_card: LimitSection,
    /// Unlock codes sent to one address or number.
    pub code_sends_per_destination: LimitSection,
    /// Argon2 computations at once (0: twice the available cores).
    pub argon2_workers: i64,
    /// How long a request waits for an Argon2 worker before it is answered 503 "busy".
    pub argon2_wait: DurationText,
    /// How often expired challenges, codes and idle limit rows are deleted.
    pub purge_interval: DurationText,
}

impl Default for CardLimitsSection {
    fn default() -> Self {
        let d = cards::CardLimits::default();
        Self {
            challenges_per_card_source: d.challenges_per_card_source.into(),
            challenges_per_card: d.challenges_per_card.into(),
            challenges_per_source: d.challenges_per_source.into(),
            backoff_base: duration_text(d.backoff_base),
            backoff_max: duration_text(d.backoff_max),
            code_sends_per_card: d.code_sends_per_card.into(),
            code_sends_per_destination: d.code_sends_per_destination.into(),
            argon2_workers: i64::try_from(d.argon2_workers).unwrap_or(0),
            argon2_wait: duration_text(d.argon2_wait),
            purge_interval: duration_text(d.purge_interval),
        }
    }
}

impl Default for CardsSection {
    fn default() -> Self {
        Self {
            certificate_days: DEFAULT_CARD_CERTIFICATE_DAYS,
            max_wrong_passcodes: DEFAULT_MAX_WRONG_PASSCODES,
            unlock_code_lifetime: DEFAULT_UNLOCK_CODE_LIFETIME.into(),
            unlock_code_tries: DEFAULT_UNLOCK_CODE_TRIES,
            unlock_email_domains: vec![DEFAULT_UNLOCK_EMAIL_DOMAIN.into()],
            limits: CardLimitsSection::default(),
        }
    }
}

/// `[smtp]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSection {
    /// HOST:PORT of the relay (None: no email delivery).
    pub relay: Option<String>,
    /// Sender address.
    pub from: String,
    /// Transport security: `starttls` (required: a relay that does not offer it is refused),
    /// `tls` (implicit TLS, usually port 465) or `none` (plaintext: only in a test environment
    /// or with `serve --dev`). Unset: `starttls`, or `none` with `--dev`.
    pub tls: Option<String>,
}

impl Default for SmtpSection {
    fn default() -> Self {
        Self { relay: None, from: DEFAULT_SMTP_FROM.into(), tls: None }
    }
}

/// `[text_gateway]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextGatewaySection {
    /// The gateway's URL (None: no SMS or voice delivery).
    pub url: Option<String>,
}

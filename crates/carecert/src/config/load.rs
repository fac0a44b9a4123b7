//! Reading the file and checking it: every problem at once, each with its dotted key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::{Config, DurationText};

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Dotted key (`portal.idle_timeout`); empty for the file as a whole.
    pub key: String,
    /// What is wrong, in words.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(key: &str, message: impl Into<String>) -> Self {
        Self { key: key.to_string(), message: message.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() { write!(f, "{}", self.message) } else { write!(f, "{}: {}", self.key, self.message) }
    }
}

/// The checked configuration, in types the services take.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL relying parties use for the plain HTTP listener (None: the one recorded at init).
    pub public_url: Option<String>,
    /// HTTPS address.
    pub listen: SocketAddr,
    /// Plain HTTP address.
    pub http_listen: SocketAddr,
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Database URL.
    pub database: Option<String>,
    /// The local agent's URL (no trailing slash).
    pub agent_url: String,
    /// Given HTTPS certificate chain and key.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// Extra names for the self-issued HTTPS certificate (lower case).
    pub tls_names: Vec<String>,
    /// `test` (true) or `live`.
    pub test_environment: bool,
    /// Networks a test deployment admits.
    pub allow: Vec<ipnet::IpNet>,
    /// Display time zone.
    pub time_zone: jiff::tz::TimeZone,
    /// Its IANA name.
    pub time_zone_name: String,
    /// The general helpdesk contact ("name (phone, email)").
    pub helpdesk: String,
    /// The helpdesk contact per organisation kind.
    pub helpdesk_by_kind: Vec<(store::OrgKind, String)>,
    /// Acceptable-use policy version.
    pub policy_version: String,
    /// Acceptable-use policy text.
    pub policy_text: String,
    /// Client download page.
    pub download_page: String,
    /// PIN letter validity.
    pub pin_validity: Duration,
    /// Wrong PINs before the lockout.
    pub pin_max_failures: i64,
    /// Lockout length.
    pub pin_lockout: Duration,
    /// ecmt session lifetime.
    pub enrol_session_lifetime: Duration,
    /// Web session idle timeout.
    pub idle_timeout: Duration,
    /// Web session maximum lifetime.
    pub web_session_lifetime: Duration,
    /// Smartcard certificate lifetime in days.
    pub card_certificate_days: u32,
    /// Wrong passcodes before a card locks.
    pub max_wrong_passcodes: i64,
    /// Unlock-code lifetime.
    pub unlock_code_lifetime: Duration,
    /// Wrong tries an unlock code survives.
    pub unlock_code_tries: i64,
    /// Email domains for unlock codes (lower case).
    pub unlock_email_domains: Vec<String>,
    /// Card rate limits, back-off and the Argon2 bound.
    pub card_limits: cards::CardLimits,
    /// SMTP relay host and port.
    pub smtp: Option<(String, u16)>,
    /// Sender of unlock-code emails.
    pub smtp_from: String,
    /// How the SMTP connection is secured.
    pub smtp_tls: crate::notify::SmtpTls,
    /// Text gateway URL.
    pub text_gateway: Option<String>,
    /// Connection timeouts and caps, per-source rates.
    pub limits: server::Limits,
    /// Most OCSP answers held in memory.
    pub ocsp_cache_entries: usize,
    /// Renewal window of machine certificates (percent of the lifetime left).
    pub renewal_window_percent: u8,
    /// `[logins]`.
    pub logins: super::LoginSettings,
    /// `[reminders]`.
    pub reminders: super::ReminderSettings,
    /// `[crl]`.
    pub crl: super::CrlSettings,
}

/// Reads and parses `path` (call [`Config::validate`] next; see [`parse`]).
pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![Problem::new("", format!("cannot read {}: {e}", path.display()))])?;
    parse(&text)
}

/// Parses the file's text (call [`Config::validate`] next). Unknown keys and wrong types are all
/// reported: each offending key is noted and taken out, and the rest is parsed again, until what
/// remains parses; then the values that did parse are checked too, so one run names everything.
pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| vec![Problem::new("", format!("not valid TOML: {}", e.message()))])?;
    let mut problems = vec![];
    loop {
        match serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(table.clone())) {
            Ok(config) if problems.is_empty() => return Ok(config),
            Ok(config) => {
                // Report the semantic problems of what did parse, too.
                if let Err(more) = config.validate() {
                    let more: Vec<Problem> =
                        more.into_iter().filter(|p| !problems.iter().any(|q: &Problem| q.key == p.key)).collect();
                    problems.extend(more);
                }
                return Err(problems);
            }
            Err(e) => {
                let key = e.path().to_string();
                let message = e.inner().message().to_string();
                let (key, message) = describe(&key, &message);
                if !remove(&mut table, &key) {
                    problems.push(Problem::new(&key, message));
                    return Err(problems);
                }
                problems.push(Problem::new(&key, message));
            }
        }
    }
}

/// The key and the words for a serde error.
fn describe(path: &str, message: &str) -> (String, String) {
    let path = path.split('[').next().unwrap_or(path).trim_matches('.').to_string();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        // serde_path_to_error's path may or may not end in the unknown key itself.
        let key = if path == field || path.ends_with(&format!(".{field}")) {
            path
        } else if path.is_empty() || path == "?" {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        let expected = expected.trim_start_matches(',').trim();
        let known =
            expected.strip_prefix("expected one of ").or(expected.strip_prefix("expected ")).unwrap_or(expected);
        return (key, format!("unknown key (known keys here: {known})"));
    }
    if message.contains("untagged enum DurationText") {
        return (path, "write a duration like \"30s\", \"15m\", \"8h\" or \"14d\"".into());
    }
    (path, message.replace("expected i64", "expected a whole number"))
}

/// Removes `dotted` from the table; false when it is not there.
fn remove(table: &mut toml::Table, dotted: &str) -> bool {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let Some(last) = parts.pop() else { return false };
    let mut t = table;
    for p in parts {
        match t.get_mut(p) {
            Some(toml::Value::Table(inner)) => t = inner,
            _ => return false,
        }
    }
    t.remove(last).is_some()
}

impl Config {
    /// Checks every value and returns the typed settings, or every problem with its key.
    pub fn validate(&self) -> Result<Settings, Vec<Problem>> {
        let mut p = Checker(vec![]);
        let s = &self.server;
        let public_url = s.public_url.as_ref().and_then(|u| p.url("server.public_url", u, &["http"]));
        let listen = p.addr("server.listen", &s.listen);
        let http_listen = p.addr("server.http_listen", &s.http_listen);
        let agent_url = p.url("server.agent_url", &s.agent_url, &["http", "https"]);
        let tls_files = match (&s.tls_cert, &s.tls_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            (Some(_), None) => p.fail("server.tls_key", "must be set when server.tls_cert is"),
            (None, Some(_)) => p.fail("server.tls_cert", "must be set when server.tls_key is"),
        };
        // PostgreSQL on another host: the connection must be TLS with the server verified.
        if let Some(db) =
            s.database.as_deref().filter(|d| d.starts_with("postgres://") || d.starts_with("postgresql://"))
        {
            let remote = url::Url::parse(db)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .is_some_and(|h| !matches!(h.trim_matches(['[', ']']), "" | "localhost" | "127.0.0.1" | "::1"));
            if remote && !db.contains("sslmode=verify-full") {
                p.push(
                    "server.database",
                    "a PostgreSQL server on another host must be reached over verified TLS: add ?sslmode=verify-full&sslrootcert=/path/to/its-ca.pem to the URL",
                );
            }
        }
        let mut tls_names = vec![];
        for n in &s.tls_names {
            if !n.contains('.') || n.starts_with('.') || n.ends_with('.') {
                p.push(
                    "server.tls_names",
                    format!("'{n}' is not a fully qualified domain name (e.g. ca.example.nhs.uk)"),
                );
            } else {
                tls_names.push(n.to_ascii_lowercase());
            }
        }

        let a = &self.access;
        let test_environment = match a.environment.as_str() {
            "live" => false,
            "test" => true,
            other => {
                p.push("access.environment", format!("'{other}' is neither \"live\" nor \"test\""));
                false
            }
        };
        let mut allow = vec![];
        for c in &a.allow {
            match c.parse::<ipnet::IpNet>() {
                Ok(n) => allow.push(n),
                Err(_) => p.push("access.allow", format!("'{c}' is not a network like 10.20.0.0/16")),
            }
        }
        if test_environment && a.allow.is_empty() {
            p.push("access.allow", "a test environment needs the networks it admits (e.g. [\"127.0.0.1/32\"])");
        }

        let time_zone = match jiff::tz::TimeZone::get(&self.display.time_zone) {
            Ok(tz) => Some(tz),
            Err(_) => p.fail(
                "display.time_zone",
                format!("'{}' is not a time zone name like \"Europe/London\"", self.display.time_zone),
            ),
        };

        let h = &self.helpdesk;
        p.nonempty("helpdesk.name", &h.name);
        p.nonempty("helpdesk.phone", &h.phone);
        if !h.email.is_empty() && !h.email.contains('@') {
            p.push("helpdesk.email", format!("'{}' is not an email address", h.email));
        }
        let contact = |phone: &str| {
            if h.email.is_empty() {
                format!("{} ({phone})", h.name)
            } else {
                format!("{} ({phone}, {})", h.name, h.email)
            }
        };
        let mut helpdesk_by_kind = vec![];
        for (kind, key, phone) in [
            (store::OrgKind::Pharmacy, "helpdesk.phones.pharmacy", &h.phones.pharmacy),
            (store::OrgKind::Gp, "helpdesk.phones.gp", &h.phones.gp),
            (store::OrgKind::Dental, "helpdesk.phones.dental", &h.phones.dental),
            (store::OrgKind::Ophthalmic, "helpdesk.phones.ophthalmic", &h.phones.ophthalmic),
        ] {
            if let Some(phone) = phone {
                p.nonempty(key, phone);
                helpdesk_by_kind.push((kind, contact(phone)));
            }
        }

        p.nonempty("policy.version", &self.policy.version);
        p.nonempty("policy.text", &self.policy.text);
        let download_page = p.url("clients.download_page", &self.clients.download_page, &["http", "https"]);

        let e = &self.enrolment;
        let pin_validity = p.duration("enrolment.pin_validity", &e.pin_validity);
        let pin_max_failures = p.count("enrolment.pin_max_failures", e.pin_max_failures);
        let pin_lockout = p.duration("enrolment.pin_lockout", &e.pin_lockout);
        let enrol_session_lifetime = p.duration("enrolment.session_lifetime", &e.session_lifetime);
        let idle_timeout = p.duration("portal.idle_timeout", &self.portal.idle_timeout);
        let web_session_lifetime = p.duration("portal.session_lifetime", &self.portal.session_lifetime);

        let c = &self.cards;
        let card_certificate_days = match u32::try_from(c.certificate_days) {
            Ok(d) if (1..=3650).contains(&d) => Some(d),
            _ => p.fail("cards.certificate_days", "must be between 1 and 3650"),
        };
        let max_wrong_passcodes = p.count("cards.max_wrong_passcodes", c.max_wrong_passcodes);
        let unlock_code_lifetime = p.duration("cards.unlock_code_lifetime", &c.unlock_code_lifetime);
        let unlock_code_tries = p.count("cards.unlock_code_tries", c.unlock_code_tries);
        let card_limits = p.card_limits(&c.limits);
        let mut unlock_email_domains = vec![];
        for d in &c.unlock_email_domains {
            if !d.contains('.') || d.contains('@') || d.contains(char::is_whitespace) {
                p.push("cards.unlock_email_domains", format!("'{d}' is not a domain like nhs.net"));
            } else {
                unlock_email_domains.push(d.to_ascii_lowercase());
            }
        }

        let smtp = self.smtp.relay.as_ref().and_then(|hp| {
            let parsed = hp.rsplit_once(':').and_then(|(h, port)| port.parse::<u16>().ok().map(|n| (h.to_string(), n)));
            match parsed {
                Some((h, n)) if !h.is_empty() => Some((h, n)),
                _ => p.fail("smtp.relay", format!("'{hp}': write it as HOST:PORT")),
            }
        });
        p.nonempty("smtp.from", &self.smtp.from);
        // Unlock codes travel over these two: encrypted, except in a test environment or --dev.
        let plaintext_ok = self.dev || test_environment;
        let smtp_tls = match self.smtp.tls.as_deref() {
            None if self.dev => crate::notify::SmtpTls::Plain,
            None | Some("starttls") => crate::notify::SmtpTls::StartTls,
            Some("tls") => crate::notify::SmtpTls::Wrapper,
            Some("none") if plaintext_ok => crate::notify::SmtpTls::Plain,
            Some("none") => {
                p.push(
                    "smtp.tls",
                    "\"none\" sends unlock codes over the network in clear: use \"starttls\" or \"tls\" (plaintext is allowed only with access.environment = \"test\" or serve --dev)",
                );
                crate::notify::SmtpTls::Plain
            }
            Some(other) => {
                p.push("smtp.tls", format!("'{other}' is none of \"starttls\", \"tls\" or \"none\""));
                crate::notify::SmtpTls::StartTls
            }
        };
        let gateway_schemes: &[&str] = if plaintext_ok { &["https", "http"] } else { &["https"] };
        let text_gateway = self.text_gateway.url.as_ref().and_then(|u| p.url("text_gateway.url", u, gateway_schemes));

        let renewal_window_percent = match u8::try_from(e.renewal_window_percent) {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                p.push("enrolment.renewal_window_percent", "must be between 1 and 100");
                33
            }
        };
        let mut login_problems = vec![];
        let logins = self.logins.check(&mut login_problems);
        for (k, m) in login_problems {
            p.push(&k, m);
        }
        let mut reminder_problems = vec![];
        let reminders = self.reminders.check(&mut reminder_problems);
        let crl = self.crl.check(&mut reminder_problems);
        for (k, m) in reminder_problems {
            p.push(&k, m);
        }

        let limits = match self.limits.check() {
            Ok(l) => Some(l),
            Err(more) => {
                p.0.extend(more);
                None
            }
        };

        let problems = p.0;
        match (
            listen,
            http_listen,
            agent_url,
            time_zone,
            download_page,
            (pin_validity, pin_max_failures, pin_lockout, enrol_session_lifetime),
            (idle_timeout, web_session_lifetime),
            (card_certificate_days, max_wrong_passcodes, unlock_code_lifetime, unlock_code_tries),
            limits,
            card_limits,
        ) {
            (
                Some(listen),
                Some(http_listen),
                Some(agent_url),
                Some(time_zone),
                Some(download_page),
                (Some(pin_validity), Some(pin_max_failures), Some(pin_lockout), Some(enrol_session_lifetime)),
                (Some(idle_timeout), Some(web_session_lifetime)),
                (
                    Some(card_certificate_days),
                    Some(max_wrong_passcodes),
                    Some(unlock_code_lifetime),
                    Some(unlock_code_tries),
                ),
                Some((limits, ocsp_cache_entries)),
                Some(card_limits),
            ) if problems.is_empty() => Ok(Settings {
                public_url,
                listen,
                http_listen,
                data_dir: s.data_dir.clone(),
                database: s.database.clone(),
                agent_url: agent_url.trim_end_matches('/').to_string(),
                tls_files,
                tls_names,
                test_environment,
                allow,
                time_zone,
                time_zone_name: self.display.time_zone.clone(),
                helpdesk: contact(&h.phone),
                helpdesk_by_kind,
                policy_version: self.policy.version.clone(),
                policy_text: self.policy.text.clone(),
                download_page,
                pin_validity,
                pin_max_failures,
                pin_lockout,
                enrol_session_lifetime,
                idle_timeout,
                web_session_lifetime,
                card_certificate_days,
                max_wrong_passcodes,
                unlock_code_lifetime,
                unlock_code_tries,
                unlock_email_domains,
                card_limits,
                smtp,
                smtp_from: self.smtp.from.clone(),
                smtp_tls,
                text_gateway,
                limits,
                ocsp_cache_entries,
                renewal_window_percent,
                logins,
                reminders,
                crl,
            }),
            _ => Err(problems),
        }
    }
}

/// Collects problems; each check returns the typed value or None.
struct Checker(Vec<Problem>);

impl Checker {
    fn push(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(Problem::new(key, message));
    }

    fn fail<T>(&mut self, key: &str, message: impl Into<String>) -> Option<T> {
        self.push(key, message);
        None
    }

    fn nonempty(&mut self, key: &str, value: &str) {
        if value.trim().is_empty() {
            self.push(key, "must not be empty");
        }
    }

    fn url(&mut self, key: &str, value: &str, schemes: &[&str]) -> Option<String> {
        match url::Url::parse(value) {
            Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some_and(|h| !h.is_empty()) => {
                Some(value.to_string())
            }
            Ok(u) if !schemes.contains(&u.scheme()) => {
                self.fail(key, format!("'{value}' must start with {}://", schemes.join(":// or ")))
            }
            _ => self.fail(key, format!("'{value}' is not a URL like {}://host.example", schemes[0])),
        }
    }

    fn addr(&mut self, key: &str, value: &str) -> Option<SocketAddr> {
        match value.parse() {
            Ok(a) => Some(a),
            Err(_) => self.fail(key, format!("'{value}' is not an address like 127.0.0.1:8443")),
        }
    }

    fn duration(&mut self, key: &str, value: &DurationText) -> Option<Duration> {
        match value.parse() {
            Ok(d) => Some(d),
            Err(m) => self.fail(key, m),
        }
    }

    fn count(&mut self, key: &str, value: i64) -> Option<i64> {
        if value >= 1 { Some(value) } else { self.fail(key, "must be at least 1") }
    }

    fn limit(&mut self, key: &str, l: &super::LimitSection) -> Option<cards::Limit> {
        let burst = self.count(&format!("{key}.burst"), l.burst);
        let per_hour = self.count(&format!("{key}.per_hour"), l.per_hour);
        let interval = self.duration(&format!("{key}.interval"), &l.interval);
        Some(cards::Limit { burst: burst?, interval: interval?, per_hour: per_hour? })
    }

    fn card_limits(&mut self, l: &super::CardLimitsSection) -> Option<cards::CardLimits> {
        let k = "cards.limits";
        let challenges_per_card_source =
            self.limit(&format!("{k}.challenges_per_card_source"), &l.challenges_per_card_source);
        let challenges_per_card = self.limit(&format!("{k}.challenges_per_card"), &l.challenges_per_card);
        let challenges_per_source = self.limit(&format!("{k}.challenges_per_source"), &l.challenges_per_source);
        let backoff_base = self.duration(&format!("{k}.backoff_base"), &l.backoff_base);
        let backoff_max = self.duration(&format!("{k}.backoff_max"), &l.backoff_max);
        let code_sends_per_card = self.limit(&format!("{k}.code_sends_per_card"), &l.code_sends_per_card);
        let code_sends_per_destination =
            self.limit(&format!("{k}.code_sends_per_destination"), &l.code_sends_per_destination);
        let argon2_workers = match usize::try_from(l.argon2_workers) {
            Ok(n) if n <= 1024 => Some(n),
            _ => self.fail(&format!("{k}.argon2_workers"), "must be 0 (twice the cores) to 1024"),
        };
        let argon2_wait = self.duration(&format!("{k}.argon2_wait"), &l.argon2_wait);
        let purge_interval = self.duration(&format!("{k}.purge_interval"), &l.purge_interval);
        Some(cards::CardLimits {
            challenges_per_card_source: challenges_per_card_source?,
            challenges_per_card: challenges_per_card?,
            challenges_per_source: challenges_per_source?,
            backoff_base: backoff_base?,
            backoff_max: backoff_max?,
            code_sends_per_card: code_sends_per_card?,
            code_sends_per_destination: code_sends_per_destination?,
            argon2_workers: argon2_workers?,
            argon2_wait: argon2_wait?,
            purge_interval: purge_interval?,
        })
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;

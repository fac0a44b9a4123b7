//! From checked [`Settings`] to each service's own configuration.

use super::Settings;

impl Settings {
    /// Machine-certificate enrolment.
    pub fn enrol_config(&self) -> enrol::EnrolConfig {
        enrol::EnrolConfig {
            pin_validity: self.pin_validity,
            max_failures: self.pin_max_failures,
            lockout: self.pin_lockout,
            session_ttl: self.enrol_session_lifetime,
            policy_version: self.policy_version.clone(),
            policy_text: self.policy_text.clone(),
            helpdesk: self.helpdesk.clone(),
            helpdesk_by_kind: self.helpdesk_by_kind.clone(),
            download_page: self.download_page.clone(),
            time_zone: self.time_zone.clone(),
            renewal_window_percent: self.renewal_window_percent,
            ..Default::default()
        }
    }

    /// The one semaphore bounding Argon2 work on this node (enrolment and portal share it).
    pub fn hash_permits(&self) -> std::sync::Arc<tokio::sync::Semaphore> {
        std::sync::Arc::new(tokio::sync::Semaphore::new(self.logins.password_hash_concurrency))
    }

    /// Smartcards, without the message delivery (the caller adds the mailer and texter).
    pub fn cards_config(&self) -> cards::CardsConfig {
        cards::CardsConfig {
            max_wrong_passcodes: self.max_wrong_passcodes,
            code_validity: self.unlock_code_lifetime,
            code_tries: self.unlock_code_tries,
            certificate_days: self.card_certificate_days,
            email_domains: self.unlock_email_domains.clone(),
            helpdesk: self.helpdesk.clone(),
            limits: self.card_limits.clone(),
            ..Default::default()
        }
    }

    /// Portal and RA-console sessions.
    pub fn web_config(&self) -> portal::WebConfig {
        portal::WebConfig {
            idle_timeout: self.idle_timeout,
            max_age: self.web_session_lifetime,
            max_failures: self.logins.web_max_failures,
            max_failures_per_source: self.logins.web_max_failures_per_source,
            lockout: self.logins.web_lockout,
            max_lockout: self.logins.web_max_lockout,
            ..Default::default()
        }
    }

    /// Who may reach the server.
    pub fn access(&self) -> server::Access {
        server::Access { test: self.test_environment, allow: self.allow.clone() }
    }

    /// `live` or `test`.
    pub fn environment(&self) -> &'static str {
        if self.test_environment { "test" } else { "live" }
    }

    /// The one-line summary `check-config` prints.
    pub fn summary(&self) -> String {
        format!(
            "{} environment; HTTPS {}, HTTP {}; public URL {}; time zone {}; helpdesk {} (+{} numbers per organisation kind); policy {}",
            self.environment(),
            self.listen,
            self.http_listen,
            self.public_url.as_deref().unwrap_or("as recorded at init"),
            self.time_zone_name,
            self.helpdesk,
            self.helpdesk_by_kind.len(),
            self.policy_version,
        )
    }
}

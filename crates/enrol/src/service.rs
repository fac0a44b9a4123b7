//! The enrolment service: every rule of DESIGN §2.1–2.3 in one place.

use std::sync::Arc;
use std::time::Duration;

use ca::{Authority, Clock};
use sha2::{Digest, Sha256};
use store::{AuditEvent, OrgKind, OrgStatus, Organisation, Store};

use crate::EnrolError;

/// The rules' numbers (DESIGN §2 defaults) and the words shown to users.
#[derive(Debug, Clone)]
pub struct EnrolConfig {
    /// How long a PIN letter is valid.
    pub pin_validity: Duration,
    /// Consecutive wrong PINs before the lockout.
    pub max_failures: i64,
    /// How long the lockout lasts.
    pub lockout: Duration,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// Current acceptable-use policy version.
    pub policy_version: String,
    /// Its text.
    pub policy_text: String,
    /// Helpdesk contact shown in refusals and letters (the general one).
    pub helpdesk: String,
    /// The helpdesk contact for organisations of a kind (others get `helpdesk`).
    pub helpdesk_by_kind: Vec<(OrgKind, String)>,
    /// The time zone of dates shown to people (letters, pages); storage stays UTC.
    pub time_zone: jiff::tz::TimeZone,
    /// Where the clients are downloaded.
    pub download_page: String,
    /// The CA that issues machine certificates.
    pub issuing_ca: String,
    /// Certificate lifetime in days (`None`: the profile's default).
    pub certificate_days: Option<u32>,
    /// Renewal with the current certificate opens when this share of its lifetime (percent)
    /// is left (default 33: the last third).
    pub renewal_window_percent: u8,
    /// Password-hash (Argon2) checks running at once, shared with the portal (see
    /// [`HashGate`]).
    pub hash_gate: HashGate,
}

pub use types::HashGate;

impl Default for EnrolConfig {
    fn default() -> Self {
        Self {
            pin_validity: Duration::from_secs(14 * 24 * 3600),
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            session_ttl: Duration::from_secs(8 * 3600),
            policy_version: "2026-1".into(),
            policy_text: "carecert acceptable-use policy, version 2026-1.\n\
                The certificate identifies your organisation's system to the message store. Install it only on \
                the system it was requested for; keep the private key and any backup file protected by a strong \
                password; tell the helpdesk at once if the system or a backup is lost or stolen, so the \
                certificate can be revoked; do not use it for anything but sending and receiving messages for \
                your organisation."
                .into(),
            helpdesk: "the carecert helpdesk (0300 123 4567, helpdesk@carecert.example)".into(),
            helpdesk_by_kind: vec![],
            time_zone: jiff::tz::TimeZone::get("Europe/London").unwrap_or(jiff::tz::TimeZone::UTC),
            download_page: "https://carecert.example/downloads".into(),
            issuing_ca: "systems".into(),
            certificate_days: None,
            renewal_window_percent: 33,
            hash_gate: HashGate::default(),
        }
    }
}

impl EnrolConfig {
    /// The helpdesk contact for an organisation of `kind`.
    pub fn helpdesk_for(&self, kind: OrgKind) -> &str {
        self.helpdesk_by_kind.iter().find(|(k, _)| *k == kind).map_or(self.helpdesk.as_str(), |(_, h)| h.as_str())
    }
}

/// Machine-certificate enrolment. Cheap to clone.
#[derive(Clone)]
pub struct Enrolment {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) authority: Authority,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EnrolConfig,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment").finish_non_exhaustive()
    }
}

pub(crate) fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

impl Enrolment {
    /// The service, built from its parts: the `store` it records in, the `authority` that
    /// issues and revokes, the `clock` every rule reads the time from, and the rules' numbers.
    pub fn new(store: Store, authority: Authority, clock: Arc<dyn Clock>, config: EnrolConfig) -> Self {
        Self { inner: Arc::new(Inner { store, authority, clock, config }) }
    }

    /// The rules in force.
    pub fn config(&self) -> &EnrolConfig {
        &self.inner.config
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now().unix_timestamp()
    }

    pub(crate) fn event(&self, actor: &str, action: &str, subject: &str, details: serde_json::Value) -> AuditEvent {
        AuditEvent {
            at_ms: self.inner.clock.now().unix_timestamp() * 1000,
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            details,
        }
    }

    /// Refuses an organisation that may not use certificates now.
    pub(crate) fn require_active(&self, org: &Organisation) -> Result<(), EnrolError> {
        if org.status != OrgStatus::Active {
            return Err(EnrolError::OrganisationNotActive {
                epoc: org.epoc.clone(),
                status: org.status.to_string(),
                helpdesk: self.inner.config.helpdesk.clone(),
            });
        }
        Ok(())
    }
}

//! Who did what, as the audit log records it.
//!
//! [`Actor`] and [`Action`] render exactly the text the log has always held (`ra:alice`,
//! `request.approved`, …), so old entries and new ones read alike and the hash chain is
//! unaffected. [`AuditEvent::new`] is the one way to build an event: it takes the time from
//! the [`Clock`] in milliseconds.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use thiserror::Error;

use crate::clock::Clock;

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// carecert itself (lockouts, revocations after a failure, its own TLS certificate).
    System,
    /// The person at the server's console (`carecert init`).
    Operator,
    /// An administrator API token, by the token's name: `admin:NAME`.
    Admin(String),
    /// An organisation logged in with EPOC and PIN: `org:EPOC`.
    Org(String),
    /// An organisation presenting its certificate: `cert:SERIAL`.
    Cert(String),
    /// A smartcard (its agent): `card:SERIAL`.
    Card(String),
    /// RA staff in the RA console: `ra:USERNAME`.
    Ra(String),
    /// A web account (login, logout, portal administration): `web:USERNAME`.
    Web(String),
    /// A card holder acting for themselves: `user:UID`.
    User(String),
    /// A CA administrator's operator account: `ca-admin:NAME`.
    CaAdmin(String),
    /// An auditor's operator account: `auditor:NAME`.
    Auditor(String),
    /// A portal administrator's operator account: `portal-admin:NAME`.
    PortalAdmin(String),
    /// The one-shot bootstrap token of `carecert init`: `bootstrap`.
    Bootstrap,
}

/// A text that is not an actor.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "'{0}' is not an audit actor: use system, operator, bootstrap, or admin:, org:, cert:, card:, ra:, web:, user:, ca-admin:, auditor: or portal-admin: followed by a name"
)]
pub struct InvalidActor(pub String);

impl Actor {
    fn parts(&self) -> (&'static str, Option<&str>) {
        match self {
            Actor::System => ("system", None),
            Actor::Operator => ("operator", None),
            Actor::Admin(n) => ("admin", Some(n)),
            Actor::Org(n) => ("org", Some(n)),
            Actor::Cert(n) => ("cert", Some(n)),
            Actor::Card(n) => ("card", Some(n)),
            Actor::Ra(n) => ("ra", Some(n)),
            Actor::Web(n) => ("web", Some(n)),
            Actor::User(n) => ("user", Some(n)),
            Actor::CaAdmin(n) => ("ca-admin", Some(n)),
            Actor::Auditor(n) => ("auditor", Some(n)),
            Actor::PortalAdmin(n) => ("portal-admin", Some(n)),
            Actor::Bootstrap => ("bootstrap", None),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts() {
            (kind, None) => f.write_str(kind),
            (kind, Some(name)) => write!(f, "{kind}:{name}"),
        }
    }
}

impl FromStr for Actor {
    type Err = InvalidActor;
    fn from_str(s: &str) -> Result<Self, InvalidActor> {
        let bad = || InvalidActor(s.to_string());
        match s {
            "system" => return Ok(Actor::System),
            "operator" => return Ok(Actor::Operator),
            "bootstrap" => return Ok(Actor::Bootstrap),
            _ => {}
        }
        let (kind, name) = s.split_once(':').ok_or_else(bad)?;
        if name.is_empty() {
            return Err(bad());
        }
        let name = name.to_string();
        Ok(match kind {
            "admin" => Actor::Admin(name),
            "org" => Actor::Org(name),
            "cert" => Actor::Cert(name),
            "card" => Actor::Card(name),
            "ra" => Actor::Ra(name),
            "web" => Actor::Web(name),
            "user" => Actor::User(name),
            "ca-admin" => Actor::CaAdmin(name),
            "auditor" => Actor::Auditor(name),
            "portal-admin" => Actor::PortalAdmin(name),
            _ => return Err(bad()),
        })
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

macro_rules! actions {
    ($($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)?) => {
        /// What was done. The text is what the audit log stores.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum Action {
            $($(#[$vm])* #[serde(rename = $text)] $variant),+
        }
        impl Action {
            /// Every action.
            pub const ALL: &'static [Action] = &[$(Action::$variant),+];
            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self { $(Action::$variant => $text),+ }
            }
        }
        impl FromStr for Action {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Action::$variant),)+
                    other => Err(format!("'{other}' is not an audit action")),
                }
            }
        }
    };
}

actions! {
    /// An administrator API token was created.
    AdminTokenCreated = "admin.token_created",
    /// A CA was created.
    CaCreated = "ca.created",
    /// A CA's OCSP responder certificate was issued.
    CaResponderIssued = "ca.responder_issued",
    /// A certificate was issued.
    CertificateIssued = "certificate.issued",
    /// A certificate was revoked.
    CertificateRevoked = "certificate.revoked",
    /// A reservation was never signed; maintenance marked it failed.
    CertificateFailed = "certificate.failed",
    /// An intermediate CA signed by the offline root was imported.
    CaImported = "ca.imported",
    /// Answers and a CRL pre-signed by the offline root were imported.
    CaPresignedImported = "ca.presigned_imported",
    /// An organisation was added.
    OrganisationAdded = "organisation.added",
    /// An organisation's status or approval policy changed.
    OrganisationChanged = "organisation.changed",
    /// An enrolment PIN letter was issued.
    PinIssued = "pin.issued",
    /// An organisation logged in with its PIN.
    EnrolLogin = "enrol.login",
    /// A PIN login failed.
    EnrolLoginFailed = "enrol.login_failed",
    /// Too many wrong PINs: the organisation is locked out for a while.
    EnrolLockedOut = "enrol.locked_out",
    /// An organisation logged out.
    EnrolLogout = "enrol.logout",
    /// A certificate request arrived.
    RequestCreated = "request.created",
    /// A request was approved (and its certificate issued).
    RequestApproved = "request.approved",
    /// A request was denied.
    RequestDenied = "request.denied",
    /// A request was cancelled.
    RequestCancelled = "request.cancelled",
    /// A request's certificate was downloaded.
    RequestDownloaded = "request.downloaded",
    /// A request's certificate was confirmed installed.
    RequestInstalled = "request.installed",
    /// A client release was registered.
    ReleaseAdded = "release.added",
    /// A release-signing public key was registered.
    ReleaseKeyAdded = "release_key.added",
    /// A CA was withdrawn from the trust feed.
    TrustWithdrawn = "trust.withdrawn",
    /// An organisation's reminder contact was set.
    OrganisationContactSet = "organisation.contact_set",
    /// A certificate expiry reminder was claimed and sent.
    ReminderSent = "reminder.sent",
    /// A reminder could not be sent; its claim was released for a later try.
    ReminderFailed = "reminder.failed",
    /// A card holder was registered.
    UserAdded = "user.added",
    /// A card batch's minimum agent version was set.
    CardBatchSet = "card_batch.set",
    /// A sponsor was given unlock authority.
    SponsorGranted = "sponsor.granted",
    /// A card was issued.
    CardIssued = "card.issued",
    /// A card was cancelled.
    CardCancelled = "card.cancelled",
    /// A card logged in (challenge signed).
    CardLogin = "card.login",
    /// A wrong passcode was counted.
    CardPasscodeWrong = "card.passcode_wrong",
    /// A card was locked after wrong passcodes.
    CardLocked = "card.locked",
    /// A one-time unlock code was sent.
    CardUnlockCodeSent = "card.unlock_code_sent",
    /// A wrong unlock code was counted.
    CardUnlockCodeWrong = "card.unlock_code_wrong",
    /// A card was unlocked.
    CardUnlocked = "card.unlocked",
    /// A card's SO PIN was replaced by a fresh one after it was released.
    CardSoPinChanged = "card.so_pin_changed",
    /// A card renewal started.
    CardRenewalStarted = "card.renewal_started",
    /// A card renewal finished.
    CardRenewed = "card.renewed",
    /// A card renewal was given up.
    CardRenewalAborted = "card.renewal_aborted",
    /// A web account was added.
    WebAccountAdded = "web_account.added",
    /// A browser session was opened.
    WebLogin = "web.login",
    /// A web login failed.
    WebLoginFailed = "web.login_failed",
    /// A password login gave the right password and a wrong or replayed second-factor code.
    WebSecondFactorFailed = "web.second_factor_failed",
    /// Too many failed web logins: the account name is locked for a while.
    WebLoginLocked = "web.login_locked",
    /// An operator account was created.
    OperatorAccountCreated = "operator.account_created",
    /// An operator account was disabled (its sessions and tokens stop working).
    OperatorAccountDisabled = "operator.account_disabled",
    /// An operator API token was created.
    OperatorTokenCreated = "operator.token_created",
    /// An operator API token was revoked.
    OperatorTokenRevoked = "operator.token_revoked",
    /// An operator was refused an action (role or organisation scope); nothing changed.
    OperatorRefused = "operator.refused",
    /// A signed checkpoint of the audit chain's head was made.
    AuditCheckpoint = "audit.checkpoint",
    /// A browser session ended.
    WebSessionEnded = "web.session_ended",
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A security event to record.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    /// When it happened (Unix milliseconds).
    pub at_ms: i64,
    /// Who did it (`admin:alice`, `system`, `org:123456`, …).
    pub actor: String,
    /// What was done (`certificate.issued`, `certificate.revoked`, …).
    pub action: String,
    /// What it was done to (`systems/0A1B…`).
    pub subject: String,
    /// Further facts, as a JSON object.
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// An event happening now (by `clock`, in milliseconds).
    pub fn new(
        clock: &dyn Clock,
        actor: &Actor,
        action: Action,
        subject: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        let at_ms = i64::try_from(clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        Self::at(at_ms, actor, action, subject, details)
    }

    /// An event at a given time (Unix milliseconds): for events that follow another one in
    /// the same transaction and share its time.
    pub fn at(
        at_ms: i64,
        actor: &Actor,
        action: Action,
        subject: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self { at_ms, actor: actor.to_string(), action: action.as_str().to_string(), subject: subject.into(), details }
    }
}

/// The format name of a signed audit checkpoint.
pub const CHECKPOINT_FORMAT: &str = "carecert-audit-checkpoint/v1";

/// The bytes an audit checkpoint's signature covers: the format name first (domain
/// separation: these bytes can never be read as a certificate, CRL or OCSP answer), then
/// the head's sequence number, its hash and the signing time.
pub fn checkpoint_message(seq: i64, head_hash: &str, at_ms: i64) -> Vec<u8> {
    format!("{CHECKPOINT_FORMAT}\nseq={seq}\nhead={head_hash}\nat_ms={at_ms}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[test]
    fn actors_render_todays_text_and_parse_back() {
        for (a, text) in [
            (Actor::System, "system"),
            (Actor::Operator, "operator"),
            (Actor::Admin("alice".into()), "admin:alice"),
            (Actor::Org("123456".into()), "org:123456"),
            (Actor::Cert("0A1B".into()), "cert:0A1B"),
            (Actor::Card("C1".into()), "card:C1"),
            (Actor::Ra("bob".into()), "ra:bob"),
            (Actor::Web("ada".into()), "web:ada"),
            (Actor::User("12".into()), "user:12"),
            (Actor::CaAdmin("bob".into()), "ca-admin:bob"),
            (Actor::Auditor("cy".into()), "auditor:cy"),
            (Actor::PortalAdmin("dan".into()), "portal-admin:dan"),
            (Actor::Bootstrap, "bootstrap"),
        ] {
            assert_eq!(a.to_string(), text);
            assert_eq!(text.parse::<Actor>().unwrap(), a);
        }
        assert!("ra:".parse::<Actor>().is_err());
        assert!("someone".parse::<Actor>().is_err());
    }

    #[test]
    fn actions_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            assert!(seen.insert(a.as_str()), "{a} twice");
            assert_eq!(a.as_str().parse::<Action>().unwrap(), *a);
        }
        assert_eq!(Action::RequestApproved.to_string(), "request.approved");
    }

    #[test]
    fn new_takes_the_time_from_the_clock_in_milliseconds() {
        let clock = ManualClock::new(1_700_000_000);
        let e = AuditEvent::new(
            &clock,
            &Actor::Ra("bob".into()),
            Action::RequestApproved,
            "request/7",
            serde_json::json!({}),
        );
        assert_eq!(e.at_ms, 1_700_000_000_000);
        assert_eq!(
            (e.actor.as_str(), e.action.as_str(), e.subject.as_str()),
            ("ra:bob", "request.approved", "request/7")
        );
    }
}

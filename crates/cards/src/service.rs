//! The card lifecycle service.

use std::sync::Arc;
use std::time::Duration;

use ca::{Authority, Clock, IssueRequest, Issued, RevokeRequest};
use pki::seal::SealingKey;
use pki::{Profile, RevocationReason, SubjectName};
use store::{AuditEvent, Card, CardStatus, Store, User};

use crate::CardsError;
use crate::error::InputProblem;
use crate::messenger::Messenger;

/// The rules' numbers (DESIGN §2.4 defaults) and where codes go.
#[derive(Clone)]
pub struct CardsConfig {
    /// Consecutive wrong passcodes that lock a card.
    pub max_wrong_passcodes: i64,
    /// How long a one-time code is valid.
    pub code_validity: Duration,
    /// Wrong tries a code survives.
    pub code_tries: i64,
    /// Renewal opens this long before expiry.
    pub renewal_window: Duration,
    /// Remote renewals allowed before the RA must check identity again.
    pub max_remote_renewals: i64,
    /// Certificate lifetime.
    pub certificate_days: u32,
    /// Email domains a code may be sent to.
    pub email_domains: Vec<String>,
    /// The CA that issues card certificates.
    pub issuing_ca: String,
    /// Helpdesk contact.
    pub helpdesk: String,
    /// Email delivery.
    pub mailer: Option<Arc<dyn Messenger>>,
    /// SMS and text-to-voice delivery.
    pub texter: Option<Arc<dyn Messenger>>,
}

impl std::fmt::Debug for CardsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardsConfig").field("email_domains", &self.email_domains).finish_non_exhaustive()
    }
}

impl Default for CardsConfig {
    fn default() -> Self {
        Self {
            max_wrong_passcodes: 3,
            code_validity: Duration::from_secs(10 * 60),
            code_tries: 3,
            renewal_window: Duration::from_secs(90 * 86_400),
            max_remote_renewals: 2,
            certificate_days: 730,
            email_domains: vec!["nhs.net".into()],
            issuing_ca: "smartcards".into(),
            helpdesk: "the carecert helpdesk (0300 123 4567)".into(),
            mailer: None,
            texter: None,
        }
    }
}

/// The two certificates on a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardKeyRole {
    /// Authentication (logon).
    Auth,
    /// Signing.
    Sign,
}

impl CardKeyRole {
    pub(crate) fn profile(self) -> Profile {
        match self {
            CardKeyRole::Auth => Profile::CardAuth,
            CardKeyRole::Sign => Profile::CardSign,
        }
    }
}

/// Card lifecycle. Cheap to clone.
#[derive(Clone)]
pub struct Cards {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) authority: Authority,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: CardsConfig,
    pub(crate) seal: SealingKey,
}

impl std::fmt::Debug for Cards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cards").finish_non_exhaustive()
    }
}

impl Cards {
    /// The service, built from its parts: the `store` it records in, the `authority` that
    /// issues and revokes, the `clock` every rule reads the time from, the rules' numbers and
    /// messengers, and `seal_secret`, the secret the SO PINs are sealed with (the CA passphrase).
    pub fn new(
        store: Store,
        authority: Authority,
        clock: Arc<dyn Clock>,
        config: CardsConfig,
        seal_secret: &[u8],
    ) -> Result<Self, CardsError> {
        let seal = SealingKey::derive(seal_secret, "card-so-pin").map_err(|e| CardsError::Internal(e.to_string()))?;
        Ok(Self { inner: Arc::new(Inner { store, authority, clock, config, seal }) })
    }

    /// The rules in force.
    pub fn config(&self) -> &CardsConfig {
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

    /// One user.
    pub async fn user(&self, uid: &str) -> Result<User, CardsError> {
        self.store().user(uid).await?.ok_or_else(|| CardsError::UnknownUser(uid.into()))
    }

    /// Refuses an agent older than the card's batch needs.
    pub async fn check_agent(&self, batch: &str, version: &str) -> Result<(), CardsError> {
        let Some(min) = self.store().card_batch(batch).await? else { return Ok(()) };
        let (Ok(have), Ok(need)) = (semver::Version::parse(version), semver::Version::parse(&min)) else {
            return Err(CardsError::BadInput(InputProblem::AgentVersion(version.into())));
        };
        if have < need {
            return Err(CardsError::AgentTooOld { batch: batch.into(), minimum: min, version: version.into() });
        }
        Ok(())
    }

    /// A card, refusing cancelled ones.
    pub async fn card(&self, serial: &str) -> Result<Card, CardsError> {
        self.store().card(serial).await?.ok_or_else(|| CardsError::UnknownCard(serial.into()))
    }

    pub(crate) fn subject(&self, user: &User) -> SubjectName {
        SubjectName {
            country: Some("GB".into()),
            organization: Some(format!("Organisation {}", user.organisation)),
            organizational_unit: None,
            common_name: user.name.chars().take(64).collect(),
            serial_number: Some(user.uid.clone()),
        }
    }

    pub(crate) async fn issue_role(
        &self,
        user: &User,
        role: CardKeyRole,
        csr: Vec<u8>,
        actor: &str,
    ) -> Result<Issued, CardsError> {
        Ok(self
            .inner
            .authority
            .issue(IssueRequest {
                ca: self.inner.config.issuing_ca.clone(),
                profile: role.profile(),
                csr: ca::VerifiedCsr::parse(&csr).map_err(ca::CaError::from)?,
                subject: self.subject(user),
                sans: vec![],
                validity_days: Some(self.inner.config.certificate_days),
                actor: actor.into(),
            })
            .await?)
    }

    pub(crate) async fn revoke_quietly(&self, serial: &str, reason: RevocationReason, actor: &str) {
        let result = self
            .inner
            .authority
            .revoke(RevokeRequest {
                ca: Some(self.inner.config.issuing_ca.clone()),
                serial: serial.into(),
                reason,
                actor: actor.into(),
            })
            .await;
        if let Err(e) = result
            && !matches!(e, ca::CaError::AlreadyRevoked { .. })
        {
            tracing::error!(serial, error = %e, "revocation failed");
        }
    }

    pub(crate) fn usable(&self, card: &Card) -> Result<(), CardsError> {
        match card.status {
            CardStatus::Active => Ok(()),
            CardStatus::Locked => Err(CardsError::Locked(card.serial.clone())),
            CardStatus::Cancelled => Err(CardsError::Cancelled(card.serial.clone())),
        }
    }
}

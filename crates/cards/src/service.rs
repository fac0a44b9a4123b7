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
    /// Rate limits, back-off and the Argon2 bound.
    pub limits: CardLimits,
}

/// One rate limit: `burst` requests at once, then one more every `interval`, and at most
/// `per_hour` in any hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed at once.
    pub burst: i64,
    /// One more request every this long.
    pub interval: Duration,
    /// At most this many per hour.
    pub per_hour: i64,
}

impl Limit {
    pub(crate) fn row(&self, key: String, card_serial: Option<&str>) -> store::RateLimit {
        store::RateLimit {
            key,
            card_serial: card_serial.map(str::to_string),
            burst: self.burst.max(1),
            interval_ms: i64::try_from(self.interval.as_millis()).unwrap_or(i64::MAX / 4),
            per_hour: self.per_hour.max(1),
        }
    }
}

/// The limits that keep unauthenticated callers from locking cards, sending codes without
/// end or exhausting the Argon2 workers (issue 10). Defaults suit one holder per card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardLimits {
    /// Login challenges for one card from one source (address or workstation).
    pub challenges_per_card_source: Limit,
    /// Login challenges for one card from all unenrolled sources together (enrolled
    /// workstations are not held back by them).
    pub challenges_per_card: Limit,
    /// Login challenges from one source, for all cards.
    pub challenges_per_source: Limit,
    /// First back-off after an unverified wrong passcode (doubles with each one).
    pub backoff_base: Duration,
    /// Longest back-off.
    pub backoff_max: Duration,
    /// Unlock codes sent for one card.
    pub code_sends_per_card: Limit,
    /// Unlock codes sent to one address or number.
    pub code_sends_per_destination: Limit,
    /// Argon2 computations at once (0: twice the available cores).
    pub argon2_workers: usize,
    /// How long a request waits for an Argon2 worker before it is answered "busy".
    pub argon2_wait: Duration,
    /// How often expired challenges, codes and limit rows are deleted.
    pub purge_interval: Duration,
}

impl Default for CardLimits {
    fn default() -> Self {
        Self {
            challenges_per_card_source: Limit { burst: 5, interval: Duration::from_secs(5), per_hour: 60 },
            challenges_per_card: Limit { burst: 10, interval: Duration::from_secs(3), per_hour: 120 },
            challenges_per_source: Limit { burst: 30, interval: Duration::from_secs(1), per_hour: 600 },
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(15 * 60),
            code_sends_per_card: Limit { burst: 2, interval: Duration::from_secs(5 * 60), per_hour: 5 },
            code_sends_per_destination: Limit { burst: 3, interval: Duration::from_secs(5 * 60), per_hour: 10 },
            argon2_workers: 0,
            argon2_wait: Duration::from_secs(2),
            purge_interval: Duration::from_secs(60),
        }
    }
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
            limits: CardLimits::default(),
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
    pub(crate) argon2: Arc<tokio::sync::Semaphore>,
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
        Self::with_seal_key(store, authority, clock, config, seal)
    }

    /// [`Cards::new`] with the SO-PIN sealing key given (`carecert serve` derives it slowly,
    /// with Argon2id and a stored random salt: [`SealingKey::derive_slow`]).
    pub fn with_seal_key(
        store: Store,
        authority: Authority,
        clock: Arc<dyn Clock>,
        config: CardsConfig,
        seal: SealingKey,
    ) -> Result<Self, CardsError> {
        let workers = match config.limits.argon2_workers {
            0 => 2 * std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            n => n,
        };
        let argon2 = Arc::new(tokio::sync::Semaphore::new(workers));
        Ok(Self { inner: Arc::new(Inner { store, authority, clock, config, seal, argon2 }) })
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

    pub(crate) fn now_ms(&self) -> i64 {
        i64::try_from(self.inner.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// Runs Argon2 work `f` on the blocking pool, at most `argon2_workers` at once; a request
    /// that waits longer than `argon2_wait` for a worker is answered [`CardsError::Busy`].
    pub(crate) async fn argon2<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CardsError> {
        let wait = self.inner.config.limits.argon2_wait;
        let permit = tokio::time::timeout(wait, self.inner.argon2.clone().acquire_owned())
            .await
            .map_err(|_| CardsError::Busy)?
            .map_err(|e| CardsError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|e| CardsError::Internal(e.to_string()))
    }

    /// Deletes expired challenges, expired unlock codes and idle limit rows every
    /// `purge_interval` (called from `carecert serve`).
    pub fn spawn_purge(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.inner.config.limits.purge_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match this.store().purge_card_rows(this.now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(rows = n, "purged expired card challenges, codes and limits"),
                    Err(e) => tracing::warn!(error = %e, "purging card rows failed; retrying at the next tick"),
                }
            }
        })
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
        let (Ok(have), Ok(need)) = (types::ClientVersion::parse(version), types::ClientVersion::parse(&min)) else {
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

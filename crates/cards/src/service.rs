//! The card lifecycle service.

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use ca::{Authority, IssueRequest, Issued, RevokeRequest};
use pki::seal::SealingKey;
use pki::{CertificateInfo, Profile, RevocationReason, SubjectName};
use store::{AuditEvent, Card, CardChange, CardStatus, IdentityCheck, Store, User};

use crate::CardsError;
use crate::messenger::{Channel, Messenger};

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
    fn profile(self) -> Profile {
        match self {
            CardKeyRole::Auth => Profile::CardAuth,
            CardKeyRole::Sign => Profile::CardSign,
        }
    }
}

/// A card to issue face to face.
#[derive(Debug, Clone)]
pub struct IssueCard {
    /// Holder.
    pub uid: String,
    /// Token serial.
    pub card_serial: String,
    /// Manufacturing batch.
    pub batch: String,
    /// The RA agent.
    pub ra: String,
    /// Documents seen.
    pub documents: String,
    /// The security-officer PIN the agent set on the card (sealed here).
    pub so_pin: String,
    /// CSR signed on the card with the authentication key.
    pub auth_csr: Vec<u8>,
    /// CSR signed on the card with the signing key.
    pub sign_csr: Vec<u8>,
    /// The agent's version.
    pub agent_version: String,
}

/// The certificates of a newly issued card.
#[derive(Debug, Clone)]
pub struct IssuedCard {
    /// Authentication certificate.
    pub auth: Issued,
    /// Signing certificate.
    pub sign: Issued,
}

/// What a card's holder (or the agent) is told about it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CardView {
    /// The card.
    pub card: Card,
    /// Passcode tries left before it locks.
    pub tries_left: i64,
    /// Renewal is possible now (remotely).
    pub renewal_open: bool,
    /// Days until the certificates expire (negative: expired).
    pub days_to_expiry: Option<i64>,
    /// Remote renewals left before an RA visit.
    pub remote_renewals_left: i64,
    /// What to do, in words (expiry announcements, locks).
    pub message: String,
}

/// An unlock that succeeded: the agent may now set a new passcode with the SO PIN.
#[derive(Debug, Clone)]
pub struct Unlocked {
    /// The card.
    pub card_serial: String,
    /// The card's security-officer PIN.
    pub so_pin: String,
}

/// Who renews.
#[derive(Debug, Clone)]
pub enum RenewalKind {
    /// The holder, remotely (counts toward the limit).
    Remote,
    /// The RA face to face, with an identity check (resets the count; allowed when expired).
    Ra {
        /// The RA agent.
        ra: String,
        /// Documents seen.
        documents: String,
    },
}

/// Card lifecycle. Cheap to clone.
#[derive(Clone)]
pub struct Cards {
    inner: Arc<Inner>,
}

struct Inner {
    authority: Authority,
    config: CardsConfig,
    seal: SealingKey,
}

impl std::fmt::Debug for Cards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cards").finish_non_exhaustive()
    }
}

fn check_passcode_rule(p: &str) -> Result<(), CardsError> {
    if (6..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CardsError::BadPasscode)
    }
}

fn date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()))
        .unwrap_or_default()
}

/// What a person sees of where a code went: `al***@nhs.net`, `*********123`.
fn mask(to: &str) -> String {
    match to.split_once('@') {
        Some((local, domain)) => {
            let keep: String = local.chars().take(2).collect();
            format!("{keep}***@{domain}")
        }
        None => {
            let n = to.chars().count();
            to.chars().enumerate().map(|(i, c)| if i + 3 >= n { c } else { '*' }).collect()
        }
    }
}

impl Cards {
    /// The service. `seal_secret` is the secret the SO PINs are sealed with (the CA passphrase).
    pub fn new(authority: Authority, config: CardsConfig, seal_secret: &[u8]) -> Result<Self, CardsError> {
        let seal = SealingKey::derive(seal_secret, "card-so-pin").map_err(|e| CardsError::Internal(e.to_string()))?;
        Ok(Self { inner: Arc::new(Inner { authority, config, seal }) })
    }

    /// The rules in force.
    pub fn config(&self) -> &CardsConfig {
        &self.inner.config
    }

    fn store(&self) -> &Store {
        self.inner.authority.store()
    }

    fn now(&self) -> i64 {
        self.inner.authority.clock().now().unix_timestamp()
    }

    fn event(&self, actor: &str, action: &str, subject: &str, details: serde_json::Value) -> AuditEvent {
        AuditEvent {
            at_ms: self.inner.authority.clock().now().unix_timestamp() * 1000,
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            details,
        }
    }

    // ---------------------------------------------------------------- users, batches

    /// Registers a user.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_user(
        &self,
        uid: &str,
        name: &str,
        email: Option<&str>,
        mobile: Option<&str>,
        landline: Option<(&str, bool)>,
        roles: &[String],
        organisation: &str,
        actor: &str,
    ) -> Result<User, CardsError> {
        if uid.is_empty() || uid.len() > 20 || !uid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardsError::BadInput(format!("'{uid}' is not a UID: use the user's digits (e.g. 12)")));
        }
        if name.trim().is_empty() || name.chars().count() > 64 {
            return Err(CardsError::BadInput("the name must be 1 to 64 characters".into()));
        }
        if let Some(e) = email
            && (!e.contains('@') || e.len() > 254)
        {
            return Err(CardsError::BadInput(format!("'{e}' is not an email address")));
        }
        let u = User {
            uid: uid.into(),
            name: name.trim().into(),
            email: email.map(str::to_string),
            mobile: mobile.map(str::to_string),
            landline: landline.map(|l| l.0.to_string()),
            landline_voice: landline.is_some_and(|l| l.1),
            roles: roles.to_vec(),
            organisation: organisation.into(),
            created_at: self.now(),
        };
        let ev =
            self.event(actor, "user.added", &format!("user:{uid}"), serde_json::json!({"organisation": organisation}));
        self.store().insert_user(&u, ev).await?;
        Ok(u)
    }

    /// One user.
    pub async fn user(&self, uid: &str) -> Result<User, CardsError> {
        self.store().user(uid).await?.ok_or_else(|| CardsError::UnknownUser(uid.into()))
    }

    /// Sets the minimum agent version of a card batch.
    pub async fn set_batch(&self, batch: &str, min_agent_version: &str, actor: &str) -> Result<(), CardsError> {
        semver::Version::parse(min_agent_version)
            .map_err(|_| CardsError::BadInput(format!("'{min_agent_version}' is not a version like 1.2.0")))?;
        let ev = self.event(
            actor,
            "card_batch.set",
            &format!("batch:{batch}"),
            serde_json::json!({"min_agent_version": min_agent_version}),
        );
        self.store().set_card_batch(batch, min_agent_version, self.now(), ev).await?;
        Ok(())
    }

    /// Refuses an agent older than the card's batch needs.
    pub async fn check_agent(&self, batch: &str, version: &str) -> Result<(), CardsError> {
        let Some(min) = self.store().card_batch(batch).await? else { return Ok(()) };
        let (Ok(have), Ok(need)) = (semver::Version::parse(version), semver::Version::parse(&min)) else {
            return Err(CardsError::BadInput(format!("'{version}' is not an agent version")));
        };
        if have < need {
            return Err(CardsError::AgentTooOld { batch: batch.into(), minimum: min, version: version.into() });
        }
        Ok(())
    }

    // ---------------------------------------------------------------- cards

    /// A card, refusing cancelled ones.
    pub async fn card(&self, serial: &str) -> Result<Card, CardsError> {
        self.store().card(serial).await?.ok_or_else(|| CardsError::UnknownCard(serial.into()))
    }

    /// The holder's view of a card: tries left, expiry, renewal window, what to do.
    pub async fn view(&self, serial: &str) -> Result<CardView, CardsError> {
        let card = self.card(serial).await?;
        let cfg = &self.inner.config;
        let now = self.now();
        let days = card.not_after.map(|t| (t - now).div_euclid(86_400));
        let window = cfg.renewal_window.as_secs() as i64;
        let in_window = card.not_after.is_some_and(|t| now >= t - window && now < t);
        let left = (cfg.max_remote_renewals - card.remote_renewals).max(0);
        let message = match (card.status, days) {
            (CardStatus::Cancelled, _) => format!("card {} is cancelled: ask the RA for a new card", card.serial),
            (CardStatus::Locked, _) => format!("card {} is locked: unlock it first", card.serial),
            (_, Some(d)) if d < 0 => "the certificates have expired: only the RA can renew them, in person".into(),
            (_, Some(d)) if in_window && left == 0 => {
                format!("the certificates expire in {d} days; the next renewal needs the RA in person")
            }
            (_, Some(d)) if in_window => {
                format!("the certificates expire in {d} days: renew now (carecert-agent card renew)")
            }
            (_, Some(d)) => format!("the certificates are valid for {d} more days"),
            _ => String::new(),
        };
        Ok(CardView {
            tries_left: (cfg.max_wrong_passcodes - card.failed_passcodes).max(0),
            renewal_open: in_window && card.status == CardStatus::Active && left > 0,
            days_to_expiry: days,
            remote_renewals_left: left,
            message,
            card,
        })
    }

    fn subject(&self, user: &User) -> SubjectName {
        SubjectName {
            country: Some("GB".into()),
            organization: Some(format!("Organisation {}", user.organisation)),
            organizational_unit: None,
            common_name: user.name.chars().take(64).collect(),
            serial_number: Some(user.uid.clone()),
        }
    }

    async fn issue_role(
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

    async fn revoke_quietly(&self, serial: &str, reason: RevocationReason, actor: &str) {
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

    /// RA issues a card face to face: both certificates from CSRs made on the card, the
    /// identity check recorded, the SO PIN sealed. If anything fails after a certificate
    /// was issued, that certificate is revoked.
    pub async fn issue_card(&self, req: IssueCard) -> Result<IssuedCard, CardsError> {
        let user = self.user(&req.uid).await?;
        self.check_agent(&req.batch, &req.agent_version).await?;
        if req.documents.trim().is_empty() {
            return Err(CardsError::BadInput("record which identity documents were checked (--documents)".into()));
        }
        if req.so_pin.len() < 8 {
            return Err(CardsError::BadInput("the card's SO PIN must be at least 8 characters".into()));
        }
        if self.store().card(&req.card_serial).await?.is_some() {
            return Err(CardsError::Conflict(format!("card {} is registered already", req.card_serial)));
        }
        let auth = self.issue_role(&user, CardKeyRole::Auth, req.auth_csr.clone(), &req.ra).await?;
        let sign = match self.issue_role(&user, CardKeyRole::Sign, req.sign_csr.clone(), &req.ra).await {
            Ok(s) => s,
            Err(e) => {
                self.revoke_quietly(&auth.serial, RevocationReason::CessationOfOperation, "system").await;
                return Err(e);
            }
        };
        let now = self.now();
        let sealed = self
            .inner
            .seal
            .seal(req.so_pin.as_bytes(), &format!("card:{}", req.card_serial))
            .map_err(|e| CardsError::Internal(e.to_string()))?;
        let card = Card {
            serial: req.card_serial.clone(),
            uid: user.uid.clone(),
            batch: req.batch.clone(),
            status: CardStatus::Active,
            failed_passcodes: 0,
            so_pin_sealed: sealed,
            auth_serial: Some(auth.serial.clone()),
            sign_serial: Some(sign.serial.clone()),
            not_after: Some(auth.not_after.min(sign.not_after)),
            remote_renewals: 0,
            identity_checked_at: Some(now),
            identity_checked_by: Some(req.ra.clone()),
            created_at: now,
        };
        let check = IdentityCheck {
            uid: user.uid.clone(),
            card_serial: Some(req.card_serial.clone()),
            purpose: "issue".into(),
            checked_by: req.ra.clone(),
            documents: req.documents.clone(),
            checked_at: now,
        };
        let ev = self.event(
            &req.ra,
            "card.issued",
            &format!("card:{}", req.card_serial),
            serde_json::json!({"uid": user.uid, "auth": auth.serial, "sign": sign.serial, "documents": req.documents}),
        );
        if let Err(e) = self.store().insert_card(&card, &check, &[ev]).await {
            self.revoke_quietly(&auth.serial, RevocationReason::CessationOfOperation, "system").await;
            self.revoke_quietly(&sign.serial, RevocationReason::CessationOfOperation, "system").await;
            return Err(e.into());
        }
        Ok(IssuedCard { auth, sign })
    }

    fn usable(&self, card: &Card) -> Result<(), CardsError> {
        match card.status {
            CardStatus::Active => Ok(()),
            CardStatus::Locked => Err(CardsError::Locked(card.serial.clone())),
            CardStatus::Cancelled => Err(CardsError::Cancelled(card.serial.clone())),
        }
    }

    // ---------------------------------------------------------------- passcode lock

    /// The agent reports a wrong passcode; the 3rd in a row locks the card.
    pub async fn passcode_failed(&self, serial: &str) -> Result<CardsError, CardsError> {
        let card = self.card(serial).await?;
        self.usable(&card)?;
        let ev = self.event(
            &format!("card:{serial}"),
            "card.passcode_wrong",
            &format!("card:{serial}"),
            serde_json::json!({}),
        );
        let after = self.store().count_wrong_passcode(serial, self.inner.config.max_wrong_passcodes, &[ev]).await?;
        Ok(match after.status {
            CardStatus::Locked => CardsError::Locked(serial.into()),
            _ => CardsError::WrongPasscode {
                left: (self.inner.config.max_wrong_passcodes - after.failed_passcodes).max(0),
            },
        })
    }

    /// The agent reports a right passcode: the count starts again. Refused for a locked card
    /// (the lock holds even if the token itself does not count).
    pub async fn passcode_ok(&self, serial: &str) -> Result<(), CardsError> {
        let card = self.card(serial).await?;
        self.usable(&card)?;
        if card.failed_passcodes > 0 {
            let change = CardChange { failed_passcodes: Some(0), ..Default::default() };
            self.store().update_card(serial, &[CardStatus::Active], &change, None, &[]).await?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- unlock

    /// Sends a one-time unlock code by `channel`. Returns where it went (masked).
    pub async fn send_unlock_code(&self, serial: &str, channel: Channel) -> Result<String, CardsError> {
        let card = self.card(serial).await?;
        if card.status == CardStatus::Cancelled {
            return Err(CardsError::Cancelled(serial.into()));
        }
        let user = self.user(&card.uid).await?;
        let cfg = &self.inner.config;
        let (to, messenger) = match channel {
            Channel::Email => {
                let email = user.email.clone().ok_or_else(|| {
                    CardsError::ChannelUnavailable(
                        "no email address is registered for you: use SMS, a sponsor or the RA".into(),
                    )
                })?;
                let domain = email.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
                if !cfg.email_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
                    return Err(CardsError::ChannelUnavailable(format!(
                        "codes are not sent to {domain} addresses (allowed: {}): use SMS, a sponsor or the RA",
                        cfg.email_domains.join(", ")
                    )));
                }
                (email, cfg.mailer.clone())
            }
            Channel::Sms => (
                user.mobile.clone().ok_or_else(|| {
                    CardsError::ChannelUnavailable(
                        "no mobile number is registered for you: use email, a sponsor or the RA".into(),
                    )
                })?,
                cfg.texter.clone(),
            ),
            Channel::Voice => {
                let l = user.landline.clone().filter(|_| user.landline_voice).ok_or_else(|| {
                    CardsError::ChannelUnavailable(
                        "your landline is not registered as able to take text-to-voice calls: use email, SMS, a sponsor or the RA"
                            .into(),
                    )
                })?;
                (l, cfg.texter.clone())
            }
        };
        let messenger = messenger.ok_or_else(|| {
            CardsError::ChannelUnavailable(format!(
                "this service cannot send {} messages: use another way",
                channel.as_str()
            ))
        })?;
        let n = u32::from_be_bytes(pki::random_bytes::<4>().map_err(|e| CardsError::Internal(e.to_string()))?);
        let code = format!("{:08}", n % 100_000_000);
        let salt_bytes: [u8; 16] = pki::random_bytes().map_err(|e| CardsError::Internal(e.to_string()))?;
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| CardsError::Internal(e.to_string()))?;
        let hash = Argon2::default()
            .hash_password(code.as_bytes(), &salt)
            .map_err(|e| CardsError::Internal(e.to_string()))?
            .to_string();
        let now = self.now();
        let minutes = cfg.code_validity.as_secs() / 60;
        let ev = self.event(
            &format!("user:{}", user.uid),
            "card.unlock_code_sent",
            &format!("card:{serial}"),
            serde_json::json!({"channel": channel.as_str(), "to": mask(&to)}),
        );
        self.store()
            .insert_unlock_code(serial, channel.as_str(), &hash, now, now + cfg.code_validity.as_secs() as i64, ev)
            .await?;
        let text = format!(
            "Your carecert card unlock code is {code}. It is valid for {minutes} minutes and can be used once. If you did not ask for it, call {}.",
            cfg.helpdesk
        );
        messenger.send(channel, &to, "carecert card unlock code", &text).await?;
        Ok(mask(&to))
    }

    /// Unlocks with a one-time code (10 minutes, single use, 3 tries).
    pub async fn unlock_with_code(&self, serial: &str, code: &str) -> Result<Unlocked, CardsError> {
        let card = self.card(serial).await?;
        if card.status == CardStatus::Cancelled {
            return Err(CardsError::Cancelled(serial.into()));
        }
        let refused = |m: &str| CardsError::CodeRefused(format!("{m}: ask for a new code, or use a sponsor or the RA"));
        let c =
            self.store().latest_unlock_code(serial).await?.ok_or_else(|| refused("no code was sent for this card"))?;
        let now = self.now();
        if c.used_at.is_some() {
            return Err(refused("this code was used already"));
        }
        if now >= c.expires_at {
            return Err(refused("this code has expired"));
        }
        if c.tries >= self.inner.config.code_tries {
            return Err(refused("too many wrong codes"));
        }
        let typed = code.trim().to_string();
        let h = c.code_hash.clone();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&h)
                .map(|p| Argon2::default().verify_password(typed.as_bytes(), &p).is_ok())
                .unwrap_or(false)
        })
        .await
        .map_err(|e| CardsError::Internal(e.to_string()))?;
        if !ok {
            let ev = self.event(
                &format!("card:{serial}"),
                "card.unlock_code_wrong",
                &format!("card:{serial}"),
                serde_json::json!({}),
            );
            let tries = self.store().count_wrong_code(c.id, ev).await?;
            let left = (self.inner.config.code_tries - tries).max(0);
            return Err(CardsError::CodeRefused(if left > 0 {
                format!("the code is not right: {left} {} left", if left == 1 { "try" } else { "tries" })
            } else {
                "the code is not right and no tries are left: ask for a new code, or use a sponsor or the RA".into()
            }));
        }
        let ev = self.event(
            &format!("card:{serial}"),
            "card.unlocked",
            &format!("card:{serial}"),
            serde_json::json!({"by": c.channel}),
        );
        if !self.store().use_unlock_code(c.id, serial, now, &[ev]).await? {
            return Err(refused("this code was used already"));
        }
        self.release_so_pin(&card)
    }

    fn release_so_pin(&self, card: &Card) -> Result<Unlocked, CardsError> {
        let pin = self
            .inner
            .seal
            .open(&card.so_pin_sealed, &format!("card:{}", card.serial))
            .map_err(|e| CardsError::Internal(format!("the card's SO PIN cannot be opened: {e}")))?;
        Ok(Unlocked {
            card_serial: card.serial.clone(),
            so_pin: String::from_utf8(pin).map_err(|_| CardsError::Internal("SO PIN is not text".into()))?,
        })
    }

    /// A random 256-bit value in hex.
    fn random_hex() -> Result<String, CardsError> {
        Ok(hex::encode(pki::random_bytes::<32>().map_err(|e| CardsError::Internal(e.to_string()))?))
    }

    /// Stores a single-use challenge for `purpose`, valid `seconds`.
    async fn new_challenge(&self, serial: &str, purpose: &str, seconds: i64) -> Result<String, CardsError> {
        let nonce = Self::random_hex()?;
        let now = self.now();
        self.store().insert_challenge(&nonce, serial, purpose, now, now + seconds).await?;
        Ok(nonce)
    }

    /// Opens a card session (only the token's SHA-256 is stored), valid `seconds`.
    async fn new_session(&self, serial: &str, seconds: i64) -> Result<String, CardsError> {
        let token = Self::random_hex()?;
        let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
        let now = self.now();
        self.store().insert_challenge(&key, serial, "card-session", now, now + seconds).await?;
        Ok(token)
    }

    /// A challenge for a sponsor's card to sign (valid 2 minutes, single use).
    pub async fn sponsor_challenge(&self, serial: &str) -> Result<String, CardsError> {
        self.card(serial).await?;
        self.new_challenge(serial, "sponsor-unlock", 120).await
    }

    /// A sponsor unlocks a card: the sponsor's card signed the challenge with its
    /// authentication key; its certificate must be current and unrevoked, and the sponsor
    /// must hold unlock authority for the card holder's organisation.
    pub async fn sponsor_unlock(
        &self,
        serial: &str,
        nonce: &str,
        sponsor_cert_der: &[u8],
        signature: &[u8],
    ) -> Result<Unlocked, CardsError> {
        let card = self.card(serial).await?;
        if card.status == CardStatus::Cancelled {
            return Err(CardsError::Cancelled(serial.into()));
        }
        let refused = |m: String| CardsError::SponsorRefused(m);
        let now = self.now();
        let target = self.store().use_challenge(nonce, "sponsor-unlock", now).await?;
        if target.as_deref() != Some(serial) {
            return Err(refused("the challenge is unknown, used or expired: start the sponsor unlock again".into()));
        }
        let info = CertificateInfo::parse(sponsor_cert_der)
            .map_err(|e| refused(format!("the sponsor's certificate cannot be read: {e}")))?;
        let rec = self
            .store()
            .certificate(&self.inner.config.issuing_ca, &info.serial)
            .await?
            .filter(|r| r.der.as_deref() == Some(sponsor_cert_der) && r.profile == Profile::CardAuth.name())
            .ok_or_else(|| refused("the sponsor's card certificate was not issued by this service".into()))?;
        if !matches!(rec.status, store::CertStatus::Issued) || now >= rec.not_after {
            return Err(refused("the sponsor's card certificate is revoked or expired".into()));
        }
        pki::verify_signature(&info.spki_der, nonce.as_bytes(), signature)
            .map_err(|_| refused("the sponsor's signature does not verify: use the sponsor's own card".into()))?;
        let sponsor_card = self
            .store()
            .card_by_certificate(&info.serial)
            .await?
            .ok_or_else(|| refused("the sponsor's card is not registered".into()))?;
        self.usable(&sponsor_card).map_err(|e| refused(format!("the sponsor's card cannot be used: {e}")))?;
        if sponsor_card.serial == serial {
            return Err(refused("a card cannot unlock itself".into()));
        }
        let holder = self.user(&card.uid).await?;
        if !self.store().is_sponsor(&sponsor_card.uid, &holder.organisation).await? {
            return Err(refused(format!(
                "user {} has no unlock authority for organisation {}: ask the RA",
                sponsor_card.uid, holder.organisation
            )));
        }
        let change = CardChange { status: Some(CardStatus::Active), failed_passcodes: Some(0), ..Default::default() };
        let ev = self.event(
            &format!("user:{}", sponsor_card.uid),
            "card.unlocked",
            &format!("card:{serial}"),
            serde_json::json!({"by": "sponsor", "sponsor": sponsor_card.uid}),
        );
        self.store().update_card(serial, &[CardStatus::Active, CardStatus::Locked], &change, None, &[ev]).await?;
        self.release_so_pin(&card)
    }

    /// The RA unlocks a card face to face.
    pub async fn ra_unlock(&self, serial: &str, ra: &str, documents: &str) -> Result<Unlocked, CardsError> {
        let card = self.card(serial).await?;
        if card.status == CardStatus::Cancelled {
            return Err(CardsError::Cancelled(serial.into()));
        }
        let now = self.now();
        let check = IdentityCheck {
            uid: card.uid.clone(),
            card_serial: Some(serial.into()),
            purpose: "unlock".into(),
            checked_by: ra.into(),
            documents: documents.into(),
            checked_at: now,
        };
        let change = CardChange { status: Some(CardStatus::Active), failed_passcodes: Some(0), ..Default::default() };
        let ev = self.event(
            ra,
            "card.unlocked",
            &format!("card:{serial}"),
            serde_json::json!({"by": "ra", "documents": documents}),
        );
        self.store()
            .update_card(serial, &[CardStatus::Active, CardStatus::Locked], &change, Some(&check), &[ev])
            .await?;
        self.release_so_pin(&card)
    }

    /// Grants a user unlock authority for an organisation (RA).
    pub async fn grant_sponsor(&self, uid: &str, organisation: &str, ra: &str) -> Result<(), CardsError> {
        self.user(uid).await?;
        let ev = self.event(
            ra,
            "sponsor.granted",
            &format!("user:{uid}"),
            serde_json::json!({"organisation": organisation}),
        );
        self.store().grant_sponsor(uid, organisation, ra, self.now(), ev).await?;
        Ok(())
    }

    // ---------------------------------------------------------------- renewal

    /// Starts a renewal attempt after checking every rule; aborts (and revokes what they
    /// issued) any attempt of this card left unfinished by a crash. Returns its id.
    pub async fn begin_renewal(
        &self,
        serial: &str,
        agent_version: &str,
        kind: &RenewalKind,
    ) -> Result<i64, CardsError> {
        let card = self.card(serial).await?;
        self.check_agent(&card.batch, agent_version).await?;
        self.usable(&card)?;
        let cfg = &self.inner.config;
        let now = self.now();
        let not_after = card.not_after.unwrap_or(0);
        if let RenewalKind::Remote = kind {
            if now >= not_after {
                return Err(CardsError::NeedsRa(format!(
                    "the certificates on card {serial} expired on {}: only the RA can renew them, in person",
                    date(not_after)
                )));
            }
            let opens = not_after - cfg.renewal_window.as_secs() as i64;
            if now < opens {
                return Err(CardsError::RenewalNotYet {
                    days_before: cfg.renewal_window.as_secs() as i64 / 86_400,
                    opens: date(opens),
                });
            }
            if card.remote_renewals >= cfg.max_remote_renewals {
                return Err(CardsError::NeedsRa(format!(
                    "card {serial} has been renewed remotely {} times: this renewal needs an identity check by the RA, in person",
                    card.remote_renewals
                )));
            }
        }
        for stale in self.store().open_renewals(serial).await? {
            self.abort_renewal(stale.id, "superseded by a new attempt").await?;
        }
        let kind_s = match kind {
            RenewalKind::Remote => "remote",
            RenewalKind::Ra { .. } => "ra",
        };
        let actor = match kind {
            RenewalKind::Remote => format!("user:{}", card.uid),
            RenewalKind::Ra { ra, .. } => ra.clone(),
        };
        let ev =
            self.event(&actor, "card.renewal_started", &format!("card:{serial}"), serde_json::json!({"kind": kind_s}));
        Ok(self.store().start_renewal(serial, kind_s, now, ev).await?)
    }

    /// Issues one of the two new certificates of a renewal attempt (the CSR was made on
    /// the card with a new key).
    pub async fn renew_certificate(
        &self,
        renewal_id: i64,
        role: CardKeyRole,
        csr: &[u8],
    ) -> Result<Issued, CardsError> {
        let r = self
            .store()
            .renewal(renewal_id)
            .await?
            .ok_or_else(|| CardsError::RenewalRefused(format!("renewal {renewal_id} is unknown")))?;
        if r.status != "started" {
            return Err(CardsError::RenewalRefused(format!("renewal {renewal_id} is {}: start a new one", r.status)));
        }
        let already = match role {
            CardKeyRole::Auth => &r.new_auth_serial,
            CardKeyRole::Sign => &r.new_sign_serial,
        };
        if already.is_some() {
            return Err(CardsError::RenewalRefused(format!(
                "renewal {renewal_id} already has its {role:?} certificate"
            )));
        }
        let card = self.card(&r.card_serial).await?;
        self.usable(&card)?;
        let user = self.user(&card.uid).await?;
        let issued = self.issue_role(&user, role, csr.to_vec(), &format!("user:{}", user.uid)).await?;
        if !self.store().renewal_certificate(renewal_id, role == CardKeyRole::Auth, &issued.serial).await? {
            self.revoke_quietly(&issued.serial, RevocationReason::CessationOfOperation, "system").await;
            return Err(CardsError::RenewalRefused(format!("renewal {renewal_id} ended meanwhile: start a new one")));
        }
        Ok(issued)
    }

    /// Completes a renewal once both new certificates are on the card: the card record
    /// takes them, the old ones are revoked (superseded), the remote count moves.
    pub async fn complete_renewal(&self, renewal_id: i64, documents: Option<&str>) -> Result<Card, CardsError> {
        let r = self
            .store()
            .renewal(renewal_id)
            .await?
            .ok_or_else(|| CardsError::RenewalRefused(format!("renewal {renewal_id} is unknown")))?;
        let (Some(auth), Some(sign)) = (r.new_auth_serial.clone(), r.new_sign_serial.clone()) else {
            return Err(CardsError::RenewalRefused(format!(
                "renewal {renewal_id} does not have both certificates yet"
            )));
        };
        let card = self.card(&r.card_serial).await?;
        let not_after = {
            let a = self.store().certificate(&self.inner.config.issuing_ca, &auth).await?.map(|c| c.not_after);
            let s = self.store().certificate(&self.inner.config.issuing_ca, &sign).await?.map(|c| c.not_after);
            a.unwrap_or(0).min(s.unwrap_or(0))
        };
        let now = self.now();
        let ra = r.kind == "ra";
        let change = CardChange {
            certificates: Some((auth.clone(), sign.clone(), not_after)),
            remote_renewals: Some(if ra { 0 } else { card.remote_renewals + 1 }),
            identity_checked: ra.then(|| (now, "ra".to_string())),
            ..Default::default()
        };
        let check = ra.then(|| IdentityCheck {
            uid: card.uid.clone(),
            card_serial: Some(card.serial.clone()),
            purpose: "renew".into(),
            checked_by: "ra".into(),
            documents: documents.unwrap_or("").into(),
            checked_at: now,
        });
        let ev = self.event(
            &format!("user:{}", card.uid),
            "card.renewed",
            &format!("card:{}", card.serial),
            serde_json::json!({"kind": r.kind, "auth": auth, "sign": sign, "old_auth": card.auth_serial, "old_sign": card.sign_serial}),
        );
        if !self
            .store()
            .finish_renewal(renewal_id, "done", "", now, Some((&card.serial, &change, check.as_ref())), &[ev])
            .await?
        {
            return Err(CardsError::RenewalRefused(format!(
                "renewal {renewal_id} was aborted meanwhile: start a new one"
            )));
        }
        for old in [&card.auth_serial, &card.sign_serial].into_iter().flatten() {
            self.revoke_quietly(old, RevocationReason::Superseded, "system").await;
        }
        self.card(&card.serial).await
    }

    /// Aborts a renewal: every certificate it issued is revoked, the card keeps its old
    /// certificates and its remote count.
    pub async fn abort_renewal(&self, renewal_id: i64, why: &str) -> Result<(), CardsError> {
        let r = self
            .store()
            .renewal(renewal_id)
            .await?
            .ok_or_else(|| CardsError::RenewalRefused(format!("renewal {renewal_id} is unknown")))?;
        if r.status != "started" {
            return Ok(());
        }
        let ev = self.event(
            "system",
            "card.renewal_aborted",
            &format!("card:{}", r.card_serial),
            serde_json::json!({"renewal": renewal_id, "why": why, "revoked": [r.new_auth_serial, r.new_sign_serial]}),
        );
        self.store().finish_renewal(renewal_id, "aborted", why, self.now(), None, &[ev]).await?;
        // Read again: a certificate recorded between the first read and the abort is revoked too.
        let r = self.store().renewal(renewal_id).await?.unwrap_or(r);
        for s in [&r.new_auth_serial, &r.new_sign_serial].into_iter().flatten() {
            self.revoke_quietly(s, RevocationReason::CessationOfOperation, "system").await;
        }
        Ok(())
    }

    /// RA cancels a card: both certificates revoked.
    pub async fn cancel_card(&self, serial: &str, ra: &str, reason: RevocationReason) -> Result<(), CardsError> {
        let card = self.card(serial).await?;
        let change = CardChange { status: Some(CardStatus::Cancelled), ..Default::default() };
        let ev =
            self.event(ra, "card.cancelled", &format!("card:{serial}"), serde_json::json!({"reason": reason.name()}));
        if !self.store().update_card(serial, &[CardStatus::Active, CardStatus::Locked], &change, None, &[ev]).await? {
            return Err(CardsError::Cancelled(serial.into()));
        }
        for s in [&card.auth_serial, &card.sign_serial].into_iter().flatten() {
            self.revoke_quietly(s, reason, ra).await;
        }
        for open in self.store().open_renewals(serial).await? {
            self.abort_renewal(open.id, "card cancelled").await?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- card sessions

    /// A challenge for the card itself to sign after its passcode was entered (2 minutes).
    pub async fn login_challenge(&self, serial: &str) -> Result<String, CardsError> {
        let card = self.card(serial).await?;
        self.usable(&card)?;
        self.new_challenge(serial, "card-login", 120).await
    }

    /// The card proved itself (passcode entered, challenge signed with its authentication
    /// key): the wrong-passcode count starts again and a session token (8 hours) is returned
    /// with the card's view (which announces a coming expiry).
    pub async fn open_session(
        &self,
        serial: &str,
        nonce: &str,
        signature: &[u8],
        agent_version: &str,
    ) -> Result<(String, CardView), CardsError> {
        let card = self.card(serial).await?;
        self.check_agent(&card.batch, agent_version).await?;
        self.usable(&card)?;
        let now = self.now();
        if self.store().use_challenge(nonce, "card-login", now).await?.as_deref() != Some(serial) {
            return Err(CardsError::BadInput("the challenge is unknown, used or expired: log in again".into()));
        }
        let auth = card.auth_serial.clone().ok_or_else(|| CardsError::Internal("card without certificate".into()))?;
        let rec = self
            .store()
            .certificate(&self.inner.config.issuing_ca, &auth)
            .await?
            .and_then(|r| r.der)
            .ok_or_else(|| CardsError::Internal(format!("certificate {auth} is missing")))?;
        let info = CertificateInfo::parse(&rec).map_err(|e| CardsError::Internal(e.to_string()))?;
        pki::verify_signature(&info.spki_der, nonce.as_bytes(), signature).map_err(|_| {
            CardsError::BadInput("the card's signature does not verify: is this the right card?".into())
        })?;
        self.passcode_ok(serial).await?;
        let token = self.new_session(serial, 8 * 3600).await?;
        let ev = self.event(
            &format!("card:{serial}"),
            "card.login",
            &format!("card:{serial}"),
            serde_json::json!({"agent": agent_version}),
        );
        self.store().record(&[ev]).await?;
        Ok((token, self.view(serial).await?))
    }

    /// A card session opened by the RA (face to face, already authenticated) for an RA renewal.
    pub async fn ra_session(&self, serial: &str) -> Result<String, CardsError> {
        self.card(serial).await?;
        self.new_session(serial, 3600).await
    }

    /// The card a session token belongs to.
    pub async fn session_card(&self, token: &str) -> Result<String, CardsError> {
        let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
        self.store()
            .peek_challenge(&key, "card-session", self.now())
            .await?
            .ok_or_else(|| CardsError::BadInput("the card session has ended: log in with the card again".into()))
    }

    /// The holder's UID of a card that may log in to a relying party now: the card is
    /// active, and its authentication certificate is issued by this environment's CA,
    /// unrevoked and within its validity.
    pub async fn login_identity(&self, serial: &str) -> Result<String, CardsError> {
        let card = self.card(serial).await?;
        self.usable(&card)?;
        let auth = card.auth_serial.clone().ok_or_else(|| CardsError::Internal("card without certificate".into()))?;
        let rec = self
            .store()
            .certificate(&self.inner.config.issuing_ca, &auth)
            .await?
            .ok_or_else(|| CardsError::UnknownCard(serial.into()))?;
        match rec.status {
            store::CertStatus::Issued => {}
            _ => {
                return Err(CardsError::NeedsRa(format!(
                    "the certificate on card {serial} is revoked: ask the RA for a new card"
                )));
            }
        }
        if self.now() >= rec.not_after {
            return Err(CardsError::NeedsRa(format!(
                "the certificates on card {serial} have expired: renew them at the RA"
            )));
        }
        Ok(card.uid)
    }

    /// The card whose current authentication certificate is `leaf_der` (a browser that holds
    /// the card's certificate presented it in the TLS handshake), checked like
    /// [`Cards::login_identity`]. Returns (card serial, holder UID).
    pub async fn card_for_certificate(&self, leaf_der: &[u8]) -> Result<(String, String), CardsError> {
        let info = CertificateInfo::parse(leaf_der)
            .map_err(|e| CardsError::BadInput(format!("the certificate cannot be read: {e}")))?;
        let card = self
            .store()
            .card_by_certificate(&info.serial)
            .await?
            .filter(|c| c.auth_serial.as_deref() == Some(info.serial.as_str()))
            .ok_or_else(|| CardsError::UnknownCard(format!("with certificate {}", info.serial)))?;
        let stored = self.store().certificate(&self.inner.config.issuing_ca, &info.serial).await?.and_then(|r| r.der);
        if stored.as_deref() != Some(leaf_der) {
            return Err(CardsError::UnknownCard(format!("with certificate {}", info.serial)));
        }
        let uid = self.login_identity(&card.serial).await?;
        Ok((card.serial, uid))
    }

    /// The card a renewal attempt belongs to.
    pub async fn renewal_card(&self, renewal_id: i64) -> Result<String, CardsError> {
        Ok(self
            .store()
            .renewal(renewal_id)
            .await?
            .ok_or_else(|| CardsError::RenewalRefused(format!("renewal {renewal_id} is unknown")))?
            .card_serial)
    }

    /// Checks a new passcode against the 6–8 digit rule.
    pub fn check_passcode(&self, passcode: &str) -> Result<(), CardsError> {
        check_passcode_rule(passcode)
    }
}

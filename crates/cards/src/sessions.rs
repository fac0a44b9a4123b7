//! The passcode count, challenges, card sessions and who a card logs in as.
//!
//! Locking (issue 10): a login challenge is issued to a [`Source`] at a limited rate; a
//! wrong-passcode report must name an unused challenge issued to the same source, and uses
//! it. Reports from an enrolled workstation (mutual TLS) count toward the lock; any other
//! report only slows that source down for that card (exponential back-off). The card's own
//! PIN counter, when the token has one, is reported by the agent and followed.

use std::net::IpAddr;
use std::time::Duration;

use pki::CertificateInfo;
use store::{CardChange, CardStatus};

use crate::CardsError;
use crate::error::{InputProblem, RaNeeded, Throttle};
use crate::lifecycle::CardView;
use crate::service::Cards;

fn check_passcode_rule(p: &str) -> Result<(), CardsError> {
    if (6..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CardsError::BadPasscode)
    }
}

/// Who asks for a login challenge or reports a wrong passcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An enrolled workstation, identified over mutual TLS by its machine certificate: the
    /// certificate's serial.
    Workstation(String),
    /// Anyone else, by network address (IPv6 by its /64 prefix).
    Address(IpAddr),
}

impl Source {
    /// The text the limits and challenges are keyed by.
    pub fn key(&self) -> String {
        match self {
            Source::Workstation(serial) => format!("cert:{serial}"),
            Source::Address(ip) => match ip {
                IpAddr::V4(v4) => format!("ip:{v4}"),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => format!("ip:{v4}"),
                    None => {
                        let s = v6.segments();
                        format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                    }
                },
            },
        }
    }

    /// Reports from this source count toward the card's lock.
    pub fn verified(&self) -> bool {
        matches!(self, Source::Workstation(_))
    }
}

/// The token's own PIN-counter flags, as the agent read them from `C_GetTokenInfo`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TokenFlags {
    /// CKF_USER_PIN_COUNT_LOW: a wrong passcode was counted since the last right one.
    pub count_low: bool,
    /// CKF_USER_PIN_FINAL_TRY: one more wrong passcode locks the card.
    pub final_try: bool,
    /// CKF_USER_PIN_LOCKED: the card has locked its passcode.
    pub locked: bool,
}

impl TokenFlags {
    fn text(&self) -> String {
        let mut v = vec![];
        for (on, name) in [(self.count_low, "count_low"), (self.final_try, "final_try"), (self.locked, "locked")] {
            if on {
                v.push(name);
            }
        }
        v.join(",")
    }
}

/// What a wrong-passcode report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasscodeFailure {
    /// Counted toward the lock (an enrolled workstation reported it): tries left.
    Counted {
        /// Tries left before the card locks.
        left: i64,
    },
    /// The card is now locked.
    Locked,
    /// Not counted (the workstation is not enrolled): this source's next challenge for this
    /// card waits this long.
    Throttled {
        /// The back-off.
        retry_after: Duration,
    },
}

impl PasscodeFailure {
    /// What to tell the person at the keyboard.
    pub fn message(&self, serial: &str) -> String {
        match self {
            PasscodeFailure::Counted { left } => CardsError::WrongPasscode { left: *left }.to_string(),
            PasscodeFailure::Locked => CardsError::Locked(serial.into()).to_string(),
            PasscodeFailure::Throttled { retry_after } => format!(
                "wrong passcode. This workstation is not enrolled, so the card is not locked, but tries from here are slowed down: wait {} seconds before the next one",
                retry_after.as_secs().max(1)
            ),
        }
    }
}

/// What anyone may learn about a card before logging in: whether it can be used.
#[derive(Debug, Clone)]
pub struct CardState {
    /// The card.
    pub serial: String,
    /// Active, locked or cancelled.
    pub status: CardStatus,
    /// What to do, for a person (no holder, tries or dates).
    pub message: String,
}

impl Cards {
    // ---------------------------------------------------------------- passcode lock

    /// What the agent needs before a login: whether the card can be used. Nothing about the
    /// holder, the passcode count or the certificates (that needs a card session).
    pub async fn state(&self, serial: &str) -> Result<CardState, CardsError> {
        let card = self.card(serial).await?;
        let message = match card.status {
            CardStatus::Active => format!("card {serial} can be used: log in with its passcode"),
            CardStatus::Locked => CardsError::Locked(serial.into()).to_string(),
            CardStatus::Cancelled => CardsError::Cancelled(serial.into()).to_string(),
        };
        Ok(CardState { serial: card.serial, status: card.status, message })
    }

    fn backoff(&self, failures: i64) -> i64 {
        let l = &self.inner.config.limits;
        let base = i64::try_from(l.backoff_base.as_millis()).unwrap_or(i64::MAX / 4);
        let max = i64::try_from(l.backoff_max.as_millis()).unwrap_or(i64::MAX / 4);
        let shift = u32::try_from((failures - 1).clamp(0, 30)).unwrap_or(30);
        base.saturating_mul(1_i64 << shift).min(max)
    }

    /// The agent reports a wrong passcode, naming the login challenge it was given for this
    /// card (which is used up). From an enrolled workstation it counts toward the lock (the
    /// `max_wrong_passcodes`-th in a row locks; a token that says it locked itself locks the
    /// card at once); from anyone else it only backs off that source's next challenge.
    pub async fn passcode_failed(
        &self,
        serial: &str,
        nonce: &str,
        source: &Source,
        flags: Option<TokenFlags>,
    ) -> Result<PasscodeFailure, CardsError> {
        let card = self.card(serial).await?;
        self.usable(&card)?;
        let src = source.key();
        if !self.store().consume_login_challenge(nonce, serial, &src, self.now()).await? {
            return Err(CardsError::BadInput(InputProblem::FailureChallenge));
        }
        let Source::Workstation(workstation) = source else {
            let (failures, until) = self
                .store()
                .add_backoff(&format!("pair:{serial}|{src}"), serial, self.now_ms(), |n| self.backoff(n))
                .await?;
            tracing::info!(card = serial, source = %src, failures, "unverified wrong passcode: source backed off");
            let ms = u64::try_from(until - self.now_ms()).unwrap_or(0);
            return Ok(PasscodeFailure::Throttled { retry_after: Duration::from_millis(ms) });
        };
        let actor = format!("card:{serial}");
        if let Some(f) = flags {
            self.store().set_token_flags(serial, &f.text()).await?;
            if f.locked {
                let change = CardChange { status: Some(CardStatus::Locked), ..Default::default() };
                let ev = self.event(
                    "system",
                    "card.locked",
                    &actor,
                    serde_json::json!({"by": "token", "workstation": workstation}),
                );
                self.store().update_card(serial, &[CardStatus::Active], &change, None, &[ev]).await?;
                return Ok(PasscodeFailure::Locked);
            }
        }
        let ev = self.event(&actor, "card.passcode_wrong", &actor, serde_json::json!({"workstation": workstation}));
        let after = self.store().count_wrong_passcode(serial, self.inner.config.max_wrong_passcodes, &[ev]).await?;
        Ok(match after.status {
            CardStatus::Locked => PasscodeFailure::Locked,
            _ => PasscodeFailure::Counted {
                left: (self.inner.config.max_wrong_passcodes - after.failed_passcodes).max(0),
            },
        })
    }

    /// The agent reports a right passcode: the count starts again, and every source's
    /// back-off for this card ends. Refused for a locked card (the lock holds even if the
    /// token itself does not count).
    pub async fn passcode_ok(&self, serial: &str) -> Result<(), CardsError> {
        let card = self.card(serial).await?;
        self.usable(&card)?;
        if card.failed_passcodes > 0 {
            let change = CardChange { failed_passcodes: Some(0), ..Default::default() };
            self.store().update_card(serial, &[CardStatus::Active], &change, None, &[]).await?;
        }
        self.store().reset_limits(serial, "pair:").await?;
        Ok(())
    }

    /// A random 256-bit value in hex.
    pub(crate) fn random_hex() -> Result<String, CardsError> {
        Ok(hex::encode(pki::random_bytes::<32>().map_err(|e| CardsError::Internal(e.to_string()))?))
    }

    /// Stores a single-use challenge for `purpose`, valid `seconds`.
    pub(crate) async fn new_challenge(&self, serial: &str, purpose: &str, seconds: i64) -> Result<String, CardsError> {
        let nonce = Self::random_hex()?;
        let now = self.now();
        self.store().insert_challenge(&nonce, serial, purpose, now, now + seconds).await?;
        Ok(nonce)
    }

    /// Opens a card session (only the token's SHA-256 is stored), valid `seconds`.
    pub(crate) async fn new_session(&self, serial: &str, seconds: i64) -> Result<String, CardsError> {
        let token = Self::random_hex()?;
        let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
        let now = self.now();
        self.store().insert_challenge(&key, serial, "card-session", now, now + seconds).await?;
        Ok(token)
    }

    // ---------------------------------------------------------------- card sessions

    /// A challenge for the card itself to sign after its passcode was entered (2 minutes),
    /// issued to `source` at a limited rate: per card and source, per card from unenrolled
    /// sources together, and per source; a source backed off after a wrong passcode waits.
    pub async fn login_challenge(&self, serial: &str, source: &Source) -> Result<String, CardsError> {
        let l = &self.inner.config.limits;
        let src = source.key();
        let mut limits = vec![l.challenges_per_card_source.row(format!("pair:{serial}|{src}"), Some(serial))];
        let mut what = vec![Throttle::CardFromSource];
        if !source.verified() {
            limits.push(l.challenges_per_card.row(format!("card:{serial}"), Some(serial)));
            what.push(Throttle::Card);
        }
        limits.push(l.challenges_per_source.row(format!("source:{src}"), None));
        what.push(Throttle::Source);
        if let Some(r) = self.store().take_limits(&limits, self.now_ms()).await? {
            let what =
                if r.blocked { Throttle::Backoff } else { what.get(r.index).copied().unwrap_or(Throttle::Source) };
            let ms = u64::try_from(r.wait_ms).unwrap_or(1000);
            return Err(CardsError::Throttled { what, retry_after: Duration::from_millis(ms) });
        }
        let card = self.card(serial).await?;
        self.usable(&card)?;
        let nonce = Self::random_hex()?;
        let now = self.now();
        self.store().insert_login_challenge(&nonce, serial, &src, now, now + 120).await?;
        Ok(nonce)
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
        flags: Option<TokenFlags>,
    ) -> Result<(String, CardView), CardsError> {
        let card = self.card(serial).await?;
        self.check_agent(&card.batch, agent_version).await?;
        self.usable(&card)?;
        let now = self.now();
        if self.store().use_challenge(nonce, "card-login", now).await?.as_deref() != Some(serial) {
            return Err(CardsError::BadInput(InputProblem::Challenge));
        }
        let auth = card.auth_serial.clone().ok_or_else(|| CardsError::Internal("card without certificate".into()))?;
        let record = self
            .store()
            .certificate(&self.inner.config.issuing_ca, &auth)
            .await?
            .ok_or_else(|| CardsError::Internal(format!("certificate {auth} is missing")))?;
        // A card whose authentication certificate was revoked (e.g. keyCompromise from the
        // certificates page) or has expired opens no session: no tickets, no unlock codes, no
        // remote renewal. The RA renews or replaces it face to face.
        if !matches!(record.status, store::CertStatus::Issued) {
            return Err(CardsError::NeedsRa(RaNeeded::Revoked { serial: serial.into() }));
        }
        if now >= record.not_after {
            return Err(CardsError::NeedsRa(RaNeeded::Expired { serial: serial.into() }));
        }
        let rec = record.der.ok_or_else(|| CardsError::Internal(format!("certificate {auth} is missing")))?;
        let info = CertificateInfo::parse(&rec).map_err(|e| CardsError::Internal(e.to_string()))?;
        pki::verify_signature(&info.spki_der, nonce.as_bytes(), signature)
            .map_err(|_| CardsError::BadInput(InputProblem::CardSignature))?;
        if let Some(f) = flags {
            self.follow_token(&card, f).await?;
        }
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

    /// The card's own PIN counter, read by the agent before the passcode it has just proved:
    /// the card's authority. A card that says it is locked is locked here too; a card on its
    /// final try after wrong passcodes carecert never saw reported (someone tried passcodes
    /// around the agent) is locked, so an unlock (code, sponsor, RA) is needed.
    async fn follow_token(&self, card: &store::Card, f: TokenFlags) -> Result<(), CardsError> {
        let serial = &card.serial;
        self.store().set_token_flags(serial, &f.text()).await?;
        if !(f.locked || f.final_try) {
            return Ok(());
        }
        let seen = card.failed_passcodes + self.store().card_backoff_failures(serial).await?;
        let unseen = f.final_try && seen < self.inner.config.max_wrong_passcodes - 1;
        let actor = format!("card:{serial}");
        if f.locked || unseen {
            let change = CardChange { status: Some(CardStatus::Locked), ..Default::default() };
            let ev = self.event(
                "system",
                "card.locked",
                &actor,
                serde_json::json!({"by": "token", "flags": f.text(), "failures_seen": seen}),
            );
            self.store().update_card(serial, &[CardStatus::Active], &change, None, &[ev]).await?;
            return Err(CardsError::Locked(serial.clone()));
        }
        Ok(())
    }

    /// A session opened by the RA (face to face, already authenticated) for one RA renewal:
    /// bound to `renewal_id`, it works only on that renewal's certificate, complete and abort
    /// calls — never for portal tickets, presence reports or another renewal (1 hour).
    pub async fn ra_session(&self, serial: &str, renewal_id: i64) -> Result<String, CardsError> {
        self.card(serial).await?;
        let token = Self::random_hex()?;
        let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
        let now = self.now();
        self.store().insert_challenge(&key, serial, &ra_renewal_purpose(renewal_id), now, now + 3600).await?;
        Ok(token)
    }

    /// The card a card-login session token belongs to (a card that proved itself with its
    /// passcode and key). RA renewal tokens are not card logins and are refused here.
    pub async fn session_card(&self, token: &str) -> Result<String, CardsError> {
        let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
        self.store()
            .peek_challenge(&key, "card-session", self.now())
            .await?
            .ok_or_else(|| CardsError::BadInput(InputProblem::SessionEnded))
    }

    /// The card a token may act for on renewal `renewal_id`: a card-login session, or the RA
    /// renewal token made for exactly this renewal.
    pub async fn renewal_session_card(&self, token: &str, renewal_id: i64) -> Result<String, CardsError> {
        let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
        let now = self.now();
        if let Some(serial) = self.store().peek_challenge(&key, "card-session", now).await? {
            return Ok(serial);
        }
        self.store()
            .peek_challenge(&key, &ra_renewal_purpose(renewal_id), now)
            .await?
            .ok_or_else(|| CardsError::BadInput(InputProblem::SessionEnded))
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
                return Err(CardsError::NeedsRa(RaNeeded::Revoked { serial: serial.into() }));
            }
        }
        if self.now() >= rec.not_after {
            return Err(CardsError::NeedsRa(RaNeeded::Expired { serial: serial.into() }));
        }
        Ok(card.uid)
    }

    /// The card whose current authentication certificate is `leaf_der` (a browser that holds
    /// the card's certificate presented it in the TLS handshake), checked like
    /// [`Cards::login_identity`]. Returns (card serial, holder UID).
    pub async fn card_for_certificate(&self, leaf_der: &[u8]) -> Result<(String, String), CardsError> {
        let info = CertificateInfo::parse(leaf_der).map_err(|e| CardsError::BadInput(InputProblem::Certificate(e)))?;
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

    /// Checks a new passcode against the 6–8 digit rule.
    pub fn check_passcode(&self, passcode: &str) -> Result<(), CardsError> {
        check_passcode_rule(passcode)
    }
}

/// The stored purpose of an RA renewal token: bound to one renewal.
fn ra_renewal_purpose(renewal_id: i64) -> String {
    format!("ra-renewal:{renewal_id}")
}

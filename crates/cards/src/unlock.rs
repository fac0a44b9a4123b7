//! Unlock: a one-time code by email or text, a sponsor's card, or the RA face to face.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use pki::{CertificateInfo, Profile};
use store::{Card, CardChange, CardStatus, IdentityCheck};

use crate::CardsError;
use crate::error::{ChannelProblem, CodeProblem, InputProblem, SponsorProblem, Throttle};
use crate::messenger::Channel;
use crate::service::Cards;

/// An unlock that succeeded: the agent may now set a new passcode with the SO PIN.
#[derive(Debug, Clone)]
pub struct Unlocked {
    /// The card.
    pub card_serial: String,
    /// The card's security-officer PIN.
    pub so_pin: String,
    /// A one-time, 10-minute ticket to report the fresh SO PIN the agent sets next
    /// ([`Cards::replace_so_pin`]).
    pub so_pin_ticket: String,
}

/// How long the SO-PIN change ticket of a release lasts.
const SO_PIN_TICKET_SECONDS: i64 = 600;

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
    // ---------------------------------------------------------------- unlock

    /// The card, if it is locked (codes are sent and accepted for locked cards only).
    async fn locked_card(&self, serial: &str) -> Result<Card, CardsError> {
        let card = self.card(serial).await?;
        match card.status {
            CardStatus::Locked => Ok(card),
            CardStatus::Cancelled => Err(CardsError::Cancelled(serial.into())),
            CardStatus::Active => Err(CardsError::NotLocked(serial.into())),
        }
    }

    /// Sends a one-time unlock code by `channel` for a locked card, at a limited rate per
    /// card and per destination. Returns where it went (masked).
    pub async fn send_unlock_code(&self, serial: &str, channel: Channel) -> Result<String, CardsError> {
        let card = self.locked_card(serial).await?;
        let user = self.user(&card.uid).await?;
        let cfg = &self.inner.config;
        let (to, messenger) = match channel {
            Channel::Email => {
                let email = user.email.clone().ok_or(CardsError::ChannelUnavailable(ChannelProblem::NoEmail))?;
                let domain = email.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
                if !cfg.email_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
                    return Err(CardsError::ChannelUnavailable(ChannelProblem::DomainNotAllowed {
                        domain,
                        allowed: cfg.email_domains.join(", "),
                    }));
                }
                (email, cfg.mailer.clone())
            }
            Channel::Sms => (
                user.mobile.clone().ok_or(CardsError::ChannelUnavailable(ChannelProblem::NoMobile))?,
                cfg.texter.clone(),
            ),
            Channel::Voice => {
                let l = user
                    .landline
                    .clone()
                    .filter(|_| user.landline_voice)
                    .ok_or(CardsError::ChannelUnavailable(ChannelProblem::NoVoiceLandline))?;
                (l, cfg.texter.clone())
            }
        };
        let messenger = messenger.ok_or(CardsError::ChannelUnavailable(ChannelProblem::NotConfigured(channel)))?;
        let l = &cfg.limits;
        let dest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(to.to_ascii_lowercase().as_bytes()));
        let limits = [
            l.code_sends_per_card.row(format!("send:{serial}"), None),
            l.code_sends_per_destination.row(format!("dest:{dest}"), None),
        ];
        if let Some(r) = self.store().take_limits(&limits, self.now_ms()).await? {
            let what = if r.index == 0 { Throttle::CodesForCard } else { Throttle::CodesToDestination };
            let ms = u64::try_from(r.wait_ms).unwrap_or(1000);
            return Err(CardsError::Throttled { what, retry_after: std::time::Duration::from_millis(ms) });
        }
        let n = u32::from_be_bytes(pki::random_bytes::<4>().map_err(|e| CardsError::Internal(e.to_string()))?);
        let code = format!("{:08}", n % 100_000_000);
        let salt_bytes: [u8; 16] = pki::random_bytes().map_err(|e| CardsError::Internal(e.to_string()))?;
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| CardsError::Internal(e.to_string()))?;
        // Argon2 is slow on purpose: run it off the async workers, a bounded number at once.
        let secret = code.clone();
        let hash = self
            .argon2(move || Argon2::default().hash_password(secret.as_bytes(), &salt).map(|h| h.to_string()))
            .await?
            .map_err(|e| CardsError::Internal(e.to_string()))?;
        let now = self.now();
        let minutes = cfg.code_validity.as_secs() / 60;
        let ev = self.event(
            &format!("user:{}", user.uid),
            "card.unlock_code_sent",
            &format!("card:{serial}"),
            serde_json::json!({"channel": channel.as_str(), "to": mask(&to)}),
        );
        self.store()
            .insert_unlock_code(
                serial,
                channel.as_str(),
                &hash,
                &mask(&to),
                now,
                now + cfg.code_validity.as_secs() as i64,
                ev,
            )
            .await?;
        let text = format!(
            "Your carecert card unlock code is {code}. It is valid for {minutes} minutes and can be used once. If you did not ask for it, call {}.",
            cfg.helpdesk
        );
        messenger.send(channel, &to, "carecert card unlock code", &text).await?;
        Ok(mask(&to))
    }

    /// Unlocks a locked card with a one-time code (10 minutes, single use, 3 tries). A try
    /// is reserved in the database before the code is checked, so concurrent attempts can
    /// never judge more than the allowed number.
    pub async fn unlock_with_code(&self, serial: &str, code: &str) -> Result<Unlocked, CardsError> {
        let card = self.locked_card(serial).await?;
        let refused = CardsError::CodeRefused;
        let now = self.now();
        let max = self.inner.config.code_tries;
        let Some(c) = self.store().reserve_code_try(serial, max, now).await? else {
            // No try left to take: say why, from the newest code as it is now.
            let c = self.store().latest_unlock_code(serial).await?.ok_or(refused(CodeProblem::NotSent))?;
            return Err(refused(if c.used_at.is_some() {
                CodeProblem::Used
            } else if now >= c.expires_at {
                CodeProblem::Expired
            } else {
                CodeProblem::TooManyTries
            }));
        };
        let typed = code.trim().to_string();
        let h = c.code_hash.clone();
        let ok = self
            .argon2(move || {
                PasswordHash::new(&h)
                    .map(|p| Argon2::default().verify_password(typed.as_bytes(), &p).is_ok())
                    .unwrap_or(false)
            })
            .await?;
        if !ok {
            let ev = self.event(
                &format!("card:{serial}"),
                "card.unlock_code_wrong",
                &format!("card:{serial}"),
                serde_json::json!({"try": c.tries}),
            );
            self.store().record(&[ev]).await?;
            let left = (max - c.tries).max(0);
            return Err(refused(if left > 0 { CodeProblem::Wrong { left } } else { CodeProblem::NoTriesLeft }));
        }
        let ev = self.event(
            &format!("card:{serial}"),
            "card.unlocked",
            &format!("card:{serial}"),
            serde_json::json!({"by": c.channel}),
        );
        if !self.store().use_unlock_code(c.id, serial, now, &[ev]).await? {
            return Err(refused(CodeProblem::Used));
        }
        self.store().reset_limits(serial, "pair:").await?;
        self.release_so_pin(&card).await
    }

    pub(crate) async fn release_so_pin(&self, card: &Card) -> Result<Unlocked, CardsError> {
        let ticket = Self::random_hex()?;
        let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(ticket.as_bytes()));
        let now = self.now();
        self.store().insert_challenge(&key, &card.serial, "so-pin-change", now, now + SO_PIN_TICKET_SECONDS).await?;
        let pin = self
            .inner
            .seal
            .open(&card.so_pin_sealed, &format!("card:{}", card.serial))
            .map_err(|e| CardsError::Internal(format!("the card's SO PIN cannot be opened: {e}")))?;
        Ok(Unlocked {
            card_serial: card.serial.clone(),
            so_pin: String::from_utf8(pin).map_err(|_| CardsError::Internal("SO PIN is not text".into()))?,
            so_pin_ticket: ticket,
        })
    }

    /// After a release, the agent sets a fresh random SO PIN on the card and reports it here
    /// with the release's ticket: it is sealed and stored with its audit entry in one
    /// transaction, so whoever saw the released SO PIN (the RA page, a workstation, a sponsor)
    /// can no longer use it. The ticket works for 10 minutes for this card only, and may be
    /// used again within them (the agent reports the old value back if the card refused the
    /// change, so carecert and the card agree).
    pub async fn replace_so_pin(&self, serial: &str, ticket: &str, new_so_pin: &str) -> Result<(), CardsError> {
        let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(ticket.as_bytes()));
        let now = self.now();
        if self.store().peek_challenge(&key, "so-pin-change", now).await?.as_deref() != Some(serial) {
            return Err(CardsError::BadInput(InputProblem::Challenge));
        }
        if new_so_pin.len() < 8 {
            return Err(CardsError::BadInput(InputProblem::SoPinTooShort));
        }
        if new_so_pin.len() > 64 || !new_so_pin.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CardsError::BadInput(InputProblem::Challenge));
        }
        let card = self.card(serial).await?;
        let sealed = self
            .inner
            .seal
            .seal(new_so_pin.as_bytes(), &format!("card:{serial}"))
            .map_err(|e| CardsError::Internal(e.to_string()))?;
        let change = CardChange { so_pin_sealed: Some(sealed), ..Default::default() };
        let ev = self.event(
            &format!("card:{serial}"),
            "card.so_pin_changed",
            &format!("card:{serial}"),
            serde_json::json!({}),
        );
        let all = [CardStatus::Active, CardStatus::Locked];
        if !self.store().update_card(&card.serial, &all, &change, None, &[ev]).await? {
            return Err(CardsError::Cancelled(serial.into()));
        }
        Ok(())
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
        let refused = CardsError::SponsorRefused;
        let now = self.now();
        let target = self.store().use_challenge(nonce, "sponsor-unlock", now).await?;
        if target.as_deref() != Some(serial) {
            return Err(refused(SponsorProblem::Challenge));
        }
        let info = CertificateInfo::parse(sponsor_cert_der).map_err(|e| refused(SponsorProblem::Unreadable(e)))?;
        let rec = self
            .store()
            .certificate(&self.inner.config.issuing_ca, &info.serial)
            .await?
            .filter(|r| r.der.as_deref() == Some(sponsor_cert_der) && r.profile == Profile::CardAuth.name())
            .ok_or(refused(SponsorProblem::NotIssuedHere))?;
        if !matches!(rec.status, store::CertStatus::Issued) || now >= rec.not_after {
            return Err(refused(SponsorProblem::NotValid));
        }
        pki::verify_signature(&info.spki_der, nonce.as_bytes(), signature)
            .map_err(|_| refused(SponsorProblem::BadSignature))?;
        let sponsor_card =
            self.store().card_by_certificate(&info.serial).await?.ok_or(refused(SponsorProblem::CardUnknown))?;
        self.usable(&sponsor_card).map_err(|e| refused(SponsorProblem::CardUnusable(Box::new(e))))?;
        if sponsor_card.serial == serial {
            return Err(refused(SponsorProblem::SameCard));
        }
        let holder = self.user(&card.uid).await?;
        if !self.store().is_sponsor(&sponsor_card.uid, &holder.organisation).await? {
            return Err(refused(SponsorProblem::NoAuthority {
                uid: sponsor_card.uid,
                organisation: holder.organisation,
            }));
        }
        let change = CardChange { status: Some(CardStatus::Active), failed_passcodes: Some(0), ..Default::default() };
        let ev = self.event(
            &format!("user:{}", sponsor_card.uid),
            "card.unlocked",
            &format!("card:{serial}"),
            serde_json::json!({"by": "sponsor", "sponsor": sponsor_card.uid}),
        );
        self.store().update_card(serial, &[CardStatus::Active, CardStatus::Locked], &change, None, &[ev]).await?;
        self.store().reset_limits(serial, "pair:").await?;
        self.release_so_pin(&card).await
    }

    /// The RA unlocks a card face to face, after checking the holder's identity documents
    /// (which must be recorded).
    pub async fn ra_unlock(&self, serial: &str, ra: &str, documents: &str) -> Result<Unlocked, CardsError> {
        let documents = documents.trim();
        if documents.is_empty() {
            return Err(CardsError::BadInput(InputProblem::NoDocuments));
        }
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
        self.store().reset_limits(serial, "pair:").await?;
        self.release_so_pin(&card).await
    }
}

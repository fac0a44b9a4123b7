//! The passcode count, challenges, card sessions and who a card logs in as.

use pki::CertificateInfo;
use store::{CardChange, CardStatus};

use crate::CardsError;
use crate::error::{InputProblem, RaNeeded};
use crate::lifecycle::CardView;
use crate::service::Cards;

fn check_passcode_rule(p: &str) -> Result<(), CardsError> {
    if (6..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CardsError::BadPasscode)
    }
}

impl Cards {
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
            return Err(CardsError::BadInput(InputProblem::Challenge));
        }
        let auth = card.auth_serial.clone().ok_or_else(|| CardsError::Internal("card without certificate".into()))?;
        let rec = self
            .store()
            .certificate(&self.inner.config.issuing_ca, &auth)
            .await?
            .and_then(|r| r.der)
            .ok_or_else(|| CardsError::Internal(format!("certificate {auth} is missing")))?;
        let info = CertificateInfo::parse(&rec).map_err(|e| CardsError::Internal(e.to_string()))?;
        pki::verify_signature(&info.spki_der, nonce.as_bytes(), signature)
            .map_err(|_| CardsError::BadInput(InputProblem::CardSignature))?;
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

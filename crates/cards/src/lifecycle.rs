//! A card's life: issued face to face, viewed by its holder, cancelled by the RA.

use ca::Issued;
use pki::RevocationReason;
use store::{Card, CardChange, CardStatus, IdentityCheck};

use crate::CardsError;
use crate::error::{ConflictProblem, InputProblem};
use crate::service::{CardKeyRole, Cards};

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

impl Cards {
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

    /// RA issues a card face to face: both certificates from CSRs made on the card, the
    /// identity check recorded, the SO PIN sealed. If anything fails after a certificate
    /// was issued, that certificate is revoked.
    pub async fn issue_card(&self, req: IssueCard) -> Result<IssuedCard, CardsError> {
        let user = self.user(&req.uid).await?;
        self.check_agent(&req.batch, &req.agent_version).await?;
        if req.documents.trim().is_empty() {
            return Err(CardsError::BadInput(InputProblem::NoDocuments));
        }
        if req.so_pin.len() < 8 {
            return Err(CardsError::BadInput(InputProblem::SoPinTooShort));
        }
        if self.store().card(&req.card_serial).await?.is_some() {
            return Err(CardsError::Conflict(ConflictProblem::CardRegistered { serial: req.card_serial.clone() }));
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
            self.abort(open.id, "card cancelled").await?;
        }
        Ok(())
    }
}

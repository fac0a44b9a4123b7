//! Renewal: an attempt that either completes (new certificates on the card, old ones
//! revoked) or is aborted (every certificate it issued revoked).

use ca::Issued;
use pki::RevocationReason;
use store::{Card, CardChange, CardRenewal, CardStatus, IdentityCheck};

use crate::CardsError;
use crate::error::{InputProblem, RaNeeded, RenewalProblem};
use crate::service::{CardKeyRole, Cards};

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

fn date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()))
        .unwrap_or_default()
}

impl Cards {
    /// Starts a renewal attempt after checking every rule; aborts (and revokes what they
    /// issued) any attempt of this card left unfinished by a crash. Returns its id.
    ///
    /// An RA renewal records the RA's identity check (who checked, which documents) when the
    /// attempt starts, face to face; it needs the documents.
    pub async fn begin_renewal(
        &self,
        serial: &str,
        agent_version: &str,
        kind: &RenewalKind,
    ) -> Result<i64, CardsError> {
        if let RenewalKind::Ra { documents, .. } = kind
            && documents.trim().is_empty()
        {
            return Err(CardsError::BadInput(InputProblem::NoDocuments));
        }
        let card = self.card(serial).await?;
        self.check_agent(&card.batch, agent_version).await?;
        self.usable(&card)?;
        let cfg = &self.inner.config;
        let now = self.now();
        let not_after = card.not_after.unwrap_or(0);
        if let RenewalKind::Remote = kind {
            if now >= not_after {
                return Err(CardsError::NeedsRa(RaNeeded::RenewExpired { serial: serial.into(), on: date(not_after) }));
            }
            let opens = not_after - cfg.renewal_window.as_secs() as i64;
            if now < opens {
                return Err(CardsError::RenewalNotYet {
                    days_before: cfg.renewal_window.as_secs() as i64 / 86_400,
                    opens: date(opens),
                });
            }
            if card.remote_renewals >= cfg.max_remote_renewals {
                return Err(CardsError::NeedsRa(RaNeeded::RemoteLimit {
                    serial: serial.into(),
                    count: card.remote_renewals,
                }));
            }
        }
        for stale in self.store().open_renewals(serial).await? {
            self.abort(stale.id, "superseded by a new attempt").await?;
        }
        let (kind_s, actor, details) = match kind {
            RenewalKind::Remote => ("remote", format!("user:{}", card.uid), serde_json::json!({"kind": "remote"})),
            RenewalKind::Ra { ra, documents } => {
                self.record_ra_check(&card, ra, documents.trim(), now).await?;
                ("ra", ra.clone(), serde_json::json!({"kind": "ra", "documents": documents.trim()}))
            }
        };
        let ev = self.event(&actor, "card.renewal_started", &format!("card:{serial}"), details);
        Ok(self.store().start_renewal(serial, kind_s, now, ev).await?)
    }

    /// The RA checked the holder's identity for a renewal: the check is recorded with the
    /// RA's name and the documents, and the card remembers who checked it last.
    async fn record_ra_check(&self, card: &Card, ra: &str, documents: &str, now: i64) -> Result<(), CardsError> {
        let check = IdentityCheck {
            uid: card.uid.clone(),
            card_serial: Some(card.serial.clone()),
            purpose: "renew".into(),
            checked_by: ra.into(),
            documents: documents.into(),
            checked_at: now,
        };
        let change = CardChange { identity_checked: Some((now, ra.into())), ..Default::default() };
        // Audited with the start of the renewal, which names the RA and the documents.
        if !self.store().update_card(&card.serial, &[CardStatus::Active], &change, Some(&check), &[]).await? {
            let now_card = self.card(&card.serial).await?;
            self.usable(&now_card)?;
        }
        Ok(())
    }

    /// The renewal attempt `id`, which the session of `session_card` may act on only if it
    /// is that card's.
    async fn renewal_for(&self, session_card: &str, id: i64) -> Result<CardRenewal, CardsError> {
        let r = self.store().renewal(id).await?.ok_or(CardsError::RenewalRefused(RenewalProblem::Unknown { id }))?;
        if r.card_serial != session_card {
            return Err(CardsError::WrongCard);
        }
        Ok(r)
    }

    /// Issues one of the two new certificates of a renewal attempt (the CSR was made on
    /// the card with a new key). `session_card` is the card whose session asks.
    pub async fn renew_certificate(
        &self,
        session_card: &str,
        renewal_id: i64,
        role: CardKeyRole,
        csr: &[u8],
    ) -> Result<Issued, CardsError> {
        let r = self.renewal_for(session_card, renewal_id).await?;
        if r.status != "started" {
            return Err(CardsError::RenewalRefused(RenewalProblem::Over {
                id: renewal_id,
                status: r.status.to_string(),
            }));
        }
        let already = match role {
            CardKeyRole::Auth => &r.new_auth_serial,
            CardKeyRole::Sign => &r.new_sign_serial,
        };
        if already.is_some() {
            return Err(CardsError::RenewalRefused(RenewalProblem::AlreadyIssued { id: renewal_id, role }));
        }
        let card = self.card(&r.card_serial).await?;
        self.usable(&card)?;
        let user = self.user(&card.uid).await?;
        let issued = self.issue_role(&user, role, csr.to_vec(), &format!("user:{}", user.uid)).await?;
        if !self.store().renewal_certificate(renewal_id, role == CardKeyRole::Auth, &issued.serial).await? {
            self.revoke_quietly(&issued.serial, RevocationReason::CessationOfOperation, "system").await;
            return Err(CardsError::RenewalRefused(RenewalProblem::EndedMeanwhile { id: renewal_id }));
        }
        Ok(issued)
    }

    /// Completes a renewal once both new certificates are on the card: the card record
    /// takes them, the old ones are revoked (superseded), the remote count moves (an RA
    /// renewal, whose identity check was recorded when it began, resets it).
    /// `session_card` is the card whose session asks.
    pub async fn complete_renewal(&self, session_card: &str, renewal_id: i64) -> Result<Card, CardsError> {
        let r = self.renewal_for(session_card, renewal_id).await?;
        let (Some(auth), Some(sign)) = (r.new_auth_serial.clone(), r.new_sign_serial.clone()) else {
            return Err(CardsError::RenewalRefused(RenewalProblem::Incomplete { id: renewal_id }));
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
            ..Default::default()
        };
        let ev = self.event(
            &format!("user:{}", card.uid),
            "card.renewed",
            &format!("card:{}", card.serial),
            serde_json::json!({"kind": r.kind, "auth": auth, "sign": sign, "old_auth": card.auth_serial, "old_sign": card.sign_serial}),
        );
        if !self.store().finish_renewal(renewal_id, "done", "", now, Some((&card.serial, &change, None)), &[ev]).await?
        {
            return Err(CardsError::RenewalRefused(RenewalProblem::AbortedMeanwhile { id: renewal_id }));
        }
        for old in [&card.auth_serial, &card.sign_serial].into_iter().flatten() {
            self.revoke_quietly(old, RevocationReason::Superseded, "system").await;
        }
        self.card(&card.serial).await
    }

    /// Aborts a renewal (the agent gave up): every certificate it issued is revoked, the card
    /// keeps its old certificates and its remote count. `session_card` is the card whose
    /// session asks.
    pub async fn abort_renewal(&self, session_card: &str, renewal_id: i64, why: &str) -> Result<(), CardsError> {
        self.renewal_for(session_card, renewal_id).await?;
        self.abort(renewal_id, why).await
    }

    /// Aborts a renewal attempt, whoever asks (a newer attempt, a cancellation).
    pub(crate) async fn abort(&self, renewal_id: i64, why: &str) -> Result<(), CardsError> {
        let r = self
            .store()
            .renewal(renewal_id)
            .await?
            .ok_or(CardsError::RenewalRefused(RenewalProblem::Unknown { id: renewal_id }))?;
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

    /// The card a renewal attempt belongs to.
    pub async fn renewal_card(&self, renewal_id: i64) -> Result<String, CardsError> {
        Ok(self
            .store()
            .renewal(renewal_id)
            .await?
            .ok_or(CardsError::RenewalRefused(RenewalProblem::Unknown { id: renewal_id }))?
            .card_serial)
    }
}

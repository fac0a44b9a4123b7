//! The RA desk in the browser (issue 14): the identity check an RA records at the desk
//! becomes a **desk ticket**, a short-lived, single-use bearer credential that lets the desk's
//! card agent issue one card to one holder with exactly the documents and batch recorded; and
//! the RA's upkeep of a holder's contact details and the unlock-code delivery log.
//!
//! It must never keep a ticket in clear (SHA-256 only, like every token), never let a ticket
//! act for another holder, other documents or another batch, and never let one ticket issue
//! two cards. Who may mint or use a ticket (the RA's permission) is the server's check.

use store::{CodeDelivery, Contact, DeskTicket};

use crate::CardsError;
use crate::error::{DeskProblem, InputProblem};
use crate::lifecycle::{IssueCard, IssuedCard};
use crate::service::Cards;

/// How long a desk ticket can be used after the RA recorded the identity check.
pub const DESK_TICKET_SECONDS: i64 = 600;

/// The prefix of every desk ticket, so the API can tell it from an operator token at once.
pub const DESK_TICKET_PREFIX: &str = "desk-";

/// The identity check an RA recorded at the desk, before the card is made.
#[derive(Debug, Clone)]
pub struct DeskCheck {
    /// The holder.
    pub uid: String,
    /// The documents seen (the checklist's names and the free text, as recorded).
    pub documents: String,
    /// The card batch of the blank card.
    pub batch: String,
    /// The RA's web account.
    pub ra_account: String,
    /// The RA's audit actor text (names the account).
    pub ra_actor: String,
    /// The RA's name as people know it (recorded in the audit entry).
    pub ra_name: String,
}

/// A freshly minted desk ticket: the bearer value (shown once, to the desk page) and its row.
#[derive(Debug, Clone)]
pub struct MintedTicket {
    /// The bearer value.
    pub token: String,
    /// What it allows, and until when.
    pub ticket: DeskTicket,
}

pub(crate) fn sha(token: &str) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()))
}

/// A batch name: 1 to 32 letters, digits, `.`, `-`, `_`.
fn valid_batch(b: &str) -> bool {
    (1..=32).contains(&b.len()) && b.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
}

/// A telephone number as people write it: `+`, digits, spaces, `(`, `)`, `-`; 7 to 15 digits.
fn valid_phone(p: &str) -> bool {
    let digits = p.bytes().filter(u8::is_ascii_digit).count();
    (7..=15).contains(&digits) && p.len() <= 24 && p.bytes().all(|c| c.is_ascii_digit() || b"+ ()-".contains(&c))
}

/// The identity documents the RA recorded, trimmed: required, at most 500 characters.
pub(crate) fn checked_documents(check: &DeskCheck) -> Result<String, CardsError> {
    let documents = check.documents.trim().to_string();
    if documents.is_empty() {
        return Err(CardsError::BadInput(InputProblem::NoDocuments));
    }
    if documents.chars().count() > 500 {
        return Err(CardsError::DeskTicket(DeskProblem::DocumentsTooLong));
    }
    Ok(documents)
}

impl Cards {
    /// A new desk ticket for `purpose` (`issue` or `renew`) and its bearer value (shown once;
    /// only its SHA-256 is kept), valid for `DESK_TICKET_SECONDS`.
    pub(crate) fn new_desk_ticket(
        &self,
        purpose: &str,
        uid: &str,
        documents: &str,
        batch: &str,
        check: &DeskCheck,
        card_serial: Option<String>,
    ) -> Result<(String, DeskTicket), CardsError> {
        let token = format!("{DESK_TICKET_PREFIX}{}", Self::random_hex()?);
        let now = self.now();
        let ticket = DeskTicket {
            token_sha256: sha(&token),
            purpose: purpose.into(),
            uid: uid.into(),
            documents: documents.into(),
            batch: batch.into(),
            ra_account: check.ra_account.clone(),
            ra_actor: check.ra_actor.clone(),
            created_at: now,
            expires_at: now + DESK_TICKET_SECONDS,
            claimed_at: None,
            used_at: None,
            card_serial,
        };
        Ok((token, ticket))
    }
    /// Records the RA's identity check (audit entry `card.identity_checked`, naming the RA,
    /// the documents and the batch) and mints the desk ticket for it, in one transaction.
    pub async fn mint_desk_ticket(&self, check: DeskCheck) -> Result<MintedTicket, CardsError> {
        let user = self.user(&check.uid).await?;
        let documents = checked_documents(&check)?;
        if !valid_batch(&check.batch) {
            return Err(CardsError::DeskTicket(DeskProblem::Batch(check.batch.clone())));
        }
        let (token, ticket) = self.new_desk_ticket("issue", &user.uid, &documents, &check.batch, &check, None)?;
        let ev = self.event(
            &check.ra_actor,
            "card.identity_checked",
            &format!("user:{}", user.uid),
            serde_json::json!({"purpose": "issue", "documents": documents, "batch": check.batch, "checked_by": check.ra_name, "desk_ticket_expires_at": ticket.expires_at}),
        );
        self.store().insert_desk_ticket(&ticket, ev).await?;
        Ok(MintedTicket { token, ticket })
    }

    /// The ticket behind bearer value `token`, claimed for one use, if it allows issuing a
    /// card to `uid` with `documents` from `batch`. Unknown, expired, used or in-use tickets
    /// and tickets for another holder, other documents or another batch are refused (a
    /// refused scope gives the claim back: the ticket still works for what it was made for).
    pub async fn claim_desk_ticket(
        &self,
        token: &str,
        uid: &str,
        documents: &str,
        batch: &str,
    ) -> Result<DeskTicket, CardsError> {
        let key = sha(token);
        let t = self.claim_desk_ticket_by_key(&key).await?;
        if t.purpose != "issue" || t.uid != uid || t.documents != documents.trim() || t.batch != batch {
            self.store().release_desk_ticket(&key).await?;
            return Err(CardsError::DeskTicket(DeskProblem::Scope { uid: t.uid }));
        }
        Ok(t)
    }

    /// Claims the ticket whose SHA-256 is `key` for one use, or says why it cannot be
    /// (unknown, used, in use, expired). Scope is the caller's to check.
    pub(crate) async fn claim_desk_ticket_by_key(&self, key: &str) -> Result<DeskTicket, CardsError> {
        match self.store().claim_desk_ticket(key, self.now()).await? {
            Some(t) => Ok(t),
            None => {
                let why = match self.store().desk_ticket(key).await? {
                    None => DeskProblem::Unknown,
                    Some(t) if t.used_at.is_some() => DeskProblem::Used,
                    Some(t) if t.claimed_at.is_some() && t.expires_at > self.now() => DeskProblem::InUse,
                    Some(_) => DeskProblem::Expired,
                };
                Err(CardsError::DeskTicket(why))
            }
        }
    }

    /// Gives a claimed ticket back when the card could not be issued (nothing was made).
    pub async fn release_desk_ticket(&self, ticket: &DeskTicket) -> Result<(), CardsError> {
        Ok(self.store().release_desk_ticket(&ticket.token_sha256).await?)
    }

    /// Issues the card of a claimed desk ticket (the RA of the ticket is the RA of the card);
    /// the ticket is used up when the card is issued and given back when it is not.
    pub async fn issue_with_ticket(&self, ticket: &DeskTicket, mut req: IssueCard) -> Result<IssuedCard, CardsError> {
        req.ra = ticket.ra_actor.clone();
        req.documents = ticket.documents.clone();
        let serial = req.card_serial.clone();
        match self.issue_card(req).await {
            Ok(issued) => {
                self.store().finish_desk_ticket(&ticket.token_sha256, &serial, self.now()).await?;
                Ok(issued)
            }
            Err(e) => {
                if let Err(r) = self.release_desk_ticket(ticket).await {
                    tracing::warn!(error = %r, "could not give a desk ticket back; the RA must mint a new one");
                }
                Err(e)
            }
        }
    }

    /// A desk ticket's state by its bearer value (for the desk page's result).
    pub async fn desk_ticket(&self, token: &str) -> Result<Option<DeskTicket>, CardsError> {
        Ok(self.store().desk_ticket(&sha(token)).await?)
    }

    /// The RA changes a holder's email, mobile, landline and whether the landline takes
    /// text-to-voice messages (no auto-attendant). Empty values clear a detail. Audited as
    /// `user.contact_changed` with what changed (not the old values).
    pub async fn update_contact(&self, uid: &str, contact: Contact, actor: &str) -> Result<(), CardsError> {
        let old = self.user(uid).await?;
        let clean = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let c = Contact {
            email: clean(contact.email),
            mobile: clean(contact.mobile),
            landline: clean(contact.landline),
            landline_voice: contact.landline_voice,
        };
        if let Some(e) = &c.email
            && (!e.contains('@') || e.starts_with('@') || e.ends_with('@') || e.len() > 254 || e.contains(' '))
        {
            return Err(CardsError::BadInput(InputProblem::Email(e.clone())));
        }
        for (what, v) in [("mobile", &c.mobile), ("landline", &c.landline)] {
            if let Some(p) = v
                && !valid_phone(p)
            {
                return Err(CardsError::DeskTicket(DeskProblem::Phone { what, value: p.clone() }));
            }
        }
        if c.landline_voice && c.landline.is_none() {
            return Err(CardsError::DeskTicket(DeskProblem::VoiceWithoutLandline));
        }
        let mut changed = Vec::new();
        if old.email != c.email {
            changed.push("email");
        }
        if old.mobile != c.mobile {
            changed.push("mobile");
        }
        if old.landline != c.landline {
            changed.push("landline");
        }
        if old.landline_voice != c.landline_voice {
            changed.push("landline_voice");
        }
        let ev = self.event(
            actor,
            "user.contact_changed",
            &format!("user:{uid}"),
            serde_json::json!({"changed": changed, "landline_voice": c.landline_voice}),
        );
        if !self.store().update_contact(uid, &c, ev).await? {
            return Err(CardsError::UnknownUser(uid.into()));
        }
        Ok(())
    }

    /// The unlock codes sent for a card, newest first: channel, masked destination, when,
    /// used or not.
    pub async fn code_deliveries(&self, serial: &str) -> Result<Vec<CodeDelivery>, CardsError> {
        self.card(serial).await?;
        Ok(self.store().code_deliveries(serial, 50).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_and_batches() {
        assert!(valid_phone("+44 20 7946 0958"));
        assert!(valid_phone("(01632) 960-001"));
        assert!(!valid_phone("call me"));
        assert!(!valid_phone("123"));
        assert!(valid_batch("default"));
        assert!(valid_batch("2026-A_1"));
        assert!(!valid_batch("a b"));
        assert!(!valid_batch(""));
    }
}

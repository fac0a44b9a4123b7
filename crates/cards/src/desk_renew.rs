//! In-person renewal at the RA desk (issue 14): the identity check an RA records for an
//! existing card becomes a desk ticket with purpose `renew`, scoped to that card serial,
//! single use, 10 minutes. The desk's card agent presents it to start the RA renewal (the
//! same `RenewalKind::Ra` as an operator token: allowed for expired cards and after the
//! last remote renewal, and it resets the count).
//!
//! It must never let a renewal ticket renew another card or issue one, nor start two
//! renewals. Who may mint or use it (the RA's permission) is the server's check.

use store::DeskTicket;

use crate::CardsError;
use crate::desk::{DeskCheck, MintedTicket, sha};
use crate::error::DeskProblem;
use crate::renewal::RenewalKind;
use crate::service::Cards;

impl Cards {
    /// Records the RA's identity check for renewing card `serial` in person (audit entry
    /// `card.identity_checked`, purpose `renew`, naming the RA and the documents) and mints
    /// the renewal desk ticket, in one transaction. `check.uid` and `check.batch` are
    /// ignored: the card's own are recorded. Cancelled (or locked) cards are refused here.
    pub async fn mint_desk_renewal_ticket(&self, serial: &str, check: DeskCheck) -> Result<MintedTicket, CardsError> {
        let card = self.card(serial).await?;
        self.usable(&card)?;
        let documents = crate::desk::checked_documents(&check)?;
        let (token, ticket) =
            self.new_desk_ticket("renew", &card.uid, &documents, &card.batch, &check, Some(card.serial.clone()))?;
        let ev = self.event(
            &check.ra_actor,
            "card.identity_checked",
            &format!("card:{}", card.serial),
            serde_json::json!({"purpose": "renew", "uid": card.uid, "documents": documents, "checked_by": check.ra_name, "desk_ticket_expires_at": ticket.expires_at}),
        );
        self.store().insert_desk_ticket(&ticket, ev).await?;
        Ok(MintedTicket { token, ticket })
    }

    /// The renewal ticket behind bearer value `token`, claimed for one use, if it was made
    /// for renewing card `serial`. Unknown, expired, used or in-use tickets, issue tickets
    /// and tickets for another card are refused (a refused scope gives the claim back).
    pub async fn claim_desk_renewal(&self, token: &str, serial: &str) -> Result<DeskTicket, CardsError> {
        let key = sha(token);
        let t = self.claim_desk_ticket_by_key(&key).await?;
        if t.purpose != "renew" || t.card_serial.as_deref() != Some(serial) {
            self.store().release_desk_ticket(&key).await?;
            return Err(CardsError::DeskTicket(DeskProblem::RenewScope { serial: serial.into() }));
        }
        Ok(t)
    }

    /// Starts the RA renewal of a claimed renewal ticket's card (the RA and documents of the
    /// ticket are recorded); the ticket is used up when the renewal starts and given back
    /// when it cannot start. Returns the renewal id.
    pub async fn begin_renewal_with_ticket(&self, ticket: &DeskTicket, agent_version: &str) -> Result<i64, CardsError> {
        let serial = ticket.card_serial.clone().unwrap_or_default();
        let kind = RenewalKind::Ra { ra: ticket.ra_actor.clone(), documents: ticket.documents.clone() };
        match self.begin_renewal(&serial, agent_version, &kind).await {
            Ok(id) => {
                self.store().finish_desk_ticket(&ticket.token_sha256, &serial, self.now()).await?;
                Ok(id)
            }
            Err(e) => {
                if let Err(r) = self.release_desk_ticket(ticket).await {
                    tracing::warn!(error = %r, "could not give a desk ticket back; the RA must mint a new one");
                }
                Err(e)
            }
        }
    }
}

//! Logging in with a smartcard: one-time tickets for the agent, sessions for a browser
//! that presented the card's certificate, and the agent's presence reports.

use types::{Action, Actor, Area, Role, SessionEnd};

use crate::{Login, PortalError, Web, random_hex, sha};

impl Web {
    /// A one-time login ticket (60 seconds) for the portal user registered with card UID
    /// `uid`; the card (`card_serial`) was just proven by the cards service.
    pub async fn issue_ticket(&self, uid: &str, card_serial: &str) -> Result<String, PortalError> {
        let account = self
            .store
            .web_account_by_uid(uid)
            .await?
            .filter(|a| a.disabled_at.is_none() && a.roles.iter().any(|r| Area::Portal.admits(r) || Area::Ra.admits(r)))
            .ok_or_else(|| PortalError::NotRegistered(uid.into()))?;
        let ticket = random_hex()?;
        let now = self.now();
        self.store.insert_portal_ticket(&sha(&ticket), &account.username, card_serial, now, now + 60).await?;
        Ok(ticket)
    }

    /// Redeems a ticket (once): a portal session bound to the card. With several portal
    /// roles the session starts with the first and the user picks ([`Web::choose_role`]).
    pub async fn redeem_ticket(&self, area: Area, ticket: &str) -> Result<(Login, Vec<Role>), PortalError> {
        if ticket.len() != 64 {
            return Err(PortalError::BadTicket);
        }
        let (username, card) =
            self.store.use_portal_ticket(&sha(ticket), self.now()).await?.ok_or(PortalError::BadTicket)?;
        let account = self.store.web_account(&username).await?.ok_or(PortalError::BadTicket)?;
        let roles = account.roles.for_area(area);
        let first = roles.first().cloned().ok_or(PortalError::NoRole)?;
        let login = self.open(area, &account, Some(&first), Some(&card)).await?;
        self.store.card_present(&card, self.now()).await?;
        Ok((login, roles))
    }

    /// Opens a session for the account registered with card UID `uid` whose certificate the
    /// browser itself presented (not bound to an agent's heartbeat: the browser's TLS client
    /// certificate is the proof). Returns the login and the roles to choose from.
    pub async fn open_for_uid(&self, area: Area, uid: &str) -> Result<(Login, Vec<Role>), PortalError> {
        let account = self
            .store
            .web_account_by_uid(uid)
            .await?
            .filter(|a| a.disabled_at.is_none())
            .ok_or_else(|| PortalError::NotRegistered(uid.into()))?;
        let roles = account.roles.for_area(area);
        let first = roles.first().cloned().ok_or_else(|| PortalError::NotRegistered(uid.into()))?;
        let login = self.open(area, &account, Some(&first), None).await?;
        Ok((login, roles))
    }

    /// The agent reports the card present (heartbeat).
    pub async fn card_present(&self, card_serial: &str) -> Result<(), PortalError> {
        self.store.card_present(card_serial, self.now()).await?;
        Ok(())
    }

    /// The agent reports the card removed: every session opened with it ends now.
    pub async fn card_removed(&self, card_serial: &str) -> Result<u64, PortalError> {
        let actor = Actor::Card(card_serial.to_string());
        let reason = SessionEnd::CardRemoved;
        let ev = self.event(
            &actor,
            Action::WebSessionEnded,
            actor.to_string(),
            serde_json::json!({"reason": reason.as_str()}),
        );
        Ok(self.store.end_card_sessions(card_serial, self.now(), reason, ev).await?)
    }
}

//! Logging in with a smartcard: one-time tickets for the agent, sessions for a browser
//! that presented the card's certificate, and the agent's presence reports.

use types::{Action, Actor, Area, Role, SessionEnd};

use crate::{Login, PortalError, Web, random_hex, sha};

/// The MAC of a presence token: SHA-256 over a fixed label, the session key and its anti-CSRF
/// token (a secret of the session's pages).
fn presence_mac(key: &str, csrf: &str) -> String {
    sha(&format!("carecert presence token\n{key}\n{csrf}"))
}

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
    /// browser itself presented, bound to that card (`card_serial`) like an agent's login: the
    /// page hands the local agent the session's presence token ([`Web::presence_token`]), the
    /// agent reports the card present, and removal — or no report at all within the heartbeat
    /// grace plus [`FIRST_PRESENCE_EXTRA_SECS`](crate::FIRST_PRESENCE_EXTRA_SECS), or reports
    /// stopping — ends the session. Returns the login and the roles to choose from.
    pub async fn open_for_uid(
        &self,
        area: Area,
        uid: &str,
        card_serial: &str,
    ) -> Result<(Login, Vec<Role>), PortalError> {
        let account = self
            .store
            .web_account_by_uid(uid)
            .await?
            .filter(|a| a.disabled_at.is_none())
            .ok_or_else(|| PortalError::NotRegistered(uid.into()))?;
        let roles = account.roles.for_area(area);
        let first = roles.first().cloned().ok_or_else(|| PortalError::NotRegistered(uid.into()))?;
        let login = self.open(area, &account, Some(&first), Some(card_serial)).await?;
        let first_report_by = self.now() + crate::FIRST_PRESENCE_EXTRA_SECS;
        self.store.set_web_session_card_seen(&sha(&login.token), first_report_by).await?;
        Ok((login, roles))
    }

    /// The presence token of the card-bound session behind cookie value `token`: the page hands
    /// it to the local agent (`watch`), which reports the card's presence with it as a bearer
    /// credential. It names the session by its stored key (the SHA-256 of the cookie, which does
    /// not give the cookie back) and carries a MAC over that key and the session's anti-CSRF
    /// token, so only a page of this session can have it; it does nothing but report presence.
    pub fn presence_token(&self, token: &str, session: &crate::Session) -> Option<String> {
        session.card_serial.as_ref()?;
        let key = sha(token);
        Some(format!("{key}.{}", presence_mac(&key, &session.csrf_token)))
    }

    /// A presence report made with a presence token: `present` keeps the session's card
    /// reported present (every session bound to that card), `!present` ends them all (the card
    /// was removed). Refused for an unknown, forged or ended session, or one not bound to a card.
    pub async fn presence_with_token(&self, presence_token: &str, present: bool) -> Result<String, PortalError> {
        use subtle::ConstantTimeEq;
        let refused =
            || PortalError::SessionEnded("the presence token is not valid (forged, or its session ended)".into());
        let (key, mac) = presence_token.split_once('.').ok_or_else(refused)?;
        if key.len() != 64 || mac.len() != 64 {
            return Err(refused());
        }
        let s = self.store.web_session(key).await?.ok_or_else(refused)?;
        let expected = presence_mac(key, &s.csrf_token);
        if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) || s.ended_at.is_some() {
            return Err(refused());
        }
        let card = s.card_serial.ok_or_else(refused)?;
        if present {
            self.card_present(&card).await?;
        } else {
            self.card_removed(&card).await?;
        }
        Ok(card)
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

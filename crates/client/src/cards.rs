//! Smartcards: what `carecert-agent` calls (card status, login, unlock, renewal, the
//! portal ticket and presence). Calls that need a card session or an admin token use a
//! client made with [`Client::with_bearer`].

use crate::{Client, Error};

const CARDS: [&str; 3] = ["api", "v1", "cards"];
const RENEWALS: [&str; 3] = ["api", "v1", "card-renewals"];

impl Client {
    fn card_path<'a>(serial: &'a str, tail: &'a str) -> [&'a str; 5] {
        [CARDS[0], CARDS[1], CARDS[2], serial, tail]
    }

    /// `GET /api/v1/cards/{serial}`: whether the card can be used (before login).
    pub async fn card_status(&self, serial: &str) -> Result<api::CardStateView, Error> {
        self.get(&[CARDS[0], CARDS[1], CARDS[2], serial]).await
    }

    /// `GET /api/v1/cards/{serial}/details` (card session): everything the holder may see.
    pub async fn card_details(&self, serial: &str) -> Result<api::CardStatusView, Error> {
        self.get(&Self::card_path(serial, "details")).await
    }

    /// `POST /api/v1/cards/{serial}/passcode-failures`: a wrong passcode was entered for the
    /// challenge `body.nonce` (which is used up).
    pub async fn passcode_failed(
        &self,
        serial: &str,
        body: &api::PasscodeFailureBody,
    ) -> Result<api::PasscodeFailureView, Error> {
        self.post(&Self::card_path(serial, "passcode-failures"), body).await
    }

    /// `POST /api/v1/cards/{serial}/challenges`: a login challenge.
    pub async fn login_challenge(&self, serial: &str) -> Result<api::ChallengeView, Error> {
        self.post_empty(&Self::card_path(serial, "challenges")).await
    }

    /// `POST /api/v1/cards/{serial}/sessions`: the signed challenge opens a card session.
    pub async fn open_card_session(
        &self,
        serial: &str,
        body: &api::CardLoginBody,
    ) -> Result<api::CardSessionView, Error> {
        self.post(&Self::card_path(serial, "sessions"), body).await
    }

    /// `POST /api/v1/cards/{serial}/unlock-codes`: sends a one-time unlock code.
    pub async fn send_unlock_code(&self, serial: &str, channel: api::Channel) -> Result<api::CodeSentView, Error> {
        self.post(&Self::card_path(serial, "unlock-codes"), &api::UnlockCodeBody { channel }).await
    }

    /// `POST /api/v1/cards/{serial}/unlock`: unlocks with the one-time code.
    pub async fn unlock_with_code(&self, serial: &str, code: &str) -> Result<api::UnlockedView, Error> {
        self.post(&Self::card_path(serial, "unlock"), &api::UnlockBody { code: code.into() }).await
    }

    /// `POST /api/v1/cards/{serial}/so-pin`: the fresh SO PIN set after a release (bearer:
    /// the release's ticket, [`Client::with_bearer`]).
    pub async fn replace_so_pin(&self, serial: &str, body: &api::NewSoPinBody) -> Result<(), Error> {
        self.post_unit(&Self::card_path(serial, "so-pin"), body).await
    }

    /// `POST /api/v1/cards/{serial}/sponsor-challenges`: a challenge for the sponsor's card.
    pub async fn sponsor_challenge(&self, serial: &str) -> Result<api::ChallengeView, Error> {
        self.post_empty(&Self::card_path(serial, "sponsor-challenges")).await
    }

    /// `POST /api/v1/cards/{serial}/sponsor-unlock`: unlocks with the sponsor's signature.
    pub async fn sponsor_unlock(
        &self,
        serial: &str,
        body: &api::SponsorUnlockBody,
    ) -> Result<api::UnlockedView, Error> {
        self.post(&Self::card_path(serial, "sponsor-unlock"), body).await
    }

    /// `POST /api/v1/cards/{serial}/renewals` (card session): starts a remote renewal.
    pub async fn start_renewal(&self, serial: &str, body: &api::StartRenewalBody) -> Result<api::RenewalView, Error> {
        self.post(&Self::card_path(serial, "renewals"), body).await
    }

    /// `POST /api/v1/card-renewals/{id}/certificates` (card session): one new certificate.
    pub async fn renew_certificate(
        &self,
        id: i64,
        body: &api::RenewCertificateBody,
    ) -> Result<api::CardCertificateView, Error> {
        self.post(&[RENEWALS[0], RENEWALS[1], RENEWALS[2], &id.to_string(), "certificates"], body).await
    }

    /// `POST /api/v1/card-renewals/{id}/complete` (card session): both are on the card.
    pub async fn complete_renewal(&self, id: i64) -> Result<api::CardStatusView, Error> {
        self.post_empty(&[RENEWALS[0], RENEWALS[1], RENEWALS[2], &id.to_string(), "complete"]).await
    }

    /// `POST /api/v1/card-renewals/{id}/abort` (card session): carecert revokes what the
    /// attempt issued.
    pub async fn abort_renewal(&self, id: i64, reason: &str) -> Result<(), Error> {
        self.post_unit(
            &[RENEWALS[0], RENEWALS[1], RENEWALS[2], &id.to_string(), "abort"],
            &api::AbortBody { reason: reason.into() },
        )
        .await
    }

    /// `POST /api/v1/portal/tickets` (card session): a one-time portal login ticket.
    pub async fn portal_ticket(&self) -> Result<api::TicketView, Error> {
        self.post_empty(&["api", "v1", "portal", "tickets"]).await
    }

    /// `POST /api/v1/portal/presence` (card session): heartbeat (`true`) or removal.
    pub async fn presence(&self, present: bool) -> Result<(), Error> {
        self.post_unit(&["api", "v1", "portal", "presence"], &api::PresenceBody { present }).await
    }
}

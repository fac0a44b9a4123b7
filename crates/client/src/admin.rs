//! The admin API: what `carecert admin` and the agent's RA commands call (admin token as
//! the bearer).

use crate::{Client, Empty, Error};

const ADMIN: [&str; 3] = ["api", "v1", "admin"];

fn admin<const N: usize>(tail: [&str; N]) -> Vec<&str> {
    ADMIN.iter().copied().chain(tail).collect()
}

impl Client {
    /// `POST /api/v1/admin/certificates`: issues a certificate from a CSR.
    pub async fn issue_certificate(&self, body: &api::IssueBody) -> Result<api::IssuedBody, Error> {
        self.post(&admin(["certificates"]), body).await
    }

    /// `GET /api/v1/admin/certificates`: certificates, newest first.
    pub async fn certificates(&self, q: &api::ListQuery) -> Result<Vec<api::CertificateBody>, Error> {
        self.get_query(&admin(["certificates"]), q).await
    }

    /// `GET /api/v1/admin/certificates/{serial}`.
    pub async fn certificate(&self, serial: &str, q: &api::CaQuery) -> Result<api::CertificateBody, Error> {
        self.get_query(&admin(["certificates", serial]), q).await
    }

    /// `POST /api/v1/admin/certificates/{serial}/revoke`.
    pub async fn revoke(&self, serial: &str, body: &api::RevokeBody) -> Result<api::RevokedBody, Error> {
        self.post(&admin(["certificates", serial, "revoke"]), body).await
    }

    /// `GET /api/v1/admin/audit`: audit entries.
    pub async fn audit(&self, q: &api::AuditQuery) -> Result<Vec<api::AuditEntryBody>, Error> {
        self.get_query(&admin(["audit"]), q).await
    }

    /// `GET /api/v1/admin/audit/verify`: the hash chain check.
    pub async fn verify_audit(&self) -> Result<api::AuditVerifyBody, Error> {
        self.get(&admin(["audit", "verify"])).await
    }

    /// `POST /api/v1/admin/audit/checkpoints`: the chain's head, signed.
    pub async fn audit_checkpoint(&self) -> Result<api::AuditCheckpointBody, Error> {
        self.post_empty(&admin(["audit", "checkpoints"])).await
    }

    /// `POST /api/v1/admin/organisations`.
    pub async fn add_organisation(&self, body: &api::NewOrganisationBody) -> Result<api::OrganisationView, Error> {
        self.post(&admin(["organisations"]), body).await
    }

    /// `GET /api/v1/admin/organisations`.
    pub async fn organisations(&self) -> Result<Vec<api::OrganisationView>, Error> {
        self.get(&admin(["organisations"])).await
    }

    /// `GET /api/v1/admin/organisations/{epoc}`.
    pub async fn organisation(&self, epoc: &str) -> Result<api::OrganisationView, Error> {
        self.get(&admin(["organisations", epoc])).await
    }

    /// `PATCH /api/v1/admin/organisations/{epoc}`: status or approval policy.
    pub async fn change_organisation(
        &self,
        epoc: &str,
        body: &api::OrganisationChangeBody,
    ) -> Result<api::OrganisationView, Error> {
        self.patch(&admin(["organisations", epoc]), body).await
    }

    /// `POST /api/v1/admin/organisations/{epoc}/pins`: a new PIN letter.
    pub async fn issue_pin(&self, epoc: &str) -> Result<api::PinLetterView, Error> {
        self.post_empty(&admin(["organisations", epoc, "pins"])).await
    }

    /// `GET /api/v1/admin/requests`: the RA queue.
    pub async fn admin_requests(&self, q: &api::RequestQuery) -> Result<Vec<api::RequestView>, Error> {
        self.get_query(&admin(["requests"]), q).await
    }

    /// `POST /api/v1/admin/requests/{id}/approve`.
    pub async fn approve(&self, id: i64) -> Result<api::RequestView, Error> {
        self.post_empty(&admin(["requests", &id.to_string(), "approve"])).await
    }

    /// `POST /api/v1/admin/requests/{id}/deny`.
    pub async fn deny(&self, id: i64, body: &api::DenyBody) -> Result<api::RequestView, Error> {
        self.post(&admin(["requests", &id.to_string(), "deny"]), body).await
    }

    /// `POST /api/v1/admin/releases`.
    pub async fn add_release(&self, body: &api::NewReleaseBody) -> Result<api::ReleaseView, Error> {
        self.post(&admin(["releases"]), body).await
    }

    /// `GET /api/v1/admin/releases`.
    pub async fn releases(&self, q: &api::ReleaseQuery) -> Result<Vec<api::ReleaseView>, Error> {
        self.get_query(&admin(["releases"]), q).await
    }

    /// `POST /api/v1/admin/users`: registers a card holder.
    pub async fn add_user(&self, body: &api::NewUserBody) -> Result<api::UserView, Error> {
        self.post(&admin(["users"]), body).await
    }

    /// `GET /api/v1/admin/users/{uid}`: a user and their cards.
    pub async fn user(&self, uid: &str) -> Result<api::UserCardsView, Error> {
        self.get(&admin(["users", uid])).await
    }

    /// `POST /api/v1/admin/cards`: issues a card face to face.
    pub async fn issue_card(&self, body: &api::IssueCardBody) -> Result<api::IssuedCardView, Error> {
        self.post(&admin(["cards"]), body).await
    }

    /// `GET /api/v1/admin/cards/{serial}`: everything carecert knows about a card.
    pub async fn card(&self, serial: &str) -> Result<api::CardStatusView, Error> {
        self.get(&admin(["cards", serial])).await
    }

    /// `POST /api/v1/admin/cards/{serial}/unlock`: RA unlock, identity checked.
    pub async fn ra_unlock(&self, serial: &str, body: &api::IdentityCheckBody) -> Result<api::UnlockedView, Error> {
        self.post(&admin(["cards", serial, "unlock"]), body).await
    }

    /// `POST /api/v1/admin/cards/{serial}/renewals`: RA renewal, identity checked.
    pub async fn ra_renewal(&self, serial: &str, body: &api::IdentityCheckBody) -> Result<api::RenewalView, Error> {
        self.post(&admin(["cards", serial, "renewals"]), body).await
    }

    /// `POST /api/v1/admin/cards/{serial}/cancel`: both certificates are revoked.
    pub async fn cancel_card(&self, serial: &str, body: &api::CancelCardBody) -> Result<(), Error> {
        self.post_unit(&admin(["cards", serial, "cancel"]), body).await
    }

    /// `POST /api/v1/admin/sponsors`: unlock authority for an organisation's cards.
    pub async fn grant_sponsor(&self, body: &api::SponsorBody) -> Result<(), Error> {
        self.post_unit(&admin(["sponsors"]), body).await
    }

    /// `POST /api/v1/admin/card-batches`: a batch's minimum agent version.
    pub async fn set_batch(&self, body: &api::CardBatchBody) -> Result<(), Error> {
        self.post_unit(&admin(["card-batches"]), body).await
    }

    /// `POST /api/v1/admin/web-accounts`: an RA, operator or portal account.
    pub async fn add_web_account(&self, body: &api::NewWebAccountBody) -> Result<api::NewWebAccountView, Error> {
        self.post(&admin(["web-accounts"]), body).await
    }

    /// `POST /api/v1/admin/accounts`: a named operator account (and its first token).
    pub async fn create_operator(&self, body: &api::NewOperatorBody) -> Result<api::NewOperatorView, Error> {
        self.post(&admin(["accounts"]), body).await
    }

    /// `GET /api/v1/admin/accounts`: operator accounts.
    pub async fn operators(&self) -> Result<Vec<api::OperatorAccountView>, Error> {
        self.get(&admin(["accounts"])).await
    }

    /// `POST /api/v1/admin/accounts/{name}/disable`.
    pub async fn disable_operator(&self, name: &str) -> Result<(), Error> {
        self.post_unit(&admin(["accounts", name, "disable"]), &Empty {}).await
    }

    /// `POST /api/v1/admin/tokens`: an API token for an operator account.
    pub async fn create_token(&self, body: &api::NewTokenBody) -> Result<api::NewTokenView, Error> {
        self.post(&admin(["tokens"]), body).await
    }

    /// `GET /api/v1/admin/tokens`.
    pub async fn tokens(&self, q: &api::TokenQuery) -> Result<Vec<api::TokenView>, Error> {
        self.get_query(&admin(["tokens"]), q).await
    }

    /// `POST /api/v1/admin/tokens/{id}/revoke`.
    pub async fn revoke_token(&self, id: &str) -> Result<(), Error> {
        self.post_unit(&admin(["tokens", id, "revoke"]), &Empty {}).await
    }
}

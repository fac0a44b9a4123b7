//! Machine certificates: what `ecmt` calls.

use crate::{Client, Error};

impl Client {
    /// `GET /api/v1/updates`: releases, the trust feed, the policy and the helpdesk.
    pub async fn updates(&self, q: &api::UpdateQuery) -> Result<api::UpdateInfo, Error> {
        self.get_query(&["api", "v1", "updates"], q).await
    }

    /// `POST /api/v1/sessions`: log on with the organisation code and the PIN.
    pub async fn login(&self, body: &api::LoginRequest) -> Result<api::LoginResponse, Error> {
        self.post(&["api", "v1", "sessions"], body).await
    }

    /// `DELETE /api/v1/sessions/current`: ends the bearer's session.
    pub async fn logout(&self) -> Result<(), Error> {
        self.delete(&["api", "v1", "sessions", "current"]).await
    }

    /// `GET /api/v1/requests`: the organisation's requests.
    pub async fn requests(&self) -> Result<Vec<api::RequestView>, Error> {
        self.get(&["api", "v1", "requests"]).await
    }

    /// `GET /api/v1/requests/{id}`.
    pub async fn request(&self, id: i64) -> Result<api::RequestView, Error> {
        self.get(&["api", "v1", "requests", &id.to_string()]).await
    }

    /// `POST /api/v1/requests`: a new certificate request.
    pub async fn create_request(&self, body: &api::NewRequestBody) -> Result<api::RequestView, Error> {
        self.post(&["api", "v1", "requests"], body).await
    }

    /// `GET /api/v1/requests/{id}/certificate`: the issued certificate with its chain.
    pub async fn download(&self, id: i64) -> Result<api::CertificateDownload, Error> {
        self.get(&["api", "v1", "requests", &id.to_string(), "certificate"]).await
    }

    /// `POST /api/v1/requests/{id}/installed`: the certificate is installed.
    pub async fn mark_installed(&self, id: i64) -> Result<api::RequestView, Error> {
        self.post_empty(&["api", "v1", "requests", &id.to_string(), "installed"]).await
    }

    /// `POST /api/v1/requests/{id}/cancel`: withdraws a request.
    pub async fn cancel_request(&self, id: i64) -> Result<api::RequestView, Error> {
        self.post_empty(&["api", "v1", "requests", &id.to_string(), "cancel"]).await
    }

    /// `POST /api/v1/renewals`: renewal over mutual TLS with the installed certificate.
    pub async fn renew(&self, body: &api::NewRequestBody) -> Result<api::CertificateDownload, Error> {
        self.post(&["api", "v1", "renewals"], body).await
    }
}

//! Issue 11 (zero touch): the trust withdrawal and reminder contact (admin), the renewal
//! window (mutual TLS), and OCSP against the carecert responder.

use crate::{Client, Error, error};

impl Client {
    /// `POST /api/v1/admin/trust/{ca}/withdraw`: withdraws a CA from the trust feed.
    pub async fn withdraw_trust(
        &self,
        ca: &str,
        body: &api::WithdrawTrustBody,
    ) -> Result<api::TrustWithdrawnView, Error> {
        self.post(&["api", "v1", "admin", "trust", ca, "withdraw"], body).await
    }

    /// `PUT /api/v1/admin/organisations/{epoc}/contact`: where expiry reminders go.
    pub async fn set_org_contact(&self, epoc: &str, body: &api::OrgContactBody) -> Result<api::OrgContactView, Error> {
        self.send(self.http.put(self.url(&["api", "v1", "admin", "organisations", epoc, "contact"])).json(body)).await
    }

    /// `GET /api/v1/renewals/window` (mutual TLS): when the presented certificate may renew.
    pub async fn renewal_window(&self) -> Result<api::RenewalWindowView, Error> {
        self.get(&["api", "v1", "renewals", "window"]).await
    }

    /// `POST /ocsp` (RFC 6960 over HTTP) to the service this client talks to; returns the DER
    /// response unchecked — the caller verifies it (`pki::ocsp::check_response`).
    pub async fn ocsp(&self, request_der: Vec<u8>) -> Result<Vec<u8>, Error> {
        let unreachable = |cause| Error::Unreachable { url: self.base.clone(), cause, hint: self.hint.clone() };
        let resp = self
            .http
            .post(self.url(&["ocsp"]))
            .header("content-type", "application/ocsp-request")
            .body(request_der)
            .send()
            .await
            .map_err(unreachable)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(error::refused(status.as_u16(), &body));
        }
        Ok(body.to_vec())
    }
}

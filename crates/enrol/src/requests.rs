//! The request lifecycle: create, approve, deny, cancel, download, confirm the install.

use ca::{IssueRequest, RevokeRequest};
use pki::{Profile, RevocationReason, VerifiedCsr};
use store::{
    ApprovalPolicy, AuditEvent, CertRequest, NewRequest, Organisation, RequestChange, RequestChannel, RequestFilter,
    RequestStatus,
};

use crate::EnrolError;
use crate::error::InputProblem;
use crate::orgs::subject_for;
use crate::service::{Enrolment, sha256_hex};
use crate::sessions::SessionContext;

/// A certificate ready to install.
#[derive(Debug, Clone)]
pub struct CertificateBundle {
    /// The request.
    pub request_id: i64,
    /// Serial.
    pub serial: String,
    /// The certificate.
    pub der: Vec<u8>,
    /// Issuing CAs up to, not including, the root.
    pub chain: Vec<Vec<u8>>,
    /// The root.
    pub root: Vec<u8>,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
}

/// What a requester should do next, in words.
pub fn request_message(r: &CertRequest, helpdesk: &str) -> String {
    match r.status {
        RequestStatus::Pending => format!(
            "request {} is waiting for approval by the Registration Authority; check again later (ecmt requests)",
            r.id
        ),
        RequestStatus::Approved => {
            format!("request {} is Available for Download: download and install it (ecmt download {})", r.id, r.id)
        }
        RequestStatus::Downloaded => format!(
            "request {} was downloaded but not confirmed installed: download again to finish (ecmt download {})",
            r.id, r.id
        ),
        RequestStatus::Installed => format!("request {}'s certificate is installed", r.id),
        RequestStatus::Denied => format!(
            "request {} was denied: {}. Contact {helpdesk} and quote request {}",
            r.id,
            r.deny_reason.as_deref().unwrap_or("no reason given"),
            r.id
        ),
        RequestStatus::Cancelled => format!("request {} was cancelled", r.id),
    }
}

impl Enrolment {
    pub(crate) fn check_policy(&self, version: &str, accepted: bool) -> Result<(), EnrolError> {
        if !accepted || version != self.inner.config.policy_version {
            return Err(EnrolError::PolicyNotAccepted { current: self.inner.config.policy_version.clone() });
        }
        Ok(())
    }

    /// A new request from a logged-on organisation. Approved at once when the
    /// organisation's policy is automatic.
    pub async fn create_request(
        &self,
        ctx: &SessionContext,
        csr: &[u8],
        policy_version: &str,
        policy_accepted: bool,
    ) -> Result<CertRequest, EnrolError> {
        self.check_policy(policy_version, policy_accepted)?;
        let verified = VerifiedCsr::parse(csr).map_err(EnrolError::BadCsr)?;
        let org = &ctx.organisation;
        let id = self
            .insert_request(
                org,
                &verified,
                csr,
                RequestChannel::Pin,
                policy_version,
                &format!("org:{}", org.epoc),
                None,
            )
            .await?;
        if org.approval == ApprovalPolicy::Automatic {
            return self.approve(id, "policy:automatic").await;
        }
        self.get_request(id).await
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_request(
        &self,
        org: &Organisation,
        verified: &VerifiedCsr,
        csr: &[u8],
        channel: RequestChannel,
        policy_version: &str,
        requested_by: &str,
        renewal_of: Option<String>,
    ) -> Result<i64, EnrolError> {
        let csr_der = pki::cert::pem_or_der(csr, "CERTIFICATE REQUEST", "certificate request", pki::csr::MAX_CSR_BYTES)
            .map_err(EnrolError::BadCsr)?;
        let req = NewRequest {
            epoc: org.epoc.clone(),
            channel,
            csr_der,
            spki_sha256: sha256_hex(verified.spki_der()),
            policy_version: policy_version.into(),
            requested_by: requested_by.into(),
            renewal_of: renewal_of.clone(),
            created_at: self.now(),
        };
        let ev = self.event(
            requested_by,
            "request.created",
            "request",
            serde_json::json!({
                "epoc": org.epoc, "channel": channel.as_str(), "policy_version": policy_version,
                "key": verified.key().name(), "renewal_of": renewal_of,
            }),
        );
        Ok(self.store().insert_request(&req, RequestStatus::Pending, ev).await?)
    }

    pub(crate) async fn get_request(&self, id: i64) -> Result<CertRequest, EnrolError> {
        self.store().request(id).await?.ok_or(EnrolError::UnknownRequest(id))
    }

    /// One request, whoever's (for the RA: the caller checks the operator's scope).
    pub async fn request(&self, id: i64) -> Result<CertRequest, EnrolError> {
        self.get_request(id).await
    }

    /// One request, if it belongs to the session's organisation.
    pub async fn request_for(&self, ctx: &SessionContext, id: i64) -> Result<CertRequest, EnrolError> {
        let r = self.get_request(id).await?;
        if r.epoc != ctx.organisation.epoc {
            return Err(EnrolError::UnknownRequest(id));
        }
        Ok(r)
    }

    /// The organisation's requests, newest first.
    pub async fn requests_for(&self, ctx: &SessionContext) -> Result<Vec<CertRequest>, EnrolError> {
        Ok(self
            .store()
            .requests(&RequestFilter { epoc: Some(ctx.organisation.epoc.clone()), status: vec![], limit: 100 })
            .await?)
    }

    /// Requests for the RA (by state, organisation).
    pub async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<CertRequest>, EnrolError> {
        Ok(self.store().requests(filter).await?)
    }

    pub(crate) fn wrong_state(&self, r: &CertRequest, wanted: &str) -> EnrolError {
        self.wrong_state_for(r, wanted, &self.inner.config.helpdesk)
    }

    /// [`Self::wrong_state`] naming the helpdesk of the requester's kind of organisation.
    pub(crate) fn wrong_state_for(&self, r: &CertRequest, wanted: &str, helpdesk: &str) -> EnrolError {
        let hint = match r.status {
            RequestStatus::Denied | RequestStatus::Pending => request_message(r, helpdesk),
            RequestStatus::Installed => format!(
                "its certificate is installed already; {wanted} is not possible. To move it to another machine use `ecmt backup` and `ecmt restore`"
            ),
            _ => format!("{wanted} is not possible in this state"),
        };
        EnrolError::WrongState { id: r.id, status: r.status.to_string(), hint }
    }

    /// The lifecycle's guard: `r` may move to `to` only if the state machine allows it from
    /// its state ([`RequestStatus::transition`]) and the use case does (`from`). Refused with
    /// [`EnrolError::WrongState`], before anything is issued or recorded.
    pub(crate) fn check_move(
        &self,
        r: &CertRequest,
        from: &[RequestStatus],
        to: RequestStatus,
        wanted: &str,
    ) -> Result<(), EnrolError> {
        if !from.contains(&r.status) {
            return Err(self.wrong_state(r, wanted));
        }
        r.status.transition(to).map(|_| ()).map_err(|_| self.wrong_state(r, wanted))
    }

    /// Moves `r` to `to` through the guard and records it only if the row is still in a
    /// state the guard allows (someone else may have moved it meanwhile: then `false`).
    pub(crate) async fn move_request(
        &self,
        r: &CertRequest,
        from: &[RequestStatus],
        to: RequestStatus,
        wanted: &str,
        change: &RequestChange,
        event: AuditEvent,
    ) -> Result<bool, EnrolError> {
        self.check_move(r, from, to, wanted)?;
        let allowed: Vec<RequestStatus> = from.iter().copied().filter(|s| s.can_become(to)).collect();
        Ok(self.store().transition_request(r.id, &allowed, to, change, event).await?)
    }

    /// [`Self::move_request`], where losing the race is refused with the state it lost to.
    async fn move_or_refuse(
        &self,
        r: &CertRequest,
        from: &[RequestStatus],
        to: RequestStatus,
        wanted: &str,
        change: &RequestChange,
        event: AuditEvent,
    ) -> Result<CertRequest, EnrolError> {
        if !self.move_request(r, from, to, wanted, change, event).await? {
            let now = self.get_request(r.id).await?;
            return Err(self.wrong_state(&now, wanted));
        }
        self.get_request(r.id).await
    }

    /// RA approval: issues the certificate and makes it available for download.
    pub async fn approve(&self, id: i64, actor: &str) -> Result<CertRequest, EnrolError> {
        let r = self.get_request(id).await?;
        self.check_move(&r, &[RequestStatus::Pending], RequestStatus::Approved, "approval")?;
        let org = self.organisation(&r.epoc).await?;
        self.require_active(&org)?;
        let issued = self
            .inner
            .authority
            .issue(IssueRequest {
                ca: self.inner.config.issuing_ca.clone(),
                profile: Profile::SystemClient,
                csr: VerifiedCsr::parse(&r.csr_der).map_err(ca::CaError::from)?,
                subject: subject_for(&org),
                sans: vec![],
                validity_days: self.inner.config.certificate_days,
                actor: actor.into(),
            })
            .await?;
        let now = self.now();
        let change = RequestChange {
            decided: Some((now, actor.into())),
            certificate: Some((issued.issuer.clone(), issued.serial.clone())),
            ..Default::default()
        };
        let ev = self.event(
            actor,
            "request.approved",
            &format!("request/{id}"),
            serde_json::json!({"epoc": org.epoc, "serial": issued.serial}),
        );
        let moved =
            self.move_or_refuse(&r, &[RequestStatus::Pending], RequestStatus::Approved, "approval", &change, ev).await;
        if moved.is_err() {
            // Someone else decided first (or the record failed): the certificate just made
            // must not stay valid.
            let _ = self
                .inner
                .authority
                .revoke(RevokeRequest {
                    ca: Some(issued.issuer.clone()),
                    serial: issued.serial.clone(),
                    reason: RevocationReason::Superseded,
                    actor: "system".into(),
                })
                .await;
        }
        moved
    }

    /// RA denial with a reason the requester sees.
    pub async fn deny(&self, id: i64, actor: &str, reason: &str) -> Result<CertRequest, EnrolError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(EnrolError::BadInput(InputProblem::DenyReason));
        }
        let r = self.get_request(id).await?;
        self.check_move(&r, &[RequestStatus::Pending], RequestStatus::Denied, "denial")?;
        let change = RequestChange {
            decided: Some((self.now(), actor.into())),
            deny_reason: Some(reason.into()),
            ..Default::default()
        };
        let ev = self.event(actor, "request.denied", &format!("request/{id}"), serde_json::json!({"reason": reason}));
        self.move_or_refuse(&r, &[RequestStatus::Pending], RequestStatus::Denied, "denial", &change, ev).await
    }

    /// Cancels a pending request (by its organisation).
    pub async fn cancel(&self, ctx: &SessionContext, id: i64) -> Result<CertRequest, EnrolError> {
        let r = self.request_for(ctx, id).await?;
        if r.status != RequestStatus::Pending {
            return Err(self.wrong_state_for(&r, "cancelling", self.inner.config.helpdesk_for(ctx.organisation.kind)));
        }
        // The state machine allows cancelling an approved request; its organisation may
        // only cancel one still pending (an approved one has a valid certificate).
        self.check_move(&r, &[RequestStatus::Pending], RequestStatus::Cancelled, "cancelling")?;
        let actor = format!("org:{}", ctx.organisation.epoc);
        let change = RequestChange { decided: Some((self.now(), actor.clone())), ..Default::default() };
        let ev = self.event(&actor, "request.cancelled", &format!("request/{id}"), serde_json::json!({}));
        self.move_or_refuse(&r, &[RequestStatus::Pending], RequestStatus::Cancelled, "cancelling", &change, ev).await
    }

    /// Download: the same certificate every time until the install is confirmed.
    pub async fn download(&self, ctx: &SessionContext, id: i64) -> Result<CertificateBundle, EnrolError> {
        let r = self.request_for(ctx, id).await?;
        if !matches!(r.status, RequestStatus::Approved | RequestStatus::Downloaded) {
            return Err(self.wrong_state_for(&r, "download", self.inner.config.helpdesk_for(ctx.organisation.kind)));
        }
        self.download_request(r, &format!("org:{}", ctx.organisation.epoc)).await
    }

    pub(crate) async fn download_request(&self, r: CertRequest, actor: &str) -> Result<CertificateBundle, EnrolError> {
        const FROM: &[RequestStatus] = &[RequestStatus::Approved, RequestStatus::Downloaded];
        self.check_move(&r, FROM, RequestStatus::Downloaded, "download")?;
        let bundle = self.bundle(&r).await?;
        if r.status == RequestStatus::Approved {
            let change = RequestChange { downloaded_at: Some(self.now()), ..Default::default() };
            let ev = self.event(
                actor,
                "request.downloaded",
                &format!("request/{}", r.id),
                serde_json::json!({"serial": bundle.serial}),
            );
            // Downloaded again meanwhile (or installed): the bundle is the same either way.
            self.move_request(&r, FROM, RequestStatus::Downloaded, "download", &change, ev).await?;
        }
        Ok(bundle)
    }

    pub(crate) async fn bundle(&self, r: &CertRequest) -> Result<CertificateBundle, EnrolError> {
        let (Some(issuer), Some(serial)) = (&r.issuer, &r.serial) else {
            return Err(EnrolError::Internal(format!("request {} is {} but has no certificate", r.id, r.status)));
        };
        let rec = self
            .store()
            .certificate(issuer, serial)
            .await?
            .ok_or_else(|| EnrolError::Internal(format!("certificate {serial} of request {} is missing", r.id)))?;
        let der = rec.der.ok_or_else(|| EnrolError::Internal(format!("certificate {serial} was never signed")))?;
        let (chain, root) = self.chain_of(issuer)?;
        Ok(CertificateBundle {
            request_id: r.id,
            serial: serial.clone(),
            der,
            chain,
            root,
            not_before: rec.not_before,
            not_after: rec.not_after,
        })
    }

    /// The issuing chain of CA `name` (excluding the root) and the root.
    pub fn chain_of(&self, name: &str) -> Result<(Vec<Vec<u8>>, Vec<u8>), EnrolError> {
        let cas = self.inner.authority.ca_certificates();
        let mut chain = Vec::new();
        let mut cur = name.to_string();
        for _ in 0..8 {
            let (_, parent, der) = cas
                .iter()
                .find(|(n, _, _)| *n == cur)
                .ok_or_else(|| EnrolError::Internal(format!("CA {cur} is not loaded")))?;
            match parent {
                Some(p) => {
                    chain.push(der.clone());
                    cur = p.clone();
                }
                None => return Ok((chain, der.clone())),
            }
        }
        Err(EnrolError::Internal("CA chain too long".into()))
    }

    /// The client confirms the certificate is installed: no more downloads.
    pub async fn mark_installed(&self, ctx: &SessionContext, id: i64) -> Result<CertRequest, EnrolError> {
        let r = self.request_for(ctx, id).await?;
        self.install_request(r, &format!("org:{}", ctx.organisation.epoc)).await
    }

    pub(crate) async fn install_request(&self, r: CertRequest, actor: &str) -> Result<CertRequest, EnrolError> {
        const FROM: &[RequestStatus] = &[RequestStatus::Approved, RequestStatus::Downloaded];
        self.check_move(&r, FROM, RequestStatus::Installed, "confirming the install")?;
        let now = self.now();
        let change = RequestChange { downloaded_at: Some(now), installed_at: Some(now), ..Default::default() };
        let ev = self.event(
            actor,
            "request.installed",
            &format!("request/{}", r.id),
            serde_json::json!({"serial": r.serial}),
        );
        self.move_or_refuse(&r, FROM, RequestStatus::Installed, "confirming the install", &change, ev).await
    }
}

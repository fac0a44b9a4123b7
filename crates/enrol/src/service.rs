//! The enrolment service: every rule of DESIGN §2.1–2.3 in one place.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ca::{Authority, IssueRequest, RevokeRequest};
use pki::{CertificateInfo, Profile, RevocationReason, SubjectName, VerifiedCsr};
use sha2::{Digest, Sha256};
use store::{
    ApprovalPolicy, AuditEvent, CertRequest, CertStatus, EnrolSession, NewRequest, OrgKind, OrgStatus, Organisation,
    Release, RequestChange, RequestChannel, RequestFilter, RequestStatus, Store, TrustEvent,
};

use crate::EnrolError;
use crate::letter::{PinLetter, render_letter};
use crate::pin::{EnrolmentPin, decoy_hash, verify_secret};

/// The rules' numbers (DESIGN §2 defaults) and the words shown to users.
#[derive(Debug, Clone)]
pub struct EnrolConfig {
    /// How long a PIN letter is valid.
    pub pin_validity: Duration,
    /// Consecutive wrong PINs before the lockout.
    pub max_failures: i64,
    /// How long the lockout lasts.
    pub lockout: Duration,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// Current acceptable-use policy version.
    pub policy_version: String,
    /// Its text.
    pub policy_text: String,
    /// Helpdesk contact shown in refusals and letters.
    pub helpdesk: String,
    /// Where the clients are downloaded.
    pub download_page: String,
    /// The CA that issues machine certificates.
    pub issuing_ca: String,
    /// Certificate lifetime in days (`None`: the profile's default).
    pub certificate_days: Option<u32>,
}

impl Default for EnrolConfig {
    fn default() -> Self {
        Self {
            pin_validity: Duration::from_secs(14 * 24 * 3600),
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            session_ttl: Duration::from_secs(8 * 3600),
            policy_version: "2026-1".into(),
            policy_text: "carecert acceptable-use policy, version 2026-1.\n\
                The certificate identifies your organisation's system to the message store. Install it only on \
                the system it was requested for; keep the private key and any backup file protected by a strong \
                password; tell the helpdesk at once if the system or a backup is lost or stolen, so the \
                certificate can be revoked; do not use it for anything but sending and receiving messages for \
                your organisation."
                .into(),
            helpdesk: "the carecert helpdesk (0300 123 4567, helpdesk@carecert.example)".into(),
            download_page: "https://carecert.example/downloads".into(),
            issuing_ca: "systems".into(),
            certificate_days: None,
        }
    }
}

/// A PIN just issued: the secret and its letter. Shown once, then dropped.
#[derive(Debug, Clone)]
pub struct IssuedPin {
    /// The PIN.
    pub pin: EnrolmentPin,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
    /// The letter.
    pub letter: PinLetter,
    /// The letter as PDF.
    pub pdf: Vec<u8>,
}

/// What the update check says about a client version.
#[derive(Debug, Clone)]
pub struct ClientVersionCheck {
    /// The newest release.
    pub latest: Option<Release>,
    /// A newer one exists.
    pub update_available: bool,
    /// Below the minimum: refused.
    pub update_required: bool,
    /// The minimum supported version.
    pub minimum: Option<String>,
}

/// The full update check.
#[derive(Debug, Clone)]
pub struct UpdateCheck {
    /// Version verdict.
    pub version: ClientVersionCheck,
    /// CA certificates added since the cursor (name, PEM).
    pub added: Vec<(String, String)>,
    /// CAs withdrawn since the cursor.
    pub withdrawn: Vec<String>,
    /// The new cursor.
    pub cursor: i64,
}

/// A successful logon.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// Bearer token (only its hash is stored).
    pub token: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
    /// The organisation.
    pub organisation: Organisation,
}

/// Who a valid session belongs to.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The organisation.
    pub organisation: Organisation,
    /// The client version it logged on with.
    pub client_version: String,
}

/// The holder of an accepted client certificate.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The organisation.
    pub organisation: Organisation,
    /// Issuing CA.
    pub issuer: String,
    /// Serial.
    pub serial: String,
    /// notAfter (Unix seconds).
    pub not_after: i64,
    /// The certificate's public key (DER SPKI).
    pub spki_der: Vec<u8>,
}

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
            format!("request {} is approved: download and install it (ecmt download {})", r.id, r.id)
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

/// Machine-certificate enrolment. Cheap to clone.
#[derive(Clone)]
pub struct Enrolment {
    inner: Arc<Inner>,
}

struct Inner {
    authority: Authority,
    config: EnrolConfig,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment").finish_non_exhaustive()
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn valid_epoc(epoc: &str) -> bool {
    !epoc.is_empty() && epoc.len() <= 12 && epoc.bytes().all(|b| b.is_ascii_digit())
}

fn parse_version(v: &str) -> Result<semver::Version, EnrolError> {
    semver::Version::parse(v.trim().trim_start_matches('v'))
        .map_err(|_| EnrolError::BadInput(format!("'{v}' is not a version number like 1.4.2")))
}

impl Enrolment {
    /// The service over `authority` (whose store and clock it uses).
    pub fn new(authority: Authority, config: EnrolConfig) -> Self {
        Self { inner: Arc::new(Inner { authority, config }) }
    }

    /// The rules in force.
    pub fn config(&self) -> &EnrolConfig {
        &self.inner.config
    }

    fn store(&self) -> &Store {
        self.inner.authority.store()
    }

    fn now(&self) -> i64 {
        self.inner.authority.clock().now().unix_timestamp()
    }

    fn event(&self, actor: &str, action: &str, subject: &str, details: serde_json::Value) -> AuditEvent {
        AuditEvent {
            at_ms: self.inner.authority.clock().now().unix_timestamp() * 1000,
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            details,
        }
    }

    // ---------------------------------------------------------------- organisations

    /// Adds an organisation (RA / operator).
    pub async fn add_organisation(
        &self,
        epoc: &str,
        name: &str,
        kind: OrgKind,
        approval: ApprovalPolicy,
        actor: &str,
    ) -> Result<Organisation, EnrolError> {
        let epoc = epoc.trim();
        if !valid_epoc(epoc) {
            return Err(EnrolError::BadInput(format!(
                "'{epoc}' is not an EPOC: use the organisation code, 1 to 12 digits"
            )));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(EnrolError::BadInput("the organisation name must be 1 to 64 printable characters".into()));
        }
        let org = Organisation {
            epoc: epoc.into(),
            name: name.into(),
            kind,
            status: OrgStatus::Active,
            approval,
            created_at: self.now(),
        };
        let ev = self.event(
            actor,
            "organisation.added",
            &format!("org:{epoc}"),
            serde_json::json!({"name": name, "kind": kind.as_str(), "approval": approval.as_str()}),
        );
        self.store().insert_organisation(&org, ev).await?;
        Ok(org)
    }

    /// One organisation.
    pub async fn organisation(&self, epoc: &str) -> Result<Organisation, EnrolError> {
        self.store().organisation(epoc).await?.ok_or_else(|| EnrolError::UnknownOrganisation(epoc.into()))
    }

    /// Every organisation.
    pub async fn organisations(&self) -> Result<Vec<Organisation>, EnrolError> {
        Ok(self.store().organisations().await?)
    }

    /// Changes an organisation's status or approval policy.
    pub async fn change_organisation(
        &self,
        epoc: &str,
        status: Option<OrgStatus>,
        approval: Option<ApprovalPolicy>,
        actor: &str,
    ) -> Result<Organisation, EnrolError> {
        let org = self.organisation(epoc).await?;
        let status = status.unwrap_or(org.status);
        let approval = approval.unwrap_or(org.approval);
        let ev = self.event(
            actor,
            "organisation.changed",
            &format!("org:{epoc}"),
            serde_json::json!({"status": status.as_str(), "approval": approval.as_str()}),
        );
        self.store().update_organisation(epoc, status, approval, ev).await?;
        self.organisation(epoc).await
    }

    // ---------------------------------------------------------------- PIN letters

    /// Issues a new PIN for `epoc`, superseding older ones, and renders its letter.
    pub async fn issue_pin(&self, epoc: &str, actor: &str) -> Result<IssuedPin, EnrolError> {
        let org = self.organisation(epoc).await?;
        if org.status != OrgStatus::Active {
            return Err(EnrolError::OrganisationNotActive {
                epoc: org.epoc,
                status: org.status.to_string(),
                helpdesk: self.inner.config.helpdesk.clone(),
            });
        }
        let pin = EnrolmentPin::generate()?;
        let hash = pin.hash()?;
        let now = self.now();
        let expires_at = now + self.inner.config.pin_validity.as_secs() as i64;
        let ev = self.event(actor, "pin.issued", &format!("org:{epoc}"), serde_json::json!({"expires_at": expires_at}));
        self.store().issue_pin(&org.epoc, &hash, actor, now, expires_at, ev).await?;
        let fmt_date = |t: i64, with_time: bool| {
            let d = time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            if with_time {
                format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", d.year(), d.month() as u8, d.day(), d.hour(), d.minute())
            } else {
                format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
            }
        };
        let letter = PinLetter {
            epoc: org.epoc.clone(),
            organisation: org.name.clone(),
            pin: pin.expose().to_string(),
            issued_on: fmt_date(now, false),
            expires: fmt_date(expires_at, true),
            helpdesk: self.inner.config.helpdesk.clone(),
            download_page: self.inner.config.download_page.clone(),
        };
        let pdf = render_letter(&letter);
        Ok(IssuedPin { pin, expires_at, letter, pdf })
    }

    // ---------------------------------------------------------------- releases, update check

    /// Registers a client release.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_release(
        &self,
        product: &str,
        version: &str,
        minimum: bool,
        url: &str,
        sha256: &str,
        notes: &str,
        actor: &str,
    ) -> Result<Release, EnrolError> {
        if !matches!(product, "ecmt" | "carecert-agent") {
            return Err(EnrolError::BadInput(format!("unknown product '{product}': use ecmt or carecert-agent")));
        }
        let v = parse_version(version)?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EnrolError::BadInput("the SHA-256 must be 64 hex digits (sha256sum prints it)".into()));
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(EnrolError::BadInput("the download URL must start with https://".into()));
        }
        let r = Release {
            product: product.into(),
            version: v.to_string(),
            minimum,
            url: url.into(),
            sha256: sha256.to_ascii_lowercase(),
            notes: notes.into(),
            created_at: self.now(),
        };
        let ev = self.event(
            actor,
            "release.added",
            &format!("{product}/{v}"),
            serde_json::json!({"minimum": minimum, "url": url}),
        );
        self.store().add_release(&r, ev).await?;
        Ok(r)
    }

    /// Every release of a product.
    pub async fn releases(&self, product: &str) -> Result<Vec<Release>, EnrolError> {
        Ok(self.store().releases(product).await?)
    }

    /// Whether `version` of `product` is current, outdated or below the minimum.
    pub async fn check_client(&self, product: &str, version: &str) -> Result<ClientVersionCheck, EnrolError> {
        let mine = parse_version(version)?;
        let releases = self.store().releases(product).await?;
        let mut parsed: Vec<(semver::Version, Release)> =
            releases.into_iter().filter_map(|r| semver::Version::parse(&r.version).ok().map(|v| (v, r))).collect();
        parsed.sort_by(|a, b| a.0.cmp(&b.0));
        let minimum = parsed.iter().filter(|(_, r)| r.minimum).map(|(v, _)| v.clone()).max();
        let latest = parsed.last().cloned();
        Ok(ClientVersionCheck {
            update_available: latest.as_ref().is_some_and(|(v, _)| *v > mine),
            update_required: minimum.as_ref().is_some_and(|m| mine < *m),
            minimum: minimum.map(|m| m.to_string()),
            latest: latest.map(|(_, r)| r),
        })
    }

    /// The update check: version verdict plus the trust feed since `cursor`.
    pub async fn update_check(&self, product: &str, version: &str, cursor: i64) -> Result<UpdateCheck, EnrolError> {
        let verdict = self.check_client(product, version).await?;
        let events: Vec<TrustEvent> = self.store().trust_events(cursor.max(0)).await?;
        let cas = self.inner.authority.ca_certificates();
        let mut added = Vec::new();
        let mut withdrawn = Vec::new();
        let mut new_cursor = cursor.max(0);
        for e in events {
            new_cursor = new_cursor.max(e.seq);
            match e.kind.as_str() {
                "added" => {
                    if let Some((_, _, der)) = cas.iter().find(|(n, _, _)| *n == e.ca_name) {
                        added.push((e.ca_name.clone(), pki::cert::to_pem("CERTIFICATE", der)));
                    }
                }
                _ => withdrawn.push(e.ca_name.clone()),
            }
        }
        Ok(UpdateCheck { version: verdict, added, withdrawn, cursor: new_cursor })
    }

    // ---------------------------------------------------------------- sessions

    /// Logon with EPOC + PIN. The answer for an unknown EPOC and for a wrong PIN is the same.
    pub async fn login(&self, epoc: &str, pin: &str, product: &str, version: &str) -> Result<LoggedIn, EnrolError> {
        let cfg = &self.inner.config;
        let verdict = self.check_client(product, version).await?;
        if verdict.update_required {
            return Err(EnrolError::ClientTooOld {
                product: product.into(),
                version: version.into(),
                minimum: verdict.minimum.unwrap_or_default(),
                download_page: verdict.latest.map(|r| r.url).unwrap_or_else(|| cfg.download_page.clone()),
            });
        }
        let failed = EnrolError::LoginFailed { max: cfg.max_failures, lock_minutes: cfg.lockout.as_secs() as i64 / 60 };
        let epoc = epoc.trim();
        let typed = EnrolmentPin::normalise(pin);
        if !valid_epoc(epoc) || typed.is_empty() || typed.len() > 64 {
            let _ = verify_secret(&typed, decoy_hash());
            return Err(failed);
        }
        let now = self.now();
        let state = self.store().login_failures(epoc).await?;
        if state.locked_until > now {
            return Err(self.locked_out(state.locked_until));
        }
        let org = self.store().organisation(epoc).await?;
        let pins = match &org {
            Some(_) => self.store().active_pins(epoc, now).await?,
            None => Vec::new(),
        };
        // Argon2 is slow on purpose: run it off the async workers.
        let hashes: Vec<String> = pins.iter().map(|p| p.pin_hash.clone()).collect();
        let typed_c = typed.clone();
        let matched = tokio::task::spawn_blocking(move || {
            if hashes.is_empty() {
                let _ = verify_secret(&typed_c, decoy_hash());
                return false;
            }
            hashes.iter().any(|h| verify_secret(&typed_c, h))
        })
        .await
        .map_err(|e| EnrolError::Internal(e.to_string()))?;
        let Some(org) = org.filter(|_| matched) else {
            let ev = self.event(
                &format!("org:{epoc}"),
                "enrol.login_failed",
                &format!("org:{epoc}"),
                serde_json::json!({"client": format!("{product} {version}")}),
            );
            let state = self
                .store()
                .record_login_failure(epoc, now, cfg.max_failures, cfg.lockout.as_secs() as i64, ev)
                .await?;
            if state.locked_until > now {
                return Err(self.locked_out(state.locked_until));
            }
            return Err(failed);
        };
        if org.status != OrgStatus::Active {
            return Err(EnrolError::OrganisationNotActive {
                epoc: org.epoc,
                status: org.status.to_string(),
                helpdesk: cfg.helpdesk.clone(),
            });
        }
        let raw: [u8; 32] = pki::random_bytes().map_err(|e| EnrolError::Internal(e.to_string()))?;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let expires_at = now + cfg.session_ttl.as_secs() as i64;
        let session = EnrolSession {
            epoc: org.epoc.clone(),
            client_version: format!("{product} {version}"),
            expires_at,
            ended_at: None,
        };
        let ev = self.event(
            &format!("org:{}", org.epoc),
            "enrol.login",
            &format!("org:{}", org.epoc),
            serde_json::json!({"client": session.client_version}),
        );
        self.store().create_enrol_session(&sha256_hex(token.as_bytes()), &session, now, ev).await?;
        Ok(LoggedIn { token, expires_at, organisation: org })
    }

    fn locked_out(&self, until: i64) -> EnrolError {
        let d = time::OffsetDateTime::from_unix_timestamp(until).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        EnrolError::LockedOut {
            until_unix: until,
            until: format!("{:04}-{:02}-{:02} {:02}:{:02}", d.year(), d.month() as u8, d.day(), d.hour(), d.minute()),
        }
    }

    /// The session behind a bearer token.
    pub async fn session(&self, token: &str) -> Result<SessionContext, EnrolError> {
        if token.is_empty() || token.len() > 128 {
            return Err(EnrolError::SessionInvalid);
        }
        let s = self.store().enrol_session(&sha256_hex(token.as_bytes())).await?.ok_or(EnrolError::SessionInvalid)?;
        if s.ended_at.is_some() || s.expires_at <= self.now() {
            return Err(EnrolError::SessionInvalid);
        }
        let org = self.organisation(&s.epoc).await?;
        if org.status != OrgStatus::Active {
            return Err(EnrolError::OrganisationNotActive {
                epoc: org.epoc,
                status: org.status.to_string(),
                helpdesk: self.inner.config.helpdesk.clone(),
            });
        }
        Ok(SessionContext { organisation: org, client_version: s.client_version })
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str) -> Result<(), EnrolError> {
        let ctx = self.session(token).await?;
        let epoc = ctx.organisation.epoc;
        let ev = self.event(&format!("org:{epoc}"), "enrol.logout", &format!("org:{epoc}"), serde_json::json!({}));
        self.store().end_enrol_session(&sha256_hex(token.as_bytes()), self.now(), ev).await?;
        Ok(())
    }

    // ---------------------------------------------------------------- requests

    fn check_policy(&self, version: &str, accepted: bool) -> Result<(), EnrolError> {
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
    async fn insert_request(
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

    async fn get_request(&self, id: i64) -> Result<CertRequest, EnrolError> {
        self.store().request(id).await?.ok_or(EnrolError::UnknownRequest(id))
    }

    /// One of the organisation's requests.
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

    fn wrong_state(&self, r: &CertRequest, wanted: &str) -> EnrolError {
        let hint = match r.status {
            RequestStatus::Denied | RequestStatus::Pending => request_message(r, &self.inner.config.helpdesk),
            RequestStatus::Installed => format!(
                "its certificate is installed already; {wanted} is not possible. To move it to another machine use `ecmt backup` and `ecmt restore`"
            ),
            _ => format!("{wanted} is not possible in this state"),
        };
        EnrolError::WrongState { id: r.id, status: r.status.to_string(), hint }
    }

    /// RA approval: issues the certificate and makes it available for download.
    pub async fn approve(&self, id: i64, actor: &str) -> Result<CertRequest, EnrolError> {
        let r = self.get_request(id).await?;
        if r.status != RequestStatus::Pending {
            return Err(self.wrong_state(&r, "approval"));
        }
        let org = self.organisation(&r.epoc).await?;
        if org.status != OrgStatus::Active {
            return Err(EnrolError::OrganisationNotActive {
                epoc: org.epoc,
                status: org.status.to_string(),
                helpdesk: self.inner.config.helpdesk.clone(),
            });
        }
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
        if !self.store().transition_request(id, &[RequestStatus::Pending], RequestStatus::Approved, &change, ev).await?
        {
            // Someone else decided first: the certificate just made must not stay valid.
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
            let r = self.get_request(id).await?;
            return Err(self.wrong_state(&r, "approval"));
        }
        self.get_request(id).await
    }

    /// RA denial with a reason the requester sees.
    pub async fn deny(&self, id: i64, actor: &str, reason: &str) -> Result<CertRequest, EnrolError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(EnrolError::BadInput("give a reason (1 to 500 characters): the requester sees it".into()));
        }
        let r = self.get_request(id).await?;
        if r.status != RequestStatus::Pending {
            return Err(self.wrong_state(&r, "denial"));
        }
        let change = RequestChange {
            decided: Some((self.now(), actor.into())),
            deny_reason: Some(reason.into()),
            ..Default::default()
        };
        let ev = self.event(actor, "request.denied", &format!("request/{id}"), serde_json::json!({"reason": reason}));
        if !self.store().transition_request(id, &[RequestStatus::Pending], RequestStatus::Denied, &change, ev).await? {
            let r = self.get_request(id).await?;
            return Err(self.wrong_state(&r, "denial"));
        }
        self.get_request(id).await
    }

    /// Cancels a pending request (by its organisation).
    pub async fn cancel(&self, ctx: &SessionContext, id: i64) -> Result<CertRequest, EnrolError> {
        let r = self.request_for(ctx, id).await?;
        if r.status != RequestStatus::Pending {
            return Err(self.wrong_state(&r, "cancelling"));
        }
        let actor = format!("org:{}", ctx.organisation.epoc);
        let change = RequestChange { decided: Some((self.now(), actor.clone())), ..Default::default() };
        let ev = self.event(&actor, "request.cancelled", &format!("request/{id}"), serde_json::json!({}));
        if !self
            .store()
            .transition_request(id, &[RequestStatus::Pending], RequestStatus::Cancelled, &change, ev)
            .await?
        {
            let r = self.get_request(id).await?;
            return Err(self.wrong_state(&r, "cancelling"));
        }
        self.get_request(id).await
    }

    /// Download: the same certificate every time until the install is confirmed.
    pub async fn download(&self, ctx: &SessionContext, id: i64) -> Result<CertificateBundle, EnrolError> {
        let r = self.request_for(ctx, id).await?;
        self.download_request(r, &format!("org:{}", ctx.organisation.epoc)).await
    }

    async fn download_request(&self, r: CertRequest, actor: &str) -> Result<CertificateBundle, EnrolError> {
        if !matches!(r.status, RequestStatus::Approved | RequestStatus::Downloaded) {
            return Err(self.wrong_state(&r, "download"));
        }
        let bundle = self.bundle(&r).await?;
        if r.status == RequestStatus::Approved {
            let change = RequestChange { downloaded_at: Some(self.now()), ..Default::default() };
            let ev = self.event(
                actor,
                "request.downloaded",
                &format!("request/{}", r.id),
                serde_json::json!({"serial": bundle.serial}),
            );
            self.store()
                .transition_request(
                    r.id,
                    &[RequestStatus::Approved, RequestStatus::Downloaded],
                    RequestStatus::Downloaded,
                    &change,
                    ev,
                )
                .await?;
        }
        Ok(bundle)
    }

    async fn bundle(&self, r: &CertRequest) -> Result<CertificateBundle, EnrolError> {
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

    async fn install_request(&self, r: CertRequest, actor: &str) -> Result<CertRequest, EnrolError> {
        if !matches!(r.status, RequestStatus::Approved | RequestStatus::Downloaded) {
            return Err(self.wrong_state(&r, "confirming the install"));
        }
        let now = self.now();
        let change = RequestChange { downloaded_at: Some(now), installed_at: Some(now), ..Default::default() };
        let ev = self.event(
            actor,
            "request.installed",
            &format!("request/{}", r.id),
            serde_json::json!({"serial": r.serial}),
        );
        if !self
            .store()
            .transition_request(
                r.id,
                &[RequestStatus::Approved, RequestStatus::Downloaded],
                RequestStatus::Installed,
                &change,
                ev,
            )
            .await?
        {
            let r = self.get_request(r.id).await?;
            return Err(self.wrong_state(&r, "confirming the install"));
        }
        self.get_request(r.id).await
    }

    // ---------------------------------------------------------------- mutual TLS

    /// Who holds this client certificate — accepted only if carecert issued it from the
    /// machine CA, it is unrevoked and in its validity period, and its organisation is active.
    pub async fn identify(&self, leaf_der: &[u8]) -> Result<Sender, EnrolError> {
        let info = CertificateInfo::parse(leaf_der)
            .map_err(|e| EnrolError::CertificateRefused(format!("it cannot be read ({e})")))?;
        let ca = &self.inner.config.issuing_ca;
        let rec = self.store().certificate(ca, &info.serial).await?.ok_or_else(|| {
            EnrolError::CertificateRefused(format!("serial {} was not issued by the '{ca}' CA", info.serial))
        })?;
        if rec.der.as_deref() != Some(leaf_der) {
            return Err(EnrolError::CertificateRefused(format!(
                "it does not match the certificate with serial {} on record",
                info.serial
            )));
        }
        if rec.profile != Profile::SystemClient.name() {
            return Err(EnrolError::CertificateRefused("it is not a system certificate".into()));
        }
        match rec.status {
            CertStatus::Issued => {}
            CertStatus::Revoked { reason, .. } => {
                return Err(EnrolError::CertificateRefused(format!(
                    "certificate {} is revoked ({}); request a new one with your PIN letter (ecmt renew)",
                    info.serial,
                    RevocationReason::from_code(reason).map(|r| r.name()).unwrap_or("unspecified")
                )));
            }
            CertStatus::Reserved => {
                return Err(EnrolError::CertificateRefused(format!("certificate {} was never issued", info.serial)));
            }
        }
        let now = self.now();
        if now >= rec.not_after || now < rec.not_before {
            return Err(EnrolError::CertificateRefused(format!(
                "certificate {} is outside its validity period; request a new one with your PIN letter",
                info.serial
            )));
        }
        let req = self.store().request_for_serial(&info.serial).await?.ok_or_else(|| {
            EnrolError::CertificateRefused(format!("certificate {} belongs to no organisation", info.serial))
        })?;
        let org = self.organisation(&req.epoc).await?;
        if org.status != OrgStatus::Active {
            return Err(EnrolError::OrganisationNotActive {
                epoc: org.epoc,
                status: org.status.to_string(),
                helpdesk: self.inner.config.helpdesk.clone(),
            });
        }
        Ok(Sender {
            organisation: org,
            issuer: rec.issuer,
            serial: info.serial,
            not_after: rec.not_after,
            spki_der: info.spki_der,
        })
    }

    /// Renewal with the current certificate (mutual TLS, no PIN): a new request for a new
    /// key, approved at once (the holder proved itself with a valid certificate), issued
    /// and returned. The old certificate stays valid until it expires or is revoked.
    pub async fn renew_with_certificate(
        &self,
        leaf_der: &[u8],
        csr: &[u8],
        policy_version: &str,
        policy_accepted: bool,
    ) -> Result<CertificateBundle, EnrolError> {
        let sender = self.identify(leaf_der).await?;
        self.check_policy(policy_version, policy_accepted)?;
        let verified = VerifiedCsr::parse(csr).map_err(EnrolError::BadCsr)?;
        if verified.spki_der() == sender.spki_der.as_slice() {
            return Err(EnrolError::KeyReused);
        }
        let actor = format!("cert:{}", sender.serial);
        let id = self
            .insert_request(
                &sender.organisation,
                &verified,
                csr,
                RequestChannel::Certificate,
                policy_version,
                &actor,
                Some(sender.serial.clone()),
            )
            .await?;
        let r = self.approve(id, "policy:renewal-with-certificate").await?;
        let bundle = self.bundle(&r).await?;
        // The answer carries the certificate: that is the download and the install.
        self.install_request(r, &actor).await?;
        Ok(bundle)
    }
}

fn subject_for(org: &Organisation) -> SubjectName {
    let cn: String = org.name.chars().take(64).collect();
    SubjectName {
        country: Some("GB".into()),
        organization: Some(cn.clone()),
        organizational_unit: Some(org.kind.to_string()),
        common_name: format!("EPOC {}", org.epoc),
        serial_number: Some(org.epoc.clone()),
    }
}

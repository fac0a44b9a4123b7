//! Issuance, in one place: the request (a CSR already verified), the profile check, the
//! URLs baked into certificates, and Boulder's order — reserve, sign, store, return (one
//! merged write when the key signs in this process).

use std::sync::atomic::Ordering;

use pki::cert::{CertificateOrder, CertificateTemplate, San};
use pki::{CaIdentity, Profile, PublicationUrls, Serial, SubjectName, VerifiedCsr};
use store::{AuditEvent, CompletedCertificate, NewCertificate, Store};
use types::{Action, Actor, Clock};

use crate::authority::LoadedCa;
use crate::{Authority, CaError};

/// A certificate to issue from a PKCS#10 request.
///
/// The request was parsed and its signature checked once, by [`VerifiedCsr::parse`]: only
/// its public key is used here.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// Issuing CA name.
    pub ca: String,
    /// Profile.
    pub profile: Profile,
    /// The verified request (proof of possession done, key policy applied).
    pub csr: VerifiedCsr,
    /// The subject, decided by the caller from its records.
    pub subject: SubjectName,
    /// Subject alternative names.
    pub sans: Vec<San>,
    /// Lifetime override in days.
    pub validity_days: Option<u32>,
    /// Who asks (audit).
    pub actor: String,
}

/// An issued certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Issuing CA name.
    pub issuer: String,
    /// Serial, canonical hex.
    pub serial: String,
    /// Profile.
    pub profile: Profile,
    /// The certificate.
    pub der: Vec<u8>,
    /// The issuing CA's certificates up to, not including, the root.
    pub chain: Vec<Vec<u8>>,
    /// notBefore (Unix seconds).
    pub not_before: i64,
    /// notAfter (Unix seconds).
    pub not_after: i64,
}

/// The profiles each CA issues. The root issues only CAs (and its own responder);
/// `systems` issues machine and server certificates; `smartcards` issues card certificates.
pub fn allowed_profiles(ca: &str) -> &'static [Profile] {
    match crate::keys::family_of(ca) {
        "root" => &[Profile::IssuingCa, Profile::OcspResponder],
        "systems" => &[Profile::SystemClient, Profile::TlsServer, Profile::OcspResponder],
        "smartcards" => &[Profile::CardAuth, Profile::CardSign, Profile::OcspResponder],
        _ => &[],
    }
}

pub(crate) fn check_profile(ca: &str, profile: Profile) -> Result<(), CaError> {
    let allowed = allowed_profiles(ca);
    if allowed.contains(&profile) {
        Ok(())
    } else {
        Err(CaError::ProfileNotAllowed {
            ca: ca.into(),
            profile: profile.name().into(),
            allowed: allowed.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// The URLs put into certificates issued by `issuer`: the CRL distribution point names
/// shard `shard` of its CRL, or (`None`) the whole CRL.
pub(crate) fn urls_for(base: &str, issuer: &str, shard: Option<u16>) -> PublicationUrls {
    let base = base.trim_end_matches('/');
    PublicationUrls {
        ocsp: Some(format!("{base}/ocsp")),
        ca_issuers: Some(format!("{base}/ca/{issuer}.cer")),
        crl: Some(crate::crl::crl_url(base, issuer, store::CrlScope::of(shard))),
    }
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

/// The CA's one audit-event builder. Callers name themselves as text (`ra:alice`,
/// `operator`, `system`, …); the log keeps that text as given.
pub(crate) fn event(
    clock: &dyn Clock,
    actor: &str,
    action: Action,
    subject: impl Into<String>,
    details: serde_json::Value,
) -> AuditEvent {
    let known = actor.parse::<Actor>().unwrap_or(Actor::System);
    let mut event = AuditEvent::new(clock, &known, action, subject, details);
    event.actor = actor.to_string();
    event
}

/// Reserves, signs and stores one certificate (Boulder's order). Used by init and by the
/// [`Authority`] for every issuance. Its AIA and CDP point under `base_url`; with
/// `crl_shards` above 0 the CDP names the shard chosen from its serial (recorded with it).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn issue_recorded(
    store: &Store,
    clock: &dyn Clock,
    issuer: &CaIdentity,
    profile: Profile,
    subject: &SubjectName,
    sans: &[San],
    spki: &[u8],
    validity_days: Option<u32>,
    base_url: &str,
    crl_shards: u16,
    actor: &str,
) -> Result<(CertificateTemplate, Vec<u8>), CaError> {
    let spec = profile.spec();
    let now = clock.now();
    let serial = Serial::ordered(now.unix_timestamp())?;
    let crl_shard = crate::crl::crl_shard_of(&serial, crl_shards);
    let urls = &urls_for(base_url, &issuer.name, crl_shard);
    let order = CertificateOrder {
        spec: &spec,
        subject,
        sans,
        subject_spki: spki,
        now,
        validity_days,
        issuer_not_after: Some(issuer.not_after),
        urls,
    };
    let template = CertificateTemplate::prepare(&order, serial)?;
    let serial = template.serial.to_hex();
    let not_after = template.not_after.unix_timestamp();
    let record = NewCertificate {
        issuer: issuer.name.clone(),
        serial: serial.clone(),
        profile: profile.name().to_string(),
        subject: template.subject_display.clone(),
        spki_sha256: sha256_hex(spki),
        not_before: template.not_before.unix_timestamp(),
        not_after,
        created_at: now.unix_timestamp(),
        crl_shard,
    };
    let completed = |der: Vec<u8>| CompletedCertificate {
        issuer: issuer.name.clone(),
        serial: serial.clone(),
        der,
        event: event(
            clock,
            actor,
            Action::CertificateIssued,
            format!("{}/{serial}", issuer.name),
            serde_json::json!({"profile": profile.name(), "subject": template.subject_display, "not_after": not_after}),
        ),
    };
    let der = if issuer.signer().in_process() {
        // The key is in this process: the signature exists nowhere else until this function
        // returns it, so one durable write of row + DER + audit entry, before it is returned,
        // keeps "no certificate leaves the server without its row" (ARCHITECTURE.md,
        // "Issuance throughput").
        let der = template.sign(issuer)?;
        store.record_issued(record, completed(der.clone())).await?;
        der
    } else {
        // A key on a token: the reservation is durable before the token is asked to sign.
        store.reserve_certificate(record).await?;
        let der = template.sign(issuer)?;
        store.complete_certificate(completed(der.clone())).await?;
        der
    };
    Ok((template, der))
}

impl Authority {
    /// Issues a certificate from a verified PKCS#10 request: the request's signature proved
    /// possession, only its public key is used, and the profile and `subject` decide the rest.
    pub async fn issue(&self, req: IssueRequest) -> Result<Issued, CaError> {
        let result = async {
            let ca = self.issuing(&req.ca)?;
            check_profile(&ca.family, req.profile)?;
            self.issue_checked(
                ca,
                req.profile,
                req.csr.spki_der(),
                &req.subject,
                &req.sans,
                req.validity_days,
                &req.actor,
            )
            .await
        }
        .await;
        if result.is_err() {
            self.inner.metrics.issue_errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Issues a certificate for a public key whose possession the caller has already
    /// established (a key generated on a card or by carecert itself).
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_for_key(
        &self,
        ca: &str,
        profile: Profile,
        spki: &[u8],
        subject: SubjectName,
        sans: Vec<San>,
        validity_days: Option<u32>,
        actor: &str,
    ) -> Result<Issued, CaError> {
        let loaded = self.issuing(ca)?;
        check_profile(&loaded.family, profile)?;
        pki::KeyAlgorithm::from_spki(spki)?;
        self.issue_checked(loaded, profile, spki, &subject, &sans, validity_days, actor).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue_checked(
        &self,
        ca: &LoadedCa,
        profile: Profile,
        spki: &[u8],
        subject: &SubjectName,
        sans: &[San],
        validity_days: Option<u32>,
        actor: &str,
    ) -> Result<Issued, CaError> {
        let (template, der) = issue_recorded(
            &self.inner.store,
            self.inner.clock.as_ref(),
            &ca.identity,
            profile,
            subject,
            sans,
            spki,
            validity_days,
            &self.inner.public_url,
            self.inner.config.crl_shards,
            actor,
        )
        .await?;
        let serial = template.serial.to_hex();
        // An "unknown" answer cached for this serial (asked about before it existed) is stale now.
        self.inner.ocsp.forget(&ca.record.name, &serial);
        self.inner.metrics.issued.fetch_add(1, Ordering::Relaxed);
        Ok(Issued {
            issuer: ca.record.name.clone(),
            serial,
            profile,
            der,
            chain: ca.chain.clone(),
            not_before: template.not_before.unix_timestamp(),
            not_after: template.not_after.unix_timestamp(),
        })
    }
}

//! Mutual TLS: who holds a client certificate, and renewal with the current certificate.

use pki::{CertificateInfo, Profile, RevocationReason, VerifiedCsr};
use store::{CertStatus, Organisation, RequestChannel};

use crate::EnrolError;
use crate::error::CertificateProblem;
use crate::requests::CertificateBundle;
use crate::service::Enrolment;

/// The holder of an accepted client certificate.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The organisation.
    pub organisation: Organisation,
    /// Issuing CA.
    pub issuer: String,
    /// Serial.
    pub serial: String,
    /// notBefore (Unix seconds).
    pub not_before: i64,
    /// notAfter (Unix seconds).
    pub not_after: i64,
    /// The certificate's public key (DER SPKI).
    pub spki_der: Vec<u8>,
}

impl Enrolment {
    /// Who holds this client certificate — accepted only if carecert issued it from the
    /// machine CA, it is unrevoked and in its validity period, and its organisation is active.
    pub async fn identify(&self, leaf_der: &[u8]) -> Result<Sender, EnrolError> {
        use CertificateProblem as P;
        let refused = EnrolError::CertificateRefused;
        let info = CertificateInfo::parse(leaf_der).map_err(|e| refused(P::Unreadable(e)))?;
        let serial = || info.serial.clone();
        let ca = &self.inner.config.issuing_ca;
        // Any CA of the machine CA's family: after a rotation (`systems-2`) the old CA's
        // certificates stay good until they expire.
        let rec = self
            .store()
            .certificates_by_serial(&info.serial)
            .await?
            .into_iter()
            .find(|c| ca::family_of(&c.issuer) == ca.as_str())
            .ok_or_else(|| refused(P::NotIssuedHere { serial: serial(), ca: ca.clone() }))?;
        if rec.der.as_deref() != Some(leaf_der) {
            return Err(refused(P::NotOnRecord { serial: serial() }));
        }
        if rec.profile != Profile::SystemClient.name() {
            return Err(refused(P::NotSystem));
        }
        match rec.status {
            CertStatus::Issued => {}
            CertStatus::Revoked { reason, .. } => {
                let reason = RevocationReason::from_code(reason).map(|r| r.name()).unwrap_or("unspecified");
                return Err(refused(P::Revoked { serial: serial(), reason }));
            }
            CertStatus::Reserved | CertStatus::Failed => return Err(refused(P::NeverIssued { serial: serial() })),
        }
        let now = self.now();
        if now >= rec.not_after || now < rec.not_before {
            return Err(refused(P::OutsideValidity { serial: serial() }));
        }
        let req = self
            .store()
            .request_for_serial(&info.serial)
            .await?
            .ok_or_else(|| refused(P::NoOrganisation { serial: serial() }))?;
        let org = self.organisation(&req.epoc).await?;
        self.require_active(&org)?;
        Ok(Sender {
            organisation: org,
            issuer: rec.issuer,
            serial: info.serial,
            not_before: rec.not_before,
            not_after: rec.not_after,
            spki_der: info.spki_der,
        })
    }

    /// Renewal with the current certificate (mutual TLS, no PIN): a new request for a new
    /// key, approved at once (the holder proved itself with a valid certificate), issued
    /// and returned. The old certificate stays valid until it expires or is revoked.
    ///
    /// Only inside the renewal window (the last `renewal_window_percent` of the certificate's
    /// lifetime) and **once** per certificate: the claim is stored with the request, in one
    /// transaction, so a superseded certificate (or a stolen copy of its key) cannot renew
    /// again. Revoking a certificate for key compromise also revokes its successors.
    pub async fn renew_with_certificate(
        &self,
        leaf_der: &[u8],
        csr: &[u8],
        policy_version: &str,
        policy_accepted: bool,
    ) -> Result<CertificateBundle, EnrolError> {
        let sender = self.identify(leaf_der).await?;
        let opens = self.window_opens(sender.not_before, sender.not_after);
        if self.now() < opens {
            return Err(EnrolError::RenewalNotYet { serial: sender.serial.clone(), opens: utc_minute(opens) });
        }
        self.check_policy(policy_version, policy_accepted)?;
        let verified = VerifiedCsr::parse(csr).map_err(EnrolError::BadCsr)?;
        if verified.spki_der() == sender.spki_der.as_slice() {
            return Err(EnrolError::KeyReused);
        }
        let actor = format!("cert:{}", sender.serial);
        let inserted = self
            .insert_request(
                &sender.organisation,
                &verified,
                csr,
                RequestChannel::Certificate,
                policy_version,
                &actor,
                Some(sender.serial.clone()),
            )
            .await;
        let id = match inserted {
            Err(EnrolError::Conflict(m)) if m.contains("already renewed") => {
                return Err(EnrolError::AlreadyRenewed { serial: sender.serial });
            }
            other => other?,
        };
        let r = self.approve(id, "policy:renewal-with-certificate").await?;
        let bundle = self.bundle(&r).await?;
        // The answer carries the certificate: that is the download and the install.
        self.install_request(r, &actor).await?;
        Ok(bundle)
    }
}

/// `YYYY-MM-DD HH:MM` (UTC).
fn utc_minute(unix: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02} {:02}:{:02}", d.year(), d.month() as u8, d.day(), d.hour(), d.minute())
}

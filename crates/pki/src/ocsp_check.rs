//! The client side of OCSP (RFC 6960): a request for one certificate, and the check of the
//! answer — signed by the issuing CA itself or by a responder certificate that CA issued with
//! id-kp-OCSPSigning and that is valid now; about the certificate asked about; fresh; with the
//! request's nonce echoed.

use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use sha1::Digest as _;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request, ResponderId,
    TbsRequest,
};

use crate::ocsp::OcspStatus;
use crate::{PkiError, RevocationReason};

const SHA1_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const NONCE_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
const BASIC_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const EKU_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const OCSP_SIGNING_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// How far thisUpdate may be ahead of, and nextUpdate behind, the checker's clock (seconds).
pub const CLOCK_SKEW: i64 = 300;

/// A request for one certificate, kept to check the answer against.
#[derive(Debug, Clone)]
pub struct OcspQuery {
    /// The DER request to send.
    pub der: Vec<u8>,
    cert_id: CertId,
    nonce: Vec<u8>,
    issuer: Certificate,
}

/// A checked answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcspCheck {
    /// The certificate's status.
    pub status: OcspStatus,
    /// thisUpdate (Unix seconds).
    pub this_update: i64,
    /// nextUpdate (Unix seconds), if given.
    pub next_update: Option<i64>,
}

fn untrusted(m: impl Into<String>) -> PkiError {
    PkiError::OcspUntrusted(m.into())
}

fn enc(e: der::Error) -> PkiError {
    PkiError::Invalid(e.to_string())
}

/// A request (SHA-1 CertID, as OpenSSL sends, and a 16-byte random nonce) for `leaf_der`
/// issued by `issuer_der`.
pub fn request(leaf_der: &[u8], issuer_der: &[u8]) -> Result<OcspQuery, PkiError> {
    let leaf = Certificate::from_der(leaf_der).map_err(|e| PkiError::malformed("certificate", e))?;
    let issuer = Certificate::from_der(issuer_der).map_err(|e| PkiError::malformed("issuer certificate", e))?;
    if leaf.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err(PkiError::Invalid("the certificate was not issued by the given issuer".into()));
    }
    let name_hash = sha1::Sha1::digest(issuer.tbs_certificate.subject.to_der().map_err(enc)?);
    let key_hash = sha1::Sha1::digest(issuer.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes());
    let cert_id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned { oid: SHA1_OID, parameters: Some(der::asn1::Null.into()) },
        issuer_name_hash: OctetString::new(name_hash.to_vec()).map_err(enc)?,
        issuer_key_hash: OctetString::new(key_hash.to_vec()).map_err(enc)?,
        serial_number: leaf.tbs_certificate.serial_number.clone(),
    };
    let mut nonce = vec![0u8; 16];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| PkiError::Invalid("no randomness for the OCSP nonce".into()))?;
    let nonce_ext = Extension {
        extn_id: NONCE_OID,
        critical: false,
        extn_value: OctetString::new(OctetString::new(nonce.clone()).map_err(enc)?.to_der().map_err(enc)?)
            .map_err(enc)?,
    };
    let req = OcspRequest {
        tbs_request: TbsRequest {
            version: Default::default(),
            requestor_name: None,
            request_list: vec![Request { req_cert: cert_id.clone(), single_request_extensions: None }],
            request_extensions: Some(vec![nonce_ext]),
        },
        optional_signature: None,
    };
    Ok(OcspQuery { der: req.to_der().map_err(enc)?, cert_id, nonce, issuer })
}

fn secs(t: &x509_ocsp::OcspGeneralizedTime) -> i64 {
    t.0.to_unix_duration().as_secs() as i64
}

fn key_hash(c: &Certificate) -> [u8; 20] {
    sha1::Sha1::digest(c.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes()).into()
}

fn names(id: &ResponderId, c: &Certificate) -> bool {
    match id {
        ResponderId::ByKey(k) => k.as_bytes() == key_hash(c),
        ResponderId::ByName(n) => *n == c.tbs_certificate.subject,
    }
}

/// Verifies `signature` over `message` with the key `spki_der`, by the algorithm `alg`.
fn verify(spki_der: &[u8], alg: &AlgorithmIdentifierOwned, message: &[u8], signature: &[u8]) -> Result<(), PkiError> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384,
        RSA_PKCS1_2048_8192_SHA512, UnparsedPublicKey, VerificationAlgorithm,
    };
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|e| PkiError::malformed("public key", e))?;
    let key = crate::KeyAlgorithm::from_parsed_spki(&spki)?;
    let v: &'static dyn VerificationAlgorithm = match (key, alg.oid) {
        (crate::KeyAlgorithm::EcdsaP256, o) if o == ECDSA_SHA256 => &ECDSA_P256_SHA256_ASN1,
        (crate::KeyAlgorithm::EcdsaP384, o) if o == ECDSA_SHA384 => &ECDSA_P384_SHA384_ASN1,
        (crate::KeyAlgorithm::Rsa { .. }, o) if o == RSA_SHA256 => &RSA_PKCS1_2048_8192_SHA256,
        (crate::KeyAlgorithm::Rsa { .. }, o) if o == RSA_SHA384 => &RSA_PKCS1_2048_8192_SHA384,
        (crate::KeyAlgorithm::Rsa { .. }, o) if o == RSA_SHA512 => &RSA_PKCS1_2048_8192_SHA512,
        (_, o) => return Err(untrusted(format!("signature algorithm {o} does not fit the signer's key"))),
    };
    UnparsedPublicKey::new(v, spki.subject_public_key.data.as_ref())
        .verify(message, signature)
        .map_err(|_| untrusted("the signature does not verify"))
}

/// The key that may sign answers about `issuer`'s certificates: the issuer's own, or that
/// of a delegated responder certificate in `certs` (issued and signed by `issuer`,
/// id-kp-OCSPSigning, valid at `now`) named by `id`.
fn signer_key(id: &ResponderId, issuer: &Certificate, certs: &[Certificate], now: i64) -> Result<Vec<u8>, PkiError> {
    if names(id, issuer) {
        return issuer.tbs_certificate.subject_public_key_info.to_der().map_err(enc);
    }
    let issuer_spki = issuer.tbs_certificate.subject_public_key_info.to_der().map_err(enc)?;
    let c = certs
        .iter()
        .find(|c| names(id, c))
        .ok_or_else(|| untrusted("it was signed by neither the issuing CA nor a responder certificate it sent"))?;
    if c.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err(untrusted("the responder certificate was not issued by the certificate's CA"));
    }
    verify(&issuer_spki, &c.signature_algorithm, &c.tbs_certificate.to_der().map_err(enc)?, c.signature.raw_bytes())
        .map_err(|_| untrusted("the responder certificate's signature does not verify with the issuing CA's key"))?;
    let v = &c.tbs_certificate.validity;
    let (nb, na) = (v.not_before.to_unix_duration().as_secs() as i64, v.not_after.to_unix_duration().as_secs() as i64);
    if now < nb - CLOCK_SKEW || now > na + CLOCK_SKEW {
        return Err(untrusted("the responder certificate is outside its validity period"));
    }
    let ocsp_signing = c
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == EKU_OID)
        .filter_map(|e| x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok())
        .any(|eku| eku.0.contains(&OCSP_SIGNING_OID));
    if !ocsp_signing {
        return Err(untrusted(
            "the responder certificate is not authorised to sign OCSP answers (no id-kp-OCSPSigning)",
        ));
    }
    c.tbs_certificate.subject_public_key_info.to_der().map_err(enc)
}

/// Checks an answer to `query` at time `now` (Unix seconds); returns the status only when
/// every check passes.
pub fn check_response(query: &OcspQuery, response_der: &[u8], now: i64) -> Result<OcspCheck, PkiError> {
    let resp = OcspResponse::from_der(response_der).map_err(|e| PkiError::malformed("OCSP response", e))?;
    if resp.response_status != OcspResponseStatus::Successful {
        return Err(untrusted(format!("the responder answered {:?}", resp.response_status)));
    }
    let bytes = resp.response_bytes.ok_or_else(|| untrusted("a successful answer without a response"))?;
    if bytes.response_type != BASIC_OID {
        return Err(untrusted(format!("response type {} is not id-pkix-ocsp-basic", bytes.response_type)));
    }
    let basic =
        BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(|e| PkiError::malformed("OCSP response", e))?;
    let certs = basic.certs.clone().unwrap_or_default();
    let key = signer_key(&basic.tbs_response_data.responder_id, &query.issuer, &certs, now)?;
    let tbs = basic.tbs_response_data.to_der().map_err(enc)?;
    verify(&key, &basic.signature_algorithm, &tbs, basic.signature.raw_bytes())?;
    let echoed =
        basic.tbs_response_data.response_extensions.iter().flatten().find(|e| e.extn_id == NONCE_OID).map(|e| {
            let raw = e.extn_value.as_bytes();
            OctetString::from_der(raw).map(|o| o.as_bytes().to_vec()).unwrap_or_else(|_| raw.to_vec())
        });
    if echoed.as_deref() != Some(query.nonce.as_slice()) {
        return Err(untrusted("the answer does not carry this request's nonce (a replayed answer?)"));
    }
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| r.cert_id == query.cert_id)
        .ok_or_else(|| untrusted("the answer is about another certificate"))?;
    let this_update = secs(&single.this_update);
    let next_update = single.next_update.as_ref().map(secs);
    if this_update > now + CLOCK_SKEW {
        return Err(untrusted("the answer is from the future (check this machine's clock)"));
    }
    if next_update.is_some_and(|n| n < now - CLOCK_SKEW) {
        return Err(untrusted("the answer is stale (its nextUpdate has passed)"));
    }
    let status = match &single.cert_status {
        CertStatus::Good(_) => OcspStatus::Good,
        CertStatus::Unknown(_) => OcspStatus::Unknown,
        CertStatus::Revoked(info) => OcspStatus::Revoked {
            at: secs(&info.revocation_time),
            reason: info.revocation_reason.and_then(|r| RevocationReason::from_code(r as u8)),
        },
    };
    Ok(OcspCheck { status, this_update, next_update })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{CertificateOrder, CertificateTemplate};
    use crate::ocsp::{OcspAnswer, OcspResponder};
    use crate::testutil::test_ca;
    use crate::{CaIdentity, KeyAlgorithm, KeyPair, Profile, PublicationUrls, Serial, Signer, SubjectName};
    use std::sync::Arc;

    const NOW: i64 = 1_780_000_000 + 86_400;

    /// A certificate of `profile` signed by `ca`; returns (DER, its key).
    fn issue(ca: &CaIdentity, profile: Profile, cn: &str) -> (Vec<u8>, Arc<dyn Signer>) {
        let key = KeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap().into_signer();
        let spec = profile.spec();
        let subject = SubjectName::cn(cn);
        let order = CertificateOrder {
            spec: &spec,
            subject: &subject,
            sans: &[],
            subject_spki: key.public_key_spki(),
            now: time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap(),
            validity_days: None,
            issuer_not_after: None,
            urls: &PublicationUrls::default(),
        };
        let der = CertificateTemplate::prepare(&order, Serial::random().unwrap()).unwrap().sign(ca).unwrap();
        (der, key)
    }

    fn answer(q: &OcspQuery, r: &OcspResponder, status: OcspStatus, nonce: &[u8], next: i64) -> Vec<u8> {
        let a = OcspAnswer { cert_id: q.cert_id.clone(), status, this_update: NOW - 60, next_update: next };
        r.respond(&[a], NOW - 60, Some(nonce)).unwrap()
    }

    #[test]
    fn answers_from_the_ca_or_its_responder_are_believed_and_others_refused() {
        let ca = test_ca();
        let (leaf, _) = issue(&ca, Profile::SystemClient, "leaf");
        let (resp_cert, resp_key) = issue(&ca, Profile::OcspResponder, "responder");
        let q = request(&leaf, &ca.cert_der).unwrap();
        let delegated = OcspResponder::new(&resp_cert, &[&ca.cert_der], resp_key.clone()).unwrap();

        let good = answer(&q, &delegated, OcspStatus::Good, &q.nonce, NOW + 3600);
        assert_eq!(check_response(&q, &good, NOW).unwrap().status, OcspStatus::Good);
        let revoked = OcspStatus::Revoked { at: NOW - 100, reason: Some(RevocationReason::KeyCompromise) };
        let r = answer(&q, &delegated, revoked, &q.nonce, NOW + 3600);
        assert_eq!(check_response(&q, &r, NOW).unwrap().status, revoked);
        // The CA answering with its own key.
        let own = OcspResponder::new(&ca.cert_der, &[], ca.signer().clone()).unwrap();
        assert_eq!(
            check_response(&q, &answer(&q, &own, OcspStatus::Good, &q.nonce, NOW + 3600), NOW).unwrap().status,
            OcspStatus::Good
        );

        let refused = |der: &[u8], why: &str| {
            let e = check_response(&q, der, NOW).unwrap_err();
            assert!(matches!(e, PkiError::OcspUntrusted(_) | PkiError::Malformed { .. }), "{why}: {e}");
        };
        // Another CA's responder, even with the right CertID and nonce.
        let evil = test_ca();
        let (evil_cert, evil_key) = issue(&evil, Profile::OcspResponder, "evil responder");
        let evil_r = OcspResponder::new(&evil_cert, &[&evil.cert_der], evil_key).unwrap();
        refused(&answer(&q, &evil_r, OcspStatus::Good, &q.nonce, NOW + 3600), "another CA's responder");
        // A certificate of the right CA without id-kp-OCSPSigning.
        let (client_cert, client_key) = issue(&ca, Profile::SystemClient, "not a responder");
        let no_eku = OcspResponder::new(&client_cert, &[&ca.cert_der], client_key).unwrap();
        refused(&answer(&q, &no_eku, OcspStatus::Good, &q.nonce, NOW + 3600), "no OCSP signing EKU");
        // Replayed (another nonce), stale, and a flipped bit in the signed data.
        refused(&answer(&q, &delegated, OcspStatus::Good, b"another nonce", NOW + 3600), "nonce");
        refused(&answer(&q, &delegated, OcspStatus::Good, &q.nonce, NOW - 3600), "stale");
        let mut tampered = answer(&q, &delegated, revoked, &q.nonce, NOW + 3600);
        // The last digit of producedAt's seconds ("…Z"): still DER, no longer what was signed.
        let z = tampered.windows(2).position(|w| w[1] == b'Z' && w[0].is_ascii_digit()).unwrap();
        tampered[z] ^= 0x01;
        refused(&tampered, "tampered");
        // An answer about another certificate.
        let (other, _) = issue(&ca, Profile::SystemClient, "other");
        let q2 = request(&other, &ca.cert_der).unwrap();
        let mut for_other = q2.clone();
        for_other.nonce = q.nonce.clone();
        refused(&answer(&for_other, &delegated, OcspStatus::Good, &q.nonce, NOW + 3600), "other certificate");
    }
}

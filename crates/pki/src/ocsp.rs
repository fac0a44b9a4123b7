//! OCSP (RFC 6960): request parsing and response building for a delegated responder.

use std::sync::Arc;

use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use sha1::Digest as _;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, OcspResponseStatus,
    ResponderId, ResponseData, RevokedInfo, SingleResponse,
};

use crate::cert::serial_bytes_to_hex;
use crate::{CaIdentity, PkiError, RevocationReason, Signer};

/// Largest OCSP request accepted (DER bytes).
pub const MAX_OCSP_REQUEST_BYTES: usize = 8 * 1024;
/// Most certificates asked about in one request.
pub const MAX_OCSP_REQUEST_ITEMS: usize = 32;
/// Longest certificate serial asked about, in octets (RFC 5280 §4.1.2.2: "Conforming CAs
/// MUST NOT use serialNumber values longer than 20 octets"); a DER sign octet (a leading
/// zero) is not counted. Longer serials cannot be ours: the request is malformed.
pub const MAX_SERIAL_OCTETS: usize = 20;
/// Longest nonce echoed (RFC 8954 §2.1: 1 to 32 octets).
pub const MAX_NONCE_BYTES: usize = 32;

const SHA1_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const NONCE_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");

/// The hash a CertID was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertIdHash {
    /// SHA-1 (what most clients, including OpenSSL, send).
    Sha1,
    /// SHA-256.
    Sha256,
}

/// One certificate asked about.
#[derive(Debug, Clone)]
pub struct CertQuery {
    /// The CertID exactly as received (echoed in the response).
    pub cert_id: CertId,
    /// The hash algorithm of the CertID, when supported.
    pub hash: Option<CertIdHash>,
    /// The serial in canonical upper-case hex.
    pub serial_hex: String,
}

impl CertQuery {
    /// Whether this query names `ca` as the issuer.
    pub fn is_for(&self, ca: &CaIdentity) -> bool {
        let name = self.cert_id.issuer_name_hash.as_bytes();
        let key = self.cert_id.issuer_key_hash.as_bytes();
        match self.hash {
            Some(CertIdHash::Sha1) => name == ca.name_hash_sha1 && key == ca.key_hash_sha1,
            Some(CertIdHash::Sha256) => name == ca.name_hash_sha256 && key == ca.key_hash_sha256,
            None => false,
        }
    }
}

/// A parsed OCSP request.
#[derive(Debug, Clone)]
pub struct ParsedOcspRequest {
    /// The certificates asked about.
    pub queries: Vec<CertQuery>,
    /// The nonce to echo, if any.
    pub nonce: Option<Vec<u8>>,
}

/// Parses a DER OCSP request, with size and count limits.
pub fn parse_request(der: &[u8]) -> Result<ParsedOcspRequest, PkiError> {
    if der.len() > MAX_OCSP_REQUEST_BYTES {
        return Err(PkiError::TooLarge { what: "OCSP request", size: der.len(), limit: MAX_OCSP_REQUEST_BYTES });
    }
    let req = OcspRequest::from_der(der).map_err(|e| PkiError::malformed("OCSP request", e))?;
    let list = &req.tbs_request.request_list;
    if list.is_empty() {
        return Err(PkiError::malformed("OCSP request", "no certificate asked about"));
    }
    if list.len() > MAX_OCSP_REQUEST_ITEMS {
        return Err(PkiError::TooLarge { what: "OCSP request list", size: list.len(), limit: MAX_OCSP_REQUEST_ITEMS });
    }
    for r in list.iter() {
        let bytes = r.req_cert.serial_number.as_bytes();
        let magnitude = bytes.strip_prefix(&[0u8]).unwrap_or(bytes);
        if magnitude.len() > MAX_SERIAL_OCTETS {
            return Err(PkiError::malformed(
                "OCSP request",
                format!("a serial of {} octets (at most {MAX_SERIAL_OCTETS} allowed)", magnitude.len()),
            ));
        }
    }
    let queries = list
        .iter()
        .map(|r| {
            let oid = r.req_cert.hash_algorithm.oid;
            let hash = if oid == SHA1_OID {
                Some(CertIdHash::Sha1)
            } else if oid == SHA256_OID {
                Some(CertIdHash::Sha256)
            } else {
                None
            };
            CertQuery {
                serial_hex: serial_bytes_to_hex(r.req_cert.serial_number.as_bytes()),
                cert_id: r.req_cert.clone(),
                hash,
            }
        })
        .collect();
    let nonce =
        req.tbs_request.request_extensions.as_ref().and_then(|exts| exts.iter().find(|e| e.extn_id == NONCE_OID)).map(
            |e| {
                // The extension value is an OCTET STRING holding the nonce (RFC 6960 §4.4.1);
                // some old clients put the raw bytes there: accept both.
                let raw = e.extn_value.as_bytes();
                OctetString::from_der(raw).map(|o| o.as_bytes().to_vec()).unwrap_or_else(|_| raw.to_vec())
            },
        );
    if let Some(n) = &nonce
        && (n.is_empty() || n.len() > MAX_NONCE_BYTES)
    {
        return Err(PkiError::malformed("OCSP request", format!("nonce of {} bytes (1 to 32 allowed)", n.len())));
    }
    Ok(ParsedOcspRequest { queries, nonce })
}

/// The status of one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspStatus {
    /// Issued and not revoked.
    Good,
    /// Revoked at the time (Unix seconds), with an optional reason.
    Revoked {
        /// Revocation time.
        at: i64,
        /// Reason (None for unspecified).
        reason: Option<RevocationReason>,
    },
    /// Not issued by this CA as far as the responder knows.
    Unknown,
}

/// One answer in a response.
#[derive(Debug, Clone)]
pub struct OcspAnswer {
    /// The CertID from the request.
    pub cert_id: CertId,
    /// The status.
    pub status: OcspStatus,
    /// thisUpdate (Unix seconds).
    pub this_update: i64,
    /// nextUpdate (Unix seconds).
    pub next_update: i64,
}

/// A delegated OCSP responder: its certificate (issued by the CA it answers for, with
/// id-kp-OCSPSigning) and its key.
pub struct OcspResponder {
    certs: Vec<x509_cert::Certificate>,
    signer: Arc<dyn Signer>,
    key_hash: [u8; 20],
}

impl std::fmt::Debug for OcspResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspResponder").finish_non_exhaustive()
    }
}

impl OcspResponder {
    /// Binds the responder certificate to its key. `extra_chain` (e.g. the issuing CA's
    /// certificate) is sent along in each response so clients can build the responder's
    /// chain without fetching anything.
    pub fn new(cert_der: &[u8], extra_chain: &[&[u8]], signer: Arc<dyn Signer>) -> Result<Self, PkiError> {
        let cert =
            x509_cert::Certificate::from_der(cert_der).map_err(|e| PkiError::malformed("responder certificate", e))?;
        let spki =
            cert.tbs_certificate.subject_public_key_info.to_der().map_err(|e| PkiError::Invalid(e.to_string()))?;
        if spki != signer.public_key_spki() {
            return Err(PkiError::Invalid("the OCSP responder key does not match its certificate".into()));
        }
        let bits = cert.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
        let key_hash = sha1::Sha1::digest(bits).into();
        let mut certs = vec![cert];
        for der in extra_chain {
            certs.push(
                x509_cert::Certificate::from_der(der)
                    .map_err(|e| PkiError::malformed("responder chain certificate", e))?,
            );
        }
        Ok(Self { certs, signer, key_hash })
    }

    /// Builds and signs a successful OCSP response (DER `OCSPResponse`).
    pub fn respond(&self, answers: &[OcspAnswer], produced_at: i64, nonce: Option<&[u8]>) -> Result<Vec<u8>, PkiError> {
        let responses = answers
            .iter()
            .map(|a| {
                Ok(SingleResponse {
                    cert_id: a.cert_id.clone(),
                    cert_status: match a.status {
                        OcspStatus::Good => CertStatus::Good(Null),
                        OcspStatus::Unknown => CertStatus::Unknown(Null),
                        OcspStatus::Revoked { at, reason } => CertStatus::Revoked(RevokedInfo {
                            revocation_time: gtime(at)?,
                            revocation_reason: reason.and_then(crl_reason),
                        }),
                    },
                    this_update: gtime(a.this_update)?,
                    next_update: Some(gtime(a.next_update)?),
                    single_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, PkiError>>()?;
        let response_extensions = match nonce {
            Some(n) => {
                let value = OctetString::new(n)
                    .and_then(|o| o.to_der())
                    .and_then(OctetString::new)
                    .map_err(|e| PkiError::Invalid(e.to_string()))?;
                Some(vec![Extension { extn_id: NONCE_OID, critical: false, extn_value: value }])
            }
            None => None,
        };
        let tbs = ResponseData {
            version: Default::default(),
            responder_id: ResponderId::ByKey(
                OctetString::new(self.key_hash.to_vec()).map_err(|e| PkiError::Invalid(e.to_string()))?,
            ),
            produced_at: gtime(produced_at)?,
            responses,
            response_extensions,
        };
        let tbs_der = tbs.to_der().map_err(|e| PkiError::Invalid(e.to_string()))?;
        let signature = self.signer.sign(&tbs_der)?;
        let alg = AlgorithmIdentifierOwned::from_der(self.signer.algorithm().signature_algorithm_der())
            .map_err(|e| PkiError::Invalid(e.to_string()))?;
        let basic = BasicOcspResponse {
            tbs_response_data: tbs,
            signature_algorithm: alg,
            signature: BitString::from_bytes(&signature).map_err(|e| PkiError::Invalid(e.to_string()))?,
            certs: Some(self.certs.clone()),
        };
        let resp = OcspResponse::successful(basic).map_err(|e| PkiError::Invalid(e.to_string()))?;
        resp.to_der().map_err(|e| PkiError::Invalid(e.to_string()))
    }
}

/// The CertID a client builds for `cert_der` issued by `issuer` — with the `hash` and,
/// with `null_params`, NULL parameters in its AlgorithmIdentifier (OpenSSL's form). Used to
/// pre-sign answers (the offline root), which must echo the CertID a client will send.
pub fn cert_id_for(
    issuer: &CaIdentity,
    cert_der: &[u8],
    hash: CertIdHash,
    null_params: bool,
) -> Result<CertId, PkiError> {
    let cert = x509_cert::Certificate::from_der(cert_der).map_err(|e| PkiError::malformed("certificate", e))?;
    let (oid, name, key): (_, &[u8], &[u8]) = match hash {
        CertIdHash::Sha1 => (SHA1_OID, &issuer.name_hash_sha1, &issuer.key_hash_sha1),
        CertIdHash::Sha256 => (SHA256_OID, &issuer.name_hash_sha256, &issuer.key_hash_sha256),
    };
    let parameters = if null_params {
        Some(der::Any::from_der(&[0x05, 0x00]).map_err(|e| PkiError::Invalid(e.to_string()))?)
    } else {
        None
    };
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned { oid, parameters },
        issuer_name_hash: OctetString::new(name).map_err(|e| PkiError::Invalid(e.to_string()))?,
        issuer_key_hash: OctetString::new(key).map_err(|e| PkiError::Invalid(e.to_string()))?,
        serial_number: cert.tbs_certificate.serial_number.clone(),
    })
}

/// An unsuccessful OCSP response (`malformedRequest`, `unauthorized`, …) — unsigned, as RFC 6960 says.
pub fn error_response(status: OcspResponseStatus) -> Vec<u8> {
    let resp = OcspResponse { response_status: status, response_bytes: None };
    // Encoding a two-field structure with no payload cannot fail.
    resp.to_der().unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, status as u8])
}

pub use x509_ocsp::OcspResponseStatus as ResponseStatus;

fn gtime(unix: i64) -> Result<OcspGeneralizedTime, PkiError> {
    let secs = u64::try_from(unix).map_err(|_| PkiError::Invalid("time before 1970".into()))?;
    let t = GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|e| PkiError::Invalid(e.to_string()))?;
    Ok(OcspGeneralizedTime(t))
}

fn crl_reason(r: RevocationReason) -> Option<CrlReason> {
    Some(match r {
        RevocationReason::Unspecified => return None,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::CertificateHold => CrlReason::CertificateHold,
        RevocationReason::RemoveFromCrl => CrlReason::RemoveFromCRL,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => CrlReason::AaCompromise,
    })
}

//! Certificate building and signing, serial numbers, issuing-CA identities.

use std::net::IpAddr;
use std::sync::Arc;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use der::Encode;
use der::asn1::{Ia5String, ObjectIdentifier};
use rcgen::{BasicConstraints, CertificateParams, CustomExtension, IsCa, Issuer, SanType};
use serde::{Deserialize, Serialize};
use sha1::Digest as _;
use time::OffsetDateTime;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::key::{PublicKeyBits, RcgenSigner};
use crate::profile::{CaKind, ProfileSpec, PublicationUrls};
use crate::{PkiError, Signer, SubjectName};

/// Largest certificate accepted as input anywhere.
pub const MAX_CERT_BYTES: usize = 64 * 1024;

const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
const ID_AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

/// A certificate serial number: 16 random bytes, positive, never zero-led
/// (so its DER INTEGER is always 16 bytes and its hex form is canonical).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial([u8; 16]);

impl Serial {
    /// A fresh random serial (124+ bits of entropy, RFC 5280 §4.1.2.2 and CA/B ≥ 64 bits).
    pub fn random() -> Result<Self, PkiError> {
        let mut b = [0u8; 16];
        SystemRandom::new().fill(&mut b).map_err(|_| PkiError::Signing("random generator failed".into()))?;
        b[0] = (b[0] & 0x7f).max(1);
        Ok(Self(b))
    }

    /// A fresh serial that sorts by issuance time: byte 0 is 0x01, bytes 1–4 the Unix second
    /// `at` (big-endian), bytes 5–15 random (88 bits of entropy; CA/B asks ≥ 64).
    ///
    /// Random serials land all over the serial indices' b-trees: at 10M certificates every
    /// insert reads and rewrites a page that is seldom cached. Serials of one second share a
    /// prefix, so each second's inserts fill a few neighbouring pages (bench/README.md,
    /// "Scale"). The issuance time is no secret (it is the notBefore).
    pub fn ordered(at: i64) -> Result<Self, PkiError> {
        let mut b = [0u8; 16];
        SystemRandom::new().fill(&mut b[5..]).map_err(|_| PkiError::Signing("random generator failed".into()))?;
        b[0] = 0x01;
        let secs = u32::try_from(at.max(0)).unwrap_or(u32::MAX);
        b[1..5].copy_from_slice(&secs.to_be_bytes());
        Ok(Self(b))
    }

    /// The serial's bytes (big-endian magnitude).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Upper-case hex, as `openssl x509 -serial` prints it.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(self.0)
    }

    /// Parses a serial given as hex (any case, optional `0x` and colons).
    pub fn from_hex(s: &str) -> Result<Self, PkiError> {
        let bytes = normalize_serial_hex(s)
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| PkiError::Invalid(format!("'{s}' is not a certificate serial number in hex")))?;
        let arr: [u8; 16] =
            bytes.try_into().map_err(|_| PkiError::Invalid(format!("'{s}' is not a carecert serial (16 bytes)")))?;
        Ok(Self(arr))
    }
}

/// Canonical upper-case hex of a serial given in hex, without leading zero bytes.
/// Returns `None` when the text is not hex.
pub fn normalize_serial_hex(s: &str) -> Option<String> {
    let t: String = s.trim().trim_start_matches("0x").trim_start_matches("0X").chars().filter(|c| *c != ':').collect();
    if t.is_empty() || t.len() > 80 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let t = if t.len() % 2 == 1 { format!("0{t}") } else { t };
    let bytes = hex::decode(&t).ok()?;
    Some(serial_bytes_to_hex(&bytes))
}

/// Canonical upper-case hex of serial bytes (leading zero bytes dropped).
pub fn serial_bytes_to_hex(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    hex::encode_upper(&bytes[start..])
}

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum San {
    /// A DNS name.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
    /// An e-mail address (rfc822Name).
    Email(String),
    /// A URI.
    Uri(String),
}

impl San {
    fn to_rcgen(&self) -> Result<SanType, PkiError> {
        let ia5 =
            |s: &str| rcgen::string::Ia5String::try_from(s).map_err(|e| PkiError::Invalid(format!("SAN '{s}': {e}")));
        Ok(match self {
            San::Dns(d) => SanType::DnsName(ia5(d)?),
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Email(e) => SanType::Rfc822Name(ia5(e)?),
            San::Uri(u) => SanType::URI(ia5(u)?),
        })
    }
}

/// An issuing CA as the signer sees it: its certificate, its key, and the values derived
/// from them that CRLs and OCSP need.
pub struct CaIdentity {
    /// The CA's name in carecert (`root`, `systems`, `smartcards`).
    pub name: String,
    /// The CA certificate (DER).
    pub cert_der: Vec<u8>,
    /// The DER of the CA's subject Name (the issuer field of what it signs).
    pub subject_der: Vec<u8>,
    /// The CA's subject key identifier (AKI of what it signs).
    pub key_id: Vec<u8>,
    /// SHA-1 of the subject Name DER (OCSP CertID, SHA-1 flavour).
    pub name_hash_sha1: [u8; 20],
    /// SHA-1 of the subjectPublicKey BIT STRING contents.
    pub key_hash_sha1: [u8; 20],
    /// SHA-256 of the subject Name DER.
    pub name_hash_sha256: [u8; 32],
    /// SHA-256 of the subjectPublicKey BIT STRING contents.
    pub key_hash_sha256: [u8; 32],
    /// The CA certificate's notAfter.
    pub not_after: OffsetDateTime,
    signer: Arc<dyn Signer>,
    issuer: Issuer<'static, RcgenSigner>,
}

impl std::fmt::Debug for CaIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaIdentity").field("name", &self.name).finish_non_exhaustive()
    }
}

impl CaIdentity {
    /// Binds a CA certificate to its signing key, checking that they belong together.
    pub fn new(name: impl Into<String>, cert_der: Vec<u8>, signer: Arc<dyn Signer>) -> Result<Self, PkiError> {
        let (_, cert) = X509Certificate::from_der(&cert_der).map_err(|e| PkiError::malformed("CA certificate", e))?;
        if cert.public_key().raw != signer.public_key_spki() {
            return Err(PkiError::Invalid("the CA key does not match the CA certificate".into()));
        }
        let subject_der = cert.subject().as_raw().to_vec();
        let key_bits = cert.public_key().subject_public_key.data.to_vec();
        let key_id = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            })
            .ok_or_else(|| PkiError::Invalid("the CA certificate has no subject key identifier".into()))?;
        let not_after = cert.validity().not_after.to_datetime();
        let adapter = RcgenSigner::new(signer.clone())?;
        let issuer = Issuer::from_ca_cert_der(&cert_der.clone().into(), adapter)
            .map_err(|e| PkiError::malformed("CA certificate", e))?;
        Ok(Self {
            name: name.into(),
            name_hash_sha1: sha1::Sha1::digest(&subject_der).into(),
            key_hash_sha1: sha1::Sha1::digest(&key_bits).into(),
            name_hash_sha256: sha2::Sha256::digest(&subject_der).into(),
            key_hash_sha256: sha2::Sha256::digest(&key_bits).into(),
            subject_der,
            key_id,
            not_after,
            cert_der,
            signer,
            issuer,
        })
    }

    /// The CA's signer.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// The CA certificate as PEM.
    pub fn cert_pem(&self) -> String {
        to_pem("CERTIFICATE", &self.cert_der)
    }
}

/// PEM-encodes DER with the given label.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// A certificate decided but not yet signed: the "precertificate" that is stored before
/// the CA signs, so no signed certificate can exist without a database record.
#[derive(Debug, Clone)]
pub struct CertificateTemplate {
    /// The serial number it will carry.
    pub serial: Serial,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The subject public key (DER SPKI).
    pub subject_spki: Vec<u8>,
    /// The subject as a string (RFC 4514 style) for records.
    pub subject_display: String,
    params: CertificateParams,
    public_key: PublicKeyBits,
}

/// Everything that decides the content of one certificate.
#[derive(Debug, Clone)]
pub struct CertificateOrder<'a> {
    /// The profile.
    pub spec: &'a ProfileSpec,
    /// The subject name (from carecert's records).
    pub subject: &'a SubjectName,
    /// Subject alternative names.
    pub sans: &'a [San],
    /// The subject public key (DER SPKI), e.g. from a verified CSR.
    pub subject_spki: &'a [u8],
    /// The issuance time.
    pub now: OffsetDateTime,
    /// Lifetime override in days (the profile's default otherwise).
    pub validity_days: Option<u32>,
    /// The issuer's notAfter: the certificate never outlives its issuer.
    pub issuer_not_after: Option<OffsetDateTime>,
    /// AIA and CDP URLs.
    pub urls: &'a PublicationUrls,
}

impl CertificateTemplate {
    /// Decides the full content of a certificate from its order.
    pub fn prepare(order: &CertificateOrder<'_>, serial: Serial) -> Result<Self, PkiError> {
        let spec = order.spec;
        let public_key = PublicKeyBits::from_spki(order.subject_spki)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = order.subject.to_rcgen()?;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(serial.as_bytes()));
        // One minute back-dating absorbs relying parties' clock skew.
        let not_before = truncate_to_second(order.now - time::Duration::minutes(1));
        let days = order.validity_days.unwrap_or(spec.validity_days);
        if days == 0 || days > 30 * 365 {
            return Err(PkiError::Invalid(format!("validity of {days} days is out of range (1 to 10950)")));
        }
        let mut not_after = truncate_to_second(order.now + time::Duration::days(days.into()));
        if let Some(cap) = order.issuer_not_after {
            if cap <= order.now {
                return Err(PkiError::Invalid("the issuing CA has expired".into()));
            }
            not_after = not_after.min(cap);
        }
        params.not_before = not_before;
        params.not_after = not_after;
        params.key_usages = spec.key_usages.clone();
        params.extended_key_usages = spec.extended_key_usages.clone();
        params.subject_alt_names = order.sans.iter().map(San::to_rcgen).collect::<Result<_, _>>()?;
        params.is_ca = match spec.ca {
            CaKind::Root => IsCa::Ca(BasicConstraints::Unconstrained),
            CaKind::Intermediate { path_len } => IsCa::Ca(BasicConstraints::Constrained(path_len)),
            CaKind::Leaf => IsCa::ExplicitNoCa,
        };
        params.use_authority_key_identifier_extension = spec.ca != CaKind::Root;
        // rcgen 0.14 writes the subject key identifier itself (for CAs and leaves alike).
        let mut access = Vec::new();
        if let Some(ocsp) = &order.urls.ocsp {
            access.push(access_description(ID_AD_OCSP, ocsp)?);
        }
        if let Some(ca) = &order.urls.ca_issuers {
            access.push(access_description(ID_AD_CA_ISSUERS, ca)?);
        }
        if !access.is_empty() {
            let value = AuthorityInfoAccessSyntax(access).to_der().map_err(|e| PkiError::Invalid(e.to_string()))?;
            params.custom_extensions.push(CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], value));
        }
        if let Some(crl) = &order.urls.crl {
            params.crl_distribution_points = vec![rcgen::CrlDistributionPoint { uris: vec![crl.clone()] }];
        }
        if spec.ocsp_no_check {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 48, 1, 5], vec![0x05, 0x00]));
        }
        let subject_display = display_subject(order.subject);
        Ok(Self {
            serial,
            not_before,
            not_after,
            subject_spki: order.subject_spki.to_vec(),
            subject_display,
            params,
            public_key,
        })
    }

    /// Signs the certificate with the issuing CA.
    pub fn sign(&self, ca: &CaIdentity) -> Result<Vec<u8>, PkiError> {
        let cert = self.params.signed_by(&self.public_key, &ca.issuer).map_err(|e| PkiError::Signing(e.to_string()))?;
        Ok(cert.der().to_vec())
    }

    /// Signs the certificate with its own key (roots only).
    pub fn self_sign(&self, signer: Arc<dyn Signer>) -> Result<Vec<u8>, PkiError> {
        if signer.public_key_spki() != self.subject_spki {
            return Err(PkiError::Invalid("self-signing needs the subject's own key".into()));
        }
        let adapter = RcgenSigner::new(signer)?;
        let cert = self.params.self_signed(&adapter).map_err(|e| PkiError::Signing(e.to_string()))?;
        Ok(cert.der().to_vec())
    }
}

fn truncate_to_second(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

fn access_description(method: ObjectIdentifier, url: &str) -> Result<AccessDescription, PkiError> {
    let uri = Ia5String::new(url).map_err(|e| PkiError::Invalid(format!("URL '{url}': {e}")))?;
    Ok(AccessDescription { access_method: method, access_location: GeneralName::UniformResourceIdentifier(uri) })
}

fn display_subject(s: &SubjectName) -> String {
    let mut parts = Vec::new();
    if let Some(sn) = &s.serial_number {
        parts.push(format!("serialNumber={sn}"));
    }
    parts.push(format!("CN={}", s.common_name));
    if let Some(ou) = &s.organizational_unit {
        parts.push(format!("OU={ou}"));
    }
    if let Some(o) = &s.organization {
        parts.push(format!("O={o}"));
    }
    if let Some(c) = &s.country {
        parts.push(format!("C={c}"));
    }
    parts.join(",")
}

/// What carecert reads out of a certificate for display and checks.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateInfo {
    /// Serial in canonical upper-case hex.
    pub serial: String,
    /// Subject, RFC 4514 style.
    pub subject: String,
    /// Issuer, RFC 4514 style.
    pub issuer: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Whether basicConstraints says CA.
    pub is_ca: bool,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// DER of the subject public key info.
    #[serde(skip)]
    pub spki_der: Vec<u8>,
}

impl CertificateInfo {
    /// Parses a DER certificate.
    pub fn parse(der: &[u8]) -> Result<Self, PkiError> {
        if der.len() > MAX_CERT_BYTES {
            return Err(PkiError::TooLarge { what: "certificate", size: der.len(), limit: MAX_CERT_BYTES });
        }
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| PkiError::malformed("certificate", e))?;
        if !rest.is_empty() {
            return Err(PkiError::malformed("certificate", "trailing bytes"));
        }
        Ok(Self {
            serial: serial_bytes_to_hex(cert.raw_serial()),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            is_ca: cert.is_ca(),
            sha256: hex::encode(sha2::Sha256::digest(der)),
            spki_der: cert.public_key().raw.to_vec(),
        })
    }

    /// Parses PEM (the first `CERTIFICATE` block) or DER.
    pub fn parse_pem_or_der(input: &[u8]) -> Result<(Self, Vec<u8>), PkiError> {
        let der = pem_or_der(input, "CERTIFICATE", "certificate", MAX_CERT_BYTES)?;
        Ok((Self::parse(&der)?, der))
    }
}

/// Accepts PEM with one of the given labels, or raw DER; enforces a size limit first.
pub fn pem_or_der(input: &[u8], label: &str, what: &'static str, limit: usize) -> Result<Vec<u8>, PkiError> {
    if input.len() > limit * 2 {
        return Err(PkiError::TooLarge { what, size: input.len(), limit });
    }
    let trimmed = input.iter().skip_while(|b| b.is_ascii_whitespace()).copied().collect::<Vec<_>>();
    let der = if trimmed.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(&trimmed).map_err(|_| PkiError::malformed(what, "PEM is not UTF-8"))?;
        let block = pem::parse(text).map_err(|e| PkiError::malformed(what, e))?;
        let tag = block.tag();
        if tag != label && !(label == "CERTIFICATE REQUEST" && tag == "NEW CERTIFICATE REQUEST") {
            return Err(PkiError::malformed(what, format!("expected a PEM '{label}' block, found '{tag}'")));
        }
        block.into_contents()
    } else {
        input.to_vec()
    };
    if der.len() > limit {
        return Err(PkiError::TooLarge { what, size: der.len(), limit });
    }
    if der.is_empty() {
        return Err(PkiError::malformed(what, "empty input"));
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::Serial;

    #[test]
    fn ordered_serials_sort_by_second_and_stay_unpredictable() {
        let a = Serial::ordered(1_790_000_000).unwrap();
        let b = Serial::ordered(1_790_000_001).unwrap();
        let c = Serial::ordered(1_790_000_001).unwrap();
        // Later seconds sort after earlier ones, as numbers and as the stored hex text.
        assert!(a < b && a < c);
        assert!(a.to_hex() < b.to_hex());
        // A positive 16-byte INTEGER (no 0x00 padding byte) carrying the second.
        assert_eq!(a.as_bytes()[0], 0x01);
        assert_eq!(&a.as_bytes()[1..5], &1_790_000_000u32.to_be_bytes());
        // The same second still gives different serials: 88 random bits.
        assert_ne!(b, c);
        assert_ne!(b.as_bytes()[5..], c.as_bytes()[5..]);
        // Round trip through the hex form.
        assert_eq!(Serial::from_hex(&b.to_hex()).unwrap(), b);
    }
}

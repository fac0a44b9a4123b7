//! Encodings between what a PKCS#11 card returns and what X.509 wants. No cryptography
//! here: parsing and DER encoding go through `p256`/`der` and `x509-parser`.

use p256::pkcs8::der::Decode;
use p256::pkcs8::der::asn1::OctetStringRef;
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};

use crate::TokenError;

/// DER of the P-256 curve OID (1.2.840.10045.3.1.7): `CKA_EC_PARAMS` of every card key.
pub(crate) const P256_EC_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Largest certificate written to a card (cards have a few kilobytes for everything).
pub(crate) const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

/// The P-256 public key in `CKA_EC_POINT`. PKCS#11 says the point is DER-wrapped in an
/// OCTET STRING (SoftHSM2 and OpenSC do that); some modules return the bare point. The
/// wrapped reading is tried first and kept only if its content is a valid point.
pub(crate) fn public_key_from_ec_point(raw: &[u8]) -> Result<p256::PublicKey, TokenError> {
    if let Ok(wrapped) = OctetStringRef::from_der(raw)
        && let Ok(key) = p256::PublicKey::from_sec1_bytes(wrapped.as_bytes())
    {
        return Ok(key);
    }
    p256::PublicKey::from_sec1_bytes(raw)
        .map_err(|_| TokenError::BadPublicKey { detail: format!("CKA_EC_POINT of {} bytes", raw.len()) })
}

/// DER SubjectPublicKeyInfo of a P-256 key.
pub(crate) fn spki_der(key: &p256::PublicKey) -> Result<Vec<u8>, TokenError> {
    key.to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| TokenError::BadPublicKey { detail: e.to_string() })
}

/// The public key in a DER SubjectPublicKeyInfo (None unless it is a P-256 key).
pub(crate) fn public_key_from_spki(spki: &[u8]) -> Option<p256::PublicKey> {
    p256::PublicKey::from_public_key_der(spki).ok()
}

/// The raw `r || s` a card returns for CKM_ECDSA, as the DER `ECDSA-Sig-Value` X.509 uses.
pub(crate) fn ecdsa_signature_der(raw: &[u8]) -> Result<Vec<u8>, TokenError> {
    let sig = p256::ecdsa::Signature::from_slice(raw).map_err(|_| TokenError::Card {
        op: "signing",
        detail: format!("the card returned a {}-byte signature, not a P-256 r||s", raw.len()),
    })?;
    Ok(sig.to_der().as_bytes().to_vec())
}

/// What the card keeps of a certificate besides its DER.
pub(crate) struct CertificateFacts {
    pub(crate) subject: Vec<u8>,
    pub(crate) issuer: Vec<u8>,
    /// The serial as a DER INTEGER (`CKA_SERIAL_NUMBER`).
    pub(crate) serial: Vec<u8>,
    pub(crate) public_key: Option<p256::PublicKey>,
}

/// Parses one DER certificate (nothing may follow it).
pub(crate) fn certificate_facts(der: &[u8]) -> Result<CertificateFacts, TokenError> {
    use x509_parser::asn1_rs::{Integer, ToDer};

    if der.len() > MAX_CERTIFICATE_LEN {
        return Err(TokenError::BadCertificate {
            detail: format!("{} bytes; a card certificate is at most {MAX_CERTIFICATE_LEN}", der.len()),
        });
    }
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| TokenError::BadCertificate { detail: e.to_string() })?;
    if !rest.is_empty() {
        return Err(TokenError::BadCertificate { detail: format!("{} bytes after the certificate", rest.len()) });
    }
    let tbs = &cert.tbs_certificate;
    let serial = Integer::new(tbs.raw_serial())
        .to_der_vec()
        .map_err(|e| TokenError::BadCertificate { detail: e.to_string() })?;
    Ok(CertificateFacts {
        subject: tbs.subject.as_raw().to_vec(),
        issuer: tbs.issuer.as_raw().to_vec(),
        serial,
        public_key: public_key_from_spki(tbs.subject_pki.raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The P-256 base point, a valid public key.
    const G: [u8; 65] = [
        0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77,
        0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42,
        0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b,
        0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
    ];

    #[test]
    fn ec_points_are_read_wrapped_or_bare() {
        let mut wrapped = vec![0x04, 65];
        wrapped.extend_from_slice(&G);
        let a = public_key_from_ec_point(&wrapped).unwrap();
        let b = public_key_from_ec_point(&G).unwrap();
        assert_eq!(a, b);
        let spki = spki_der(&a).unwrap();
        assert_eq!(spki.len(), 91);
        assert!(spki.ends_with(&G));
        assert_eq!(public_key_from_spki(&spki), Some(a));
    }

    #[test]
    fn points_off_the_curve_are_refused() {
        let mut bad = G;
        bad[64] ^= 1;
        assert!(matches!(public_key_from_ec_point(&bad), Err(TokenError::BadPublicKey { .. })));
        assert!(public_key_from_ec_point(&[0x04, 0x01, 0x00]).is_err());
    }

    #[test]
    fn raw_signatures_become_der() {
        let mut raw = [0u8; 64];
        raw[31] = 1;
        raw[63] = 2;
        assert_eq!(ecdsa_signature_der(&raw).unwrap(), [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02]);
        assert!(ecdsa_signature_der(&raw[..63]).is_err());
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(certificate_facts(b"not a certificate"), Err(TokenError::BadCertificate { .. })));
        assert!(matches!(
            certificate_facts(&vec![0x30; MAX_CERTIFICATE_LEN + 1]),
            Err(TokenError::BadCertificate { .. })
        ));
    }
}

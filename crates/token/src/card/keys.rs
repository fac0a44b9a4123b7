//! Key pairs, signatures, certificate requests and certificates on a card.

use std::cell::RefCell;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, CertificateType, KeyType, ObjectClass};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::Digest;

use super::{CLASSES, Card, RenewalState};
use crate::encoding::{self, P256_EC_PARAMS};
use crate::{CardKeyRole, TokenError};

impl Card {
    // ---- keys and signatures ---------------------------------------------------------

    /// Generates a P-256 key pair on the card for `role` — the current one (issuance) or,
    /// with `pending`, a renewal's new one beside the current pair — and returns its public
    /// key as a DER SubjectPublicKeyInfo. The private key is sensitive, never extractable,
    /// and can only sign. Needs a login.
    ///
    /// A current pair is never overwritten ([`TokenError::KeyExists`]); earlier pending
    /// objects of the role are deleted first, unless their swap had started
    /// ([`TokenError::PromotionInterrupted`]: finish it with [`Card::promote_pending`]).
    pub fn generate_key_pair(&self, role: CardKeyRole, pending: bool) -> Result<Vec<u8>, TokenError> {
        self.require_user()?;
        if pending {
            if self.renewal_state(role)? == RenewalState::Interrupted {
                return Err(TokenError::PromotionInterrupted { role });
            }
            self.discard_role(role)?;
        } else {
            for class in CLASSES {
                if self.has(class, role, false)? {
                    return Err(TokenError::KeyExists { role });
                }
            }
        }
        let id = role.object_id(pending);
        let label = role.key_label(pending).into_bytes();
        let public = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Modifiable(true),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_EC_PARAMS.to_vec()),
            Attribute::Verify(true),
            Attribute::Id(id.clone()),
            Attribute::Label(label.clone()),
        ];
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Modifiable(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Derive(false),
            Attribute::Id(id),
            Attribute::Label(label),
        ];
        let (public_h, private_h) = self
            .session
            .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
            .map_err(self.err("generating a key pair on the card"))?;
        match self.ec_point_of(public_h).and_then(|k| encoding::spki_der(&k)) {
            Ok(spki) => {
                tracing::info!(serial = %self.info.serial, %role, pending, "key pair generated on the card");
                Ok(spki)
            }
            Err(e) => {
                // A pair whose public key cannot be used is of no use: leave no stray objects.
                let _ = self.session.destroy_object(private_h);
                let _ = self.session.destroy_object(public_h);
                Err(e)
            }
        }
    }

    /// The public key (DER SubjectPublicKeyInfo) of `role`'s current or pending key pair.
    pub fn public_key(&self, role: CardKeyRole, pending: bool) -> Result<Vec<u8>, TokenError> {
        encoding::spki_der(&self.key_of(role, pending)?)
    }

    /// Signs `data` with `role`'s current (or pending) key: SHA-256 here, then CKM_ECDSA on the card
    /// (SoftHSM2 and many cards have no CKM_ECDSA_SHA256). Returns the DER `ECDSA-Sig-Value`,
    /// as X.509 and TLS carry it. Needs a login.
    pub fn sign(&self, role: CardKeyRole, pending: bool, data: &[u8]) -> Result<Vec<u8>, TokenError> {
        let key = self.handle(ObjectClass::PRIVATE_KEY, role, pending)?.ok_or_else(|| match self.require_user() {
            Err(e) => e,
            Ok(()) => Self::missing(role, pending, ObjectClass::PRIVATE_KEY),
        })?;
        let digest = sha2::Sha256::digest(data);
        let raw = self.session.sign(&Mechanism::Ecdsa, key, &digest).map_err(self.err("signing on the card"))?;
        encoding::ecdsa_signature_der(&raw)
    }

    /// A PKCS#10 request (DER) for `role`'s current or pending key pair, with subject
    /// `CN=subject_cn`, signed on the card (its proof of possession). The CA sets the real
    /// subject; this one is informative. Needs a login.
    pub fn csr(&self, role: CardKeyRole, pending: bool, subject_cn: &str) -> Result<Vec<u8>, TokenError> {
        let point = self.key_of(role, pending)?.to_encoded_point(false).as_bytes().to_vec();
        let key = CardCsrKey { card: self, role, pending, point, failure: RefCell::new(None) };
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, subject_cn);
        match params.serialize_request(&key) {
            Ok(csr) => Ok(csr.der().to_vec()),
            // The card's own error says more than rcgen's "remote key error".
            Err(e) => Err(key
                .failure
                .into_inner()
                .unwrap_or(TokenError::Card { op: "building a certificate request", detail: e.to_string() })),
        }
    }

    // ---- certificates ----------------------------------------------------------------

    /// Writes `role`'s certificate (DER X.509) as the current or the pending one, with
    /// CKA_SUBJECT, CKA_ISSUER and CKA_SERIAL_NUMBER from it. The certificate must be for
    /// the key pair of the same role and generation on this card, and `subject_der` must be
    /// its subject (DER Name), else nothing is written.
    /// An older certificate object of the same role and generation is deleted only after
    /// the new one exists. Needs a login.
    pub fn write_certificate(
        &self,
        role: CardKeyRole,
        pending: bool,
        der: &[u8],
        subject_der: &[u8],
    ) -> Result<(), TokenError> {
        self.require_user()?;
        let facts = encoding::certificate_facts(der)?;
        if facts.subject != subject_der {
            return Err(TokenError::BadCertificate { detail: "the subject given is not the certificate's".into() });
        }
        let key = self.key_of(role, pending)?;
        if facts.public_key != Some(key) {
            return Err(TokenError::CertificateKeyMismatch { role, pending });
        }
        let older = self.handles(ObjectClass::CERTIFICATE, role, pending)?;
        self.session
            .create_object(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::CertificateType(CertificateType::X_509),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Modifiable(true),
                Attribute::Id(role.object_id(pending)),
                Attribute::Label(role.certificate_label(pending).into_bytes()),
                Attribute::Subject(facts.subject),
                Attribute::Issuer(facts.issuer),
                Attribute::SerialNumber(facts.serial),
                Attribute::Value(der.to_vec()),
            ])
            .map_err(self.err("writing a certificate to the card"))?;
        self.destroy(older, "replacing a certificate")?;
        tracing::info!(serial = %self.info.serial, %role, pending, "certificate written to the card");
        Ok(())
    }

    /// `role`'s current (or pending) certificate (DER), if the card holds one. No login needed.
    pub fn certificate(&self, role: CardKeyRole, pending: bool) -> Result<Option<Vec<u8>>, TokenError> {
        match self.handle(ObjectClass::CERTIFICATE, role, pending)? {
            Some(h) => self.value_of(h).map(Some),
            None => Ok(None),
        }
    }
}

/// rcgen's view of a card key: the public point from the card, signatures made by it.
struct CardCsrKey<'a> {
    card: &'a Card,
    role: CardKeyRole,
    pending: bool,
    point: Vec<u8>,
    failure: RefCell<Option<TokenError>>,
}

impl rcgen::PublicKeyData for CardCsrKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for CardCsrKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.card.sign(self.role, self.pending, msg).map_err(|e| {
            self.failure.replace(Some(e));
            rcgen::Error::RemoteKeyError
        })
    }
}

//! A session with one card: passcodes, key pairs, signatures, certificates and renewal.

use std::cell::RefCell;
use std::fmt;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::types::AuthPin;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::Digest;

use crate::encoding::{self, P256_EC_PARAMS};
use crate::error::{Who, map};
use crate::{CardInfo, CardKeyRole, Module, TokenError};

/// What an object on the card is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// CKO_PRIVATE_KEY (listed only after a login).
    PrivateKey,
    /// CKO_PUBLIC_KEY.
    PublicKey,
    /// CKO_CERTIFICATE.
    Certificate,
    /// Anything else (data objects, secret keys).
    Other,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::PrivateKey => "private key",
            ObjectKind::PublicKey => "public key",
            ObjectKind::Certificate => "certificate",
            ObjectKind::Other => "other object",
        })
    }
}

/// One object on the card, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardObject {
    /// What it is.
    pub kind: ObjectKind,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID.
    pub id: Vec<u8>,
}

/// Where a role's renewal stands on the card (see the crate docs, "Renewal").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalState {
    /// No pending objects: nothing to finish or clean up.
    Idle,
    /// A pending key pair without its certificate: an attempt in progress or abandoned;
    /// [`Card::discard_pending`] removes it.
    KeysPending,
    /// A pending key pair and its certificate, the current pair untouched:
    /// [`Card::promote_pending`] puts it in place, [`Card::discard_pending`] drops it.
    CertificatePending,
    /// A promotion started (the current certificate is gone) and did not finish: the old key
    /// is gone too, so there is no way back; [`Card::promote_pending`] (or
    /// [`Card::discard_pending`]) completes the swap.
    Interrupted,
}

/// A read-write session with one card. Logging in ([`Card::login`]) applies to every session
/// this process has with the card (PKCS#11 login is per application and token) and ends
/// when the last of them closes.
///
/// `Card` is `Send` but not `Sync`: use it from one thread at a time (a `Mutex` around it
/// makes a shareable signer).
pub struct Card {
    module: Module,
    session: Session,
    info: CardInfo,
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Card")
            .field("serial", &self.info.serial)
            .field("label", &self.info.label)
            .finish_non_exhaustive()
    }
}

const CLASSES: [ObjectClass; 3] = [ObjectClass::CERTIFICATE, ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY];

fn kind(class: ObjectClass) -> ObjectKind {
    if class == ObjectClass::PRIVATE_KEY {
        ObjectKind::PrivateKey
    } else if class == ObjectClass::PUBLIC_KEY {
        ObjectKind::PublicKey
    } else if class == ObjectClass::CERTIFICATE {
        ObjectKind::Certificate
    } else {
        ObjectKind::Other
    }
}

impl Card {
    pub(crate) fn new(module: Module, session: Session, info: CardInfo) -> Card {
        Card { module, session, info }
    }

    /// The card as it was listed when the session was opened.
    pub fn info(&self) -> &CardInfo {
        &self.info
    }

    /// The card's flags now (wrong-passcode counters change them).
    pub fn status(&self) -> Result<CardInfo, TokenError> {
        self.module.find(Some(&self.info.serial))
    }

    fn err(&self, op: &'static str) -> impl Fn(CkError) -> TokenError + '_ {
        move |e| self.gone_or(map(op, Who::User, self.info.pins(), e))
    }

    /// Whether the card is still in a reader.
    fn present(&self) -> bool {
        self.module.present_serials().contains(&self.info.serial)
    }

    /// `e`, or [`TokenError::Removed`] when the card has gone: modules answer for a vanished
    /// token with all sorts of codes (SoftHSM2: CKR_GENERAL_ERROR,
    /// CKR_USER_PIN_NOT_INITIALIZED, or simply no objects).
    fn gone_or(&self, e: TokenError) -> TokenError {
        match e {
            TokenError::WrongPasscode
            | TokenError::Locked
            | TokenError::WrongSoPin
            | TokenError::SoLocked
            | TokenError::PasscodeLength { .. }
            | TokenError::PasscodeInvalid
            | TokenError::PasscodeExpired
            | TokenError::Removed => e,
            other if self.present() => other,
            _ => TokenError::Removed,
        }
    }

    // ---- passcodes -------------------------------------------------------------------

    /// Logs in with the holder's passcode. The card checks it every time: an existing login
    /// is ended first, so a wrong passcode is never accepted because of an earlier one.
    pub fn login(&self, passcode: &str) -> Result<(), TokenError> {
        self.login_as(UserType::User, Who::User, passcode, "checking the passcode")
    }

    /// Logs in as the card's security officer (RA issuance, unlock).
    pub fn login_so(&self, so_pin: &str) -> Result<(), TokenError> {
        self.login_as(UserType::So, Who::So, so_pin, "checking the security officer PIN")
    }

    fn login_as(&self, user: UserType, who: Who, pin: &str, op: &'static str) -> Result<(), TokenError> {
        // A module answers CKR_USER_ALREADY_LOGGED_IN without looking at the PIN.
        let state = self.session.get_session_info().map_err(self.err("reading the session"))?.session_state();
        if !matches!(state, SessionState::RoPublic | SessionState::RwPublic) {
            self.end_login()?;
        }
        self.session.login(user, Some(&AuthPin::from(pin))).map_err(|e| self.gone_or(map(op, who, self.info.pins(), e)))
    }

    /// Ends the login. Nothing to report: a card that is not logged in, or gone, is logged out.
    pub fn logout(&self) {
        if let Err(e) = self.end_login() {
            tracing::debug!(error = %e, "logout");
        }
    }

    fn end_login(&self) -> Result<(), TokenError> {
        match self.session.logout() {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserNotLoggedIn, _)) => Ok(()),
            Err(e) => Err(self.err("logging out")(e)),
        }
    }

    /// Sets the holder's passcode while logged in as security officer ([`Card::login_so`];
    /// `C_InitPIN`): the last step of issuing a card, and an unlock (it also resets the
    /// card's wrong-passcode counter).
    pub fn set_passcode_as_so(&self, passcode: &str) -> Result<(), TokenError> {
        self.session.init_pin(&AuthPin::from(passcode)).map_err(self.err("setting the passcode"))
    }

    /// Changes the holder's passcode; the card checks the old one (logged in or not).
    pub fn change_passcode(&self, old: &str, new: &str) -> Result<(), TokenError> {
        self.session.set_pin(&AuthPin::from(old), &AuthPin::from(new)).map_err(self.err("changing the passcode"))
    }

    fn require_user(&self) -> Result<(), TokenError> {
        let info = self.session.get_session_info().map_err(self.err("reading the session"))?;
        match info.session_state() {
            SessionState::RwUser => Ok(()),
            _ => Err(self.gone_or(TokenError::NotLoggedIn)),
        }
    }

    // ---- objects ---------------------------------------------------------------------

    /// Objects matching `template`; finding none on a card that has gone is its removal.
    fn find(&self, template: &[Attribute]) -> Result<Vec<ObjectHandle>, TokenError> {
        let found = self.session.find_objects(template).map_err(self.err("reading the card"))?;
        if found.is_empty() && !self.present() {
            return Err(TokenError::Removed);
        }
        Ok(found)
    }

    fn handles(&self, class: ObjectClass, role: CardKeyRole, pending: bool) -> Result<Vec<ObjectHandle>, TokenError> {
        self.find(&[Attribute::Class(class), Attribute::Id(role.object_id(pending))])
    }

    fn handle(&self, class: ObjectClass, role: CardKeyRole, pending: bool) -> Result<Option<ObjectHandle>, TokenError> {
        Ok(self.handles(class, role, pending)?.into_iter().next())
    }

    fn has(&self, class: ObjectClass, role: CardKeyRole, pending: bool) -> Result<bool, TokenError> {
        Ok(self.handle(class, role, pending)?.is_some())
    }

    fn destroy(&self, handles: Vec<ObjectHandle>, op: &'static str) -> Result<usize, TokenError> {
        let n = handles.len();
        for h in handles {
            self.session.destroy_object(h).map_err(self.err(op))?;
        }
        Ok(n)
    }

    fn missing(role: CardKeyRole, pending: bool, class: ObjectClass) -> TokenError {
        let what = match kind(class) {
            ObjectKind::Certificate => role.certificate_label(pending),
            ObjectKind::PrivateKey => format!("private {}", role.key_label(pending)),
            _ => role.key_label(pending),
        };
        TokenError::Missing { what }
    }

    fn ec_point_of(&self, h: ObjectHandle) -> Result<p256::PublicKey, TokenError> {
        let attrs =
            self.session.get_attributes(h, &[AttributeType::EcPoint]).map_err(self.err("reading a public key"))?;
        match attrs.into_iter().next() {
            Some(Attribute::EcPoint(raw)) => encoding::public_key_from_ec_point(&raw),
            _ => Err(TokenError::BadPublicKey { detail: "no CKA_EC_POINT".into() }),
        }
    }

    fn key_of(&self, role: CardKeyRole, pending: bool) -> Result<p256::PublicKey, TokenError> {
        let h = self
            .handle(ObjectClass::PUBLIC_KEY, role, pending)?
            .ok_or_else(|| Self::missing(role, pending, ObjectClass::PUBLIC_KEY))?;
        self.ec_point_of(h)
    }

    fn value_of(&self, h: ObjectHandle) -> Result<Vec<u8>, TokenError> {
        let attrs =
            self.session.get_attributes(h, &[AttributeType::Value]).map_err(self.err("reading a certificate"))?;
        match attrs.into_iter().next() {
            Some(Attribute::Value(v)) => Ok(v),
            _ => Err(TokenError::BadCertificate { detail: "the certificate object has no value".into() }),
        }
    }

    /// Every object this session can see (private keys only after a login).
    pub fn objects(&self) -> Result<Vec<CardObject>, TokenError> {
        let handles = self.find(&[])?;
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            let attrs = self
                .session
                .get_attributes(h, &[AttributeType::Class, AttributeType::Label, AttributeType::Id])
                .map_err(self.err("reading the card"))?;
            let mut o = CardObject { kind: ObjectKind::Other, label: String::new(), id: Vec::new() };
            for a in attrs {
                match a {
                    Attribute::Class(c) => o.kind = kind(c),
                    Attribute::Label(l) => o.label = String::from_utf8_lossy(&l).into_owned(),
                    Attribute::Id(i) => o.id = i,
                    _ => {}
                }
            }
            out.push(o);
        }
        Ok(out)
    }

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

    // ---- renewal ---------------------------------------------------------------------

    /// Where `role`'s renewal stands. Needs a login to see pending private keys.
    pub fn renewal_state(&self, role: CardKeyRole) -> Result<RenewalState, TokenError> {
        let pending_cert = self.has(ObjectClass::CERTIFICATE, role, true)?;
        let current_cert = self.has(ObjectClass::CERTIFICATE, role, false)?;
        let pending_keys =
            self.has(ObjectClass::PRIVATE_KEY, role, true)? || self.has(ObjectClass::PUBLIC_KEY, role, true)?;
        Ok(match (pending_cert, current_cert, pending_keys) {
            (true, false, _) => RenewalState::Interrupted,
            (true, true, _) => RenewalState::CertificatePending,
            (false, _, true) => RenewalState::KeysPending,
            (false, _, false) => RenewalState::Idle,
        })
    }

    /// Puts `role`'s pending key pair and certificate in place of the current ones: deletes
    /// the current certificate, private key and public key, then gives the pending public
    /// key, private key and certificate the current id and labels, in that order. Needs a
    /// login.
    ///
    /// Before anything is deleted the pending certificate must certify the pending public
    /// key and the pending private key must exist. If the process or the card stops half
    /// way, calling this again finishes the swap (see the crate docs, "Renewal").
    pub fn promote_pending(&self, role: CardKeyRole) -> Result<(), TokenError> {
        self.require_user()?;
        let cert = self.handle(ObjectClass::CERTIFICATE, role, true)?.ok_or(TokenError::NothingPending { role })?;
        let new_key = encoding::certificate_facts(&self.value_of(cert)?)?.public_key;
        let pending_public = self.handle(ObjectClass::PUBLIC_KEY, role, true)?;
        let pending_private = self.handle(ObjectClass::PRIVATE_KEY, role, true)?;
        let matches_certificate = |public: ObjectHandle| -> Result<bool, TokenError> {
            Ok(new_key.is_some() && Some(self.ec_point_of(public)?) == new_key)
        };
        if let Some(public) = pending_public {
            // Nothing renamed yet: check the new pair, then delete every current object.
            if !matches_certificate(public)? {
                return Err(TokenError::CertificateKeyMismatch { role, pending: true });
            }
            if pending_private.is_none() {
                return Err(Self::missing(role, true, ObjectClass::PRIVATE_KEY));
            }
            for class in CLASSES {
                self.destroy(self.handles(class, role, false)?, "removing the old key and certificate")?;
            }
        }
        // From here on every object under the current id belongs to the new generation
        // (a swap interrupted after its deletions resumes here).
        let public = match pending_public {
            Some(h) => h,
            None => {
                let h = self
                    .handle(ObjectClass::PUBLIC_KEY, role, false)?
                    .ok_or_else(|| Self::missing(role, false, ObjectClass::PUBLIC_KEY))?;
                if !matches_certificate(h)? {
                    return Err(TokenError::CertificateKeyMismatch { role, pending: false });
                }
                h
            }
        };
        let current_private = self.handles(ObjectClass::PRIVATE_KEY, role, false)?;
        let private = match (pending_private, current_private.as_slice()) {
            (Some(h), []) => h,
            (None, [h]) => *h,
            (None, []) => return Err(Self::missing(role, true, ObjectClass::PRIVATE_KEY)),
            _ => {
                return Err(TokenError::Card {
                    op: "finishing an interrupted renewal",
                    detail: format!("the card holds several {role} private keys; the RA must re-initialise it"),
                });
            }
        };
        // Renaming is idempotent; the pending certificate goes last and so marks an unfinished swap.
        for (h, label) in
            [(public, role.key_label(false)), (private, role.key_label(false)), (cert, role.certificate_label(false))]
        {
            self.session
                .update_attributes(h, &[Attribute::Id(role.object_id(false)), Attribute::Label(label.into_bytes())])
                .map_err(self.err("putting the new key and certificate in place"))?;
        }
        tracing::info!(serial = %self.info.serial, %role, "pending key pair and certificate promoted");
        Ok(())
    }

    /// Cleans up what a renewal left on the card, role by role. Pending objects of a renewal
    /// that had not started its swap are deleted (certificate first, then the private and
    /// public key) and the current objects are not touched: the card is exactly as before the
    /// renewal. A swap that had started ([`RenewalState::Interrupted`]: the old key and
    /// certificate are already gone, so the pending ones are the card's only valid ones) is
    /// finished instead, as [`Card::promote_pending`] would. Returns how many objects were
    /// deleted. Needs a login.
    pub fn discard_pending(&self) -> Result<usize, TokenError> {
        self.require_user()?;
        let mut n = 0;
        for role in CardKeyRole::BOTH {
            if self.renewal_state(role)? == RenewalState::Interrupted {
                tracing::warn!(serial = %self.info.serial, %role, "finishing an interrupted swap instead of discarding it");
                self.promote_pending(role)?;
            } else {
                n += self.discard_role(role)?;
            }
        }
        Ok(n)
    }

    fn discard_role(&self, role: CardKeyRole) -> Result<usize, TokenError> {
        let mut n = 0;
        for class in CLASSES {
            n += self.destroy(self.handles(class, role, true)?, "removing a pending object")?;
        }
        if n > 0 {
            tracing::info!(serial = %self.info.serial, %role, objects = n, "pending objects discarded");
        }
        Ok(n)
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

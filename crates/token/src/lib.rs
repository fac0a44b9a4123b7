//! # token — smartcards and HSMs through PKCS#11
//!
//! Owns every conversation with a PKCS#11 module (through `cryptoki`): listing tokens,
//! initialising a card and its passcode, logging in (with the card's own retry counter
//! when it has one), generating **P-256 key pairs on the card** (sensitive, never
//! extractable), signing with them, making a PKCS#10 request signed on the card, and
//! writing, reading, relabelling and deleting the certificate and key objects — including
//! the *pending* objects of a renewal, so that an aborted renewal leaves the card exactly as
//! it was. It also watches card presence by polling (SoftHSM2 has no slot events).
//!
//! It must never export a private key, never store a passcode or PIN, and never implement
//! cryptography: the card signs; hashing is `sha2`, DER encoding of signatures is `p256`.
//!
//! Object naming (what `pkcs11-tool --list-objects` shows):
//!
//! | role | CKA_ID | key label | certificate label |
//! |---|---|---|---|
//! | authentication | `01` | `carecert auth key` | `carecert auth certificate` |
//! | signing | `02` | `carecert sign key` | `carecert sign certificate` |
//! | pending (renewal) | `81` / `82` | `… (pending)` | `… (pending)` |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use sha2::Digest;
use thiserror::Error;

/// DER of the P-256 curve OID (1.2.840.10045.3.1.7), the EC parameters of every card key.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// What can go wrong with a card. Each message says what to do.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The PKCS#11 module cannot be loaded.
    #[error("cannot load the PKCS#11 module {path}: {detail} (install OpenSC for cards, or SoftHSM2 for tests)")]
    Module {
        /// Path.
        path: String,
        /// Why.
        detail: String,
    },
    /// No card with that serial is present.
    #[error("no card with serial {0} is in a reader: insert it and try again")]
    NoCard(String),
    /// No card at all.
    #[error("no card is in a reader: insert your smartcard")]
    NoCardAtAll,
    /// More than one card and none chosen.
    #[error("more than one card is inserted ({0}): choose one with --card SERIAL")]
    SeveralCards(String),
    /// Wrong passcode.
    #[error("the passcode is not right")]
    WrongPasscode,
    /// The card itself has locked its passcode.
    #[error("the card has locked its passcode after too many wrong tries: unlock it (carecert-agent card unlock)")]
    Locked,
    /// The passcode breaks the card's rule.
    #[error("the passcode is not accepted by the card: use 6 to 8 digits")]
    BadPasscode,
    /// An object the operation needs is missing.
    #[error("the card holds no {0}: it was not issued by carecert, or an RA must issue it again")]
    Missing(String),
    /// The card was removed during the operation.
    #[error("the card was removed: insert it again and retry")]
    Removed,
    /// Anything else the module reported.
    #[error("the card reported an error during {op}: {detail}")]
    Card {
        /// What was being done.
        op: &'static str,
        /// The module's words.
        detail: String,
    },
}

fn ck(op: &'static str) -> impl Fn(CkError) -> TokenError {
    move |e| match &e {
        CkError::Pkcs11(RvError::PinIncorrect, _) => TokenError::WrongPasscode,
        CkError::Pkcs11(RvError::PinLocked, _) => TokenError::Locked,
        CkError::Pkcs11(RvError::PinLenRange | RvError::PinInvalid, _) => TokenError::BadPasscode,
        CkError::Pkcs11(
            RvError::DeviceRemoved | RvError::TokenNotPresent | RvError::SessionHandleInvalid | RvError::SlotIdInvalid,
            _,
        ) => TokenError::Removed,
        _ => TokenError::Card { op, detail: e.to_string() },
    }
}

/// Which of the card's two certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardKeyRole {
    /// Authentication (logon).
    Auth,
    /// Signing.
    Sign,
}

impl CardKeyRole {
    /// Both roles, in renewal order.
    pub const BOTH: [CardKeyRole; 2] = [CardKeyRole::Auth, CardKeyRole::Sign];

    fn id(self, pending: bool) -> Vec<u8> {
        let base = match self {
            CardKeyRole::Auth => 0x01,
            CardKeyRole::Sign => 0x02,
        };
        vec![if pending { base | 0x80 } else { base }]
    }

    fn name(self) -> &'static str {
        match self {
            CardKeyRole::Auth => "auth",
            CardKeyRole::Sign => "sign",
        }
    }

    fn label(self, what: &str, pending: bool) -> Vec<u8> {
        let p = if pending { " (pending)" } else { "" };
        format!("carecert {} {what}{p}", self.name()).into_bytes()
    }
}

/// A token in a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// The slot.
    pub slot: u64,
    /// Token serial (the card serial).
    pub serial: String,
    /// Token label.
    pub label: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// The card locked its own user PIN.
    pub user_pin_locked: bool,
    /// The card counted a wrong PIN.
    pub user_pin_count_low: bool,
    /// One try left on the card's own counter.
    pub user_pin_final_try: bool,
    /// A user PIN is set.
    pub user_pin_initialized: bool,
    /// The token is initialised.
    pub initialized: bool,
}

/// An object on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardObject {
    /// `private-key`, `public-key`, `certificate`, …
    pub class: String,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID.
    pub id: Vec<u8>,
}

/// A loaded PKCS#11 module. Cheap to clone.
#[derive(Clone)]
pub struct Module {
    ctx: Arc<Pkcs11>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Module(..)")
    }
}

impl Module {
    /// Loads and initialises the module at `path`.
    pub fn open(path: &Path) -> Result<Self, TokenError> {
        let err = |e: CkError| TokenError::Module { path: path.display().to_string(), detail: e.to_string() };
        let ctx = Pkcs11::new(path).map_err(err)?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(err(e)),
        }
        Ok(Self { ctx: Arc::new(ctx) })
    }

    /// Every token present.
    pub fn cards(&self) -> Result<Vec<CardInfo>, TokenError> {
        let slots = self.ctx.get_slots_with_token().map_err(ck("listing readers"))?;
        let mut out = Vec::new();
        for slot in slots {
            let Ok(t) = self.ctx.get_token_info(slot) else { continue };
            out.push(CardInfo {
                slot: slot.id(),
                serial: t.serial_number().trim().to_string(),
                label: t.label().trim().to_string(),
                manufacturer: t.manufacturer_id().trim().to_string(),
                model: t.model().trim().to_string(),
                user_pin_locked: t.user_pin_locked(),
                user_pin_count_low: t.user_pin_count_low(),
                user_pin_final_try: t.user_pin_final_try(),
                user_pin_initialized: t.user_pin_initialized(),
                initialized: t.token_initialized(),
            });
        }
        Ok(out)
    }

    /// Initialised cards only (SoftHSM2 always shows one empty slot for a new token).
    pub fn initialised_cards(&self) -> Result<Vec<CardInfo>, TokenError> {
        Ok(self.cards()?.into_iter().filter(|c| c.initialized).collect())
    }

    /// The card with `serial`, or the only card when `serial` is None.
    pub fn find(&self, serial: Option<&str>) -> Result<CardInfo, TokenError> {
        let cards = self.initialised_cards()?;
        match serial {
            Some(s) => cards.into_iter().find(|c| c.serial == s).ok_or_else(|| TokenError::NoCard(s.into())),
            None => match cards.as_slice() {
                [] => Err(TokenError::NoCardAtAll),
                [one] => Ok(one.clone()),
                many => {
                    Err(TokenError::SeveralCards(many.iter().map(|c| c.serial.clone()).collect::<Vec<_>>().join(", ")))
                }
            },
        }
    }

    fn slot(&self, slot_id: u64) -> Result<Slot, TokenError> {
        self.ctx
            .get_slots_with_token()
            .map_err(ck("listing readers"))?
            .into_iter()
            .find(|s| s.id() == slot_id)
            .ok_or(TokenError::Removed)
    }

    /// Initialises the token in the first empty slot (RA issuance, tests): `label`, SO PIN.
    /// Returns the new card's serial.
    pub fn init_blank(&self, so_pin: &str, label: &str) -> Result<String, TokenError> {
        let blank = self.cards()?.into_iter().find(|c| !c.initialized).ok_or(TokenError::NoCardAtAll)?;
        let slot = self.slot(blank.slot)?;
        self.ctx.init_token(slot, &AuthPin::from(so_pin.to_string()), label).map_err(ck("initialising the card"))?;
        // SoftHSM2 renumbers slots after an init: find the token again by its label.
        let card = self.initialised_cards()?.into_iter().find(|c| c.label == label).ok_or_else(|| {
            TokenError::Card { op: "initialising the card", detail: "the new token is not listed".into() }
        })?;
        Ok(card.serial)
    }

    /// Opens a read-write session on the card with `serial`.
    pub fn card(&self, serial: &str) -> Result<Card, TokenError> {
        let info = self.find(Some(serial))?;
        let session = self.ctx.open_rw_session(self.slot(info.slot)?).map_err(ck("opening the card"))?;
        Ok(Card { session, info })
    }
}

/// A session with one card.
pub struct Card {
    session: Session,
    info: CardInfo,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card").field("serial", &self.info.serial).finish_non_exhaustive()
    }
}

fn class_name(c: ObjectClass) -> &'static str {
    if c == ObjectClass::PRIVATE_KEY {
        "private-key"
    } else if c == ObjectClass::PUBLIC_KEY {
        "public-key"
    } else if c == ObjectClass::CERTIFICATE {
        "certificate"
    } else {
        "other"
    }
}

/// Unwraps CKA_EC_POINT (SoftHSM2 and OpenSC return the point inside a DER OCTET STRING).
fn ec_point(raw: &[u8]) -> Vec<u8> {
    if raw.len() == 67 && raw[0] == 0x04 && raw[1] == 65 && raw[2] == 0x04 { raw[2..].to_vec() } else { raw.to_vec() }
}

/// DER SubjectPublicKeyInfo of a P-256 point.
fn p256_spki(point: &[u8]) -> Vec<u8> {
    // SEQUENCE { SEQUENCE { ecPublicKey, prime256v1 }, BIT STRING point } — fixed framing
    // for a 65-byte uncompressed point.
    let mut v = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
        0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    v.extend_from_slice(point);
    v
}

impl Card {
    /// The card.
    pub fn info(&self) -> &CardInfo {
        &self.info
    }

    /// Logs in with the holder's passcode.
    pub fn login(&self, passcode: &str) -> Result<(), TokenError> {
        match self.session.login(UserType::User, Some(&AuthPin::from(passcode.to_string()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(e) => Err(ck("checking the passcode")(e)),
        }
    }

    /// Logs in as security officer (RA issuance, unlock).
    pub fn login_so(&self, so_pin: &str) -> Result<(), TokenError> {
        match self.session.login(UserType::So, Some(&AuthPin::from(so_pin.to_string()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                Err(TokenError::Card { op: "unlocking", detail: "the card refused its SO PIN".into() })
            }
            Err(e) => Err(ck("logging in as security officer")(e)),
        }
    }

    /// Logs out.
    pub fn logout(&self) {
        let _ = self.session.logout();
    }

    /// Sets the holder's passcode (after [`Card::login_so`]): first issue or unlock.
    pub fn set_passcode_as_so(&self, passcode: &str) -> Result<(), TokenError> {
        self.session.init_pin(&AuthPin::from(passcode.to_string())).map_err(ck("setting the passcode"))
    }

    /// Changes the passcode (logged in or not; the card checks the old one).
    pub fn change_passcode(&self, old: &str, new: &str) -> Result<(), TokenError> {
        self.session
            .set_pin(&AuthPin::from(old.to_string()), &AuthPin::from(new.to_string()))
            .map_err(ck("changing the passcode"))
    }

    fn find(&self, template: &[Attribute]) -> Result<Vec<ObjectHandle>, TokenError> {
        self.session.find_objects(template).map_err(ck("reading the card"))
    }

    fn key(&self, role: CardKeyRole, pending: bool, class: ObjectClass) -> Result<Option<ObjectHandle>, TokenError> {
        Ok(self.find(&[Attribute::Class(class), Attribute::Id(role.id(pending))])?.into_iter().next())
    }

    /// Makes a new P-256 key pair on the card for `role` (as pending for a renewal) and
    /// returns its public key (DER SubjectPublicKeyInfo). An older key pair with the same
    /// id is deleted first.
    pub fn generate_key_pair(&self, role: CardKeyRole, pending: bool) -> Result<Vec<u8>, TokenError> {
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            if pending && let Some(h) = self.key(role, true, class)? {
                self.session.destroy_object(h).map_err(ck("clearing an old pending key"))?;
            }
        }
        let id = role.id(pending);
        let public = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::Verify(true),
            Attribute::Id(id.clone()),
            Attribute::Label(role.label("key", pending)),
        ];
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Id(id),
            Attribute::Label(role.label("key", pending)),
        ];
        let (pubh, _) = self
            .session
            .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
            .map_err(ck("generating a key on the card"))?;
        self.public_key_of(pubh)
    }

    fn public_key_of(&self, h: ObjectHandle) -> Result<Vec<u8>, TokenError> {
        let attrs = self.session.get_attributes(h, &[AttributeType::EcPoint]).map_err(ck("reading a public key"))?;
        for a in attrs {
            if let Attribute::EcPoint(p) = a {
                return Ok(p256_spki(&ec_point(&p)));
            }
        }
        Err(TokenError::Missing("public key point".into()))
    }

    /// The public key (DER SPKI) of `role`'s key pair.
    pub fn public_key(&self, role: CardKeyRole, pending: bool) -> Result<Vec<u8>, TokenError> {
        let h = self
            .key(role, pending, ObjectClass::PUBLIC_KEY)?
            .ok_or_else(|| TokenError::Missing(String::from_utf8_lossy(&role.label("key", pending)).into_owned()))?;
        self.public_key_of(h)
    }

    /// Signs `message` with `role`'s key: SHA-256 here, ECDSA on the card (SoftHSM2 has no
    /// CKM_ECDSA_SHA256), the raw r||s encoded as DER. Needs a login.
    pub fn sign(&self, role: CardKeyRole, pending: bool, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        let h = self
            .key(role, pending, ObjectClass::PRIVATE_KEY)?
            .ok_or_else(|| TokenError::Missing(String::from_utf8_lossy(&role.label("key", pending)).into_owned()))?;
        let digest = sha2::Sha256::digest(message);
        let raw = self.session.sign(&Mechanism::Ecdsa, h, &digest).map_err(ck("signing on the card"))?;
        let sig = p256::ecdsa::Signature::from_slice(&raw)
            .map_err(|e| TokenError::Card { op: "signing on the card", detail: format!("bad signature: {e}") })?;
        Ok(sig.to_der().as_bytes().to_vec())
    }

    /// A PKCS#10 request for `role`'s key, signed on the card (proof of possession).
    pub fn csr(&self, role: CardKeyRole, pending: bool, common_name: &str) -> Result<Vec<u8>, TokenError> {
        let spki = self.public_key(role, pending)?;
        let key = CardSigner { card: self, role, pending, point: spki[26..].to_vec() };
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| TokenError::Card { op: "building a request", detail: e.to_string() })?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
        let csr = params
            .serialize_request(&key)
            .map_err(|e| TokenError::Card { op: "signing a request on the card", detail: e.to_string() })?;
        Ok(csr.der().to_vec())
    }

    /// Writes `role`'s certificate (DER) — as pending during a renewal. An older object
    /// with the same id is replaced.
    pub fn write_certificate(
        &self,
        role: CardKeyRole,
        pending: bool,
        der: &[u8],
        subject_der: &[u8],
    ) -> Result<(), TokenError> {
        if let Some(h) = self.key(role, pending, ObjectClass::CERTIFICATE)? {
            self.session.destroy_object(h).map_err(ck("replacing a certificate"))?;
        }
        self.session
            .create_object(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::CertificateType(CertificateType::X_509),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Id(role.id(pending)),
                Attribute::Label(role.label("certificate", pending)),
                Attribute::Subject(subject_der.to_vec()),
                Attribute::Value(der.to_vec()),
            ])
            .map_err(ck("writing a certificate"))?;
        Ok(())
    }

    /// `role`'s certificate (DER), if the card holds one.
    pub fn certificate(&self, role: CardKeyRole, pending: bool) -> Result<Option<Vec<u8>>, TokenError> {
        let Some(h) = self.key(role, pending, ObjectClass::CERTIFICATE)? else { return Ok(None) };
        for a in self.session.get_attributes(h, &[AttributeType::Value]).map_err(ck("reading a certificate"))? {
            if let Attribute::Value(v) = a {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Makes `role`'s pending key pair and certificate the current ones: the old objects
    /// are deleted, the pending ones take the current id and labels. Until the first old
    /// object is deleted the card still has its old, valid pair.
    pub fn promote_pending(&self, role: CardKeyRole) -> Result<(), TokenError> {
        let classes = [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY, ObjectClass::CERTIFICATE];
        for class in classes {
            if self.key(role, true, class)?.is_none() {
                return Err(TokenError::Missing(format!("pending {} for {}", class_name(class), role.name())));
            }
        }
        for class in classes {
            if let Some(h) = self.key(role, false, class)? {
                self.session.destroy_object(h).map_err(ck("removing an old object"))?;
            }
        }
        for class in classes {
            if let Some(h) = self.key(role, true, class)? {
                let what = if class == ObjectClass::CERTIFICATE { "certificate" } else { "key" };
                self.session
                    .update_attributes(h, &[Attribute::Id(role.id(false)), Attribute::Label(role.label(what, false))])
                    .map_err(ck("renaming a pending object"))?;
            }
        }
        Ok(())
    }

    /// Deletes every pending object (an aborted renewal). Current objects are untouched.
    pub fn discard_pending(&self) -> Result<usize, TokenError> {
        let mut n = 0;
        for role in CardKeyRole::BOTH {
            for h in self.find(&[Attribute::Id(role.id(true))])? {
                self.session.destroy_object(h).map_err(ck("removing a pending object"))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every object visible in this session.
    pub fn objects(&self) -> Result<Vec<CardObject>, TokenError> {
        let mut out = Vec::new();
        for h in self.find(&[])? {
            let attrs = self
                .session
                .get_attributes(h, &[AttributeType::Class, AttributeType::Label, AttributeType::Id])
                .map_err(ck("reading the card"))?;
            let mut o = CardObject { class: String::new(), label: String::new(), id: vec![] };
            for a in attrs {
                match a {
                    Attribute::Class(c) => o.class = class_name(c).into(),
                    Attribute::Label(l) => o.label = String::from_utf8_lossy(&l).into_owned(),
                    Attribute::Id(i) => o.id = i,
                    _ => {}
                }
            }
            out.push(o);
        }
        Ok(out)
    }
}

/// rcgen's view of a card key: signatures come from the card.
struct CardSigner<'a> {
    card: &'a Card,
    role: CardKeyRole,
    pending: bool,
    point: Vec<u8>,
}

impl rcgen::PublicKeyData for CardSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for CardSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.card.sign(self.role, self.pending, msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// A card inserted or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardEvent {
    /// A card appeared.
    Inserted(String),
    /// A card disappeared.
    Removed(String),
}

/// Watches card presence by polling the slot list every `interval` (SoftHSM2 and many
/// readers have no slot events). Calls `on_event` from a background thread until it
/// returns false.
pub fn watch(
    module: Module,
    interval: Duration,
    mut on_event: impl FnMut(CardEvent) -> bool + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut present: Vec<String> =
            module.initialised_cards().map(|c| c.into_iter().map(|c| c.serial).collect()).unwrap_or_default();
        loop {
            std::thread::sleep(interval);
            let now: Vec<String> =
                module.initialised_cards().map(|c| c.into_iter().map(|c| c.serial).collect()).unwrap_or_default();
            for gone in present.iter().filter(|s| !now.contains(s)) {
                if !on_event(CardEvent::Removed(gone.clone())) {
                    return;
                }
            }
            for new in now.iter().filter(|s| !present.contains(s)) {
                if !on_event(CardEvent::Inserted(new.clone())) {
                    return;
                }
            }
            present = now;
        }
    })
}

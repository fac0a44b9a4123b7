//! A session with one card: passcodes, key pairs, signatures, certificates and renewal.
//!
//! This file holds the session, its passcodes and the object helpers; key pairs,
//! signatures and certificates are in `card/keys.rs`, renewal in `card/renewal.rs`.

mod keys;
mod renewal;

pub use renewal::RenewalState;

use std::fmt;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::types::AuthPin;

use crate::encoding;
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

    /// Changes the security officer's PIN; the card checks the old one. Logged in as SO
    /// ([`Card::login_so`]), `C_SetPIN` changes the SO PIN.
    pub fn change_so_pin(&self, old: &str, new: &str) -> Result<(), TokenError> {
        self.session.set_pin(&AuthPin::from(old), &AuthPin::from(new)).map_err(self.err("changing the SO PIN"))
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
}

//! A loaded PKCS#11 module and the tokens (cards) it sees.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::TokenError;
use crate::card::Card;
use crate::error::{PinRange, Who, detail, map};

/// A token in a slot, from `C_GetTokenInfo` (text fields trimmed of their blank padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// The slot it is in now. Slot numbers are the module's and not stable (SoftHSM2 gives
    /// a token another slot number in the next process): keep a card's serial, not its slot.
    pub slot: u64,
    /// The token serial: the card's identity.
    pub serial: String,
    /// The token label.
    pub label: String,
    /// `manufacturerID`.
    pub manufacturer: String,
    /// The token model.
    pub model: String,
    /// CKF_TOKEN_INITIALIZED: false for a blank card (SoftHSM2's spare slot).
    pub initialized: bool,
    /// CKF_USER_PIN_INITIALIZED: the holder's passcode is set.
    pub user_pin_initialized: bool,
    /// CKF_USER_PIN_LOCKED: the card has locked the passcode itself.
    pub user_pin_locked: bool,
    /// CKF_USER_PIN_COUNT_LOW: a wrong passcode has been counted since the last good one.
    pub user_pin_count_low: bool,
    /// CKF_USER_PIN_FINAL_TRY: one more wrong passcode locks the card.
    pub user_pin_final_try: bool,
    /// Shortest PIN the card accepts.
    pub min_pin_len: usize,
    /// Longest PIN the card accepts.
    pub max_pin_len: usize,
}

impl CardInfo {
    pub(crate) fn pins(&self) -> PinRange {
        PinRange { min: self.min_pin_len, max: self.max_pin_len }
    }
}

/// A loaded and initialised PKCS#11 module. Cheap to clone; all clones (and every later
/// [`Module::open`] of the same path) share one `C_Initialize`d library for the process.
#[derive(Clone)]
pub struct Module {
    pub(crate) ctx: Pkcs11,
    path: PathBuf,
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Modules loaded by this process, by canonical path. A library is initialised once and
/// never finalised: `C_Finalize` would end every other user's sessions in the process.
fn loaded() -> &'static Mutex<HashMap<PathBuf, Pkcs11>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

impl Module {
    /// Loads the PKCS#11 library at `path` and initialises it, or returns the one this
    /// process already loaded from that path. SoftHSM2 reads `SOFTHSM2_CONF` here, once.
    pub fn open(path: impl AsRef<Path>) -> Result<Module, TokenError> {
        let path = path.as_ref();
        let load_err = |detail: String| TokenError::ModuleLoad { path: path.display().to_string(), detail };
        let canonical = std::fs::canonicalize(path).map_err(|e| load_err(e.to_string()))?;
        let mut loaded = loaded().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ctx) = loaded.get(&canonical) {
            return Ok(Module { ctx: ctx.clone(), path: canonical });
        }
        let ctx = Pkcs11::new(&canonical).map_err(|e| load_err(detail(&e)))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            // Another library in this process (e.g. NSS) may have initialised it already.
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(load_err(detail(&e))),
        }
        loaded.insert(canonical.clone(), ctx.clone());
        tracing::debug!(module = %canonical.display(), "PKCS#11 module initialised");
        Ok(Module { ctx, path: canonical })
    }

    /// The module's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, op: &'static str) -> impl Fn(CkError) -> TokenError {
        move |e| map(op, Who::User, PinRange { min: 0, max: 0 }, e)
    }

    /// Every slot that holds a token, blank tokens included (`initialized` false).
    pub fn cards(&self) -> Result<Vec<CardInfo>, TokenError> {
        let slots = self.ctx.get_slots_with_token().map_err(self.err("listing the card readers"))?;
        let mut cards = Vec::with_capacity(slots.len());
        for slot in slots {
            // A card pulled out between the two calls is simply not listed.
            let Ok(t) = self.ctx.get_token_info(slot) else { continue };
            cards.push(CardInfo {
                slot: slot.id(),
                serial: t.serial_number().trim().to_string(),
                label: t.label().trim().to_string(),
                manufacturer: t.manufacturer_id().trim().to_string(),
                model: t.model().trim().to_string(),
                initialized: t.token_initialized(),
                user_pin_initialized: t.user_pin_initialized(),
                user_pin_locked: t.user_pin_locked(),
                user_pin_count_low: t.user_pin_count_low(),
                user_pin_final_try: t.user_pin_final_try(),
                min_pin_len: t.min_pin_length(),
                max_pin_len: t.max_pin_length(),
            });
        }
        Ok(cards)
    }

    /// The initialised cards present (what a user would call "inserted cards").
    pub fn initialised_cards(&self) -> Result<Vec<CardInfo>, TokenError> {
        Ok(self.cards()?.into_iter().filter(|c| c.initialized).collect())
    }

    /// The card with `serial`; or, without a serial, the only card inserted.
    pub fn find(&self, serial: Option<&str>) -> Result<CardInfo, TokenError> {
        let cards = self.initialised_cards()?;
        match serial {
            Some(s) => cards.into_iter().find(|c| c.serial == s).ok_or_else(|| TokenError::NoCard { serial: s.into() }),
            None => match cards.as_slice() {
                [] => Err(TokenError::NoCardInserted),
                [one] => Ok(one.clone()),
                many => Err(TokenError::SeveralCards {
                    serials: many.iter().map(|c| c.serial.as_str()).collect::<Vec<_>>().join(", "),
                }),
            },
        }
    }

    /// The first slot holding a blank (uninitialised) token, for [`Module::init_token`].
    pub fn blank_slot(&self) -> Result<u64, TokenError> {
        self.cards()?.into_iter().find(|c| !c.initialized).map(|c| c.slot).ok_or(TokenError::NoBlankCard)
    }

    fn slot(&self, id: u64) -> Result<Slot, TokenError> {
        self.ctx
            .get_slots_with_token()
            .map_err(self.err("listing the card readers"))?
            .into_iter()
            .find(|s| s.id() == id)
            .ok_or(TokenError::Removed)
    }

    /// Initialises (erases) the token in `slot` with a security officer PIN and a label —
    /// the RA's "issue card" step, and how tests make cards. The holder's passcode is set
    /// afterwards ([`Card::login_so`], [`Card::set_passcode_as_so`]). Returns the card as
    /// listed afterwards, found again by label (and, when several tokens share the label, by
    /// being new) rather than by slot: SoftHSM2 adds a new blank slot after an init and
    /// numbers slots differently in the next process.
    pub fn init_token(&self, slot: u64, so_pin: &str, label: &str) -> Result<CardInfo, TokenError> {
        if label.len() > 32 {
            return Err(TokenError::LabelTooLong { label: label.into() });
        }
        let before: Vec<String> = self.initialised_cards()?.into_iter().map(|c| c.serial).collect();
        let target = self.slot(slot)?;
        let pins =
            self.cards()?.into_iter().find(|c| c.slot == slot).map(|c| c.pins()).unwrap_or(PinRange { min: 0, max: 0 });
        self.ctx
            .init_token(target, &AuthPin::from(so_pin), label)
            .map_err(|e| map("initialising the card", Who::So, pins, e))?;
        let mut same_label: Vec<CardInfo> =
            self.initialised_cards()?.into_iter().filter(|c| c.label == label).collect();
        if same_label.len() > 1 {
            same_label.retain(|c| !before.contains(&c.serial) || c.slot == slot);
        }
        match same_label.as_slice() {
            [one] => {
                tracing::info!(serial = %one.serial, label, "card initialised");
                Ok(one.clone())
            }
            [] => Err(TokenError::Card {
                op: "initialising the card",
                detail: "the initialised card is not listed afterwards".into(),
            }),
            _ => Err(TokenError::Card {
                op: "initialising the card",
                detail: format!("several cards are labelled {label:?}; give each card its own label"),
            }),
        }
    }

    /// Initialises the first blank token ([`Module::blank_slot`], [`Module::init_token`])
    /// and returns the new card's serial.
    pub fn init_blank(&self, so_pin: &str, label: &str) -> Result<String, TokenError> {
        Ok(self.init_token(self.blank_slot()?, so_pin, label)?.serial)
    }

    /// Opens a read-write session with the card `serial`.
    pub fn card(&self, serial: &str) -> Result<Card, TokenError> {
        let info = self.find(Some(serial))?;
        let session = self.ctx.open_rw_session(self.slot(info.slot)?).map_err(self.err("opening the card"))?;
        Ok(Card::new(self.clone(), session, info))
    }

    /// Serials of the initialised cards present now; an unreadable slot list counts as no
    /// cards (the safe answer for a session that depends on the card being there).
    pub(crate) fn present_serials(&self) -> Vec<String> {
        match self.initialised_cards() {
            Ok(cards) => cards.into_iter().map(|c| c.serial).collect(),
            Err(e) => {
                tracing::debug!(error = %e, "cannot list cards; treating every card as removed");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_module_says_what_to_install() {
        let e = Module::open("/nonexistent/libpkcs11-module.so").unwrap_err();
        assert!(matches!(e, TokenError::ModuleLoad { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("/nonexistent/libpkcs11-module.so") && text.contains("opensc-pkcs11"), "{text}");
    }

    #[test]
    fn a_file_that_is_no_pkcs11_module_is_refused() {
        let e = Module::open("/etc/hostname").unwrap_err();
        assert!(matches!(e, TokenError::ModuleLoad { .. }), "{e:?}");
    }
}

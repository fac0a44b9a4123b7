//! What can go wrong with a card, and how PKCS#11 return values map onto it.

use cryptoki::error::{Error as CkError, RvError};
use thiserror::Error;

use crate::CardKeyRole;

/// What can go wrong with a card or a PKCS#11 module. Each message says what happened and
/// what to do next; none carries a passcode.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The PKCS#11 module could not be loaded or initialised.
    #[error(
        "cannot load the PKCS#11 module {path}: {detail}; install the card middleware \
         (Debian: opensc-pkcs11 for smartcards, softhsm2 for tests) or fix the configured module path"
    )]
    ModuleLoad {
        /// The module path as configured.
        path: String,
        /// The loader's or the module's words.
        detail: String,
    },
    /// No card with this serial is in any reader.
    #[error("no card with serial {serial} is in a reader: insert it and try again")]
    NoCard {
        /// The serial asked for.
        serial: String,
    },
    /// No initialised card is in any reader.
    #[error("no smartcard is in a reader: insert your card and try again")]
    NoCardInserted,
    /// Several cards are inserted and none was chosen.
    #[error("more than one card is inserted ({serials}): choose one by its serial")]
    SeveralCards {
        /// The serials, comma-separated.
        serials: String,
    },
    /// There is no blank token to initialise.
    #[error("no blank card is in a reader: insert a new, uninitialised card (SoftHSM2 always offers one empty slot)")]
    NoBlankCard,
    /// A token label longer than PKCS#11 allows.
    #[error("the card label {label:?} is longer than 32 bytes: choose a shorter label")]
    LabelTooLong {
        /// The label refused.
        label: String,
    },
    /// The holder's passcode is wrong.
    #[error("the passcode is wrong: try again (the card locks after too many wrong passcodes in a row)")]
    WrongPasscode,
    /// The card locked the holder's passcode after too many wrong tries.
    #[error(
        "the card is locked after too many wrong passcodes: unlock it (a code sent to you, \
         a sponsor, or the Registration Authority) and set a new passcode"
    )]
    Locked,
    /// The new passcode's length is outside what the card accepts.
    #[error("the card does not accept a passcode of this length{}", length_rule(*min, *max))]
    PasscodeLength {
        /// Shortest passcode the card takes.
        min: usize,
        /// Longest passcode the card takes.
        max: usize,
    },
    /// The new passcode has characters the card refuses.
    #[error("the card refuses characters in this passcode: choose another passcode (digits only)")]
    PasscodeInvalid,
    /// The card wants its passcode changed before anything else.
    #[error("the card requires a new passcode before it can be used: change the passcode")]
    PasscodeExpired,
    /// The card has no holder passcode yet.
    #[error("the card has no passcode yet: the Registration Authority must finish issuing it")]
    PasscodeNotSet,
    /// The security officer PIN is wrong.
    #[error(
        "the card refused its security officer PIN: use the SO PIN recorded when the card was issued \
         (too many wrong SO PINs block the card for good)"
    )]
    WrongSoPin,
    /// The security officer PIN is blocked.
    #[error("the card's security officer PIN is blocked: the card cannot be unlocked and must be replaced by the RA")]
    SoLocked,
    /// An operation needed a login that has not happened.
    #[error("the card needs the passcode first: log in before using its keys")]
    NotLoggedIn,
    /// A key pair or certificate the operation needs is not on the card.
    #[error("the card holds no {what}: it was not issued by carecert, or the RA must issue it again")]
    Missing {
        /// What was looked for, e.g. `carecert auth key`.
        what: String,
    },
    /// A current key pair already exists for this role.
    #[error(
        "the card already holds a {role} key pair: renew it (a pending key pair) or have the RA re-initialise the card"
    )]
    KeyExists {
        /// The role.
        role: CardKeyRole,
    },
    /// `promote_pending` found nothing to promote.
    #[error(
        "there is no pending {role} certificate to put in place: generate the pending key pair and write its certificate first"
    )]
    NothingPending {
        /// The role.
        role: CardKeyRole,
    },
    /// A promotion was interrupted; the pending objects are the only valid ones and must not be discarded.
    #[error(
        "a renewal of the {role} certificate was interrupted while the new certificate was being put in place: \
         finish it (promote the pending objects) instead of discarding them"
    )]
    PromotionInterrupted {
        /// The role.
        role: CardKeyRole,
    },
    /// The bytes given as a certificate are not one DER X.509 certificate.
    #[error("the certificate is not a valid DER X.509 certificate ({detail}): nothing was written to the card")]
    BadCertificate {
        /// Why.
        detail: String,
    },
    /// The certificate certifies a different key than the card's key pair for that role.
    #[error(
        "the certificate is not for the card's {role} key pair{pending}: nothing was written \
         (write the certificate issued for this card's key)",
        pending = if *pending { " (pending)" } else { "" }
    )]
    CertificateKeyMismatch {
        /// The role.
        role: CardKeyRole,
        /// Whether the pending key pair was meant.
        pending: bool,
    },
    /// The card returned a public key that is not a P-256 point.
    #[error(
        "the card returned a public key that is not a P-256 point ({detail}): this card or middleware is not supported"
    )]
    BadPublicKey {
        /// Why.
        detail: String,
    },
    /// The card was removed (or its token deleted) during the operation.
    #[error("the card was removed: insert it again and retry")]
    Removed,
    /// The presence watcher could not start.
    #[error("cannot start watching for cards: {detail}")]
    Watcher {
        /// Why.
        detail: String,
    },
    /// Anything else the module reported.
    #[error(
        "the card reported an error while {op}: {detail}; take the card out, put it back and retry, \
         and tell the helpdesk if it happens again"
    )]
    Card {
        /// What was being done.
        op: &'static str,
        /// The module's return value and function.
        detail: String,
    },
    /// A PKCS#11 URI (RFC 7512) that cannot be used.
    #[error(
        "the PKCS#11 URI is not usable: {detail}; write it as \
         pkcs11:token=LABEL?module-path=/path/to/module.so&pin-source=file:/path/to/pin-file"
    )]
    BadUri {
        /// What is wrong with it.
        detail: String,
    },
    /// An HSM (a token holding CA keys) refused or failed an operation.
    #[error("the HSM failed while {op}: {detail}; check the module, the token label and the PIN file")]
    Hsm {
        /// What was being done.
        op: &'static str,
        /// The module's words.
        detail: String,
    },
}

/// The card's length rule, when it states a sensible one (kryoptic reports a maximum of 0).
fn length_rule(min: usize, max: usize) -> String {
    if max >= min && max > 0 {
        format!(": it takes {min} to {max} characters")
    } else {
        ": choose another passcode".into()
    }
}

/// Who was logging in or setting a PIN: the error for a wrong or blocked PIN differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    User,
    So,
}

/// The PIN lengths a card takes, for [`TokenError::PasscodeLength`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct PinRange {
    pub(crate) min: usize,
    pub(crate) max: usize,
}

/// Short words for a cryptoki error (the crate's Display prints whole paragraphs of the spec).
pub(crate) fn detail(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{rv:?} from {function:?}"),
        other => other.to_string(),
    }
}

/// Maps a PKCS#11 error to what a user or caller can act on.
pub(crate) fn map(op: &'static str, who: Who, pins: PinRange, e: CkError) -> TokenError {
    let CkError::Pkcs11(rv, _) = &e else {
        return TokenError::Card { op, detail: detail(&e) };
    };
    match (rv, who) {
        (RvError::PinIncorrect, Who::User) => TokenError::WrongPasscode,
        (RvError::PinIncorrect, Who::So) => TokenError::WrongSoPin,
        (RvError::PinLocked, Who::User) => TokenError::Locked,
        (RvError::PinLocked, Who::So) => TokenError::SoLocked,
        (RvError::PinLenRange, _) => TokenError::PasscodeLength { min: pins.min, max: pins.max },
        (RvError::PinInvalid, _) => TokenError::PasscodeInvalid,
        (RvError::PinExpired, _) => TokenError::PasscodeExpired,
        (RvError::UserPinNotInitialized, _) => TokenError::PasscodeNotSet,
        (RvError::UserNotLoggedIn, _) => TokenError::NotLoggedIn,
        (
            RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::SlotIdInvalid,
            _,
        ) => TokenError::Removed,
        _ => TokenError::Card { op, detail: detail(&e) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    const PINS: PinRange = PinRange { min: 6, max: 8 };

    fn rv(rv: RvError, who: Who) -> TokenError {
        map("testing", who, PINS, CkError::Pkcs11(rv, Function::Login))
    }

    #[test]
    fn a_locked_user_pin_is_reported_as_a_locked_card() {
        assert!(matches!(rv(RvError::PinLocked, Who::User), TokenError::Locked));
        assert!(matches!(rv(RvError::PinLocked, Who::So), TokenError::SoLocked));
    }

    #[test]
    fn wrong_pins_name_whose_pin_was_wrong() {
        assert!(matches!(rv(RvError::PinIncorrect, Who::User), TokenError::WrongPasscode));
        assert!(matches!(rv(RvError::PinIncorrect, Who::So), TokenError::WrongSoPin));
    }

    #[test]
    fn passcode_rules_of_the_card_are_explained() {
        let e = rv(RvError::PinLenRange, Who::User);
        assert!(matches!(e, TokenError::PasscodeLength { min: 6, max: 8 }));
        assert!(e.to_string().contains("6 to 8"), "{e}");
        let odd = TokenError::PasscodeLength { min: 8, max: 0 }.to_string();
        assert!(!odd.contains("8 to 0"), "{odd}");
        assert!(matches!(rv(RvError::PinInvalid, Who::User), TokenError::PasscodeInvalid));
        assert!(matches!(rv(RvError::PinExpired, Who::User), TokenError::PasscodeExpired));
    }

    #[test]
    fn a_vanished_card_is_reported_as_removed() {
        for r in [RvError::DeviceRemoved, RvError::TokenNotPresent, RvError::SessionHandleInvalid] {
            assert!(matches!(rv(r, Who::User), TokenError::Removed));
        }
    }

    #[test]
    fn other_errors_keep_the_module_words_short() {
        let e = rv(RvError::GeneralError, Who::User);
        let text = e.to_string();
        assert!(text.contains("GeneralError from Login"), "{text}");
        assert!(text.len() < 300, "no spec paragraphs: {text}");
    }
}

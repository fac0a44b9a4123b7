//! # token — smartcards and HSMs through PKCS#11
//!
//! **Owns** every conversation with a PKCS#11 module (through `cryptoki`): loading a module
//! once per process, listing cards, initialising a card and its passcode, logging in and the
//! card's own passcode errors, generating **P-256 key pairs on the card**, signing with them,
//! building a PKCS#10 request signed on the card, writing and reading certificates, the
//! *pending* objects of a renewal and their promotion, and watching card presence.
//!
//! **Must never**: export or copy a private key (keys are made on the card as sensitive and
//! non-extractable, and no function reads key material); store, log or return a passcode or
//! PIN (they pass through as `&str` into cryptoki's zeroising `AuthPin` and are gone);
//! implement cryptography (the card signs, `sha2` hashes, `p256`/`der` encode signatures and
//! keys, `rcgen` builds requests); decide policy (passcode rules, lock counts and renewal
//! windows are the `cards` crate's; this crate reports what the card says). It depends on
//! no other carecert crate (layer 0).
//!
//! ## Objects on a card
//!
//! What `pkcs11-tool --list-objects --login` shows:
//!
//! | role | `CKA_ID` | key label (private + public) | certificate label |
//! |---|---|---|---|
//! | [`CardKeyRole::Auth`] | `01` | `carecert auth key` | `carecert auth certificate` |
//! | [`CardKeyRole::Sign`] | `02` | `carecert sign key` | `carecert sign certificate` |
//! | pending (renewal) | `81` / `82` | `… key (pending)` | `… certificate (pending)` |
//!
//! ## Renewal
//!
//! A renewal never touches the current key pair and certificate until the new ones are
//! complete on the card:
//!
//! 1. [`Card::generate_key_pair`]`(role, pending = true)` — new pair under the pending id;
//! 2. [`Card::csr`]`(role, true, cn)` — request signed by the new key, sent to the CA;
//! 3. [`Card::write_certificate`]`(role, true, der, subject)` — refused unless it certifies
//!    that key;
//! 4. [`Card::promote_pending`]`(role)` — checks the pending certificate against the pending
//!    public key, deletes the current certificate, private key and public key, then gives
//!    the pending public key, private key and certificate the current id and labels.
//!
//! [`Card::discard_pending`] undoes 1–3 (an aborted renewal) and leaves the current objects
//! exactly as they were.
//!
//! **Crash windows** (PKCS#11 has no transactions). Until step 4 deletes the first current
//! object, the card holds its old, valid pair and certificate, and the pending objects can
//! simply be discarded. Inside step 4 — six object operations, milliseconds — a crash or a
//! pulled card leaves a card whose old certificate is already gone: there is no way back.
//! [`Card::renewal_state`] then says [`RenewalState::Interrupted`] (a pending certificate and
//! no current one), and both [`Card::promote_pending`] and [`Card::discard_pending`] finish
//! the swap from whichever object it stopped at (the pending certificate is renamed last, so
//! it marks an unfinished swap); generating a new pending pair is refused until then. The
//! agent promotes after the CA has recorded the renewal as complete, so the certificate the
//! swap puts in place is the one the CA considers current.
//!
//! ## Presence
//!
//! [`watch`] polls the slot list and each token's serial (every [`DEFAULT_WATCH_INTERVAL`],
//! 150 ms) and reports [`CardEvent`]s; an open [`Card`] whose token has gone answers
//! [`TokenError::Removed`] whatever code the module gives. SoftHSM2 has no slot events, and
//! a running process sees only part of what happens to its token directory: a token that
//! disappears — deleted by `softhsm2-util --delete-token --serial S` or its directory moved
//! away, both from another process — is gone from the next slot listing (reported in
//! ~130–150 ms, measured); a token that appears is seen only if this process initialised it
//! (`C_InitToken`) — one made or moved back by another process shows only after a restart.
//! The tests pull cards out both ways (`tests/softhsm.rs`,
//! `watcher_reports_insertion_and_removal_within_500_ms`).
//!
//! ## SoftHSM2 notes
//!
//! No CKM_ECDSA_SHA256 (this crate hashes and uses CKM_ECDSA everywhere); `CKA_EC_POINT`
//! comes DER-wrapped in an OCTET STRING; slot numbers are not stable (an initialised token
//! keeps its slot in this process, gets a serial-derived one in the next, and a new blank
//! slot appears — find cards by serial); the user PIN is never locked after wrong tries, so
//! [`TokenError::Locked`] is only seen with real cards or a soft token that counts
//! (the opencryptoki and kryoptic soft tokens); `SOFTHSM2_CONF` is read once, when
//! the module is initialised.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod card;
mod encoding;
mod error;
mod hsm;
mod module;
mod role;
mod watch;

pub use card::{Card, CardObject, ObjectKind, RenewalState};
pub use error::TokenError;
pub use hsm::{Hsm, HsmKey, Pkcs11Uri};
pub use module::{CardInfo, Module};
pub use role::CardKeyRole;
pub use watch::{CardEvent, DEFAULT_WATCH_INTERVAL, watch};

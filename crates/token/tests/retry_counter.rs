//! The passcode lock on a token that enforces its own retry counter: the opencryptoki soft
//! token (Debian package `opencryptoki`), which — unlike SoftHSM2 — counts wrong user PINs,
//! flags the count (USER_PIN_COUNT_LOW, USER_PIN_FINAL_TRY), locks the PIN after the third
//! wrong one in a row and then refuses every login with CKR_PIN_LOCKED until the security
//! officer sets a new PIN. `scripts/retry-token.sh` starts opencryptoki's `pkcsslotd` daemon
//! when needed and re-initialises the soft token, so every run starts from a fresh token.
//! The lock is checked through this crate and, from another process, with `pkcs11-tool`.
//! (The script also clears the token's CKF_CLOCK_ON_TOKEN flag: cryptoki 0.12 cannot parse
//! opencryptoki's clock and would make the token invisible; see the script.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use token::{CardInfo, Module, TokenError};

const PASSCODE: &str = "246810";
const WRONG: &str = "135790";
const NEW_PASSCODE: &str = "97531864";

/// What `scripts/retry-token.sh` prints: module, slot, serial, label, so_pin.
fn set_up_token() -> HashMap<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/retry-token.sh");
    let out =
        Command::new("bash").arg(&script).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed (it needs the Debian packages opencryptoki and opensc, and root or passwordless sudo \
         to start pkcsslotd):\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `pkcs11-tool --login` from another process: the counter is the token's, not ours.
fn login_elsewhere(module: &str, slot: &str, passcode: &str) -> (bool, String) {
    let out = Command::new("pkcs11-tool")
        .args(["--module", module, "--slot", slot, "--login", "--pin", passcode, "--list-objects"])
        .output()
        .expect("pkcs11-tool is missing: install the Debian package opensc");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn counters(c: &CardInfo) -> (bool, bool, bool) {
    (c.user_pin_count_low, c.user_pin_final_try, c.user_pin_locked)
}

#[test]
fn the_token_locks_the_passcode_after_three_wrong_tries_and_the_so_unlocks_it() {
    let env = set_up_token();
    let (path, slot, serial, so_pin) = (&env["module"], &env["slot"], &env["serial"], &env["so_pin"]);
    let module = Module::open(path).unwrap_or_else(|e| panic!("opencryptoki (Debian package opencryptoki): {e}"));
    let status = || module.find(Some(serial)).unwrap();

    let fresh = status();
    assert_eq!(fresh.label, env["label"]);
    assert_eq!(fresh.model, "IBM SoftTok", "{fresh:?}");
    assert!(fresh.initialized && !fresh.user_pin_initialized, "a freshly initialised token: {fresh:?}");

    // Issue: the SO sets the holder's passcode.
    let card = module.card(serial).unwrap();
    card.login_so(so_pin).unwrap();
    card.set_passcode_as_so(PASSCODE).unwrap();
    card.logout();
    assert!(status().user_pin_initialized);

    // The right passcode works.
    card.login(PASSCODE).unwrap();
    card.logout();
    assert_eq!(counters(&status()), (false, false, false), "no wrong passcode counted yet");

    // One wrong passcode: refused, and the token itself says it counted it.
    assert!(matches!(card.login(WRONG).unwrap_err(), TokenError::WrongPasscode));
    assert_eq!(counters(&status()), (true, false, false), "count low after one wrong passcode: {:?}", status());

    // A right passcode resets the token's counter.
    card.login(PASSCODE).unwrap();
    card.logout();
    assert_eq!(counters(&status()), (false, false, false), "a good passcode clears the count: {:?}", status());

    // Three wrong passcodes in a row: the second leaves a final try, the third locks.
    assert!(matches!(card.login(WRONG).unwrap_err(), TokenError::WrongPasscode));
    assert!(matches!(card.login(WRONG).unwrap_err(), TokenError::WrongPasscode));
    assert_eq!(counters(&status()), (false, true, false), "one try left after two wrong passcodes: {:?}", status());
    let third = card.login(WRONG).unwrap_err();
    // opencryptoki answers the locking try with CKR_PIN_INCORRECT; a card may say CKR_PIN_LOCKED.
    assert!(matches!(third, TokenError::WrongPasscode | TokenError::Locked), "{third:?}");
    let locked = status();
    assert!(locked.user_pin_locked, "the token locked its passcode after three wrong tries: {locked:?}");

    // Locked: even the right passcode is refused, by the token, with a message that says what to do.
    let e = card.login(PASSCODE).unwrap_err();
    assert!(matches!(e, TokenError::Locked), "the right passcode on a locked token: {e:?}");
    assert!(e.to_string().contains("locked") && e.to_string().contains("unlock"), "{e}");
    assert!(matches!(card.login(WRONG).unwrap_err(), TokenError::Locked));
    let (ok, said) = login_elsewhere(path, slot, PASSCODE);
    assert!(!ok && said.contains("CKR_PIN_LOCKED"), "another process sees the lock too: {said}");
    assert!(status().user_pin_locked);

    // Unlock as SO: a new passcode, the token's counter and lock are cleared.
    card.login_so(so_pin).unwrap();
    card.set_passcode_as_so(NEW_PASSCODE).unwrap();
    card.logout();
    let unlocked = status();
    assert_eq!(counters(&unlocked), (false, false, false), "unlocked: {unlocked:?}");
    assert!(matches!(card.login(PASSCODE).unwrap_err(), TokenError::WrongPasscode), "the old passcode is gone");
    card.login(NEW_PASSCODE).unwrap();
    card.logout();
    assert_eq!(counters(&status()), (false, false, false));
    let (ok, said) = login_elsewhere(path, slot, NEW_PASSCODE);
    assert!(ok, "the new passcode works from another process too: {said}");
}

//! The card operations against a real PKCS#11 module: SoftHSM2, with a private token
//! directory for this test process (SOFTHSM2_CONF is set once, before the module loads).
//! Checked with the real tools: `pkcs11-tool --list-objects`, `openssl req -verify`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use token::{CardEvent, CardKeyRole, Module, TokenError};

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

struct Env {
    _dir: tempfile::TempDir,
    tokens: PathBuf,
    module: Module,
}

/// One SoftHSM2 configuration per test process; tests take the lock so that token
/// initialisation (which renumbers slots) does not interleave.
fn env() -> std::sync::MutexGuard<'static, Env> {
    static ENV: OnceLock<Mutex<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        assert!(Path::new(SOFTHSM).exists(), "SoftHSM2 is missing: install the Debian package softhsm2");
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
        )
        .unwrap();
        // SAFETY: set once, inside this OnceLock initialiser, before the module is loaded;
        // no other code in this test binary reads or writes the environment concurrently.
        unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
        let module = Module::open(Path::new(SOFTHSM)).unwrap();
        Mutex::new(Env { _dir: dir, tokens, module })
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

fn new_card(e: &Env, label: &str, passcode: &str) -> String {
    let serial = e.module.init_blank("so-pin-1234", label).unwrap();
    let card = e.module.card(&serial).unwrap();
    card.login_so("so-pin-1234").unwrap();
    card.set_passcode_as_so(passcode).unwrap();
    card.logout();
    serial
}

fn pkcs11_tool(args: &[&str]) -> String {
    let out = Command::new("pkcs11-tool")
        .args(["--module", SOFTHSM])
        .args(args)
        .output()
        .expect("pkcs11-tool is missing: install the Debian package opensc");
    assert!(out.status.success(), "pkcs11-tool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn verify(spki: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    // The SPKI's last 65 bytes are the uncompressed point.
    let point = &spki[spki.len() - 65..];
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(msg, sig)
        .is_ok()
}

#[test]
fn keys_are_made_on_the_card_sign_and_make_requests_openssl_verifies() {
    let e = env();
    let serial = new_card(&e, "keys", "123456");
    let card = e.module.card(&serial).unwrap();
    assert!(matches!(card.login("000000").unwrap_err(), TokenError::WrongPasscode));
    card.login("123456").unwrap();
    let auth = card.generate_key_pair(CardKeyRole::Auth, false).unwrap();
    let sign = card.generate_key_pair(CardKeyRole::Sign, false).unwrap();
    assert_ne!(auth, sign);
    let sig = card.sign(CardKeyRole::Auth, false, b"challenge").unwrap();
    assert!(verify(&auth, b"challenge", &sig), "the card's signature verifies with its public key");
    assert!(!verify(&sign, b"challenge", &sig));
    // A CSR signed on the card: openssl checks its signature.
    let csr = card.csr(CardKeyRole::Sign, false, "Dr Test").unwrap();
    let path = e.tokens.parent().unwrap().join("keys.csr");
    std::fs::write(&path, &csr).unwrap();
    let out = Command::new("openssl")
        .args(["req", "-inform", "DER", "-verify", "-noout", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl req -verify: {}", String::from_utf8_lossy(&out.stderr));
    // Certificates are written and read back; pkcs11-tool shows what everything is.
    card.write_certificate(CardKeyRole::Auth, false, b"not really DER but stored as given", b"\x30\x00").unwrap();
    assert_eq!(card.certificate(CardKeyRole::Auth, false).unwrap().unwrap(), b"not really DER but stored as given");
    let listing = pkcs11_tool(&["--token-label", "keys", "--login", "--pin", "123456", "--list-objects"]);
    for label in ["carecert auth key", "carecert sign key", "carecert auth certificate"] {
        assert!(listing.contains(label), "{label} in {listing}");
    }
    // Private keys are sensitive and not extractable.
    assert!(listing.contains("sensitive") || listing.contains("never extractable"), "{listing}");
}

#[test]
fn a_renewal_swaps_pending_objects_in_or_discards_them() {
    let e = env();
    let serial = new_card(&e, "renew", "654321");
    let card = e.module.card(&serial).unwrap();
    card.login("654321").unwrap();
    let old = card.generate_key_pair(CardKeyRole::Auth, false).unwrap();
    card.write_certificate(CardKeyRole::Auth, false, b"old-cert", b"\x30\x00").unwrap();
    // Abort: pending objects go, the old pair stays.
    card.generate_key_pair(CardKeyRole::Auth, true).unwrap();
    card.write_certificate(CardKeyRole::Auth, true, b"new-cert", b"\x30\x00").unwrap();
    assert_eq!(card.discard_pending().unwrap(), 3);
    assert_eq!(card.public_key(CardKeyRole::Auth, false).unwrap(), old);
    assert_eq!(card.certificate(CardKeyRole::Auth, false).unwrap().unwrap(), b"old-cert");
    assert!(card.objects().unwrap().iter().all(|o| !o.label.contains("pending")));
    // Complete: the pending pair replaces the old one.
    let new = card.generate_key_pair(CardKeyRole::Auth, true).unwrap();
    card.write_certificate(CardKeyRole::Auth, true, b"new-cert", b"\x30\x00").unwrap();
    card.promote_pending(CardKeyRole::Auth).unwrap();
    assert_eq!(card.public_key(CardKeyRole::Auth, false).unwrap(), new);
    assert_eq!(card.certificate(CardKeyRole::Auth, false).unwrap().unwrap(), b"new-cert");
    let objects = card.objects().unwrap();
    assert_eq!(objects.len(), 3, "one key pair and one certificate: {objects:?}");
    assert!(objects.iter().all(|o| !o.label.contains("pending") && o.id == vec![1]));
    let sig = card.sign(CardKeyRole::Auth, false, b"after").unwrap();
    assert!(verify(&new, b"after", &sig));
}

#[test]
fn passcodes_change_and_removal_is_noticed_quickly() {
    let e = env();
    let serial = new_card(&e, "watch", "111111");
    let card = e.module.card(&serial).unwrap();
    card.change_passcode("111111", "22222222").unwrap();
    assert!(matches!(card.login("111111").unwrap_err(), TokenError::WrongPasscode));
    card.login("22222222").unwrap();
    drop(card);
    let (tx, rx) = std::sync::mpsc::channel();
    let _w = token::watch(e.module.clone(), Duration::from_millis(100), move |ev| tx.send(ev).is_ok());
    std::thread::sleep(Duration::from_millis(250));
    // Pulling a SoftHSM2 "card": delete the token.
    let removed_at = Instant::now();
    let out = Command::new("softhsm2-util").args(["--delete-token", "--serial", &serial]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ev = rx.recv_timeout(Duration::from_secs(2)).expect("the watcher reports the removal");
    assert_eq!(ev, CardEvent::Removed(serial.clone()));
    assert!(removed_at.elapsed() < Duration::from_millis(500), "noticed in {:?}", removed_at.elapsed());
    assert!(matches!(e.module.card(&serial).unwrap_err(), TokenError::NoCard(_)));
}

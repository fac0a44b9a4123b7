//! The card operations against a real PKCS#11 module, SoftHSM2, checked with the real
//! tools (`pkcs11-tool`, `softhsm2-util`, `openssl`).
//!
//! **Isolation.** SoftHSM2 reads `SOFTHSM2_CONF` once, when the module is initialised, and
//! the environment is process-wide while cargo runs tests on threads. So every test runs its
//! scenario in a child process of this test binary (`<exe> <test name> --exact`) started
//! with `SOFTHSM2_CONF` pointing at a configuration of its own, whose token directory is a
//! fresh temporary directory. No test shares tokens or environment with another, they run
//! in parallel, and nothing sets environment variables in-process. The parent checks that
//! the child really ran the scenario ("1 passed").
//!
//! A missing tool fails the test with the Debian package to install; nothing is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use token::{CardEvent, CardKeyRole, Module, ObjectKind, RenewalState, TokenError};

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";
const CHILD: &str = "CARECERT_TOKEN_TEST_SCENARIO";
const DIR: &str = "CARECERT_TOKEN_TEST_DIR";
const SO_PIN: &str = "so-pin-8642";

use CardKeyRole::{Auth as AUTH, Sign as SIGN};

/// What a scenario gets: its own SoftHSM2 (token directory `dir/tokens`) and a scratch dir.
struct Lab {
    dir: PathBuf,
    module: Module,
}

/// Runs `scenario` in a child process with its own SoftHSM2 configuration (see the top).
fn isolated(name: &str, scenario: impl FnOnce(&Lab)) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        let dir = PathBuf::from(std::env::var(DIR).expect("the parent sets the scratch directory"));
        let module = Module::open(SOFTHSM).expect("SoftHSM2 loads");
        scenario(&Lab { dir, module });
        return;
    }
    assert!(Path::new(SOFTHSM).exists(), "{SOFTHSM} is missing: install the Debian package softhsm2");
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
    )
    .unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .env(DIR, dir.path())
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "scenario {name} failed in its child process:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // Let the scenario's own prints (timings) show with --nocapture.
    for line in stdout.lines() {
        if let Some(at) = line.find("measured:") {
            println!("{}", &line[at..]);
        }
    }
}

/// Runs a command-line tool; a missing tool fails with the package that provides it.
fn run(program: &str, package: &str, args: &[&str]) -> Output {
    match Command::new(program).args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{program} is missing: install the Debian package {package}")
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

fn run_ok(program: &str, package: &str, args: &[&str]) -> String {
    let out = run(program, package, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn pkcs11_tool(args: &[&str]) -> String {
    let mut all = vec!["--module", SOFTHSM];
    all.extend_from_slice(args);
    run_ok("pkcs11-tool", "opensc", &all)
}

/// A card issued the way the RA does it: token initialised, holder passcode set by the SO.
fn new_card(lab: &Lab, label: &str, passcode: &str) -> String {
    let serial = lab.module.init_blank(SO_PIN, label).unwrap();
    let card = lab.module.card(&serial).unwrap();
    card.login_so(SO_PIN).unwrap();
    card.set_passcode_as_so(passcode).unwrap();
    card.logout();
    serial
}

/// Verifies an ECDSA P-256/SHA-256 DER signature with aws-lc-rs, taking the key from the
/// SPKI as x509-parser reads it (an implementation independent of the one that built it).
fn verifies(spki: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use x509_parser::prelude::FromDer;
    let (rest, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki).expect("SPKI parses");
    assert!(rest.is_empty());
    assert_eq!(info.algorithm.algorithm.to_id_string(), "1.2.840.10045.2.1", "id-ecPublicKey");
    let curve = info.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
    assert_eq!(curve.as_deref(), Some("1.2.840.10045.3.1.7"), "prime256v1");
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        &info.subject_public_key.data[..],
    )
    .verify(message, signature)
    .is_ok()
}

/// A certificate for a card key, from a throwaway CA (as the carecert CA would issue it).
fn issue(spki: &[u8], cn: &str) -> Vec<u8> {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "carecert test card CA");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let key = rcgen::SubjectPublicKeyInfo::from_der(spki).unwrap();
    leaf.signed_by(&key, &issuer).unwrap().der().to_vec()
}

/// The DER subject of a certificate (what the agent passes to `write_certificate`).
fn subject_of(der: &[u8]) -> Vec<u8> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.tbs_certificate.subject.as_raw().to_vec()
}

fn count(objects: &[token::CardObject], kind: ObjectKind, id: u8) -> usize {
    objects.iter().filter(|o| o.kind == kind && o.id == [id]).count()
}

#[test]
fn a_new_card_is_listed_with_its_flags_and_found_again_by_serial() {
    isolated("a_new_card_is_listed_with_its_flags_and_found_again_by_serial", |lab| {
        let m = &lab.module;
        assert!(matches!(m.find(None).unwrap_err(), TokenError::NoCardInserted));
        let blank = m.blank_slot().unwrap();
        let info = m.init_token(blank, SO_PIN, "carecert 000123").unwrap();
        assert_eq!(info.label, "carecert 000123");
        assert_eq!(info.serial.len(), 16, "SoftHSM2 serials are 16 hex digits: {info:?}");
        assert_eq!((info.manufacturer.as_str(), info.model.as_str()), ("SoftHSM project", "SoftHSM v2"));
        assert!(info.initialized && !info.user_pin_initialized && !info.user_pin_locked, "{info:?}");
        // SoftHSM2 offers a new blank slot for the next card.
        assert_ne!(m.blank_slot().unwrap(), info.slot);
        assert_eq!(m.initialised_cards().unwrap(), vec![info.clone()]);
        assert_eq!(m.cards().unwrap().len(), 2, "the card and a blank slot");
        assert!(matches!(
            m.init_token(m.blank_slot().unwrap(), SO_PIN, &"x".repeat(33)),
            Err(TokenError::LabelTooLong { .. })
        ));

        let card = m.card(&info.serial).unwrap();
        assert!(matches!(card.login("123456").unwrap_err(), TokenError::PasscodeNotSet));
        assert!(matches!(card.login_so("not-the-so-pin").unwrap_err(), TokenError::WrongSoPin));
        card.login_so(SO_PIN).unwrap();
        card.set_passcode_as_so("123456").unwrap();
        card.logout();
        let now = card.status().unwrap();
        assert!(now.user_pin_initialized, "{now:?}");
        card.login("123456").unwrap();
        assert!(card.objects().unwrap().is_empty());

        assert_eq!(m.find(None).unwrap().serial, info.serial, "the only card is chosen");
        assert!(matches!(m.find(Some("0000")).unwrap_err(), TokenError::NoCard { serial } if serial == "0000"));
        let second = new_card(lab, "carecert 000456", "654321");
        match m.find(None).unwrap_err() {
            TokenError::SeveralCards { serials } => {
                assert!(serials.contains(&info.serial) && serials.contains(&second), "{serials}")
            }
            other => panic!("{other}"),
        }
        assert_eq!(m.find(Some(&second)).unwrap().label, "carecert 000456");
        assert!(matches!(m.card("0000").unwrap_err(), TokenError::NoCard { .. }));
        // The same module again: the library is initialised once per process and shared.
        let again = Module::open(SOFTHSM).unwrap();
        assert_eq!(again.initialised_cards().unwrap().len(), 2);
    });
}

#[test]
fn wrong_passcodes_are_refused_and_passcodes_change_and_reset() {
    isolated("wrong_passcodes_are_refused_and_passcodes_change_and_reset", |lab| {
        let serial = new_card(lab, "passcodes", "123456");
        let card = lab.module.card(&serial).unwrap();
        assert!(matches!(card.login("000000").unwrap_err(), TokenError::WrongPasscode));
        card.login("123456").unwrap();
        // Logged in already, a wrong passcode is still refused (the card checks it again).
        assert!(matches!(card.login("999999").unwrap_err(), TokenError::WrongPasscode));

        assert!(matches!(card.change_passcode("000000", "24681357").unwrap_err(), TokenError::WrongPasscode));
        let info = card.info().clone();
        match card.change_passcode("123456", "12").unwrap_err() {
            TokenError::PasscodeLength { min, max } => {
                assert_eq!((min, max), (info.min_pin_len, info.max_pin_len));
                assert_eq!(min, 4, "SoftHSM2's shortest PIN");
            }
            other => panic!("{other}"),
        }
        card.change_passcode("123456", "24681357").unwrap();
        assert!(matches!(card.login("123456").unwrap_err(), TokenError::WrongPasscode));
        card.login("24681357").unwrap();

        // Unlock: the SO sets a new passcode; a wrong SO PIN changes nothing.
        card.logout();
        assert!(matches!(card.login_so("wrong-so-pin").unwrap_err(), TokenError::WrongSoPin));
        card.login("24681357").unwrap();
        card.login_so(SO_PIN).unwrap();
        card.set_passcode_as_so("11223344").unwrap();
        card.logout();
        assert!(matches!(card.login("24681357").unwrap_err(), TokenError::WrongPasscode));
        card.login("11223344").unwrap();
        let status = card.status().unwrap();
        assert!(!status.user_pin_locked, "SoftHSM2 never locks a PIN: {status:?}");
    });
}

#[test]
fn keys_are_made_on_the_card_and_their_signatures_verify() {
    isolated("keys_are_made_on_the_card_and_their_signatures_verify", |lab| {
        let serial = new_card(lab, "keys", "123456");
        let card = lab.module.card(&serial).unwrap();
        assert!(matches!(card.generate_key_pair(AUTH, false).unwrap_err(), TokenError::NotLoggedIn));
        card.login("123456").unwrap();
        let auth = card.generate_key_pair(AUTH, false).unwrap();
        let sign = card.generate_key_pair(SIGN, false).unwrap();
        assert_ne!(auth, sign);
        assert_eq!(card.public_key(AUTH, false).unwrap(), auth);
        assert_eq!(card.public_key(SIGN, false).unwrap(), sign);
        assert!(matches!(card.generate_key_pair(AUTH, false).unwrap_err(), TokenError::KeyExists { role: AUTH }));

        let challenge = b"portal challenge 7f3a";
        let sig = card.sign(AUTH, false, challenge).unwrap();
        assert!(verifies(&auth, challenge, &sig), "the authentication key's signature verifies");
        assert!(!verifies(&sign, challenge, &sig), "...and not with the signing key");
        assert!(!verifies(&auth, b"another challenge", &sig));
        let doc = b"prescription 42";
        assert!(verifies(&sign, doc, &card.sign(SIGN, false, doc).unwrap()));

        let objects = card.objects().unwrap();
        assert_eq!(objects.len(), 4, "{objects:?}");
        for id in [1, 2] {
            assert_eq!(count(&objects, ObjectKind::PrivateKey, id), 1, "{objects:?}");
            assert_eq!(count(&objects, ObjectKind::PublicKey, id), 1, "{objects:?}");
        }
        card.logout();
        assert!(matches!(card.sign(AUTH, false, challenge).unwrap_err(), TokenError::NotLoggedIn));
        // Without a login the private keys are not even visible.
        assert!(card.objects().unwrap().iter().all(|o| o.kind == ObjectKind::PublicKey));
    });
}

#[test]
fn a_request_signed_on_the_card_passes_openssl_req_verify() {
    isolated("a_request_signed_on_the_card_passes_openssl_req_verify", |lab| {
        let serial = new_card(lab, "requests", "123456");
        let card = lab.module.card(&serial).unwrap();
        card.login("123456").unwrap();
        let current = card.generate_key_pair(AUTH, false).unwrap();
        let pending = card.generate_key_pair(AUTH, true).unwrap();
        for (is_pending, spki) in [(false, &current), (true, &pending)] {
            let csr = card.csr(AUTH, is_pending, "Ada Lovelace 555123").unwrap();
            let path = lab.dir.join(format!("auth-{is_pending}.csr"));
            std::fs::write(&path, &csr).unwrap();
            let path = path.to_str().unwrap();
            let out =
                run_ok("openssl", "openssl", &["req", "-inform", "DER", "-in", path, "-verify", "-noout", "-subject"]);
            assert!(out.contains("verify OK"), "{out}");
            assert!(out.contains("CN = Ada Lovelace 555123"), "{out}");
            let pem = run_ok("openssl", "openssl", &["req", "-inform", "DER", "-in", path, "-pubkey", "-noout"]);
            let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
            assert_eq!(block.label, "PUBLIC KEY");
            assert_eq!(&block.contents, spki, "the request carries the key it was asked for (pending: {is_pending})");
        }
        card.logout();
        assert!(matches!(card.csr(AUTH, false, "x").unwrap_err(), TokenError::NotLoggedIn));
        assert!(matches!(card.csr(SIGN, false, "x").unwrap_err(), TokenError::Missing { .. }));
    });
}

#[test]
fn certificates_are_written_read_back_and_shown_by_pkcs11_tool() {
    isolated("certificates_are_written_read_back_and_shown_by_pkcs11_tool", |lab| {
        let serial = new_card(lab, "certificates", "123456");
        let card = lab.module.card(&serial).unwrap();
        card.login("123456").unwrap();
        let auth = card.generate_key_pair(AUTH, false).unwrap();
        let sign = card.generate_key_pair(SIGN, false).unwrap();
        let auth_cert = issue(&auth, "Ada Lovelace auth");
        let sign_cert = issue(&sign, "Ada Lovelace sign");
        assert!(card.certificate(AUTH, false).unwrap().is_none());
        // Refused, and nothing written: a certificate for the other key, garbage, a wrong subject.
        assert!(matches!(
            card.write_certificate(SIGN, false, &auth_cert, &subject_of(&auth_cert)).unwrap_err(),
            TokenError::CertificateKeyMismatch { role: SIGN, pending: false }
        ));
        assert!(matches!(
            card.write_certificate(AUTH, false, b"\x30\x03\x02\x01\x01", b"\x30\x00").unwrap_err(),
            TokenError::BadCertificate { .. }
        ));
        assert!(matches!(
            card.write_certificate(AUTH, false, &auth_cert, &subject_of(&sign_cert)).unwrap_err(),
            TokenError::BadCertificate { .. }
        ));
        assert!(card.objects().unwrap().iter().all(|o| o.kind != ObjectKind::Certificate));

        card.write_certificate(AUTH, false, &auth_cert, &subject_of(&auth_cert)).unwrap();
        card.write_certificate(SIGN, false, &sign_cert, &subject_of(&sign_cert)).unwrap();
        assert_eq!(card.certificate(AUTH, false).unwrap().unwrap(), auth_cert);
        assert_eq!(card.certificate(SIGN, false).unwrap().unwrap(), sign_cert);
        // Writing again replaces: still one certificate per role.
        card.write_certificate(AUTH, false, &auth_cert, &subject_of(&auth_cert)).unwrap();
        let objects = card.objects().unwrap();
        assert_eq!(objects.len(), 6, "{objects:?}");
        card.logout();
        assert_eq!(card.certificate(AUTH, false).unwrap().unwrap(), auth_cert, "certificates are public");

        let listing = pkcs11_tool(&["--token-label", "certificates", "--login", "--pin", "123456", "--list-objects"]);
        for label in ["carecert auth key", "carecert sign key"] {
            assert_eq!(
                listing.matches(&format!("label:      {label}\n")).count(),
                2,
                "private + public {label}:\n{listing}"
            );
        }
        for label in ["carecert auth certificate", "carecert sign certificate"] {
            assert_eq!(listing.matches(&format!("label:      {label}\n")).count(), 1, "{label}:\n{listing}");
        }
        assert_eq!(listing.matches("Private Key Object; EC").count(), 2, "{listing}");
        assert_eq!(listing.matches("Certificate Object; type = X.509 cert").count(), 2, "{listing}");
        assert!(listing.contains("subject:    DN: CN=Ada Lovelace auth"), "CKA_SUBJECT is set:\n{listing}");
        assert!(listing.contains("ID:         01") && listing.contains("ID:         02"), "{listing}");
        assert_eq!(listing.matches("never extractable").count(), 2, "both private keys:\n{listing}");
        assert!(!listing.contains("pending"), "{listing}");
        // The certificate pkcs11-tool reads back is the one written.
        let read = lab.dir.join("auth.der");
        pkcs11_tool(&[
            "--token-label",
            "certificates",
            "--read-object",
            "--type",
            "cert",
            "--id",
            "01",
            "--output-file",
            read.to_str().unwrap(),
        ]);
        assert_eq!(std::fs::read(&read).unwrap(), auth_cert);
    });
}

#[test]
fn a_renewal_promotes_the_pending_pair_and_certificate() {
    isolated("a_renewal_promotes_the_pending_pair_and_certificate", |lab| {
        let serial = new_card(lab, "renewal", "123456");
        let card = lab.module.card(&serial).unwrap();
        card.login("123456").unwrap();
        let mut old = Vec::new();
        for role in CardKeyRole::BOTH {
            let spki = card.generate_key_pair(role, false).unwrap();
            let cert = issue(&spki, &format!("old {role}"));
            card.write_certificate(role, false, &cert, &subject_of(&cert)).unwrap();
            old.push((spki, cert));
        }
        assert_eq!(card.renewal_state(AUTH).unwrap(), RenewalState::Idle);
        assert!(matches!(card.promote_pending(AUTH).unwrap_err(), TokenError::NothingPending { role: AUTH }));

        let new = card.generate_key_pair(AUTH, true).unwrap();
        assert_ne!(new, old[0].0);
        assert_eq!(card.renewal_state(AUTH).unwrap(), RenewalState::KeysPending);
        // While pending, the card still works with its old key and certificate.
        assert!(verifies(&old[0].0, b"during", &card.sign(AUTH, false, b"during").unwrap()));
        assert_eq!(card.certificate(AUTH, false).unwrap().unwrap(), old[0].1);
        assert!(matches!(card.promote_pending(AUTH).unwrap_err(), TokenError::NothingPending { .. }));
        assert!(matches!(
            card.write_certificate(AUTH, true, &old[0].1, &subject_of(&old[0].1)).unwrap_err(),
            TokenError::CertificateKeyMismatch { pending: true, .. }
        ));
        let new_cert = issue(&new, "new authentication");
        card.write_certificate(AUTH, true, &new_cert, &subject_of(&new_cert)).unwrap();
        assert_eq!(card.renewal_state(AUTH).unwrap(), RenewalState::CertificatePending);
        assert_eq!(card.certificate(AUTH, true).unwrap().unwrap(), new_cert);
        assert_eq!(card.certificate(AUTH, false).unwrap().unwrap(), old[0].1);

        card.promote_pending(AUTH).unwrap();
        assert_eq!(card.renewal_state(AUTH).unwrap(), RenewalState::Idle);
        let objects = card.objects().unwrap();
        assert_eq!(objects.len(), 6, "one key pair and one certificate per role: {objects:?}");
        for (id, role) in [(1, AUTH), (2, SIGN)] {
            for kind in [ObjectKind::PrivateKey, ObjectKind::PublicKey, ObjectKind::Certificate] {
                assert_eq!(count(&objects, kind, id), 1, "{kind} of {role}: {objects:?}");
            }
        }
        assert!(objects.iter().all(|o| !o.label.contains("pending")), "{objects:?}");
        assert_eq!(card.public_key(AUTH, false).unwrap(), new);
        assert_eq!(card.certificate(AUTH, false).unwrap().unwrap(), new_cert);
        assert!(card.certificate(AUTH, true).unwrap().is_none());
        let sig = card.sign(AUTH, false, b"after").unwrap();
        assert!(verifies(&new, b"after", &sig) && !verifies(&old[0].0, b"after", &sig));
        // The other role is untouched.
        assert_eq!(card.public_key(SIGN, false).unwrap(), old[1].0);
        assert_eq!(card.certificate(SIGN, false).unwrap().unwrap(), old[1].1);
        assert!(matches!(card.promote_pending(AUTH).unwrap_err(), TokenError::NothingPending { .. }));
    });
}

#[test]
fn discarding_a_renewal_leaves_only_the_current_objects() {
    isolated("discarding_a_renewal_leaves_only_the_current_objects", |lab| {
        let serial = new_card(lab, "discard", "123456");
        let card = lab.module.card(&serial).unwrap();
        card.login("123456").unwrap();
        for role in CardKeyRole::BOTH {
            let spki = card.generate_key_pair(role, false).unwrap();
            let cert = issue(&spki, "current");
            card.write_certificate(role, false, &cert, &subject_of(&cert)).unwrap();
        }
        let sorted = |mut v: Vec<token::CardObject>| {
            v.sort_by(|a, b| (&a.id, &a.label).cmp(&(&b.id, &b.label)));
            v
        };
        let before = sorted(card.objects().unwrap());
        let keys_before: Vec<_> = CardKeyRole::BOTH.iter().map(|r| card.public_key(*r, false).unwrap()).collect();
        let certs_before: Vec<_> = CardKeyRole::BOTH.iter().map(|r| card.certificate(*r, false).unwrap()).collect();

        // A second pending generation replaces the first: one pending pair, never two.
        card.generate_key_pair(AUTH, true).unwrap();
        let pending_auth = card.generate_key_pair(AUTH, true).unwrap();
        let pending_cert = issue(&pending_auth, "pending");
        card.write_certificate(AUTH, true, &pending_cert, &subject_of(&pending_cert)).unwrap();
        card.generate_key_pair(SIGN, true).unwrap();
        let during = card.objects().unwrap();
        assert_eq!(during.len(), 6 + 3 + 2, "{during:?}");
        assert_eq!(during.iter().filter(|o| o.label.ends_with("(pending)")).count(), 5);

        assert_eq!(card.discard_pending().unwrap(), 5);
        assert_eq!(sorted(card.objects().unwrap()), before);
        let keys_after: Vec<_> = CardKeyRole::BOTH.iter().map(|r| card.public_key(*r, false).unwrap()).collect();
        let certs_after: Vec<_> = CardKeyRole::BOTH.iter().map(|r| card.certificate(*r, false).unwrap()).collect();
        assert_eq!((keys_after, certs_after), (keys_before, certs_before));
        assert_eq!(card.renewal_state(AUTH).unwrap(), RenewalState::Idle);
        assert_eq!(card.discard_pending().unwrap(), 0, "nothing left to discard");
    });
}

#[test]
fn an_interrupted_promotion_is_finished_and_never_discarded() {
    isolated("an_interrupted_promotion_is_finished_and_never_discarded", |lab| {
        let serial = new_card(lab, "crash", "123456");
        let card = lab.module.card(&serial).unwrap();
        card.login("123456").unwrap();
        let tool = |args: &[&str]| {
            let mut all = vec!["--token-label", "crash", "--login", "--pin", "123456"];
            all.extend_from_slice(args);
            pkcs11_tool(&all)
        };
        let mut issued = Vec::new();
        for role in CardKeyRole::BOTH {
            let old = card.generate_key_pair(role, false).unwrap();
            let cert = issue(&old, "old");
            card.write_certificate(role, false, &cert, &subject_of(&cert)).unwrap();
            let new = card.generate_key_pair(role, true).unwrap();
            let cert = issue(&new, "new");
            card.write_certificate(role, true, &cert, &subject_of(&cert)).unwrap();
            issued.push((new, cert));
        }

        // Crashes inside promote_pending, made by another process with pkcs11-tool.
        // Authentication: stopped after the old objects were deleted and the new public key
        // was given the current id.
        for kind in ["cert", "privkey", "pubkey"] {
            tool(&["--delete-object", "--type", kind, "--id", "01"]);
        }
        tool(&["--type", "pubkey", "--id", "81", "--set-id", "01"]);
        // Signing: stopped right after the old certificate was deleted.
        tool(&["--delete-object", "--type", "cert", "--id", "02"]);

        for role in CardKeyRole::BOTH {
            assert_eq!(card.renewal_state(role).unwrap(), RenewalState::Interrupted, "{role}");
            assert!(matches!(card.generate_key_pair(role, true).unwrap_err(), TokenError::PromotionInterrupted { .. }));
        }
        card.promote_pending(AUTH).unwrap();
        // Discarding cannot go back to the old certificate (it is gone): it finishes the swap.
        assert_eq!(card.discard_pending().unwrap(), 0);

        let objects = card.objects().unwrap();
        assert_eq!(objects.len(), 6, "{objects:?}");
        assert!(objects.iter().all(|o| (o.id == [1] || o.id == [2]) && !o.label.contains("pending")), "{objects:?}");
        for (role, (new, cert)) in CardKeyRole::BOTH.into_iter().zip(&issued) {
            assert_eq!(card.renewal_state(role).unwrap(), RenewalState::Idle);
            assert_eq!(&card.certificate(role, false).unwrap().unwrap(), cert);
            assert!(verifies(new, b"resumed", &card.sign(role, false, b"resumed").unwrap()), "{role}");
        }
    });
}

#[test]
fn watcher_reports_insertion_and_removal_within_500_ms() {
    isolated("watcher_reports_insertion_and_removal_within_500_ms", |lab| {
        let (tx, events) = std::sync::mpsc::channel();
        let _watcher = token::watch(lab.module.clone(), token::DEFAULT_WATCH_INTERVAL, move |e| tx.send(e).is_ok());
        assert!(events.recv_timeout(Duration::from_millis(400)).is_err(), "no card, no event");

        // Insertion: SoftHSM2 shows a running process only the tokens it initialises itself
        // (another process's new token appears after a restart), so the card is made here.
        let inserted_at = Instant::now();
        let serial = new_card(lab, "watched", "123456");
        let event = events.recv_timeout(Duration::from_secs(2)).expect("insertion is reported");
        println!("measured: insertion reported {:?} after the card was initialised", inserted_at.elapsed());
        assert_eq!(event, CardEvent::Inserted(serial.clone()));
        assert!(inserted_at.elapsed() < Duration::from_millis(500), "{:?}", inserted_at.elapsed());
        let card = lab.module.card(&serial).unwrap();
        card.login("123456").unwrap();
        card.generate_key_pair(AUTH, false).unwrap();

        // Pulling the card out: another process deletes the token.
        let removed_at = Instant::now();
        run_ok("softhsm2-util", "softhsm2", &["--delete-token", "--serial", &serial]);
        let tool_took = removed_at.elapsed();
        let event = events.recv_timeout(Duration::from_secs(2)).expect("removal is reported");
        let seen_in = removed_at.elapsed();
        println!("measured: removal reported {seen_in:?} after softhsm2-util started ({tool_took:?} for the tool)");
        assert_eq!(event, CardEvent::Removed(serial.clone()));
        assert!(seen_in < Duration::from_millis(500), "removal noticed in {seen_in:?}");
        // The open session reports the removal, whatever code the module gives.
        assert!(matches!(card.sign(AUTH, false, b"gone").unwrap_err(), TokenError::Removed));
        assert!(matches!(card.login("123456").unwrap_err(), TokenError::Removed));
        assert!(matches!(card.objects().unwrap_err(), TokenError::Removed));
        assert!(matches!(lab.module.card(&serial).unwrap_err(), TokenError::NoCard { .. }));

        // Pulling another card out by moving its token directory away works the same way.
        let before: Vec<PathBuf> = token_dirs(lab);
        let second = new_card(lab, "second", "123456");
        assert_eq!(events.recv_timeout(Duration::from_secs(2)).unwrap(), CardEvent::Inserted(second.clone()));
        let dir = token_dirs(lab).into_iter().find(|d| !before.contains(d)).expect("the new token's directory");
        let moved_at = Instant::now();
        std::fs::rename(&dir, lab.dir.join("pulled")).unwrap();
        let event = events.recv_timeout(Duration::from_secs(2)).expect("removal is reported");
        println!("measured: removal by moving the token directory reported in {:?}", moved_at.elapsed());
        assert_eq!(event, CardEvent::Removed(second));
        assert!(moved_at.elapsed() < Duration::from_millis(500), "{:?}", moved_at.elapsed());
    });
}

fn token_dirs(lab: &Lab) -> Vec<PathBuf> {
    std::fs::read_dir(lab.dir.join("tokens")).unwrap().map(|e| e.unwrap().path()).collect()
}

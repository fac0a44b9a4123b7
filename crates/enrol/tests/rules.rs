//! The machine-certificate rules (DESIGN §2.1–2.3) against a real SQLite database, with an
//! injected clock: PIN superseded and expired, lockout, denial with a reason, minimum
//! client version, repeated download, bad input that changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::sync::Arc;

use ca::{Authority, AuthorityConfig, InitOptions, ManualClock};
use enrol::{ApprovalPolicy, EnrolConfig, EnrolError, Enrolment, OrgKind, RequestStatus};
use pki::Signer as _;

const PASS: &[u8] = b"test passphrase";
const NOW: i64 = 1_795_000_000; // 2026-11-17
const EPOC: &str = "1234567";

use testkit::{DbGuard, Engine, database, on_both_engines};

struct World {
    _dir: tempfile::TempDir,
    _db: DbGuard,
    clock: ManualClock,
    enrol: Enrolment,
    store: store::Store,
}

async fn world(engine: Engine, approval: ApprovalPolicy) -> Option<World> {
    let dir = tempfile::tempdir().unwrap();
    let (url, guard) = database(engine, &dir)?;
    let store = store::Store::open(&url).await.unwrap();
    let clock = ManualClock::new(NOW);
    let opts = InitOptions {
        passphrase: PASS.to_vec(),
        public_url: "http://ca.test".into(),
        key_algorithm: pki::KeyAlgorithm::EcdsaP256,
        organization: "Test".into(),
        actor: "test".into(),
    };
    ca::init_hierarchy(&store, &clock, &opts).await.unwrap();
    let authority =
        Authority::load(store.clone(), PASS, Arc::new(clock.clone()), AuthorityConfig::default()).await.unwrap();
    let enrol = Enrolment::new(store.clone(), authority, Arc::new(clock.clone()), EnrolConfig::default());
    enrol.add_organisation(EPOC, "Test Pharmacy", OrgKind::Pharmacy, approval, "ra:test").await.unwrap();
    Some(World { _dir: dir, _db: guard, clock, enrol, store })
}

fn csr() -> (pki::KeyPair, Vec<u8>) {
    let key = pki::KeyPair::generate(pki::KeyAlgorithm::EcdsaP256).unwrap();
    let csr = key.csr_der("x").unwrap();
    (key, csr)
}

async fn audit_count(w: &World) -> usize {
    w.store.audit_entries(0, 100_000).await.unwrap().len()
}

async fn a_new_pin_supersedes_the_old_one_and_pins_expire_after_14_days(engine: Engine) {
    let Some(w) = world(engine, ApprovalPolicy::RaQueue).await else { return };
    let first = w.enrol.issue_pin(EPOC, "ra:test").await.unwrap();
    let second = w.enrol.issue_pin(EPOC, "ra:test").await.unwrap();
    assert_eq!(second.expires_at - NOW, 14 * 86_400);
    let err = w.enrol.login(EPOC, first.pin.expose(), "ecmt", "1.0.0").await.unwrap_err();
    assert!(matches!(err, EnrolError::LoginFailed { .. }), "superseded PIN must not log on: {err}");
    // Typed in lower case with spaces instead of dashes: still the PIN.
    let typed = second.pin.expose().to_lowercase().replace('-', " ");
    w.enrol.login(EPOC, &typed, "ecmt", "1.0.0").await.unwrap();
    // One second before expiry it works; at expiry it does not.
    w.clock.advance(14 * 86_400 - 1);
    w.enrol.login(EPOC, second.pin.expose(), "ecmt", "1.0.0").await.unwrap();
    w.clock.advance(1);
    let err = w.enrol.login(EPOC, second.pin.expose(), "ecmt", "1.0.0").await.unwrap_err();
    assert!(matches!(err, EnrolError::LoginFailed { .. }), "expired PIN must not log on: {err}");
    // The letter says what it must.
    let text = second.letter.text();
    assert!(text.contains(EPOC) && text.contains(second.pin.expose()) && text.contains("helpdesk"));
    assert!(second.pdf.starts_with(b"%PDF-"));
}

async fn five_wrong_pins_lock_the_epoc_for_15_minutes_and_unknown_epocs_answer_the_same(engine: Engine) {
    let Some(w) = world(engine, ApprovalPolicy::RaQueue).await else { return };
    let pin = w.enrol.issue_pin(EPOC, "ra:test").await.unwrap();
    let unknown = w.enrol.login("7654321", "WRONG-WRONG-WRON", "ecmt", "1.0.0").await.unwrap_err();
    let wrong = w.enrol.login(EPOC, "WRONG-WRONG-WRON", "ecmt", "1.0.0").await.unwrap_err();
    assert_eq!(unknown.to_string(), wrong.to_string(), "unknown EPOC and wrong PIN must look the same");
    for _ in 0..3 {
        assert!(matches!(
            w.enrol.login(EPOC, "WRONG-WRONG-WRON", "ecmt", "1.0.0").await.unwrap_err(),
            EnrolError::LoginFailed { .. }
        ));
    }
    // The fifth wrong PIN locks.
    let fifth = w.enrol.login(EPOC, "WRONG-WRONG-WRON", "ecmt", "1.0.0").await.unwrap_err();
    assert!(matches!(fifth, EnrolError::LockedOut { .. }), "{fifth}");
    // Locked: even the right PIN is refused.
    let right = w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "1.0.0").await.unwrap_err();
    assert!(matches!(right, EnrolError::LockedOut { until_unix, .. } if until_unix == NOW + 15 * 60), "{right}");
    w.clock.advance(15 * 60);
    w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "1.0.0").await.unwrap();
    let actions: Vec<String> = w.store.audit_entries(0, 1000).await.unwrap().into_iter().map(|e| e.action).collect();
    assert!(actions.iter().any(|a| a == "enrol.locked_out"));
    assert_eq!(actions.iter().filter(|a| *a == "enrol.login_failed").count(), 6);
}

async fn a_client_below_the_minimum_version_is_refused_with_the_download_page(engine: Engine) {
    let Some(w) = world(engine, ApprovalPolicy::RaQueue).await else { return };
    let pin = w.enrol.issue_pin(EPOC, "ra:test").await.unwrap();
    let sha = "ab".repeat(32);
    w.enrol.add_release("ecmt", "2.0.0", true, "https://dl.example/ecmt-2.0.0", &sha, "", "op").await.unwrap();
    w.enrol.add_release("ecmt", "2.1.0", false, "https://dl.example/ecmt-2.1.0", &sha, "", "op").await.unwrap();
    let err = w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "1.9.9").await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EnrolError::ClientTooOld { .. }), "{msg}");
    assert!(msg.contains("2.0.0") && msg.contains("https://dl.example/ecmt-2.1.0"), "{msg}");
    let check = w.enrol.check_client("ecmt", "2.0.0").await.unwrap();
    assert!(!check.update_required && check.update_available);
    w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "2.0.0").await.unwrap();
}

async fn four_part_versions_are_accepted_for_releases_minimums_and_clients(engine: Engine) {
    let Some(w) = world(engine, ApprovalPolicy::RaQueue).await else { return };
    let pin = w.enrol.issue_pin(EPOC, "ra:test").await.unwrap();
    let sha = "cd".repeat(32);
    // As in the source documents: "any version less than v4.1.0.0", "currently version 4.0.8.0".
    w.enrol.add_release("ecmt", "4.1.0.0", true, "https://dl.example/ecmt-4.1.0.0", &sha, "", "op").await.unwrap();
    w.enrol.add_release("ecmt", "4.1.0.2", false, "https://dl.example/ecmt-4.1.0.2", &sha, "", "op").await.unwrap();
    let err = w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "4.0.8.0").await.unwrap_err();
    assert!(matches!(err, EnrolError::ClientTooOld { ref minimum, .. } if minimum == "4.1.0.0"), "{err}");
    assert!(err.to_string().contains("ecmt update"), "{err}");
    let check = w.enrol.check_client("ecmt", "4.1.0.0").await.unwrap();
    assert!(!check.update_required && check.update_available);
    assert_eq!(check.latest.unwrap().version, "4.1.0.2");
    assert!(!w.enrol.check_client("ecmt", "4.1.0.2").await.unwrap().update_available);
    w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "4.1.0.0").await.unwrap();
    let bad =
        w.enrol.add_release("ecmt", "4.1.0.0.1", false, "https://dl.example/x", &sha, "", "op").await.unwrap_err();
    assert!(bad.to_string().contains("one to four numbers"), "{bad}");
}

async fn requests_follow_their_states_and_a_denied_one_shows_the_reason_and_helpdesk(engine: Engine) {
    let Some(w) = world(engine, ApprovalPolicy::RaQueue).await else { return };
    let pin = w.enrol.issue_pin(EPOC, "ra:test").await.unwrap();
    let s = w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "1.0.0").await.unwrap();
    let ctx = w.enrol.session(&s.token).await.unwrap();
    let policy = w.enrol.config().policy_version.clone();

    // Denied, with the reason and the helpdesk in what the user sees.
    let (_, c1) = csr();
    let r1 = w.enrol.create_request(&ctx, &c1, &policy, true).await.unwrap();
    assert_eq!(r1.status, RequestStatus::Pending);
    w.enrol.deny(r1.id, "ra:alice", "the EPOC on the request does not match our records").await.unwrap();
    let err = w.enrol.download(&ctx, r1.id).await.unwrap_err().to_string();
    assert!(err.contains("does not match our records") && err.contains("helpdesk"), "{err}");
    assert!(w.enrol.approve(r1.id, "ra:bob").await.is_err(), "denied is final");

    // Approved, downloaded twice (same certificate), installed, then no more downloads.
    let (key, c2) = csr();
    let r2 = w.enrol.create_request(&ctx, &c2, &policy, true).await.unwrap();
    assert_eq!(r2.id, r1.id + 1, "request IDs are sequential");
    w.enrol.approve(r2.id, "ra:alice").await.unwrap();
    let d1 = w.enrol.download(&ctx, r2.id).await.unwrap();
    let d2 = w.enrol.download(&ctx, r2.id).await.unwrap();
    assert_eq!(d1.der, d2.der, "a second download before install returns the same certificate");
    let info = pki::CertificateInfo::parse(&d1.der).unwrap();
    assert_eq!(info.spki_der, key.public_key_spki());
    assert!(
        info.subject.contains(EPOC) && info.subject.contains("Test Pharmacy"),
        "subject from the record: {}",
        info.subject
    );
    w.enrol.mark_installed(&ctx, r2.id).await.unwrap();
    assert!(w.enrol.download(&ctx, r2.id).await.unwrap_err().to_string().contains("installed already"));

    // Another organisation's session cannot see it.
    w.enrol.add_organisation("999", "Other", OrgKind::Gp, ApprovalPolicy::Automatic, "ra").await.unwrap();
    let p2 = w.enrol.issue_pin("999", "ra").await.unwrap();
    let s2 = w.enrol.login("999", p2.pin.expose(), "ecmt", "1.0.0").await.unwrap();
    let ctx2 = w.enrol.session(&s2.token).await.unwrap();
    assert!(matches!(w.enrol.request_for(&ctx2, r2.id).await.unwrap_err(), EnrolError::UnknownRequest(_)));

    // Logged out: the token is dead.
    w.enrol.logout(&s.token).await.unwrap();
    assert!(matches!(w.enrol.session(&s.token).await.unwrap_err(), EnrolError::SessionInvalid));
}

async fn bad_requests_are_refused_and_change_nothing(engine: Engine) {
    let Some(w) = world(engine, ApprovalPolicy::Automatic).await else { return };
    let pin = w.enrol.issue_pin(EPOC, "ra:test").await.unwrap();
    let s = w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "1.0.0").await.unwrap();
    let ctx = w.enrol.session(&s.token).await.unwrap();
    let policy = w.enrol.config().policy_version.clone();
    let before = audit_count(&w).await;
    let (_, good) = csr();
    // Policy not accepted, or an old version of it.
    assert!(matches!(
        w.enrol.create_request(&ctx, &good, &policy, false).await.unwrap_err(),
        EnrolError::PolicyNotAccepted { .. }
    ));
    assert!(matches!(
        w.enrol.create_request(&ctx, &good, "1999-1", true).await.unwrap_err(),
        EnrolError::PolicyNotAccepted { .. }
    ));
    // Weak key (RSA-1024 made by openssl), garbage, truncated.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("openssl")
        .args(["req", "-new", "-newkey", "rsa:1024", "-nodes", "-subj", "/CN=x", "-keyout"])
        .arg(dir.path().join("k"))
        .arg("-out")
        .arg(dir.path().join("c"))
        .output()
        .expect("openssl (Debian package openssl) is needed");
    assert!(out.status.success());
    let weak = std::fs::read(dir.path().join("c")).unwrap();
    let e = w.enrol.create_request(&ctx, &weak, &policy, true).await.unwrap_err().to_string();
    assert!(e.contains("2048"), "{e}");
    assert!(w.enrol.create_request(&ctx, b"garbage", &policy, true).await.is_err());
    assert!(w.enrol.create_request(&ctx, &good[..good.len() / 2], &policy, true).await.is_err());
    let mut bad_sig = good.clone();
    let n = bad_sig.len();
    bad_sig[n - 3] ^= 0x55;
    assert!(w.enrol.create_request(&ctx, &bad_sig, &policy, true).await.is_err());
    assert_eq!(audit_count(&w).await, before, "refused requests leave no trace but refusals");
    assert!(w.store.requests(&store::RequestFilter { limit: 10, ..Default::default() }).await.unwrap().is_empty());
    // Automatic approval: issued at once.
    let r = w.enrol.create_request(&ctx, &good, &policy, true).await.unwrap();
    assert_eq!(r.status, RequestStatus::Approved);
}

/// Every state of a request, by id: what "nothing changed" compares.
async fn states(w: &World) -> Vec<(i64, RequestStatus, Option<String>)> {
    let all = w.store.requests(&store::RequestFilter { limit: 100, ..Default::default() }).await.unwrap();
    all.into_iter().map(|r| (r.id, r.status, r.serial)).collect()
}

fn refused_in(e: &EnrolError, want_id: i64, want_status: &str) -> bool {
    matches!(e, EnrolError::WrongState { id, status, .. } if *id == want_id && status == want_status)
}

async fn illegal_request_transitions_are_refused_by_the_guard_and_change_nothing(engine: Engine) {
    let Some(w) = world(engine, ApprovalPolicy::RaQueue).await else { return };
    let pin = w.enrol.issue_pin(EPOC, "ra:test").await.unwrap();
    let s = w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "1.0.0").await.unwrap();
    let ctx = w.enrol.session(&s.token).await.unwrap();
    let policy = w.enrol.config().policy_version.clone();
    let pending = w.enrol.create_request(&ctx, &csr().1, &policy, true).await.unwrap();
    let denied = w.enrol.create_request(&ctx, &csr().1, &policy, true).await.unwrap();
    w.enrol.deny(denied.id, "ra:alice", "not our system").await.unwrap();
    let approved = w.enrol.create_request(&ctx, &csr().1, &policy, true).await.unwrap();
    w.enrol.approve(approved.id, "ra:alice").await.unwrap();
    let installed = w.enrol.create_request(&ctx, &csr().1, &policy, true).await.unwrap();
    w.enrol.approve(installed.id, "ra:alice").await.unwrap();
    w.enrol.mark_installed(&ctx, installed.id).await.unwrap();
    let before = (states(&w).await, audit_count(&w).await);

    // pending → installed / downloaded: the certificate does not exist yet.
    let e = w.enrol.mark_installed(&ctx, pending.id).await.unwrap_err();
    assert!(refused_in(&e, pending.id, "pending"), "{e}");
    assert!(e.to_string().contains("waiting for approval"), "{e}");
    let e = w.enrol.download(&ctx, pending.id).await.unwrap_err();
    assert!(refused_in(&e, pending.id, "pending"), "{e}");
    // denied → approved / cancelled: denied is final.
    let e = w.enrol.approve(denied.id, "ra:bob").await.unwrap_err();
    assert!(refused_in(&e, denied.id, "denied"), "{e}");
    assert!(e.to_string().contains("not our system"), "the reason is repeated: {e}");
    let e = w.enrol.cancel(&ctx, denied.id).await.unwrap_err();
    assert!(refused_in(&e, denied.id, "denied"), "{e}");
    // approved → denied / approved again / cancelled by the organisation.
    let e = w.enrol.deny(approved.id, "ra:bob", "too late").await.unwrap_err();
    assert!(refused_in(&e, approved.id, "approved"), "{e}");
    let e = w.enrol.approve(approved.id, "ra:bob").await.unwrap_err();
    assert!(refused_in(&e, approved.id, "approved"), "{e}");
    let e = w.enrol.cancel(&ctx, approved.id).await.unwrap_err();
    assert!(refused_in(&e, approved.id, "approved"), "{e}");
    // installed → anything.
    for e in [
        w.enrol.approve(installed.id, "ra:bob").await.unwrap_err(),
        w.enrol.deny(installed.id, "ra:bob", "no").await.unwrap_err(),
        w.enrol.cancel(&ctx, installed.id).await.unwrap_err(),
        w.enrol.mark_installed(&ctx, installed.id).await.unwrap_err(),
    ] {
        assert!(refused_in(&e, installed.id, "installed"), "{e}");
    }
    // No certificate was issued either: issuing writes to the audit log.
    assert_eq!((states(&w).await, audit_count(&w).await), before, "refused moves change nothing");
}

on_both_engines!(
    a_new_pin_supersedes_the_old_one_and_pins_expire_after_14_days,
    five_wrong_pins_lock_the_epoc_for_15_minutes_and_unknown_epocs_answer_the_same,
    a_client_below_the_minimum_version_is_refused_with_the_download_page,
    four_part_versions_are_accepted_for_releases_minimums_and_clients,
    requests_follow_their_states_and_a_denied_one_shows_the_reason_and_helpdesk,
    bad_requests_are_refused_and_change_nothing,
    illegal_request_transitions_are_refused_by_the_guard_and_change_nothing,
);

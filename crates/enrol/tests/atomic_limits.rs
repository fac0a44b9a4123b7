//! The EPOC PIN limit holds under concurrency, on both engines (issue 10, done-when 2): each
//! logon takes its try before the PIN is checked, so 60 concurrent wrong PINs get at most 5
//! judged, and the right PIN sent while they are in flight, after the fifth try was taken, is
//! refused because the EPOC is locked. Argon2 work goes through a bounded gate: a node whose
//! gate is full answers "busy" and takes no try.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::sync::Arc;
use std::time::Duration;

use ca::{Authority, AuthorityConfig, InitOptions, ManualClock};
use enrol::{ApprovalPolicy, EnrolConfig, EnrolError, Enrolment, HashGate, OrgKind};
use testkit::{DbGuard, Engine, database, on_both_engines};

const PASS: &[u8] = b"test passphrase";
const NOW: i64 = 1_795_000_000; // 2026-11-17
const EPOC: &str = "1234567";

struct World {
    _dir: tempfile::TempDir,
    _db: DbGuard,
    clock: ManualClock,
    enrol: Enrolment,
    store: store::Store,
}

async fn world(engine: Engine, gate: HashGate) -> Option<World> {
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
    let config = EnrolConfig { hash_gate: gate, ..EnrolConfig::default() };
    let enrol = Enrolment::new(store.clone(), authority, Arc::new(clock.clone()), config);
    enrol.add_organisation(EPOC, "Test Pharmacy", OrgKind::Pharmacy, ApprovalPolicy::RaQueue, "ra:test").await.unwrap();
    Some(World { _dir: dir, _db: guard, clock, enrol, store })
}

fn roomy_gate() -> HashGate {
    HashGate::new(Arc::new(tokio::sync::Semaphore::new(64)), Duration::from_secs(120))
}

async fn actions(w: &World, action: &str) -> usize {
    w.store.audit_entries(0, 100_000).await.unwrap().into_iter().filter(|e| e.action == action).count()
}

async fn sixty_concurrent_wrong_pins_get_five_judged_and_the_right_pin_is_refused_while_locked(engine: Engine) {
    let Some(w) = world(engine, roomy_gate()).await else { return };
    let pin = w.enrol.issue_pin(EPOC, "ra:test").await.unwrap();
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..59 {
        let e = w.enrol.clone();
        guesses.spawn(async move { e.login(EPOC, "WRONG-WRONG-WRON", "ecmt", "1.0.0").await });
    }
    // The right PIN goes in once the fifth try has been taken, while the guesses are in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let state = w.store.login_failures(EPOC).await.unwrap();
        if state.failures >= 5 || state.locked_until > NOW {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the fifth try was never seen taken: {}", state.failures);
        tokio::task::yield_now().await;
    }
    let right = w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "1.0.0").await.unwrap_err();
    assert!(matches!(right, EnrolError::LockedOut { until_unix, .. } if until_unix == NOW + 15 * 60), "{right}");
    let (mut wrong, mut locked) = (0, 0);
    while let Some(r) = guesses.join_next().await {
        match r.unwrap().unwrap_err() {
            EnrolError::LoginFailed { .. } => wrong += 1,
            EnrolError::LockedOut { .. } => locked += 1,
            other => panic!("unexpected answer: {other}"),
        }
    }
    // Four plain refusals, the fifth judged guess answered "locked", 54 never judged.
    assert_eq!((wrong, locked), (4, 55));
    assert_eq!(actions(&w, "enrol.login_failed").await, 5, "exactly five PINs were judged");
    assert_eq!(actions(&w, "enrol.locked_out").await, 1);
    assert_eq!(actions(&w, "enrol.login").await, 0, "nobody logged on");
    // Once the lock has run out, the right PIN works and clears the count.
    w.clock.advance(15 * 60);
    w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "1.0.0").await.unwrap();
    assert_eq!(w.store.login_failures(EPOC).await.unwrap().failures, 0);
}

async fn a_full_gate_answers_busy_and_takes_no_try(engine: Engine) {
    let permits = Arc::new(tokio::sync::Semaphore::new(1));
    let gate = HashGate::new(permits.clone(), Duration::from_millis(50));
    let Some(w) = world(engine, gate).await else { return };
    let pin = w.enrol.issue_pin(EPOC, "ra:test").await.unwrap();
    // The only turn is taken, as by a long Argon2 run: logons are answered "busy" and counted
    // nowhere (neither a try nor an audit entry), the right PIN included.
    let held = permits.clone().acquire_owned().await.unwrap();
    for typed in ["WRONG-WRONG-WRON", pin.pin.expose(), "x"] {
        let e = w.enrol.login(EPOC, typed, "ecmt", "1.0.0").await.unwrap_err();
        assert!(matches!(e, EnrolError::Busy), "{e}");
        assert!(e.to_string().contains("busy"), "{e}");
    }
    assert_eq!(w.store.login_failures(EPOC).await.unwrap().failures, 0, "no try was taken");
    assert_eq!(actions(&w, "enrol.login_failed").await, 0);
    drop(held);
    w.enrol.login(EPOC, pin.pin.expose(), "ecmt", "1.0.0").await.unwrap();
}

on_both_engines!(
    sixty_concurrent_wrong_pins_get_five_judged_and_the_right_pin_is_refused_while_locked,
    a_full_gate_answers_busy_and_takes_no_try,
);

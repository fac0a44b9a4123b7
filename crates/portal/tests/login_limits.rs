//! RA-console password + TOTP logins under attack, on both engines (issue 10, H7 and
//! done-when 2): one answer for a wrong password and for a right password with a wrong code;
//! every failure audited (a wrong code as `web.second_factor_failed`); the try is taken before
//! anything is verified, so concurrent wrong codes with the right password get at most
//! `max_failures` judged and the right code is then refused while the account name is locked;
//! locks back off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::sync::Arc;
use std::time::Duration;

use portal::{Area, HashGate, PortalError, Role, Web, WebConfig};
use testkit::{DbGuard, Engine, database, on_both_engines};
use types::ManualClock;

const NOW: i64 = 1_795_000_000; // 2026-11-17
const PASSWORD: &str = "correct horse battery";

struct World {
    _dir: tempfile::TempDir,
    _db: DbGuard,
    clock: ManualClock,
    store: store::Store,
    web: Web,
    secret: String,
}

async fn world(engine: Engine) -> Option<World> {
    let dir = tempfile::tempdir().unwrap();
    let (url, guard) = database(engine, &dir)?;
    let store = store::Store::open(&url).await.unwrap();
    let clock = ManualClock::new(NOW);
    let config = WebConfig {
        max_failures: 5,
        max_failures_per_source: 8,
        lockout: Duration::from_secs(600),
        max_lockout: Duration::from_secs(3600),
        hash_gate: HashGate::new(Arc::new(tokio::sync::Semaphore::new(64)), Duration::from_secs(120)),
        ..WebConfig::default()
    };
    let web = Web::new(store.clone(), Arc::new(clock.clone()), config);
    let a = web.add_account("alice", "Alice RA", None, &[Role::Ra], Some(PASSWORD), "admin:admin").await.unwrap();
    let secret = a.totp_secret.unwrap();
    Some(World { _dir: dir, _db: guard, clock, store, web, secret })
}

/// What the authenticator app shows at `at` (Unix seconds).
fn code(secret: &str, at: i64) -> String {
    let s = totp_rs::Secret::try_from_base32(secret).unwrap();
    totp_rs::Builder::new().with_secret(s).build().unwrap().generate(at as u64).to_string()
}

async fn count(w: &World, action: &str) -> usize {
    w.store.audit_entries(0, 100_000).await.unwrap().into_iter().filter(|e| e.action == action).count()
}

async fn a_wrong_password_and_a_wrong_code_get_one_answer_and_both_are_audited(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let right = code(&w.secret, NOW);
    let wrong_password = w.web.password_login(Area::Ra, "alice", "not the password", Some(&right), None).await;
    let wrong_code = w.web.password_login(Area::Ra, "alice", PASSWORD, Some("000000"), None).await;
    let no_code = w.web.password_login(Area::Ra, "alice", PASSWORD, None, None).await;
    let unknown = w.web.password_login(Area::Ra, "mallory", PASSWORD, Some(&right), None).await;
    let texts: Vec<String> =
        [wrong_password, wrong_code, no_code, unknown].into_iter().map(|r| r.unwrap_err().to_string()).collect();
    assert!(texts.iter().all(|t| t == &texts[0]), "one answer for all: {texts:?}");
    assert_eq!(count(&w, "web.login_failed").await, 2, "wrong password, unknown account");
    assert_eq!(count(&w, "web.second_factor_failed").await, 2, "wrong code, no code");
    // The right password and code work, and clear the count.
    w.web.password_login(Area::Ra, "alice", PASSWORD, Some(&right), None).await.unwrap();
    // A replayed code is refused with the same answer and audited.
    let replay = w.web.password_login(Area::Ra, "alice", PASSWORD, Some(&right), None).await.unwrap_err();
    assert_eq!(replay.to_string(), texts[0]);
    assert_eq!(count(&w, "web.second_factor_failed").await, 3);
}

async fn concurrent_wrong_codes_get_five_judged_and_the_right_code_is_refused_while_locked(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..40 {
        let web = w.web.clone();
        let guess = format!("{:06}", 100_000 + i);
        guesses.spawn(async move { web.password_login(Area::Ra, "alice", PASSWORD, Some(&guess), None).await });
    }
    // Once the fifth try has been taken (the lock is set with it), the right password and the
    // right code, sent while the guesses are still in flight, are refused.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (_, locked_until) = w.store.attempt_state(store::AttemptLimit::WebLogin, "alice").await.unwrap();
        if locked_until > NOW {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the account name was never seen locked");
        tokio::task::yield_now().await;
    }
    let right = code(&w.secret, NOW);
    let refused = w.web.password_login(Area::Ra, "alice", PASSWORD, Some(&right), None).await.unwrap_err();
    assert!(matches!(refused, PortalError::Locked { until_unix, .. } if until_unix == NOW + 600), "{refused}");
    let mut answers = vec![];
    while let Some(r) = guesses.join_next().await {
        answers.push(r.unwrap().unwrap_err());
    }
    let judged = answers.iter().filter(|e| matches!(e, PortalError::SecondFactor)).count();
    let locked = answers.iter().filter(|e| matches!(e, PortalError::Locked { .. })).count();
    assert_eq!((judged, locked), (4, 36), "four plain refusals, the fifth answered locked, 35 never judged");
    assert_eq!(count(&w, "web.second_factor_failed").await, 5, "exactly five codes were judged");
    assert_eq!(count(&w, "web.login_locked").await, 1);
    assert_eq!(count(&w, "web.login").await, 0);
    // The lock runs out; the next five failures lock for twice as long (back-off).
    w.clock.advance(600);
    for _ in 0..4 {
        let e = w.web.password_login(Area::Ra, "alice", "wrong", None, None).await.unwrap_err();
        assert!(matches!(e, PortalError::SecondFactor), "{e}");
    }
    let e = w.web.password_login(Area::Ra, "alice", "wrong", None, None).await.unwrap_err();
    assert!(matches!(e, PortalError::Locked { until_unix, .. } if until_unix == NOW + 600 + 1200), "{e}");
    w.clock.advance(1200);
    let right = code(&w.secret, NOW + 1800);
    w.web.password_login(Area::Ra, "alice", PASSWORD, Some(&right), None).await.unwrap();
}

/// One address spraying many account names locks too (per source), and an account's right
/// password and code are refused from that address while it is locked, but not from another.
async fn one_source_trying_many_names_is_locked(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let here = Some("192.0.2.7".parse().unwrap());
    let elsewhere = Some("198.51.100.9".parse().unwrap());
    for i in 0..7 {
        let e = w.web.password_login_from(Area::Ra, &format!("user{i}"), "guess", None, None, here).await.unwrap_err();
        assert!(matches!(e, PortalError::SecondFactor), "{e}");
    }
    let e = w.web.password_login_from(Area::Ra, "user7", "guess", None, None, here).await.unwrap_err();
    assert!(matches!(e, PortalError::Locked { until_unix, .. } if until_unix == NOW + 600), "the 8th locks: {e}");
    let right = code(&w.secret, NOW);
    let e = w.web.password_login_from(Area::Ra, "alice", PASSWORD, Some(&right), None, here).await.unwrap_err();
    assert!(matches!(e, PortalError::Locked { .. }), "{e}");
    w.web.password_login_from(Area::Ra, "alice", PASSWORD, Some(&right), None, elsewhere).await.unwrap();
    let failures = w.store.audit_entries(0, 100_000).await.unwrap();
    let from_here =
        failures.iter().filter(|e| e.action == "web.login_failed" && e.details.contains("192.0.2.7")).count();
    assert_eq!(from_here, 8, "every failure audited with its source");
}

on_both_engines!(
    a_wrong_password_and_a_wrong_code_get_one_answer_and_both_are_audited,
    concurrent_wrong_codes_get_five_judged_and_the_right_code_is_refused_while_locked,
    one_source_trying_many_names_is_locked,
);

//! Attempt limits and the purge, on both engines: a reservation is refused while locked,
//! the try that reaches the limit sets the lock, locks back off up to the cap, and
//! maintenance forgets quiet counts (never a running lock).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use store::{AttemptLimit, AttemptRule, Reservation, Store};
use testkit::{Engine, database, on_both_engines};

const T0: i64 = 1_795_000_000;
const RULE: AttemptRule = AttemptRule { max: 3, lock_seconds: 60, max_lock_seconds: 150 };

async fn reservations_lock_at_the_limit_and_back_off_to_the_cap(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = database(engine, &dir) else { return };
    let store = Store::open(&url).await.unwrap();
    let web = AttemptLimit::WebLogin;
    for (n, locked_until) in [(1, 0), (2, 0), (3, T0 + 60)] {
        assert_eq!(
            store.reserve_attempt(web, "alice", T0, RULE).await.unwrap(),
            Reservation::Granted { number: n, locked_until }
        );
    }
    assert_eq!(
        store.reserve_attempt(web, "alice", T0 + 59, RULE).await.unwrap(),
        Reservation::Locked { until: T0 + 60 }
    );
    // The lock ran out: the count starts again; the next lock is twice as long, then capped.
    let mut now = T0 + 60;
    for expected in [120, 150, 150] {
        for _ in 0..2 {
            assert!(matches!(
                store.reserve_attempt(web, "alice", now, RULE).await.unwrap(),
                Reservation::Granted { locked_until: 0, .. }
            ));
        }
        let r = store.reserve_attempt(web, "alice", now, RULE).await.unwrap();
        assert_eq!(r, Reservation::Granted { number: 3, locked_until: now + expected });
        now += expected;
    }
    // Other names and the other limit are counted apart; a success clears the count.
    assert_eq!(store.attempt_state(AttemptLimit::EpocPin, "alice").await.unwrap(), (0, 0));
    store.reserve_attempt(web, "bob", T0, RULE).await.unwrap();
    store.clear_attempts(web, "bob").await.unwrap();
    assert_eq!(store.attempt_state(web, "bob").await.unwrap(), (0, 0));
}

async fn the_purge_forgets_quiet_counts_but_never_a_running_lock(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = database(engine, &dir) else { return };
    let store = Store::open(&url).await.unwrap();
    let rule = AttemptRule { max: 1, lock_seconds: 10_000, max_lock_seconds: 10_000 };
    store.reserve_attempt(AttemptLimit::EpocPin, "7654321", T0, RULE).await.unwrap();
    store.reserve_attempt(AttemptLimit::WebLogin, "locked", T0, rule).await.unwrap();
    // Not quiet long enough: kept.
    assert_eq!(store.purge_expired(T0 + 100, 1000).await.unwrap(), 0);
    // Quiet for longer than 1000 s: the count goes, the running lock stays.
    assert_eq!(store.purge_expired(T0 + 2000, 1000).await.unwrap(), 1);
    assert_eq!(store.attempt_state(AttemptLimit::EpocPin, "7654321").await.unwrap(), (0, 0));
    assert_eq!(store.attempt_state(AttemptLimit::WebLogin, "locked").await.unwrap(), (1, T0 + 10_000));
    // Once the lock has run out and the row is quiet, it goes too.
    assert_eq!(store.purge_expired(T0 + 10_000, 1000).await.unwrap(), 1);
}

on_both_engines!(
    reservations_lock_at_the_limit_and_back_off_to_the_cap,
    the_purge_forgets_quiet_counts_but_never_a_running_lock,
);

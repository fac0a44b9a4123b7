//! Rows are read by column name through one helper: a column that is missing or holds
//! another type (the schema drifted from the code) is an error naming the column, never a panic and never a
//! value read from the wrong position. Run on both engines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use store::{Release, Store, StoreError};
use testkit::{Engine, database, on_both_engines};
use types::{Action, Actor, AuditEvent, ManualClock};

async fn a_mistyped_column_is_an_error_naming_it_not_a_panic(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = database(engine, &dir) else { return };
    let store = Store::open(&url).await.unwrap();
    let clock = ManualClock::new(1_795_000_000);
    let release = Release {
        product: "ecmt".into(),
        version: "1.0.0".into(),
        minimum: true,
        url: "https://example.test/ecmt".into(),
        sha256: "0".repeat(64),
        notes: "first".into(),
        created_at: 1,
        signature: String::new(),
        key_id: String::new(),
        file_path: String::new(),
    };
    let ev = AuditEvent::new(
        &clock,
        &Actor::Admin("test".into()),
        Action::ReleaseAdded,
        "ecmt/1.0.0",
        serde_json::json!({}),
    );
    store.add_release(&release, ev).await.unwrap();
    assert_eq!(store.releases("ecmt").await.unwrap()[0].notes, "first");

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    // The column now holds text where the code reads a number.
    let drift = match engine {
        Engine::Sqlite => "UPDATE releases SET created_at = 'yesterday'",
        Engine::Postgres => "ALTER TABLE releases ALTER COLUMN created_at TYPE TEXT",
    };
    sqlx::query(drift).execute(&pool).await.unwrap();
    pool.close().await;

    // A fresh handle (PostgreSQL would otherwise refuse its cached statement plans).
    let store = Store::open(&url).await.unwrap();
    let e = store.releases("ecmt").await.unwrap_err();
    assert!(matches!(&e, StoreError::Corrupt(m) if m.contains("'created_at'")), "{e}");
}

async fn closed_sets_are_refused_before_they_are_stored(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = database(engine, &dir) else { return };
    let store = Store::open(&url).await.unwrap();
    let clock = ManualClock::new(1_795_000_000);
    let ev = AuditEvent::new(&clock, &Actor::System, Action::CardRenewalStarted, "card:X", serde_json::json!({}));
    let e = store.start_renewal("X", "sideways", 1, ev).await.unwrap_err();
    assert!(matches!(&e, StoreError::Invalid(m) if m.contains("remote, ra")), "{e}");
}

on_both_engines!(a_mistyped_column_is_an_error_naming_it_not_a_panic, closed_sets_are_refused_before_they_are_stored);

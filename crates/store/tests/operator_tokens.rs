//! Operator tokens as a node reads them: a token changed through this node is read changed
//! at once on both engines; on PostgreSQL, where a node keeps the tokens it has read
//! (`store/src/token_cache.rs`), a token changed on another node or by hand is read changed
//! as soon as the database's notification arrives, and a change that notified nobody
//! (triggers switched off) is still read within the cache's bound, and a node whose listener
//! connection is cut connects again and goes on keeping.
//!
//! PostgreSQL must be reachable (the test fails, never skips) unless CARECERT_SKIP_PG=1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::time::{Duration, Instant};

use sqlx::Connection;
use store::{AuditEvent, NewOperatorToken, OperatorToken, Store};
use testkit::{Engine, database, on_both_engines};
use types::OperatorRole;

/// The bound `token_cache::KEPT_FOR` promises (kept in step with it by hand).
const KEPT_FOR: Duration = Duration::from_secs(1);

fn event(subject: &str) -> AuditEvent {
    AuditEvent {
        at_ms: 1_790_000_000_000,
        actor: "test".into(),
        action: "operator_token_created".into(),
        subject: subject.into(),
        details: serde_json::json!({}),
    }
}

async fn add_token(store: &Store, id: &str) -> String {
    let hash = format!("{id:0>64}");
    let t = NewOperatorToken {
        id: id.into(),
        token_sha256: hash.clone(),
        account: None,
        role: OperatorRole::Bootstrap,
        scope: vec![],
        label: "first".into(),
        created_by: "test".into(),
        created_at: 1_790_000_000,
        expires_at: 1_890_000_000,
    };
    store.insert_operator_token(&t, None, event(id)).await.unwrap();
    hash
}

async fn read(store: &Store, hash: &str) -> OperatorToken {
    store.operator_token(hash).await.unwrap().expect("the token exists")
}

async fn a_token_revoked_through_this_node_is_read_revoked_at_once(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = database(engine, &dir) else { return };
    let store = Store::open(&url).await.unwrap();
    let hash = add_token(&store, "t1").await;
    // Read it often enough that a node keeping tokens keeps it.
    for _ in 0..20 {
        assert_eq!(read(&store, &hash).await.revoked_at, None);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(store.revoke_operator_token("t1", 1_790_000_100, event("t1")).await.unwrap());
    assert_eq!(read(&store, &hash).await.revoked_at, Some(1_790_000_100), "{engine:?}: the very next read");
    assert!(store.operator_token(&format!("{:0>64}", "unknown")).await.unwrap().is_none());
}

on_both_engines!(a_token_revoked_through_this_node_is_read_revoked_at_once);

/// Changes the token's label on a connection of its own; `notify: false` switches the
/// triggers off for it (`session_replication_role = replica`), so nobody hears of it.
async fn change_by_hand(url: &str, id: &str, set: &str, notify: bool) {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    if !notify {
        sqlx::raw_sql("SET session_replication_role = replica").execute(&mut conn).await.unwrap();
    }
    let sql = format!("UPDATE operator_tokens SET {set} WHERE id = '{id}'");
    let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    assert_eq!(done.rows_affected(), 1);
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_token_changed_elsewhere_is_read_changed_when_the_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = database(Engine::Postgres, &dir) else { return };
    let node = Store::open(&url).await.unwrap();
    let hash = add_token(&node, "t2").await;

    // The node keeps what it read: a change nobody is told of is not seen at once. (Its
    // listener connects in the background; until it listens the node keeps nothing.)
    let n = until_kept(&node, &url, &hash, 0).await;
    // ... but it is seen within the bound, told or not.
    tokio::time::sleep(KEPT_FOR + Duration::from_millis(200)).await;
    assert_eq!(read(&node, &hash).await.label, format!("silent {n}"), "a kept token outlived its bound");

    // The listener's connection is cut (a database restart, a proxy timeout): the node
    // connects again and keeps tokens again.
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let cut = sqlx::raw_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    assert_eq!(cut.rows_affected(), 1, "one listener connection");
    admin.close().await.unwrap();
    // (What was kept before the cut has outlived its bound by then.)
    tokio::time::sleep(KEPT_FOR + Duration::from_millis(200)).await;
    until_kept(&node, &url, &hash, n).await;

    // A revocation made elsewhere (another node, or psql) notifies: read revoked long
    // before the bound, once the notification is in.
    assert_eq!(read(&node, &hash).await.revoked_at, None);
    let revoked = Instant::now();
    change_by_hand(&url, "t2", "revoked_at = 1790000200", true).await;
    loop {
        if read(&node, &hash).await.revoked_at == Some(1_790_000_200) {
            break;
        }
        assert!(revoked.elapsed() < KEPT_FOR / 2, "a notified revocation was not read within {:?}", KEPT_FOR / 2);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Changes the label silently (after the `n`th change) until the node reads the old one
/// back, i.e. keeps what it read; returns the number of the last change.
async fn until_kept(node: &Store, url: &str, hash: &str, mut n: u32) -> u32 {
    let started = Instant::now();
    loop {
        n += 1;
        let before = read(node, hash).await.label;
        change_by_hand(url, "t2", &format!("label = 'silent {n}'"), false).await;
        if read(node, hash).await.label == before {
            return n;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the node never kept a token it read");
    }
}

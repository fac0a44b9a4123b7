//! The store's behaviour, run against both engines: embedded SQLite and the PostgreSQL
//! server (CARECERT_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres).
//! PostgreSQL tests fail — never skip — when the server cannot be reached, unless
//! CARECERT_SKIP_PG=1 is set on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use store::{AuditEvent, CertStatus, CompletedCertificate, CrlRecord, CrlScope, NewCertificate, RevokeOutcome, Store};

struct TestDb {
    store: Store,
    url: String,
    _dir: tempfile::TempDir,
    _guard: testkit::DbGuard,
}

async fn open(engine: testkit::Engine) -> Option<TestDb> {
    let dir = tempfile::tempdir().unwrap();
    let (url, guard) = testkit::database(engine, &dir)?;
    let store = Store::open(&url).await.unwrap();
    Some(TestDb { store, url, _dir: dir, _guard: guard })
}

async fn sqlite() -> TestDb {
    open(testkit::Engine::Sqlite).await.unwrap()
}

async fn postgres() -> Option<TestDb> {
    open(testkit::Engine::Postgres).await
}

fn event(action: &str, subject: &str) -> AuditEvent {
    AuditEvent {
        at_ms: 1_790_000_000_000,
        actor: "test".into(),
        action: action.into(),
        subject: subject.into(),
        details: serde_json::json!({"k": 1}),
    }
}

fn reservation(serial: &str) -> NewCertificate {
    NewCertificate {
        issuer: "systems".into(),
        serial: serial.into(),
        profile: "system-client".into(),
        subject: "CN=test".into(),
        spki_sha256: "00".into(),
        not_before: 1_790_000_000,
        not_after: 1_820_000_000,
        created_at: 1_790_000_000,
        crl_shard: None,
    }
}

async fn with_ca(db: &TestDb) {
    db.store
        .insert_ca(
            &store::CaRecord {
                name: "systems".into(),
                parent: None,
                cert_der: vec![1, 2, 3],
                key_ref: "k".into(),
                responder_cert_der: None,
                responder_key_ref: None,
                crl_number: 0,
                created_at: 1,
            },
            event("ca.created", "systems"),
        )
        .await
        .unwrap();
}

async fn issue(db: &TestDb, serial: &str) {
    db.store.reserve_certificate(reservation(serial)).await.unwrap();
    db.store
        .complete_certificate(CompletedCertificate {
            issuer: "systems".into(),
            serial: serial.into(),
            der: vec![0x30, 0x00],
            event: event("certificate.issued", serial),
        })
        .await
        .unwrap();
}

async fn reserved_then_completed_certificate_is_issued_and_audited(db: TestDb) {
    with_ca(&db).await;
    db.store.reserve_certificate(reservation("AA01")).await.unwrap();
    let rec = db.store.certificate("systems", "AA01").await.unwrap().unwrap();
    assert_eq!(rec.status, CertStatus::Reserved);
    assert!(rec.der.is_none());
    issue(&db, "AA02").await;
    let rec = db.store.certificate("systems", "AA02").await.unwrap().unwrap();
    assert_eq!(rec.status, CertStatus::Issued);
    assert_eq!(rec.der.as_deref(), Some(&[0x30u8, 0x00][..]));
    let v = db.store.verify_audit().await.unwrap();
    assert!(v.first_broken.is_none(), "{v:?}");
    assert_eq!(v.entries, 2, "ca.created + certificate.issued");
}

async fn completion_without_reservation_is_refused_and_changes_nothing(db: TestDb) {
    with_ca(&db).await;
    let err = db
        .store
        .complete_certificate(CompletedCertificate {
            issuer: "systems".into(),
            serial: "BB".into(),
            der: vec![1],
            event: event("x", "y"),
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no reservation"), "{err}");
    assert!(db.store.certificate("systems", "BB").await.unwrap().is_none());
    assert_eq!(db.store.verify_audit().await.unwrap().entries, 1);
}

async fn duplicate_serial_is_a_conflict(db: TestDb) {
    with_ca(&db).await;
    db.store.reserve_certificate(reservation("CC")).await.unwrap();
    let err = db.store.reserve_certificate(reservation("CC")).await.unwrap_err();
    assert!(matches!(err, store::StoreError::Conflict(_)), "{err}");
}

async fn revocation_follows_the_state_machine(db: TestDb) {
    with_ca(&db).await;
    issue(&db, "DD").await;
    db.store.reserve_certificate(reservation("EE")).await.unwrap();
    let clock0 = db.store.revocation_clock().await.unwrap();
    let out = db.store.revoke("systems", "DD", 1, 1_790_000_100, event("certificate.revoked", "DD")).await.unwrap();
    assert!(matches!(out, RevokeOutcome::Revoked { .. }));
    assert!(db.store.revocation_clock().await.unwrap() > clock0);
    let again = db.store.revoke("systems", "DD", 4, 1_790_000_200, event("certificate.revoked", "DD")).await.unwrap();
    assert_eq!(again, RevokeOutcome::AlreadyRevoked { at: 1_790_000_100, reason: 1 });
    assert_eq!(db.store.revoke("systems", "EE", 1, 1, event("r", "EE")).await.unwrap(), RevokeOutcome::NotIssued);
    assert_eq!(db.store.revoke("systems", "FF", 1, 1, event("r", "FF")).await.unwrap(), RevokeOutcome::NotFound);
    let rows = db.store.revoked_for_crl("systems", 1_790_000_000).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].serial, vec![0xDD]);
    assert_eq!(rows[0].reason, 1);
    // only the successful revocation was audited
    let v = db.store.verify_audit().await.unwrap();
    assert_eq!(v.entries, 3);
    assert!(v.first_broken.is_none());
}

async fn concurrent_issuance_is_group_committed_without_losing_any(db: TestDb) {
    with_ca(&db).await;
    let mut tasks = Vec::new();
    for i in 0..400 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            let serial = format!("{:04X}", i + 0x1000);
            store.reserve_certificate(reservation(&serial)).await.unwrap();
            store
                .complete_certificate(CompletedCertificate {
                    issuer: "systems".into(),
                    serial: serial.clone(),
                    der: vec![0x30, 0],
                    event: event("certificate.issued", &serial),
                })
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let counts = db.store.certificate_counts().await.unwrap();
    assert_eq!(counts, vec![("issued".to_string(), 400)]);
    let v = db.store.verify_audit().await.unwrap();
    assert_eq!(v.entries, 401);
    assert!(v.first_broken.is_none());
}

async fn crl_numbers_only_go_up_and_the_latest_crl_is_served(db: TestDb) {
    with_ca(&db).await;
    let crl = |scope: CrlScope, n: i64| CrlRecord {
        issuer: "systems".into(),
        scope,
        crl_number: n,
        this_update: 1,
        next_update: 2,
        entries: 0,
        der: vec![n as u8],
    };
    let a = db.store.next_crl_number("systems").await.unwrap();
    let b = db.store.next_crl_number("systems").await.unwrap();
    assert!(b > a);
    for n in [a, b] {
        db.store.store_crl(&crl(CrlScope::Whole, n)).await.unwrap();
    }
    assert_eq!(db.store.latest_crl("systems", CrlScope::Whole).await.unwrap().unwrap().der, vec![b as u8]);
    // Shards share the CA's one sequence: three numbers at once, all above the last.
    let three = db.store.next_crl_numbers("systems", 3).await.unwrap();
    assert_eq!((*three.start(), *three.end()), (b + 1, b + 3));
    let batch: Vec<CrlRecord> = [CrlScope::Shard(0), CrlScope::Shard(1), CrlScope::Shard(0)]
        .into_iter()
        .zip(three)
        .map(|(s, n)| crl(s, n))
        .collect();
    db.store.store_crls(&batch).await.unwrap();
    let later = db.store.next_crl_number("systems").await.unwrap();
    db.store.store_crl(&crl(CrlScope::Shard(0), later)).await.unwrap();
    // The newest of each scope is served; storing one scope leaves the others alone.
    assert_eq!(db.store.latest_crl("systems", CrlScope::Shard(0)).await.unwrap().unwrap().crl_number, later);
    assert_eq!(db.store.latest_crl("systems", CrlScope::Shard(1)).await.unwrap().unwrap().crl_number, b + 2);
    assert_eq!(db.store.latest_crl("systems", CrlScope::Whole).await.unwrap().unwrap().crl_number, b);
    assert!(db.store.latest_crl("systems", CrlScope::Shard(2)).await.unwrap().is_none());
    let mut latest: Vec<(CrlScope, i64)> =
        db.store.latest_crls().await.unwrap().into_iter().map(|c| (c.scope, c.crl_number)).collect();
    latest.sort();
    assert_eq!(latest, vec![(CrlScope::Whole, b), (CrlScope::Shard(0), later), (CrlScope::Shard(1), b + 2)]);
    let mut numbers = db.store.latest_crl_numbers("systems").await.unwrap();
    numbers.sort();
    assert_eq!(numbers, vec![(CrlScope::Whole, b), (CrlScope::Shard(0), later), (CrlScope::Shard(1), b + 2)]);
    assert!(db.store.latest_crl_numbers("smartcards").await.unwrap().is_empty());
    assert_eq!(db.store.latest_crl_number("systems").await.unwrap(), Some(later));
    assert!(db.store.next_crl_number("nope").await.is_err());
}

async fn audit_log_refuses_updates_and_detects_tampering(db: TestDb) {
    with_ca(&db).await;
    issue(&db, "A1").await;
    issue(&db, "A2").await;
    assert!(db.store.verify_audit().await.unwrap().first_broken.is_none());
    let raw = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let refused = sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2").execute(&raw).await;
    assert!(refused.is_err(), "the append-only trigger must refuse updates");
    // Someone with direct database access removes the guard and edits entry 2.
    let drop_guard = if db.url.starts_with("sqlite") {
        "DROP TRIGGER audit_log_no_update"
    } else {
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"
    };
    sqlx::query(drop_guard).execute(&raw).await.unwrap();
    sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2").execute(&raw).await.unwrap();
    let v = db.store.verify_audit().await.unwrap();
    let broken = v.first_broken.expect("tampering must be detected");
    assert_eq!(broken.seq, 2);
    assert!(broken.problem.contains("altered"), "{}", broken.problem);
}

fn signed(serial: &str) -> CompletedCertificate {
    CompletedCertificate {
        issuer: "systems".into(),
        serial: serial.into(),
        der: vec![0x30, 0x03, 1, 2, 3],
        event: event("certificate.issued", serial),
    }
}

async fn merged_issuance_stores_row_der_and_audit_in_one_write(db: TestDb) {
    with_ca(&db).await;
    db.store.record_issued(reservation("A1"), signed("A1")).await.unwrap();
    let rec = db.store.certificate("systems", "A1").await.unwrap().unwrap();
    assert_eq!(rec.status, CertStatus::Issued);
    assert_eq!(rec.der.as_deref(), Some(&[0x30u8, 0x03, 1, 2, 3][..]));
    assert_eq!(rec.subject, "CN=test");
    // a second certificate with the same serial is refused and leaves no trace
    let err = db.store.record_issued(reservation("A1"), signed("A1")).await.unwrap_err();
    assert!(matches!(err, store::StoreError::Conflict(_)), "{err}");
    // record and certificate must name the same serial
    assert!(db.store.record_issued(reservation("A2"), signed("A3")).await.is_err());
    let v = db.store.verify_audit().await.unwrap();
    assert_eq!(v.entries, 2, "ca.created + one certificate.issued");
    assert!(v.first_broken.is_none(), "{v:?}");
}

async fn one_bad_row_fails_only_its_own_request(db: TestDb) {
    with_ca(&db).await;
    db.store.record_issued(reservation("0BAD"), signed("0BAD")).await.unwrap();
    // 200 concurrent issuances, one of which reuses a serial: they share group commits.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            let serial = if i == 77 { "0BAD".to_string() } else { format!("{:04X}", i + 0x2000) };
            store.record_issued(reservation(&serial), signed(&serial)).await
        }));
    }
    let mut failed = vec![];
    for (i, t) in tasks.into_iter().enumerate() {
        if t.await.unwrap().is_err() {
            failed.push(i);
        }
    }
    assert_eq!(failed, vec![77]);
    let counts = db.store.certificate_counts().await.unwrap();
    assert_eq!(counts, vec![("issued".to_string(), 200)]);
    let v = db.store.verify_audit().await.unwrap();
    assert_eq!(v.entries, 201);
    assert!(v.first_broken.is_none(), "{v:?}");
}

async fn group_commit_and_other_audit_writers_keep_one_chain(db: TestDb) {
    with_ca(&db).await;
    // Issuance (the group-commit writer) and other audited changes (the pool) interleave:
    // the chain must stay one chain, with every entry.
    let mut tasks = Vec::new();
    for i in 0..150 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            let serial = format!("{:04X}", i + 0x3000);
            store.record_issued(reservation(&serial), signed(&serial)).await.unwrap();
            store.record(&[event("operator.refused", &serial)]).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = db.store.verify_audit().await.unwrap();
    assert_eq!(v.entries, 301);
    assert!(v.first_broken.is_none(), "{v:?}");
}

async fn concurrent_revocations_each_happen_once_with_their_audit_entry(db: TestDb) {
    with_ca(&db).await;
    for i in 0..60 {
        issue(&db, &format!("{:04X}", 0x2000 + i)).await;
    }
    db.store.reserve_certificate(reservation("2FFF")).await.unwrap();
    let clock0 = db.store.revocation_clock().await.unwrap();
    // 60 certificates, each revoked by two callers at once, plus a reservation and a serial
    // nobody issued: all at the same time, so they share transactions.
    let mut tasks = Vec::new();
    for i in 0..122 {
        let store = db.store.clone();
        let serial = match i {
            120 => "2FFF".to_string(),
            121 => "2EEE".to_string(),
            _ => format!("{:04X}", 0x2000 + i / 2),
        };
        tasks.push(tokio::spawn(async move {
            let out = store
                .revoke("systems", &serial, 4, 1_790_000_100, event("certificate.revoked", &serial))
                .await
                .unwrap();
            (serial, out)
        }));
    }
    let mut revoked = std::collections::BTreeMap::new();
    let mut already = 0;
    for t in tasks {
        let (serial, out) = t.await.unwrap();
        match out {
            RevokeOutcome::Revoked { seq, scope, successors } => {
                assert!(successors.is_empty());
                assert_eq!(scope, CrlScope::Whole, "reserved without a shard");
                assert!(seq > clock0);
                assert!(revoked.insert(serial.clone(), seq).is_none(), "{serial} revoked twice");
            }
            RevokeOutcome::AlreadyRevoked { at, reason } => {
                assert_eq!((at, reason), (1_790_000_100, 4));
                already += 1;
            }
            RevokeOutcome::NotIssued => assert_eq!(serial, "2FFF"),
            RevokeOutcome::NotFound => assert_eq!(serial, "2EEE"),
        }
    }
    assert_eq!(revoked.len(), 60);
    assert_eq!(already, 60);
    // The clock covers every revocation, and the CRL reads see each once, in clock order.
    let clock = db.store.revocation_clock().await.unwrap();
    assert!(revoked.values().all(|s| *s <= clock));
    let rows = db.store.revoked_for_crl("systems", 1_790_000_000).await.unwrap();
    assert_eq!(rows.len(), 60);
    assert!(rows.windows(2).all(|w| w[0].seq <= w[1].seq));
    for r in &rows {
        assert_eq!(revoked[&hex::encode_upper(&r.serial)], r.seq);
    }
    let since = db.store.revoked_for_crl_since("systems", clock0).await.unwrap();
    assert_eq!(since.len(), 60);
    let last = rows.last().unwrap().seq;
    assert!(db.store.revoked_for_crl_since("systems", last).await.unwrap().is_empty());
    assert_eq!(db.store.certificate("systems", "2FFF").await.unwrap().unwrap().status, CertStatus::Reserved);
    // One audit entry per revocation, none for the refusals; the chain verifies.
    let v = db.store.verify_audit().await.unwrap();
    assert_eq!(v.entries, 1 + 60 + 60);
    assert!(v.first_broken.is_none(), "{v:?}");
}

macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::sqlite().await).await })*
        }
        mod on_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { if let Some(db) = super::postgres().await { super::$name(db).await } })*
        }
    };
}

both_engines!(
    reserved_then_completed_certificate_is_issued_and_audited,
    completion_without_reservation_is_refused_and_changes_nothing,
    duplicate_serial_is_a_conflict,
    revocation_follows_the_state_machine,
    concurrent_issuance_is_group_committed_without_losing_any,
    crl_numbers_only_go_up_and_the_latest_crl_is_served,
    audit_log_refuses_updates_and_detects_tampering,
    merged_issuance_stores_row_der_and_audit_in_one_write,
    one_bad_row_fails_only_its_own_request,
    group_commit_and_other_audit_writers_keep_one_chain,
    concurrent_revocations_each_happen_once_with_their_audit_entry,
);

//! Issue 13 part B storage, on both engines: pre-signed OCSP answers of the offline root,
//! imported intermediates, conditional responder replacement, failed reservations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use store::{CaRecord, CertStatus, NewCertificate, PresignedOcsp, Store};
use testkit::{Engine, database, on_both_engines};
use types::{Action, Actor, AuditEvent, ManualClock};

fn ev(action: Action, subject: &str) -> AuditEvent {
    AuditEvent::new(&ManualClock::new(1_795_000_000), &Actor::System, action, subject, serde_json::json!({}))
}

fn ca(name: &str, parent: Option<&str>) -> CaRecord {
    CaRecord {
        name: name.into(),
        parent: parent.map(Into::into),
        cert_der: format!("cert of {name}").into_bytes(),
        key_ref: if parent.is_none() { "offline".into() } else { format!("pkcs11:token=t;object={name};id=%01") },
        responder_cert_der: None,
        responder_key_ref: None,
        crl_number: 0,
        created_at: 1,
    }
}

fn cert(issuer: &str, serial: &str, created_at: i64) -> NewCertificate {
    NewCertificate {
        issuer: issuer.into(),
        serial: serial.into(),
        profile: "system-client".into(),
        subject: "CN=x".into(),
        spki_sha256: "0".repeat(64),
        not_before: 0,
        not_after: 10_000_000_000,
        created_at,
        crl_shard: None,
    }
}

fn answer(this_update: i64, der: &[u8]) -> PresignedOcsp {
    PresignedOcsp {
        issuer: "root".into(),
        serial: "0A".into(),
        cert_id_hash: "sha1".into(),
        null_params: true,
        this_update,
        next_update: this_update + 2 * 86_400,
        der: der.to_vec(),
    }
}

async fn offline_root_storage(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = database(engine, &dir) else { return };
    let store = Store::open(&url).await.unwrap();
    store.insert_ca(&ca("root", None), ev(Action::CaCreated, "root")).await.unwrap();

    // An intermediate signed off line: the CA and its certificate under the root, at once.
    let systems = ca("systems-2", Some("root"));
    store.import_ca(&systems, &cert("root", "0A", 5), ev(Action::CaImported, "systems-2")).await.unwrap();
    let rec = store.certificate("root", "0A").await.unwrap().unwrap();
    assert_eq!(rec.status, CertStatus::Issued);
    assert_eq!(rec.der.as_deref(), Some(systems.cert_der.as_slice()));
    let again = store.import_ca(&systems, &cert("root", "0B", 5), ev(Action::CaImported, "systems-2")).await;
    assert!(again.is_err(), "a name in use is refused");
    assert!(store.certificate("root", "0B").await.unwrap().is_none(), "nothing of a refused import is kept");

    // Pre-signed answers: the newest valid one for the CertID form; none outside the period.
    let day = 86_400;
    let t = 1_800_000_000;
    let answers = [answer(t, b"day0"), answer(t + day, b"day1"), answer(t + 2 * day, b"day2")];
    assert_eq!(store.store_presigned_ocsp(&answers, t, ev(Action::CaPresignedImported, "root")).await.unwrap(), 3);
    assert_eq!(store.store_presigned_ocsp(&answers, t, ev(Action::CaPresignedImported, "root")).await.unwrap(), 0);
    let at = |now: i64, hash: &'static str, params: bool| {
        let store = store.clone();
        async move { store.presigned_ocsp("root", "0A", hash, params, now).await.unwrap().map(|a| a.der) }
    };
    assert_eq!(at(t + 10, "sha1", true).await.as_deref(), Some(&b"day0"[..]));
    assert_eq!(at(t + day + 10, "sha1", true).await.as_deref(), Some(&b"day1"[..]));
    assert_eq!(at(t + 3 * day + 10, "sha1", true).await.as_deref(), Some(&b"day2"[..]));
    assert_eq!(at(t + 4 * day, "sha1", true).await, None, "expired");
    assert_eq!(at(t - 1, "sha1", true).await, None, "not yet valid");
    assert_eq!(at(t + 10, "sha256", true).await, None, "another CertID form");
    assert_eq!(at(t + 10, "sha1", false).await, None, "another CertID form");

    // Responder replacement is conditional on the certificate being replaced.
    store.set_responder("systems-2", b"resp1", "ref1", ev(Action::CaResponderIssued, "systems-2")).await.unwrap();
    let won = store
        .replace_responder("systems-2", b"resp1", b"resp2", "ref2", ev(Action::CaResponderIssued, "systems-2"))
        .await
        .unwrap();
    let lost = store
        .replace_responder("systems-2", b"resp1", b"resp3", "ref3", ev(Action::CaResponderIssued, "systems-2"))
        .await
        .unwrap();
    assert!(won && !lost);
    let rec = store.cas().await.unwrap().into_iter().find(|c| c.name == "systems-2").unwrap();
    assert_eq!(
        (rec.responder_cert_der.as_deref(), rec.responder_key_ref.as_deref()),
        (Some(&b"resp2"[..]), Some("ref2"))
    );

    // Reservations never signed are marked failed once old enough, each audited; signed and
    // recent ones are left alone.
    store.reserve_certificate(cert("systems-2", "01", 100)).await.unwrap();
    store.reserve_certificate(cert("systems-2", "02", 100)).await.unwrap();
    store.reserve_certificate(cert("systems-2", "03", 900)).await.unwrap();
    store
        .complete_certificate(store::CompletedCertificate {
            issuer: "systems-2".into(),
            serial: "02".into(),
            der: b"signed".to_vec(),
            event: ev(Action::CertificateIssued, "systems-2/02"),
        })
        .await
        .unwrap();
    let failed =
        store.fail_stale_reservations(500, |i, s| ev(Action::CertificateFailed, &format!("{i}/{s}"))).await.unwrap();
    assert_eq!(failed, vec![("systems-2".to_string(), "01".to_string())]);
    let status = |serial: &'static str| {
        let store = store.clone();
        async move { store.certificate("systems-2", serial).await.unwrap().unwrap().status }
    };
    assert_eq!(status("01").await, CertStatus::Failed);
    assert_eq!(status("02").await, CertStatus::Issued);
    assert_eq!(status("03").await, CertStatus::Reserved);
    let entries = store.recent_audit_entries(1).await.unwrap();
    assert_eq!((entries[0].action.as_str(), entries[0].subject.as_str()), ("certificate.failed", "systems-2/01"));
    // A failed reservation is never completed afterwards.
    assert!(
        store
            .fail_stale_reservations(500, |i, s| ev(Action::CertificateFailed, &format!("{i}/{s}")))
            .await
            .unwrap()
            .is_empty()
    );
}

on_both_engines!(offline_root_storage);

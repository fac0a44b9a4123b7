//! The dashboard's "expiring per week" (issue 12) reads per-day counts kept by triggers
//! (migration 0018). Whatever path changes a certificate — reservation then completion,
//! the merged write, a reservation that fails, revocation, the bulk loader — the counts
//! must equal a plain count of the certificates, on SQLite and on PostgreSQL. The same for the
//! reminders' per-organisation current certificate (migration 0019).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use store::{AuditEvent, CertificateFilter, CompletedCertificate, NewCertificate, SeedCertificate, Store};

const NOW: i64 = 1_790_000_000 + 3_600 * 13; // 13:00 UTC on a day
const DAY: i64 = 86_400;

fn event(action: &str, subject: &str) -> AuditEvent {
    AuditEvent {
        at_ms: NOW * 1000,
        actor: "test".into(),
        action: action.into(),
        subject: subject.into(),
        details: serde_json::json!({}),
    }
}

fn record(issuer: &str, serial: &str, not_after: i64) -> NewCertificate {
    NewCertificate {
        issuer: issuer.into(),
        serial: serial.into(),
        profile: "system-client".into(),
        subject: "CN=test".into(),
        spki_sha256: "00".into(),
        not_before: NOW - DAY,
        not_after,
        created_at: NOW - DAY,
        crl_shard: None,
    }
}

fn completed(issuer: &str, serial: &str) -> CompletedCertificate {
    CompletedCertificate {
        issuer: issuer.into(),
        serial: serial.into(),
        der: vec![0x30, 0x00],
        event: event("certificate.issued", serial),
    }
}

/// Records the named CAs (placeholder certificate and key reference: nothing is signed).
async fn with_cas(store: &Store, names: &[&str]) {
    for ca in names {
        store
            .insert_ca(
                &store::CaRecord {
                    name: (*ca).into(),
                    parent: None,
                    cert_der: vec![1],
                    key_ref: "k".into(),
                    responder_cert_der: None,
                    responder_key_ref: None,
                    crl_number: 0,
                    created_at: 1,
                },
                event("ca.created", ca),
            )
            .await
            .unwrap();
    }
}

/// The weeks of the dashboard counted the slow way: every issued certificate, read back.
async fn counted(store: &Store, issuer: Option<&str>, weeks: i64) -> Vec<i64> {
    let all = store
        .certificates(&CertificateFilter {
            issuer: issuer.map(Into::into),
            status: Some("issued".into()),
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let today = NOW.div_euclid(DAY);
    let mut out = vec![0; weeks as usize];
    for c in all {
        if c.not_after < NOW {
            continue;
        }
        let week = (c.not_after.div_euclid(DAY) - today) / 7;
        if let Some(slot) = usize::try_from(week).ok().and_then(|w| out.get_mut(w)) {
            *slot += 1;
        }
    }
    out
}

async fn counts_follow_every_change(engine: testkit::Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = testkit::database(engine, &dir) else { return };
    let store = Store::open(&url).await.unwrap();
    with_cas(&store, &["systems", "smartcards"]).await;
    // Expiries: earlier today (expired, not counted), later today (week 0), the last day of
    // week 0, the first of week 1, and a spread over half a year.
    let today_start = NOW.div_euclid(DAY) * DAY;
    let mut expiries = vec![NOW - 60, NOW + 60, today_start + 7 * DAY - 1, today_start + 7 * DAY];
    expiries.extend((0..60).map(|i| NOW + i * 3 * DAY + i * 997));
    let mut n = 0;
    for (i, not_after) in expiries.iter().enumerate() {
        let issuer = if i % 3 == 0 { "smartcards" } else { "systems" };
        n += 1;
        let serial = format!("{n:04X}");
        match i % 4 {
            // The merged write.
            0 | 1 => {
                store.record_issued(record(issuer, &serial, *not_after), completed(issuer, &serial)).await.unwrap()
            }
            // Reservation, then completion.
            2 => {
                store.reserve_certificate(record(issuer, &serial, *not_after)).await.unwrap();
                store.complete_certificate(completed(issuer, &serial)).await.unwrap();
            }
            // A reservation that never completes, then fails: never counted.
            _ => store.reserve_certificate(record(issuer, &serial, *not_after)).await.unwrap(),
        }
    }
    let failed = store.fail_stale_reservations(NOW, |_, s| event("certificate.failed", s)).await.unwrap();
    assert!(!failed.is_empty());
    // Revoke a few, one of them twice (the second changes nothing).
    for serial in ["0002", "0006", "000A", "0002"] {
        let issuer = store.certificates_by_serial(serial).await.unwrap()[0].issuer.clone();
        store.revoke(&issuer, serial, 1, NOW, event("certificate.revoked", serial)).await.unwrap();
    }
    // The bulk loader.
    let seeded: Vec<SeedCertificate> = (0..25)
        .map(|i| SeedCertificate {
            issuer: "systems".into(),
            serial: format!("5EED{i:02X}"),
            profile: "system-client".into(),
            subject: "CN=seed".into(),
            spki_sha256: "00".into(),
            not_before: NOW - DAY,
            not_after: NOW + i * 5 * DAY,
            created_at: NOW - DAY,
            revoked: (i % 5 == 0).then_some((NOW - 100, 1)),
            epoc: None,
            crl_shard: Some(i as u16 % 3),
        })
        .collect();
    store.seed(vec![], seeded, vec![0x30, 0x00]).await.unwrap();

    for (issuer, weeks) in [(None, 26), (Some("systems"), 26), (Some("smartcards"), 13), (None, 1)] {
        let fast = store.certificates_expiring_per_week(issuer, NOW, weeks).await.unwrap();
        let slow = counted(&store, issuer, weeks).await;
        assert_eq!(fast, slow, "{issuer:?}, {weeks} weeks");
        assert!(fast.iter().sum::<i64>() > 0, "{issuer:?}: something is expiring");
    }
    // The edges of week 0: later today and its last second are in it, the next midnight is not.
    let week0 = store.certificates_expiring_per_week(Some("systems"), NOW, 1).await.unwrap()[0];
    let slow0 = counted(&store, Some("systems"), 1).await[0];
    assert_eq!(week0, slow0);
    // The metrics' counts by status agree with the rows.
    let issued = store
        .certificates(&CertificateFilter { status: Some("issued".into()), limit: 100_000, ..Default::default() })
        .await
        .unwrap()
        .len() as i64;
    let revoked = store
        .certificates(&CertificateFilter { status: Some("revoked".into()), limit: 100_000, ..Default::default() })
        .await
        .unwrap()
        .len() as i64;
    let counts = store.certificate_counts().await.unwrap();
    assert_eq!(
        counts,
        vec![("failed".to_string(), failed.len() as i64), ("issued".into(), issued), ("revoked".into(), revoked)]
    );
    // A database opened again (another node) reads the same counts.
    let again = Store::open(&url).await.unwrap();
    assert_eq!(again.certificates_expiring_per_week(None, NOW, 26).await.unwrap(), counted(&store, None, 26).await);
}

/// The reminders read each organisation's current certificate from a table kept by triggers
/// (migration 0019): the certificate its newest still-issued request received. Renewal moves
/// it forward, revoking it falls back to the previous one, revoking every one removes it.
async fn current_certificate_follows_renewal_and_revocation(engine: testkit::Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = testkit::database(engine, &dir) else { return };
    let store = Store::open(&url).await.unwrap();
    with_cas(&store, &["systems"]).await;
    let orgs = ["FA001", "FB002", "FC003"]
        .iter()
        .map(|e| store::SeedOrganisation {
            epoc: (*e).into(),
            name: format!("Pharmacy {e}"),
            created_at: NOW - 400 * DAY,
        })
        .collect();
    // FA001: an old certificate (expires in 30 days) and its renewal (in 300 days).
    // FB002: one certificate, expiring in 20 days. FC003: one, expiring in a year.
    let cert = |serial: &str, epoc: &str, expires_in_days: i64| SeedCertificate {
        issuer: "systems".into(),
        serial: serial.into(),
        profile: "system-client".into(),
        subject: format!("CN={epoc}"),
        spki_sha256: "00".into(),
        not_before: NOW - DAY,
        not_after: NOW + expires_in_days * DAY,
        created_at: NOW - DAY,
        revoked: None,
        epoc: Some(epoc.into()),
        crl_shard: None,
    };
    let certs =
        vec![cert("A1", "FA001", 30), cert("A2", "FA001", 300), cert("B1", "FB002", 20), cert("C1", "FC003", 365)];
    store.seed(orgs, certs, vec![0x30, 0x00]).await.unwrap();
    let due = |store: Store| async move {
        store
            .machine_certs_expiring("systems", NOW, NOW + 90 * DAY)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.epoc, m.serial))
            .collect::<Vec<_>>()
    };
    // FA001 renewed: only FB002 is due.
    assert_eq!(due(store.clone()).await, vec![("FB002".to_string(), "B1".to_string())]);
    // Revoking FA001's renewal makes its old certificate current again: due in 30 days.
    store.revoke("systems", "A2", 1, NOW, event("certificate.revoked", "A2")).await.unwrap();
    assert_eq!(
        due(store.clone()).await,
        vec![("FB002".to_string(), "B1".to_string()), ("FA001".to_string(), "A1".to_string())]
    );
    // With every certificate of FB002 revoked it has none to renew.
    store.revoke("systems", "B1", 1, NOW, event("certificate.revoked", "B1")).await.unwrap();
    assert_eq!(due(store.clone()).await, vec![("FA001".to_string(), "A1".to_string())]);
}

testkit::on_both_engines!(counts_follow_every_change, current_certificate_follows_renewal_and_revocation);

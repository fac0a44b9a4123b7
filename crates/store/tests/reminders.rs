//! Expiry reminders are claimed once (issue 11): many concurrent claims of the same reminder,
//! from two handles on the same database (two nodes), make exactly one row and one audit
//! entry, on SQLite and on PostgreSQL; a released claim can be taken again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use store::{AuditEvent, ReminderClaim, ReminderKind, Store};

fn event(action: &str, subject: &str) -> AuditEvent {
    AuditEvent {
        at_ms: 1_790_000_000_000,
        actor: "system:reminders".into(),
        action: action.into(),
        subject: subject.into(),
        details: serde_json::json!({}),
    }
}

async fn one_claim_wins(engine: testkit::Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = testkit::database(engine, &dir) else { return };
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    let claim = |node: &str| ReminderClaim {
        kind: ReminderKind::Card,
        subject: "CARD1".into(),
        threshold_days: 30,
        owner: "55".into(),
        recipient: "holder@nhs.net".into(),
        not_after: 1_800_000_000,
        at: 1_790_000_000,
        node: node.into(),
    };
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (s, node) = if i % 2 == 0 { (a.clone(), "a") } else { (b.clone(), "b") };
        let c = claim(node);
        tasks.push(tokio::spawn(async move { s.claim_reminder(&c, event("reminder.sent", "CARD1")).await.unwrap() }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one of 16 concurrent claims wins");
    // Another threshold of the same card is another reminder.
    let mut c7 = claim("a");
    c7.threshold_days = 7;
    assert!(a.claim_reminder(&c7, event("reminder.sent", "CARD1")).await.unwrap());
    let sent = a.reminders_sent(1_790_000_000).await.unwrap();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let audit = a.recent_audit_entries(100).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "reminder.sent").count(), 2);
    // A failed send releases the claim (audited); the next pass can take it again.
    a.release_reminder(ReminderKind::Card, "CARD1", 30, event("reminder.failed", "CARD1")).await.unwrap();
    assert!(b.claim_reminder(&claim("b"), event("reminder.sent", "CARD1")).await.unwrap());
    assert!(!a.claim_reminder(&claim("a"), event("reminder.sent", "CARD1")).await.unwrap());
    // Nothing is listed once the expiry has passed.
    assert!(a.reminders_sent(1_800_000_000).await.unwrap().is_empty());
}

testkit::on_both_engines!(one_claim_wins);

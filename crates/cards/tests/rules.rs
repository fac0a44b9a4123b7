//! The smartcard rules (DESIGN §2.4) on the server side, against a real database on both
//! engines, messengers that hand each message to the test (the SMTP and gateway adapters are
//! tested in `carecert`), and an injected clock. The card side
//! (PKCS#11) is the agent's; here the card's keys are software keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::sync::Arc;

use ca::{Authority, AuthorityConfig, InitOptions, ManualClock};
use cards::{
    CardKeyRole, CardStatus, Cards, CardsConfig, CardsError, Channel, CodeProblem, InputProblem, IssueCard, Messenger,
    PasscodeFailure, RenewalKind, RenewalProblem, SendFuture, Source, Throttle,
};
use pki::RevocationReason;
use tokio::sync::mpsc;

const PASS: &[u8] = b"test passphrase";
const NOW: i64 = 1_795_000_000; // 2026-11-17
const DAY: i64 = 86_400;

/// Stands in for the SMTP mailer and the text gateway (those adapters live in `carecert`
/// and are tested there): hands every message to the test.
struct Capture(mpsc::UnboundedSender<serde_json::Value>);

impl Messenger for Capture {
    fn send<'a>(&'a self, channel: Channel, to: &'a str, subject: &'a str, text: &'a str) -> SendFuture<'a> {
        let m = serde_json::json!({"channel": channel.as_str(), "to": to, "subject": subject, "text": text});
        Box::pin(async move {
            self.0.send(m).unwrap();
            Ok(())
        })
    }
}

use testkit::{DbGuard, Engine, database, on_both_engines};

struct World {
    _dir: tempfile::TempDir,
    _db: DbGuard,
    clock: ManualClock,
    cards: Cards,
    store: store::Store,
    mail: mpsc::UnboundedReceiver<serde_json::Value>,
    texts: mpsc::UnboundedReceiver<serde_json::Value>,
}

async fn world(engine: Engine) -> Option<World> {
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
    let (mail_tx, mail) = mpsc::unbounded_channel();
    let (text_tx, texts) = mpsc::unbounded_channel();
    let config = CardsConfig {
        email_domains: vec!["nhs.net".into()],
        mailer: Some(Arc::new(Capture(mail_tx))),
        texter: Some(Arc::new(Capture(text_tx))),
        ..Default::default()
    };
    let cards = Cards::new(store.clone(), authority, Arc::new(clock.clone()), config, PASS).unwrap();
    Some(World { _dir: dir, _db: guard, clock, cards, store, mail, texts })
}

/// An enrolled workstation (its reports count toward the lock).
fn desk() -> Source {
    Source::Workstation("0A1B".into())
}

/// Anyone on the network (its reports only back it off).
fn stranger() -> Source {
    Source::Address("203.0.113.9".parse().unwrap())
}

/// A wrong passcode typed for a fresh challenge and reported by `source`.
async fn wrong_from(w: &World, serial: &str, source: &Source) -> Result<PasscodeFailure, CardsError> {
    let n = w.cards.login_challenge(serial, source).await?;
    w.cards.passcode_failed(serial, &n, source, None).await
}

/// A wrong passcode reported by an enrolled workstation.
async fn wrong(w: &World, serial: &str) -> PasscodeFailure {
    wrong_from(w, serial, &desk()).await.unwrap()
}

fn csr() -> (pki::KeyPair, Vec<u8>) {
    let k = pki::KeyPair::generate(pki::KeyAlgorithm::EcdsaP256).unwrap();
    let c = k.csr_der("card").unwrap();
    (k, c)
}

/// Registers a user and issues a card; returns the card's authentication key and certificate.
async fn issue(w: &World, uid: &str, serial: &str, email: &str) -> (pki::KeyPair, Vec<u8>) {
    w.cards
        .add_user(
            uid,
            &format!("User {uid}"),
            Some(email),
            Some("+447700900123"),
            Some(("+441130000000", false)),
            &["R8000".into()],
            "RA1",
            "ra:test",
        )
        .await
        .unwrap();
    let (auth_key, auth_csr) = csr();
    let (_, sign_csr) = csr();
    let issued = w
        .cards
        .issue_card(IssueCard {
            uid: uid.into(),
            card_serial: serial.into(),
            batch: "B1".into(),
            ra: "ra:alice".into(),
            documents: "passport 123".into(),
            so_pin: format!("so-{serial}-pin"),
            auth_csr,
            sign_csr,
            agent_version: "1.0.0".into(),
        })
        .await
        .unwrap();
    (auth_key, issued.auth.der)
}

fn code_in(text: &str) -> String {
    let i = text.find("code is ").expect("code in message") + 8;
    text[i..i + 8].to_string()
}

async fn cert_status(w: &World, serial: &str) -> store::CertStatus {
    w.store.certificate("smartcards", serial).await.unwrap().unwrap().status
}

async fn three_wrong_passcodes_lock_and_every_unlock_path_unlocks(engine: Engine) {
    let Some(mut w) = world(engine).await else { return };
    issue(&w, "101", "CARD101", "alice@nhs.net").await;
    assert_eq!(wrong(&w, "CARD101").await, PasscodeFailure::Counted { left: 2 });
    assert_eq!(wrong(&w, "CARD101").await, PasscodeFailure::Counted { left: 1 });
    assert_eq!(wrong(&w, "CARD101").await, PasscodeFailure::Locked);
    assert_eq!(w.cards.card("CARD101").await.unwrap().status, CardStatus::Locked);
    // Locked holds: a right passcode is refused and renewal says unlock first.
    assert!(matches!(w.cards.passcode_ok("CARD101").await.unwrap_err(), CardsError::Locked(_)));
    let e = w.cards.begin_renewal("CARD101", "1.0.0", &RenewalKind::Remote).await.unwrap_err().to_string();
    assert!(e.contains("unlock it first"), "{e}");

    // Email: a code arrives by the mailer; wrong once, then right; single use.
    let to = w.cards.send_unlock_code("CARD101", Channel::Email).await.unwrap();
    assert!(to.ends_with("@nhs.net") && to.contains('*'), "masked: {to}");
    let mail = w.mail.recv().await.unwrap();
    assert_eq!((mail["channel"].as_str(), mail["to"].as_str()), (Some("email"), Some("alice@nhs.net")), "{mail}");
    assert_eq!(mail["subject"], "carecert card unlock code");
    let code = code_in(mail["text"].as_str().unwrap());
    let e = w.cards.unlock_with_code("CARD101", "00000000").await.unwrap_err().to_string();
    assert!(e.contains("2 tries left"), "{e}");
    let u = w.cards.unlock_with_code("CARD101", &code).await.unwrap();
    assert_eq!(u.so_pin, "so-CARD101-pin");
    assert_eq!(w.cards.card("CARD101").await.unwrap().status, CardStatus::Active);
    let e = w.cards.unlock_with_code("CARD101", &code).await.unwrap_err();
    assert!(matches!(e, CardsError::NotLocked(_)), "codes only for locked cards: {e}");

    // SMS: through the text messenger.
    for _ in 0..3 {
        let _ = wrong(&w, "CARD101").await;
    }
    let e = w.cards.unlock_with_code("CARD101", &code).await.unwrap_err().to_string();
    assert!(e.contains("used already"), "a code is single use: {e}");
    w.cards.send_unlock_code("CARD101", Channel::Sms).await.unwrap();
    let sms = w.texts.recv().await.unwrap();
    assert_eq!(sms["channel"], "sms");
    assert_eq!(sms["to"], "+447700900123");
    // Voice only where the landline is marked for it.
    let e = w.cards.send_unlock_code("CARD101", Channel::Voice).await.unwrap_err().to_string();
    assert!(e.contains("text-to-voice"), "{e}");
    w.cards.unlock_with_code("CARD101", &code_in(sms["text"].as_str().unwrap())).await.unwrap();

    // RA face to face.
    for _ in 0..3 {
        let _ = wrong(&w, "CARD101").await;
    }
    w.cards.ra_unlock("CARD101", "ra:bob", "driving licence").await.unwrap();
    assert_eq!(w.cards.card("CARD101").await.unwrap().status, CardStatus::Active);
    let actions: Vec<String> = w.store.audit_entries(0, 1000).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "card.locked").count(), 3);
    assert_eq!(actions.iter().filter(|a| *a == "card.unlocked").count(), 3);
    assert!(w.store.verify_audit().await.unwrap().first_broken.is_none());
}

async fn one_time_codes_expire_refuse_brute_force_and_other_domains(engine: Engine) {
    let Some(mut w) = world(engine).await else { return };
    issue(&w, "102", "CARD102", "bob@example.com").await;
    for _ in 0..3 {
        let _ = wrong(&w, "CARD102").await;
    }
    let e = w.cards.send_unlock_code("CARD102", Channel::Email).await.unwrap_err().to_string();
    assert!(e.contains("example.com") && e.contains("nhs.net"), "domain not on the allow-list: {e}");
    // SMS code, expired after 10 minutes.
    w.cards.send_unlock_code("CARD102", Channel::Sms).await.unwrap();
    let code = code_in(w.texts.recv().await.unwrap()["text"].as_str().unwrap());
    w.clock.advance(10 * 60);
    assert!(w.cards.unlock_with_code("CARD102", &code).await.unwrap_err().to_string().contains("expired"));
    // Brute force: after 3 wrong tries even the right code is refused.
    w.cards.send_unlock_code("CARD102", Channel::Sms).await.unwrap();
    let code = code_in(w.texts.recv().await.unwrap()["text"].as_str().unwrap());
    for _ in 0..3 {
        let _ = w.cards.unlock_with_code("CARD102", "12345678").await;
    }
    assert!(w.cards.unlock_with_code("CARD102", &code).await.unwrap_err().to_string().contains("too many"));
    // A new code replaces the old one.
    w.cards.send_unlock_code("CARD102", Channel::Sms).await.unwrap();
    let fresh = code_in(w.texts.recv().await.unwrap()["text"].as_str().unwrap());
    w.cards.unlock_with_code("CARD102", &fresh).await.unwrap();
    assert!(w.mail.try_recv().is_err(), "nothing was mailed to a refused domain");
}

async fn a_sponsor_with_authority_unlocks_and_others_are_refused(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    issue(&w, "201", "LOCKED1", "u@nhs.net").await;
    let (sponsor_key, sponsor_cert) = issue(&w, "202", "SPONSOR1", "s@nhs.net").await;
    for _ in 0..3 {
        let _ = wrong(&w, "LOCKED1").await;
    }
    let sign = |n: &str| pki::Signer::sign(&sponsor_key, n.as_bytes()).unwrap();
    // No authority yet.
    let n = w.cards.sponsor_challenge("LOCKED1").await.unwrap();
    let e = w.cards.sponsor_unlock("LOCKED1", &n, &sponsor_cert, &sign(&n)).await.unwrap_err().to_string();
    assert!(e.contains("no unlock authority"), "{e}");
    assert_eq!(w.cards.card("LOCKED1").await.unwrap().status, CardStatus::Locked, "nothing changed");
    w.cards.grant_sponsor("202", "RA1", "ra:alice").await.unwrap();
    // A card from another environment (another carecert, another smartcards CA) is refused.
    let Some(other) = world(engine).await else { return };
    let (foreign_key, foreign_cert) = issue(&other, "202", "FOREIGN1", "s@nhs.net").await;
    let n = w.cards.sponsor_challenge("LOCKED1").await.unwrap();
    let sig = pki::Signer::sign(&foreign_key, n.as_bytes()).unwrap();
    let e = w.cards.sponsor_unlock("LOCKED1", &n, &foreign_cert, &sig).await.unwrap_err().to_string();
    assert!(e.contains("not issued by this service"), "{e}");
    assert!(matches!(w.cards.login_challenge("FOREIGN1", &desk()).await.unwrap_err(), CardsError::UnknownCard(_)));
    // Replayed challenge refused; a signature by another key refused.
    let e = w.cards.sponsor_unlock("LOCKED1", &n, &sponsor_cert, &sign(&n)).await.unwrap_err().to_string();
    assert!(e.contains("used or expired"), "{e}");
    let n = w.cards.sponsor_challenge("LOCKED1").await.unwrap();
    let other = pki::KeyPair::generate(pki::KeyAlgorithm::EcdsaP256).unwrap();
    let bad = pki::Signer::sign(&other, n.as_bytes()).unwrap();
    assert!(
        w.cards
            .sponsor_unlock("LOCKED1", &n, &sponsor_cert, &bad)
            .await
            .unwrap_err()
            .to_string()
            .contains("does not verify")
    );
    let n = w.cards.sponsor_challenge("LOCKED1").await.unwrap();
    let u = w.cards.sponsor_unlock("LOCKED1", &n, &sponsor_cert, &sign(&n)).await.unwrap();
    assert_eq!(u.so_pin, "so-LOCKED1-pin");
    assert_eq!(w.cards.card("LOCKED1").await.unwrap().status, CardStatus::Active);
}

async fn renewal_window_remote_limit_ra_reset_and_expiry(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    issue(&w, "301", "RENEW1", "r@nhs.net").await;
    let not_after = w.cards.card("RENEW1").await.unwrap().not_after.unwrap();
    assert_eq!((not_after - NOW) / DAY, 730);
    let e = w.cards.begin_renewal("RENEW1", "1.0.0", &RenewalKind::Remote).await.unwrap_err();
    assert!(matches!(e, CardsError::RenewalNotYet { .. }), "{e}");
    let renew = |kind: RenewalKind| {
        let cards = w.cards.clone();
        async move {
            let id = cards.begin_renewal("RENEW1", "1.0.0", &kind).await?;
            cards.renew_certificate("RENEW1", id, CardKeyRole::Auth, &csr().1).await?;
            cards.renew_certificate("RENEW1", id, CardKeyRole::Sign, &csr().1).await?;
            cards.complete_renewal("RENEW1", id).await
        }
    };
    // Into the 90-day window: announced, then renewed remotely twice.
    w.clock.set(not_after - 89 * DAY);
    let v = w.cards.view("RENEW1").await.unwrap();
    assert!(v.renewal_open && v.message.contains("renew now"), "{}", v.message);
    let old = w.cards.card("RENEW1").await.unwrap();
    let after1 = renew(RenewalKind::Remote).await.unwrap();
    assert_eq!(after1.remote_renewals, 1);
    assert_ne!(after1.auth_serial, old.auth_serial);
    assert!(
        matches!(cert_status(&w, old.auth_serial.as_ref().unwrap()).await, store::CertStatus::Revoked { reason, .. } if reason == RevocationReason::Superseded.code())
    );
    w.clock.set(after1.not_after.unwrap() - 10 * DAY);
    let after2 = renew(RenewalKind::Remote).await.unwrap();
    assert_eq!(after2.remote_renewals, 2);
    // The third needs the RA; the RA renewal resets the count.
    w.clock.set(after2.not_after.unwrap() - 10 * DAY);
    let e = renew(RenewalKind::Remote).await.unwrap_err().to_string();
    assert!(e.contains("RA, in person"), "{e}");
    let after3 = renew(RenewalKind::Ra { ra: "ra:alice".into(), documents: "passport".into() }).await.unwrap();
    assert_eq!(after3.remote_renewals, 0);
    // Expired: refused remotely, allowed by the RA.
    w.clock.set(after3.not_after.unwrap() + DAY);
    let e = renew(RenewalKind::Remote).await.unwrap_err().to_string();
    assert!(e.contains("expired") && e.contains("RA"), "{e}");
    renew(RenewalKind::Ra { ra: "ra:bob".into(), documents: "passport".into() }).await.unwrap();
}

async fn an_aborted_renewal_revokes_what_it_issued_and_a_retry_succeeds(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    issue(&w, "401", "ABORT1", "a@nhs.net").await;
    let card = w.cards.card("ABORT1").await.unwrap();
    w.clock.set(card.not_after.unwrap() - 30 * DAY);
    // Server failure at the second certificate (garbage CSR), then abort.
    let id = w.cards.begin_renewal("ABORT1", "1.0.0", &RenewalKind::Remote).await.unwrap();
    let first = w.cards.renew_certificate("ABORT1", id, CardKeyRole::Auth, &csr().1).await.unwrap();
    assert!(w.cards.renew_certificate("ABORT1", id, CardKeyRole::Sign, b"garbage").await.is_err());
    w.cards.abort_renewal("ABORT1", id, "server error at the signing certificate").await.unwrap();
    assert!(matches!(cert_status(&w, &first.serial).await, store::CertStatus::Revoked { .. }));
    let same = w.cards.card("ABORT1").await.unwrap();
    assert_eq!((same.auth_serial.clone(), same.remote_renewals), (card.auth_serial.clone(), 0), "card unchanged");
    assert!(
        matches!(cert_status(&w, card.auth_serial.as_ref().unwrap()).await, store::CertStatus::Issued),
        "old still valid"
    );
    // Agent killed after the first certificate: the next attempt aborts the stale one.
    let id = w.cards.begin_renewal("ABORT1", "1.0.0", &RenewalKind::Remote).await.unwrap();
    let stale = w.cards.renew_certificate("ABORT1", id, CardKeyRole::Auth, &csr().1).await.unwrap();
    let retry = w.cards.begin_renewal("ABORT1", "1.0.0", &RenewalKind::Remote).await.unwrap();
    assert!(matches!(cert_status(&w, &stale.serial).await, store::CertStatus::Revoked { .. }));
    assert!(
        w.cards.renew_certificate("ABORT1", id, CardKeyRole::Sign, &csr().1).await.is_err(),
        "the stale attempt is over"
    );
    w.cards.renew_certificate("ABORT1", retry, CardKeyRole::Auth, &csr().1).await.unwrap();
    w.cards.renew_certificate("ABORT1", retry, CardKeyRole::Sign, &csr().1).await.unwrap();
    let done = w.cards.complete_renewal("ABORT1", retry).await.unwrap();
    assert_eq!(done.remote_renewals, 1);
}

async fn agent_version_cancellation_and_bad_input(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    w.cards.set_batch("B1", "2.0.0", "ra:alice").await.unwrap();
    w.cards.add_user("501", "Old Agent", Some("o@nhs.net"), None, None, &[], "RA1", "ra").await.unwrap();
    let e = w
        .cards
        .issue_card(IssueCard {
            uid: "501".into(),
            card_serial: "OLD1".into(),
            batch: "B1".into(),
            ra: "ra:alice".into(),
            documents: "passport".into(),
            so_pin: "12345678".into(),
            auth_csr: csr().1,
            sign_csr: csr().1,
            agent_version: "1.9.0".into(),
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("2.0.0") && e.contains("1.9.0"), "{e}");
    w.cards.set_batch("B1", "1.0.0", "ra:alice").await.unwrap();
    issue(&w, "502", "CANCEL1", "c@nhs.net").await;
    let card = w.cards.card("CANCEL1").await.unwrap();
    w.cards.cancel_card("CANCEL1", "ra:alice", RevocationReason::AffiliationChanged).await.unwrap();
    for s in [card.auth_serial.unwrap(), card.sign_serial.unwrap()] {
        assert!(matches!(cert_status(&w, &s).await, store::CertStatus::Revoked { .. }));
    }
    assert!(matches!(wrong_from(&w, "CANCEL1", &desk()).await.unwrap_err(), CardsError::Cancelled(_)));
    assert!(matches!(w.cards.send_unlock_code("CANCEL1", Channel::Sms).await.unwrap_err(), CardsError::Cancelled(_)));
    assert!(w.cards.check_passcode("12345").is_err() && w.cards.check_passcode("123456789").is_err());
    assert!(w.cards.check_passcode("12a456").is_err() && w.cards.check_passcode("123456").is_ok());
    assert!(w.cards.add_user("x1", "Bad", None, None, None, &[], "RA1", "ra").await.is_err());
}

async fn audit(w: &World) -> Vec<store::AuditEntry> {
    w.store.audit_entries(0, 100_000).await.unwrap()
}

async fn an_ra_unlock_needs_the_documents_checked(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    issue(&w, "601", "DOCS1", "d@nhs.net").await;
    for _ in 0..3 {
        let _ = wrong(&w, "DOCS1").await;
    }
    let before = audit(&w).await.len();
    for documents in ["", "   "] {
        let e = w.cards.ra_unlock("DOCS1", "ra:bob", documents).await.unwrap_err();
        assert!(matches!(e, CardsError::BadInput(InputProblem::NoDocuments)), "{e}");
        assert!(e.to_string().contains("identity documents"), "{e}");
    }
    assert_eq!(w.cards.card("DOCS1").await.unwrap().status, CardStatus::Locked, "still locked");
    assert_eq!(audit(&w).await.len(), before, "nothing recorded");
    w.cards.ra_unlock("DOCS1", "ra:bob", "passport 987").await.unwrap();
    let last = audit(&w).await.pop().unwrap();
    assert_eq!((last.actor.as_str(), last.action.as_str()), ("ra:bob", "card.unlocked"));
    assert!(last.details.contains("passport 987"), "{}", last.details);
}

async fn an_ra_renewal_records_the_ra_and_the_documents(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    issue(&w, "701", "RARENEW1", "r@nhs.net").await;
    let ra = |documents: &str| RenewalKind::Ra { ra: "ra:carol".into(), documents: documents.into() };
    w.clock.advance(DAY);
    // Without documents: refused before anything starts.
    let before = audit(&w).await.len();
    let e = w.cards.begin_renewal("RARENEW1", "1.0.0", &ra(" ")).await.unwrap_err();
    assert!(matches!(e, CardsError::BadInput(InputProblem::NoDocuments)), "{e}");
    assert_eq!(audit(&w).await.len(), before, "nothing recorded");
    // With them: the check is recorded with the RA's name and the documents, and the card
    // remembers who checked it.
    let id = w.cards.begin_renewal("RARENEW1", "1.0.0", &ra("passport 555, staff badge")).await.unwrap();
    let started = audit(&w).await.pop().unwrap();
    assert_eq!(
        (started.actor.as_str(), started.action.as_str(), started.subject.as_str()),
        ("ra:carol", "card.renewal_started", "card:RARENEW1")
    );
    assert!(started.details.contains("passport 555, staff badge"), "{}", started.details);
    let checked = w.cards.card("RARENEW1").await.unwrap();
    assert_eq!(checked.identity_checked_by.as_deref(), Some("ra:carol"), "checked when the attempt began");
    w.cards.renew_certificate("RARENEW1", id, CardKeyRole::Auth, &csr().1).await.unwrap();
    w.cards.renew_certificate("RARENEW1", id, CardKeyRole::Sign, &csr().1).await.unwrap();
    let card = w.cards.complete_renewal("RARENEW1", id).await.unwrap();
    assert_eq!(card.identity_checked_by.as_deref(), Some("ra:carol"), "not just \"ra\"");
    assert_eq!(card.identity_checked_at, Some(NOW + DAY));
    assert_eq!(card.remote_renewals, 0);
}

async fn a_card_session_acts_only_on_its_own_cards_renewals(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    issue(&w, "801", "MINE1", "m@nhs.net").await;
    issue(&w, "802", "THEIRS1", "t@nhs.net").await;
    let card = w.cards.card("MINE1").await.unwrap();
    w.clock.set(card.not_after.unwrap() - 30 * DAY);
    let id = w.cards.begin_renewal("MINE1", "1.0.0", &RenewalKind::Remote).await.unwrap();
    let before = audit(&w).await.len();
    // Another card's session: refused, whatever it asks.
    let e = w.cards.renew_certificate("THEIRS1", id, CardKeyRole::Auth, &csr().1).await.unwrap_err();
    assert!(matches!(e, CardsError::WrongCard), "{e}");
    assert_eq!(e.to_string(), "this card session belongs to another card");
    assert!(matches!(w.cards.complete_renewal("THEIRS1", id).await.unwrap_err(), CardsError::WrongCard));
    assert!(matches!(w.cards.abort_renewal("THEIRS1", id, "hijack").await.unwrap_err(), CardsError::WrongCard));
    assert_eq!(audit(&w).await.len(), before, "nothing issued, nothing aborted");
    // An unknown renewal is unknown to everyone.
    let e = w.cards.renew_certificate("MINE1", id + 100, CardKeyRole::Auth, &csr().1).await.unwrap_err();
    assert!(matches!(e, CardsError::RenewalRefused(RenewalProblem::Unknown { .. })), "{e}");
    // Its own session carries on.
    w.cards.renew_certificate("MINE1", id, CardKeyRole::Auth, &csr().1).await.unwrap();
    w.cards.renew_certificate("MINE1", id, CardKeyRole::Sign, &csr().1).await.unwrap();
    assert_eq!(w.cards.complete_renewal("MINE1", id).await.unwrap().remote_renewals, 1);
}

/// Issue 10: nobody unauthenticated locks a card. 100 reports and challenge requests from a
/// stranger never lock it; the stranger is backed off and rate-limited; reports need a
/// challenge issued to the reporter; the holder at an enrolled workstation is unaffected and
/// its three wrong passcodes still lock the card.
async fn strangers_only_throttle_and_enrolled_workstations_lock(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    issue(&w, "701", "FLOOD1", "f@nhs.net").await;
    // A report needs a challenge issued to this source for this card, and uses it.
    let e = w.cards.passcode_failed("FLOOD1", "00ff", &desk(), None).await.unwrap_err();
    assert!(matches!(e, CardsError::BadInput(InputProblem::FailureChallenge)), "{e}");
    let n = w.cards.login_challenge("FLOOD1", &desk()).await.unwrap();
    let e = w.cards.passcode_failed("FLOOD1", &n, &stranger(), None).await.unwrap_err();
    assert!(matches!(e, CardsError::BadInput(InputProblem::FailureChallenge)), "another source's challenge: {e}");
    let (mut throttled, mut refused, mut backed_off) = (0, 0, 0);
    for _ in 0..100 {
        match wrong_from(&w, "FLOOD1", &stranger()).await {
            Ok(PasscodeFailure::Throttled { retry_after }) => {
                assert_eq!(retry_after.as_secs(), 2, "first unverified failure: the base back-off");
                throttled += 1;
            }
            Ok(other) => panic!("an unverified report was counted: {other:?}"),
            Err(CardsError::Throttled { what, retry_after }) => {
                assert!(retry_after.as_millis() > 0);
                backed_off += usize::from(what == Throttle::Backoff);
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(throttled, 1, "after the first unverified failure the stranger waits (the clock stands still)");
    assert_eq!(refused, 99);
    assert!(backed_off >= 1, "the back-off is what refuses the stranger");
    let card = w.cards.card("FLOOD1").await.unwrap();
    assert_eq!((card.status, card.failed_passcodes), (CardStatus::Active, 0), "nothing counted");
    // A second stranger (another address) has its own back-off, starting short.
    let other = Source::Address("2001:db8:5:6::7".parse().unwrap());
    assert!(matches!(wrong_from(&w, "FLOOD1", &other).await.unwrap(), PasscodeFailure::Throttled { .. }));
    // Later: the back-off doubles with each failure.
    w.clock.advance(3);
    let PasscodeFailure::Throttled { retry_after } = wrong_from(&w, "FLOOD1", &stranger()).await.unwrap() else {
        panic!("not throttled")
    };
    assert_eq!(retry_after.as_secs(), 4, "second failure: 2 s doubled");
    // The holder at an enrolled workstation logs in (the stranger's flood is not theirs) and
    // a signed login ends every back-off for the card.
    let n = w.cards.login_challenge("FLOOD1", &desk()).await.unwrap();
    let e = w.cards.login_challenge("FLOOD1", &stranger()).await.unwrap_err();
    assert!(matches!(e, CardsError::Throttled { what: Throttle::Backoff, .. }), "{e}");
    w.cards.passcode_failed("FLOOD1", &n, &desk(), None).await.unwrap();
    w.cards.passcode_ok("FLOOD1").await.unwrap();
    w.cards.login_challenge("FLOOD1", &stranger()).await.unwrap();
    // Three wrong passcodes at the enrolled workstation still lock it.
    assert_eq!(wrong(&w, "FLOOD1").await, PasscodeFailure::Counted { left: 2 });
    assert_eq!(wrong(&w, "FLOOD1").await, PasscodeFailure::Counted { left: 1 });
    assert_eq!(wrong(&w, "FLOOD1").await, PasscodeFailure::Locked);
    // A token that says it locked itself, reported by an enrolled workstation, locks at once.
    issue(&w, "702", "SELF1", "s@nhs.net").await;
    let n = w.cards.login_challenge("SELF1", &desk()).await.unwrap();
    let flags = cards::TokenFlags { locked: true, ..Default::default() };
    assert_eq!(w.cards.passcode_failed("SELF1", &n, &desk(), Some(flags)).await.unwrap(), PasscodeFailure::Locked);
    // ... but from a stranger the same claim only backs the stranger off.
    issue(&w, "703", "SELF2", "t@nhs.net").await;
    let n = w.cards.login_challenge("SELF2", &stranger()).await.unwrap();
    let r = w.cards.passcode_failed("SELF2", &n, &stranger(), Some(flags)).await.unwrap();
    assert!(matches!(r, PasscodeFailure::Throttled { .. }));
    assert_eq!(w.cards.card("SELF2").await.unwrap().status, CardStatus::Active);
    // The status anyone may read says only whether the card can be used.
    let st = w.cards.state("FLOOD1").await.unwrap();
    assert_eq!(st.status, CardStatus::Locked);
    assert!(!st.message.contains("701") && !st.message.contains("tries"), "{}", st.message);
}

/// Challenges are rate-limited per card and source: a burst, then 429 with a wait.
async fn challenges_are_rate_limited_per_card_and_source(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    issue(&w, "711", "RATE1", "r@nhs.net").await;
    for _ in 0..5 {
        w.cards.login_challenge("RATE1", &stranger()).await.unwrap();
    }
    let e = w.cards.login_challenge("RATE1", &stranger()).await.unwrap_err();
    let CardsError::Throttled { what, retry_after } = e else { panic!("{e}") };
    assert_eq!((what, retry_after.as_secs()), (Throttle::CardFromSource, 5));
    // Another source, and an enrolled workstation, still get challenges.
    w.cards.login_challenge("RATE1", &Source::Address("198.51.100.1".parse().unwrap())).await.unwrap();
    w.cards.login_challenge("RATE1", &desk()).await.unwrap();
    w.clock.advance(5);
    w.cards.login_challenge("RATE1", &stranger()).await.unwrap();
    // Expired challenges are purged.
    w.clock.advance(3600);
    let before = w.store.purge_card_rows((NOW + 3605) * 1000).await.unwrap();
    assert!(before >= 8, "expired challenges and idle limits deleted: {before}");
}

/// M2: unlock-code tries are taken before the code is checked: of 20 concurrent attempts at
/// most 3 are judged, and the right code sent after them is refused; codes are sent and
/// accepted only for locked cards; sending is rate-limited.
async fn unlock_code_tries_hold_under_concurrency(engine: Engine) {
    let Some(mut w) = world(engine).await else { return };
    issue(&w, "801", "RACE1", "race@nhs.net").await;
    let e = w.cards.send_unlock_code("RACE1", Channel::Email).await.unwrap_err();
    assert!(matches!(e, CardsError::NotLocked(_)), "not locked: {e}");
    for _ in 0..3 {
        let _ = wrong(&w, "RACE1").await;
    }
    w.cards.send_unlock_code("RACE1", Channel::Email).await.unwrap();
    let code = code_in(w.mail.recv().await.unwrap()["text"].as_str().unwrap());
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let cards = w.cards.clone();
            let c = if code == format!("{i:08}") { "99999999".to_string() } else { format!("{i:08}") };
            tokio::spawn(async move { cards.unlock_with_code("RACE1", &c).await })
        })
        .collect();
    let mut judged = 0;
    let mut unjudged = 0;
    for a in attempts {
        match a.await.unwrap() {
            Err(CardsError::CodeRefused(CodeProblem::Wrong { .. } | CodeProblem::NoTriesLeft)) => judged += 1,
            Err(CardsError::CodeRefused(CodeProblem::TooManyTries)) => unjudged += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((judged, unjudged), (3, 17), "exactly the allowed tries were judged");
    let e = w.cards.unlock_with_code("RACE1", &code).await.unwrap_err();
    assert!(matches!(e, CardsError::CodeRefused(CodeProblem::TooManyTries)), "the right code after them: {e}");
    assert_eq!(w.cards.card("RACE1").await.unwrap().status, CardStatus::Locked);
    // Sending is limited per card: the burst of 2 is used by the next send.
    w.cards.send_unlock_code("RACE1", Channel::Email).await.unwrap();
    let e = w.cards.send_unlock_code("RACE1", Channel::Sms).await.unwrap_err();
    assert!(matches!(e, CardsError::Throttled { what: Throttle::CodesForCard, .. }), "{e}");
    // A code for a card that is no longer locked is refused.
    let fresh = code_in(w.mail.recv().await.unwrap()["text"].as_str().unwrap());
    w.cards.ra_unlock("RACE1", "ra:bob", "passport").await.unwrap();
    let e = w.cards.unlock_with_code("RACE1", &fresh).await.unwrap_err();
    assert!(matches!(e, CardsError::NotLocked(_)), "{e}");
}

/// The card's own PIN counter, sent with a signed login: a card on its final try after
/// failures carecert never saw (tried around the agent) is locked; the same flags after
/// failures carecert saw reported are the holder's own, and the login goes through.
async fn the_cards_own_counter_is_followed(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let final_try = Some(cards::TokenFlags { count_low: true, final_try: true, locked: false });
    let login = |serial: &'static str, key: pki::KeyPair, flags| {
        let cards = w.cards.clone();
        async move {
            let n = cards.login_challenge(serial, &desk()).await.unwrap();
            let sig = pki::Signer::sign(&key, n.as_bytes()).unwrap();
            cards.open_session(serial, &n, &sig, "1.0.0", flags).await
        }
    };
    let (key, _) = issue(&w, "901", "UNSEEN1", "u1@nhs.net").await;
    let e = login("UNSEEN1", key, final_try).await.unwrap_err();
    assert!(matches!(e, CardsError::Locked(_)), "{e}");
    assert_eq!(w.cards.card("UNSEEN1").await.unwrap().status, CardStatus::Locked);
    let (key, _) = issue(&w, "902", "SEEN1", "u2@nhs.net").await;
    for _ in 0..2 {
        let _ = wrong_from(&w, "SEEN1", &stranger()).await.unwrap();
        w.clock.advance(60);
    }
    login("SEEN1", key, final_try).await.unwrap();
    let card = w.cards.card("SEEN1").await.unwrap();
    assert_eq!((card.status, card.failed_passcodes), (CardStatus::Active, 0));
}

on_both_engines!(
    the_cards_own_counter_is_followed,
    strangers_only_throttle_and_enrolled_workstations_lock,
    challenges_are_rate_limited_per_card_and_source,
    unlock_code_tries_hold_under_concurrency,
    three_wrong_passcodes_lock_and_every_unlock_path_unlocks,
    one_time_codes_expire_refuse_brute_force_and_other_domains,
    a_sponsor_with_authority_unlocks_and_others_are_refused,
    renewal_window_remote_limit_ra_reset_and_expiry,
    an_aborted_renewal_revokes_what_it_issued_and_a_retry_succeeds,
    agent_version_cancellation_and_bad_input,
    an_ra_unlock_needs_the_documents_checked,
    an_ra_renewal_records_the_ra_and_the_documents,
    a_card_session_acts_only_on_its_own_cards_renewals,
);

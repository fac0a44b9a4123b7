//! The RA desk (issue 14) on the server side, against a real database on both engines:
//! desk tickets — what the RA recorded (holder, documents, batch) becomes a 10-minute,
//! single-use credential that issues one card and nothing else — and the RA's upkeep of a
//! holder's contact details with the unlock-code delivery log (channel, masked destination,
//! used, replaced or expired).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::sync::Arc;

use ca::{Authority, AuthorityConfig, InitOptions, ManualClock};
use cards::{
    Cards, CardsConfig, CardsError, Channel, Contact, DeskCheck, DeskProblem, IssueCard, Messenger, SendFuture, Source,
};
use testkit::{DbGuard, Engine, database, on_both_engines};
use tokio::sync::mpsc;

const PASS: &[u8] = b"test passphrase";
const NOW: i64 = 1_795_000_000;

struct Capture(mpsc::UnboundedSender<serde_json::Value>);

impl Messenger for Capture {
    fn send<'a>(&'a self, channel: Channel, to: &'a str, _subject: &'a str, text: &'a str) -> SendFuture<'a> {
        let m = serde_json::json!({"channel": channel.as_str(), "to": to, "text": text});
        Box::pin(async move {
            self.0.send(m).unwrap();
            Ok(())
        })
    }
}

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
        mailer: Some(Arc::new(Capture(mail_tx))),
        texter: Some(Arc::new(Capture(text_tx))),
        ..Default::default()
    };
    let cards = Cards::new(store.clone(), authority, Arc::new(clock.clone()), config, PASS).unwrap();
    Some(World { _dir: dir, _db: guard, clock, cards, store, mail, texts })
}

async fn add_user(w: &World, uid: &str) {
    w.cards
        .add_user(uid, &format!("Holder {uid}"), Some("us@nhs.net"), None, None, &[], "RA1", "ra:test")
        .await
        .unwrap();
}

fn csr() -> Vec<u8> {
    pki::KeyPair::generate(pki::KeyAlgorithm::EcdsaP256).unwrap().csr_der("card").unwrap()
}

fn card(uid: &str, serial: &str, documents: &str) -> IssueCard {
    IssueCard {
        uid: uid.into(),
        card_serial: serial.into(),
        batch: "B1".into(),
        ra: String::new(),
        documents: documents.into(),
        so_pin: format!("so-{serial}-pin"),
        auth_csr: csr(),
        sign_csr: csr(),
        agent_version: "1.0.0".into(),
    }
}

fn check(uid: &str) -> DeskCheck {
    DeskCheck {
        uid: uid.into(),
        documents: "passport; other: no. 123456".into(),
        batch: "B1".into(),
        ra_account: "alice".into(),
        ra_actor: "ra:alice".into(),
        ra_name: "Alice Archer".into(),
    }
}

fn problem(e: CardsError) -> DeskProblem {
    match e {
        CardsError::DeskTicket(p) => p,
        other => panic!("expected a desk-ticket refusal, got {other}"),
    }
}

/// A desk ticket records the identity check in the audit log with the RA's name, is stored
/// only as a hash, issues exactly one card for its holder, documents and batch, and is
/// refused afterwards, for another scope, while in use, and after 10 minutes.
async fn desk_tickets_issue_one_card_in_their_scope(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    add_user(&w, "901").await;
    add_user(&w, "902").await;
    let docs = "passport; other: no. 123456";

    let t = w.cards.mint_desk_ticket(check("901")).await.unwrap();
    assert!(t.token.starts_with("desk-") && t.token.len() > 60, "{}", t.token);
    assert_eq!(t.ticket.expires_at - t.ticket.created_at, 600);
    assert_ne!(t.ticket.token_sha256, t.token, "stored as a hash only");
    let audit = w.store.recent_audit_entries(10).await.unwrap();
    let e = audit.iter().find(|e| e.action == "card.identity_checked").expect("the identity check is audited");
    assert_eq!((e.actor.as_str(), e.subject.as_str()), ("ra:alice", "user:901"));
    assert!(e.details.contains("passport; other: no. 123456"), "{}", e.details);
    assert!(e.details.contains("Alice Archer"), "the RA's name: {}", e.details);

    // Another holder, other documents, another batch: refused, and the ticket still works.
    let p = problem(w.cards.claim_desk_ticket(&t.token, "902", docs, "B1").await.unwrap_err());
    assert!(matches!(p, DeskProblem::Scope { .. }), "{p}");
    let p = problem(w.cards.claim_desk_ticket(&t.token, "901", "driving licence", "B1").await.unwrap_err());
    assert!(matches!(p, DeskProblem::Scope { .. }), "{p}");
    let p = problem(w.cards.claim_desk_ticket(&t.token, "901", docs, "B2").await.unwrap_err());
    assert!(matches!(p, DeskProblem::Scope { .. }), "{p}");
    let p = problem(w.cards.claim_desk_ticket("desk-00", "901", docs, "B1").await.unwrap_err());
    assert!(matches!(p, DeskProblem::Unknown), "{p}");

    // A failed issue (a CSR that cannot be read) gives the ticket back.
    let claimed = w.cards.claim_desk_ticket(&t.token, "901", docs, "B1").await.unwrap();
    let p = problem(w.cards.claim_desk_ticket(&t.token, "901", docs, "B1").await.unwrap_err());
    assert!(matches!(p, DeskProblem::InUse), "one presentation at a time: {p}");
    let mut bad = card("901", "DESK1", docs);
    bad.auth_csr = b"not a csr".to_vec();
    w.cards.issue_with_ticket(&claimed, bad).await.unwrap_err();
    assert!(w.store.card("DESK1").await.unwrap().is_none(), "nothing was made");

    let claimed = w.cards.claim_desk_ticket(&t.token, "901", docs, "B1").await.unwrap();
    w.cards.issue_with_ticket(&claimed, card("901", "DESK1", "ignored: the ticket's documents count")).await.unwrap();
    let issued = w.store.card("DESK1").await.unwrap().unwrap();
    assert_eq!(issued.identity_checked_by.as_deref(), Some("ra:alice"), "the card names the RA of the check");
    let p = problem(w.cards.claim_desk_ticket(&t.token, "901", docs, "B1").await.unwrap_err());
    assert!(matches!(p, DeskProblem::Used), "single use: {p}");
    let row = w.cards.desk_ticket(&t.token).await.unwrap().unwrap();
    assert_eq!(row.card_serial.as_deref(), Some("DESK1"));

    // Ten minutes later a ticket is dead.
    let t2 = w.cards.mint_desk_ticket(check("901")).await.unwrap();
    w.clock.advance(601);
    let p = problem(w.cards.claim_desk_ticket(&t2.token, "901", docs, "B1").await.unwrap_err());
    assert!(matches!(p, DeskProblem::Expired), "{p}");

    // Nothing is minted without documents or with a bad batch.
    let mut c = check("901");
    c.documents = "  ".into();
    assert!(matches!(w.cards.mint_desk_ticket(c).await.unwrap_err(), CardsError::BadInput(_)));
    let mut c = check("901");
    c.batch = "a b".into();
    assert!(matches!(problem(w.cards.mint_desk_ticket(c).await.unwrap_err()), DeskProblem::Batch(_)));
    assert!(matches!(w.cards.mint_desk_ticket(check("999")).await.unwrap_err(), CardsError::UnknownUser(_)));
}

/// The RA changes a holder's contact details (validated, audited); codes then go to the new
/// landline by text-to-voice, and the delivery log shows each code's channel, masked
/// destination and whether it was used, replaced by a newer one, or expired.
async fn contact_details_and_the_code_delivery_log(engine: Engine) {
    let Some(mut w) = world(engine).await else { return };
    add_user(&w, "911").await;
    let issue = w.cards.mint_desk_ticket(check("911")).await.unwrap();
    let t = w.cards.claim_desk_ticket(&issue.token, "911", "passport; other: no. 123456", "B1").await.unwrap();
    w.cards.issue_with_ticket(&t, card("911", "LOG1", "")).await.unwrap();

    let bad = |mobile: &str, landline: Option<&str>, voice: bool| Contact {
        email: Some("us@nhs.net".into()),
        mobile: Some(mobile.into()),
        landline: landline.map(str::to_string),
        landline_voice: voice,
    };
    let p = problem(w.cards.update_contact("911", bad("call me", None, false), "ra:alice").await.unwrap_err());
    assert!(matches!(p, DeskProblem::Phone { what: "mobile", .. }), "{p}");
    let p = problem(w.cards.update_contact("911", bad("07700 900982", None, true), "ra:alice").await.unwrap_err());
    assert!(matches!(p, DeskProblem::VoiceWithoutLandline), "{p}");
    let e = w
        .cards
        .update_contact("911", Contact { email: Some("nobody".into()), ..Default::default() }, "ra:alice")
        .await
        .unwrap_err();
    assert!(matches!(e, CardsError::BadInput(_)), "{e}");
    let u = w.cards.user("911").await.unwrap();
    assert_eq!((u.mobile, u.landline), (None, None), "a refused change changes nothing");

    w.cards.update_contact("911", bad("07700 900982", Some("0113 496 0000"), true), "ra:alice").await.unwrap();
    let u = w.cards.user("911").await.unwrap();
    assert_eq!(u.landline.as_deref(), Some("0113 496 0000"));
    assert!(u.landline_voice);
    let audit = w.store.recent_audit_entries(5).await.unwrap();
    let e = audit.iter().find(|e| e.action == "user.contact_changed").expect("audited");
    assert_eq!(e.actor, "ra:alice");
    assert!(e.details.contains("landline_voice") && e.details.contains("mobile"), "{}", e.details);

    // Lock the card from an enrolled workstation, then send a code by voice, then by email.
    let ws = Source::Workstation("0A1B".into());
    for _ in 0..3 {
        let n = w.cards.login_challenge("LOG1", &ws).await.unwrap();
        w.cards.passcode_failed("LOG1", &n, &ws, None).await.unwrap();
    }
    assert_eq!(w.cards.send_unlock_code("LOG1", Channel::Voice).await.unwrap(), "**********000");
    assert_eq!(w.texts.recv().await.unwrap()["to"], "0113 496 0000");
    w.clock.advance(1);
    assert_eq!(w.cards.send_unlock_code("LOG1", Channel::Email).await.unwrap(), "us***@nhs.net");
    let mail = w.mail.recv().await.unwrap();
    let text = mail["text"].as_str().unwrap();
    let code = &text[text.find("code is ").unwrap() + 8..][..8];

    let log = w.cards.code_deliveries("LOG1").await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].channel.as_str(), log[0].sent_to.as_str()), ("email", "us***@nhs.net"));
    assert!(log[0].used_at.is_none() && log[0].superseded_at.is_none(), "the newest is waiting");
    assert_eq!((log[1].channel.as_str(), log[1].sent_to.as_str()), ("voice", "**********000"));
    assert!(log[1].superseded_at.is_some() && log[1].used_at.is_none(), "the older was replaced, not used");

    w.cards.unlock_with_code("LOG1", code).await.unwrap();
    let log = w.cards.code_deliveries("LOG1").await.unwrap();
    assert!(log[0].used_at.is_some(), "used");

    // Expired codes stay in the log (their hash is cleared by the purge).
    w.clock.advance(3600);
    w.store.purge_card_rows((NOW + 3601) * 1000).await.unwrap();
    assert_eq!(w.cards.code_deliveries("LOG1").await.unwrap().len(), 2);
}

/// An in-person renewal ticket (purpose `renew`) records the identity check with the RA's
/// name, starts one RA renewal of exactly its card — also for an expired card, which the
/// holder cannot renew remotely — and nothing else: not another card, not a card issue, not
/// twice, not after 10 minutes; an issue ticket cannot start a renewal.
async fn renewal_tickets_renew_their_card_once(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    add_user(&w, "911").await;
    let docs = "passport; other: no. 123456";
    for serial in ["REN1", "REN2"] {
        w.cards.issue_card(IssueCard { ra: "ra:bob".into(), ..card("911", serial, "licence") }).await.unwrap();
    }

    let t = w.cards.mint_desk_renewal_ticket("REN1", check("911")).await.unwrap();
    assert_eq!(t.ticket.purpose, "renew");
    assert_eq!(t.ticket.card_serial.as_deref(), Some("REN1"));
    assert_eq!(t.ticket.expires_at - t.ticket.created_at, 600);
    let audit = w.store.recent_audit_entries(10).await.unwrap();
    let e = audit.iter().find(|e| e.action == "card.identity_checked").expect("the identity check is audited");
    assert_eq!((e.actor.as_str(), e.subject.as_str()), ("ra:alice", "card:REN1"));
    assert!(e.details.contains("Alice Archer") && e.details.contains("renew"), "{}", e.details);

    // Another card, or issuing a card: refused, and the ticket still works.
    let p = problem(w.cards.claim_desk_renewal(&t.token, "REN2").await.unwrap_err());
    assert!(matches!(p, DeskProblem::RenewScope { .. }), "{p}");
    let p = problem(w.cards.claim_desk_ticket(&t.token, "911", docs, "B1").await.unwrap_err());
    assert!(matches!(p, DeskProblem::Scope { .. }), "a renewal ticket issues no card: {p}");
    // An issue ticket starts no renewal.
    let it = w.cards.mint_desk_ticket(check("911")).await.unwrap();
    let p = problem(w.cards.claim_desk_renewal(&it.token, "REN1").await.unwrap_err());
    assert!(matches!(p, DeskProblem::RenewScope { .. }), "{p}");

    // The card has expired: the holder cannot renew it remotely, the RA's ticket can.
    let not_after = w.store.card("REN1").await.unwrap().unwrap().not_after.unwrap();
    w.clock.advance(not_after - NOW + 60);
    let remote = w.cards.begin_renewal("REN1", "1.0.0", &cards::RenewalKind::Remote).await.unwrap_err();
    assert!(matches!(remote, CardsError::NeedsRa(_)), "{remote}");
    let t = w.cards.mint_desk_renewal_ticket("REN1", check("911")).await.unwrap();
    let claimed = w.cards.claim_desk_renewal(&t.token, "REN1").await.unwrap();
    let p = problem(w.cards.claim_desk_renewal(&t.token, "REN1").await.unwrap_err());
    assert!(matches!(p, DeskProblem::InUse), "one presentation at a time: {p}");
    let id = w.cards.begin_renewal_with_ticket(&claimed, "1.0.0").await.unwrap();
    assert!(id > 0);
    let renewed = w.store.card("REN1").await.unwrap().unwrap();
    assert_eq!(renewed.identity_checked_by.as_deref(), Some("ra:alice"), "the renewal names the RA of the check");
    let p = problem(w.cards.claim_desk_renewal(&t.token, "REN1").await.unwrap_err());
    assert!(matches!(p, DeskProblem::Used), "single use: {p}");

    // Ten minutes later a ticket is dead; a cancelled card gets none.
    let t2 = w.cards.mint_desk_renewal_ticket("REN2", check("911")).await.unwrap();
    w.clock.advance(601);
    let p = problem(w.cards.claim_desk_renewal(&t2.token, "REN2").await.unwrap_err());
    assert!(matches!(p, DeskProblem::Expired), "{p}");
    w.cards.cancel_card("REN2", "ra:bob", pki::RevocationReason::parse("affiliationChanged").unwrap()).await.unwrap();
    let e = w.cards.mint_desk_renewal_ticket("REN2", check("911")).await.unwrap_err();
    assert!(matches!(e, CardsError::Cancelled(_)), "{e}");
    let mut c = check("911");
    c.documents = " ".into();
    assert!(matches!(w.cards.mint_desk_renewal_ticket("REN1", c).await.unwrap_err(), CardsError::BadInput(_)));
}

on_both_engines!(
    desk_tickets_issue_one_card_in_their_scope,
    renewal_tickets_renew_their_card_once,
    contact_details_and_the_code_delivery_log
);

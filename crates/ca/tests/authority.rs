//! The authority against a real SQLite database: issuance order, validity under an injected
//! clock, and revocation seen by a second node.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::sync::Arc;
use std::time::Duration;

use ca::{Authority, AuthorityConfig, Clock, InitOptions, IssueRequest, ManualClock, RevokeRequest};
use der::{Decode, Encode};
use pki::{Profile, RevocationReason, SubjectName};
use store::{CertStatus, Store};
use x509_ocsp::builder::OcspRequestBuilder;
use x509_ocsp::{BasicOcspResponse, CertStatus as OcspCertStatus, OcspResponse, Request};

const PASS: &[u8] = b"test passphrase";
const NOW: i64 = 1_795_000_000; // 2026-11-17

async fn fresh(dir: &tempfile::TempDir) -> (Store, String) {
    let url = format!("sqlite://{}/ca.db", dir.path().display());
    let store = Store::open(&url).await.unwrap();
    let opts = InitOptions {
        passphrase: PASS.to_vec(),
        public_url: "http://ca.test".into(),
        key_algorithm: pki::KeyAlgorithm::EcdsaP256,
        organization: "Test".into(),
        actor: "test".into(),
    };
    ca::init_hierarchy(&store, &ManualClock::new(NOW), &opts).await.unwrap();
    (store, url)
}

async fn node(store: Store, clock: Arc<dyn Clock>) -> Authority {
    let config = AuthorityConfig { poll_interval: Duration::from_millis(100), ..Default::default() };
    Authority::load(store, PASS, clock, config).await.unwrap()
}

fn csr() -> Vec<u8> {
    let key = rcgen_key();
    rcgen::CertificateParams::new(vec![]).unwrap().serialize_request(&key).unwrap().der().to_vec()
}

fn rcgen_key() -> rcgen::KeyPair {
    rcgen::KeyPair::generate().unwrap()
}

fn request(profile: Profile, ca: &str) -> IssueRequest {
    IssueRequest {
        ca: ca.into(),
        profile,
        csr: ca::VerifiedCsr::parse(&csr()).unwrap(),
        subject: SubjectName::cn("Pharmacy"),
        sans: vec![],
        validity_days: None,
        actor: "test".into(),
    }
}

fn ocsp_request(issuer_der: &[u8], cert_der: &[u8]) -> Vec<u8> {
    let issuer = x509_cert::Certificate::from_der(issuer_der).unwrap();
    let cert = x509_cert::Certificate::from_der(cert_der).unwrap();
    OcspRequestBuilder::default()
        .with_request(Request::from_cert::<sha1::Sha1>(&issuer, &cert).unwrap())
        .build()
        .to_der()
        .unwrap()
}

fn status_in(response: &[u8]) -> OcspCertStatus {
    let resp = OcspResponse::from_der(response).unwrap();
    let basic = BasicOcspResponse::from_der(resp.response_bytes.unwrap().response.as_bytes()).unwrap();
    basic.tbs_response_data.responses[0].cert_status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validity_comes_from_the_profile_and_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh(&dir).await;
    let clock = ManualClock::new(NOW);
    let a = node(store, Arc::new(clock.clone())).await;
    let issued = a.issue(request(Profile::SystemClient, "systems")).await.unwrap();
    assert_eq!(issued.not_before, NOW - 60, "one minute back-dated for clock skew");
    assert_eq!(issued.not_after, NOW + 365 * 86_400);
    let card = a.issue(request(Profile::CardAuth, "smartcards")).await.unwrap();
    assert_eq!(card.not_after, NOW + 730 * 86_400, "card certificates are valid two years");
    // A profile the CA does not issue is refused before anything is stored.
    let err = a.issue(request(Profile::CardAuth, "systems")).await.unwrap_err();
    assert!(err.to_string().contains("does not issue 'card-auth'"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_storage_step_leaves_no_signed_certificate_unrecorded() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = fresh(&dir).await;
    let a = node(store.clone(), Arc::new(ManualClock::new(NOW))).await;
    let before = store.certificate_counts().await.unwrap();
    // Break the storage step on purpose. The CA key is in this process, so reservation and
    // signed DER are written together after signing (ARCHITECTURE.md, "Issuance throughput"):
    // that one write fails.
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("CREATE TRIGGER break_completion BEFORE INSERT ON certificates BEGIN SELECT RAISE(ABORT, 'injected fault'); END")
        .execute(&raw)
        .await
        .unwrap();
    let audit_before = store.verify_audit().await.unwrap().entries;
    let err = a.issue(request(Profile::SystemClient, "systems")).await.unwrap_err();
    assert!(matches!(err, ca::CaError::Store(_)), "{err}");
    // Nothing was handed out and nothing is recorded: no row in any state, no audit entry.
    assert_eq!(store.certificate_counts().await.unwrap(), before);
    assert_eq!(store.verify_audit().await.unwrap().entries, audit_before);
    // Repair the database and the same authority issues again.
    sqlx::query("DROP TRIGGER break_completion").execute(&raw).await.unwrap();
    a.issue(request(Profile::SystemClient, "systems")).await.unwrap();
    assert!(store.verify_audit().await.unwrap().first_broken.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_node_reaches_the_other_nodes_ocsp_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let (store_a, url) = fresh(&dir).await;
    let store_b = Store::open(&url).await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(NOW));
    let a = node(store_a.clone(), clock.clone()).await;
    let b = node(store_b, clock.clone()).await;
    let _m = b.spawn_maintenance();
    let issued = a.issue(request(Profile::SystemClient, "systems")).await.unwrap();
    let systems = a.ca_certificates().into_iter().find(|(n, _, _)| n == "systems").unwrap().2;
    let req = ocsp_request(&systems, &issued.der);
    assert!(matches!(status_in(&b.ocsp(&req).await.der), OcspCertStatus::Good(_)));
    // Node B now holds a cached "good" answer.
    assert!(b.ocsp(&req).await.max_age.is_some());

    let revoked = a
        .revoke(RevokeRequest {
            ca: None,
            serial: issued.serial.clone(),
            reason: RevocationReason::KeyCompromise,
            actor: "t".into(),
        })
        .await
        .unwrap();
    assert!(matches!(status_in(&a.ocsp(&req).await.der), OcspCertStatus::Revoked(_)));
    // A's CRL already lists it.
    let crl = a.crl("systems").unwrap();
    assert_eq!(crl.crl_number, revoked.crl_number);
    assert_eq!(crl.entries, 1);

    let mut seen = false;
    for _ in 0..20 {
        if matches!(status_in(&b.ocsp(&req).await.der), OcspCertStatus::Revoked(_)) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "node B must drop its cached good answer within a second");
    // And B serves A's newer CRL.
    for _ in 0..20 {
        if b.crl("systems").unwrap().crl_number >= revoked.crl_number {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(b.crl("systems").unwrap().crl_number >= revoked.crl_number);
    let rec = store_a.certificate("systems", &issued.serial).await.unwrap().unwrap();
    assert!(matches!(rec.status, CertStatus::Revoked { reason: 1, .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_twice_changes_nothing_and_a_wrong_passphrase_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh(&dir).await;
    let opts = InitOptions {
        passphrase: PASS.to_vec(),
        public_url: "http://x".into(),
        key_algorithm: pki::KeyAlgorithm::EcdsaP256,
        organization: "x".into(),
        actor: "t".into(),
    };
    let err = ca::init_hierarchy(&store, &ca::SystemClock, &opts).await.unwrap_err();
    assert!(matches!(err, ca::CaError::AlreadyInitialised));
    let err =
        Authority::load(store, b"wrong", Arc::new(ca::SystemClock), AuthorityConfig::default()).await.unwrap_err();
    assert!(err.to_string().contains("passphrase is wrong"), "{err}");
}

#[test]
fn unknown_ca_names_only_what_exists() {
    let m = ca::CaError::UnknownCa("sytems".into()).to_string();
    assert!(m.contains("'sytems'") && m.contains("GET /ca"), "{m}");
    assert!(!m.contains("carecert admin ca"), "no such command exists: {m}");
}

#[tokio::test]
async fn issuance_takes_a_verified_csr_and_refuses_a_wrong_profile_before_signing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh(&dir).await;
    let authority = node(store.clone(), Arc::new(ManualClock::new(NOW))).await;
    // Garbage never becomes an IssueRequest: parsing is the only way to get a VerifiedCsr.
    assert!(ca::VerifiedCsr::parse(b"not a csr").is_err());
    let before =
        store.certificates(&store::CertificateFilter { limit: 1000, ..Default::default() }).await.unwrap().len();
    let e = authority.issue(request(Profile::CardAuth, "systems")).await.unwrap_err();
    assert!(matches!(e, ca::CaError::ProfileNotAllowed { .. }), "{e}");
    let after =
        store.certificates(&store::CertificateFilter { limit: 1000, ..Default::default() }).await.unwrap().len();
    assert_eq!(before, after, "nothing reserved");
    let issued = authority.issue(request(Profile::SystemClient, "systems")).await.unwrap();
    assert_eq!(issued.issuer, "systems");
}

/// The serials (upper-case hex) a DER CRL lists.
fn crl_serials(der: &[u8]) -> std::collections::BTreeSet<String> {
    let crl = x509_cert::crl::CertificateList::from_der(der).unwrap();
    crl.tbs_cert_list
        .revoked_certificates
        .unwrap_or_default()
        .iter()
        .map(|r| hex::encode_upper(r.serial_number.as_bytes()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crl_from_the_kept_list_holds_every_nodes_revocations_and_drops_expired_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (store_a, url) = fresh(&dir).await;
    let clock = ManualClock::new(NOW);
    let a = node(store_a, Arc::new(clock.clone())).await;
    let b = node(Store::open(&url).await.unwrap(), Arc::new(clock.clone())).await;
    let short = |mut r: IssueRequest| {
        r.validity_days = Some(2);
        r
    };
    let c1 = a.issue(request(Profile::SystemClient, "systems")).await.unwrap();
    let c2 = a.issue(request(Profile::SystemClient, "systems")).await.unwrap();
    let c3 = a.issue(request(Profile::SystemClient, "systems")).await.unwrap();
    let brief = a.issue(short(request(Profile::SystemClient, "systems"))).await.unwrap();
    let revoke = |node: &Authority, serial: &str| {
        let (node, serial) = (node.clone(), serial.to_string());
        async move {
            node.revoke(RevokeRequest {
                ca: Some("systems".into()),
                serial,
                reason: RevocationReason::Superseded,
                actor: "t".into(),
            })
            .await
            .unwrap()
        }
    };
    // A's first publication reads the whole list; the later ones only what came after it,
    // including what node B revoked meanwhile.
    revoke(&a, &c1.serial).await;
    revoke(&b, &c2.serial).await;
    revoke(&b, &brief.serial).await;
    let last = revoke(&a, &c3.serial).await;
    let crl = a.crl("systems").unwrap();
    assert_eq!(crl.crl_number, last.crl_number);
    let all: std::collections::BTreeSet<String> =
        [&c1, &c2, &c3, &brief].iter().map(|c| c.serial.to_uppercase()).collect();
    assert_eq!(crl_serials(&crl.der), all);
    assert_eq!(crl.entries, 4);

    // Three days on, the two-day certificate has expired and leaves the list.
    clock.advance(3 * 86_400);
    let n = a.publish_crl("systems").await.unwrap();
    let crl = a.crl("systems").unwrap();
    assert_eq!(crl.crl_number, n);
    let mut left = all.clone();
    left.remove(&brief.serial.to_uppercase());
    assert_eq!(crl_serials(&crl.der), left);
    assert_eq!(crl.entries, 3);

    // A node that reads the whole list afresh publishes the same entries.
    let c = node(Store::open(&url).await.unwrap(), Arc::new(clock.clone())).await;
    c.publish_crl("systems").await.unwrap();
    assert_eq!(crl_serials(&c.crl("systems").unwrap().der), left);
}

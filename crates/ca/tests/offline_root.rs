//! The offline root, rotation of an issuing CA and responder renewal, in process on both
//! engines: the root's answers come only from what it pre-signed, `systems` rotates to
//! `systems-2` with the old CA still answering, and a responder near its end renews itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::sync::Arc;
use std::time::Duration;

use ca::offline::RootLedger;
use ca::{
    Authority, AuthorityConfig, CaError, FileKeys, InitOptions, IssueRequest, KeyPlacement, KeyStore, ManualClock,
    RevokeRequest,
};
use der::{Decode, Encode};
use pki::{CaIdentity, KeyPair, Profile, RevocationReason, SubjectName};
use store::Store;
use testkit::{Engine, database, on_both_engines};
use x509_ocsp::builder::OcspRequestBuilder;
use x509_ocsp::{BasicOcspResponse, CertStatus as OcspCertStatus, OcspResponse, OcspResponseStatus, Request};

const PASS: &[u8] = b"test passphrase";
const NOW: i64 = 1_795_000_000;
const DAY: i64 = 86_400;

fn request(ca: &str) -> IssueRequest {
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(vec![]).unwrap().serialize_request(&key).unwrap().der().to_vec();
    IssueRequest {
        ca: ca.into(),
        profile: Profile::SystemClient,
        csr: ca::VerifiedCsr::parse(&csr).unwrap(),
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

/// The status in a successful response, and the responder certificate it carries.
fn answer(response: &[u8]) -> (OcspCertStatus, Vec<u8>) {
    let resp = OcspResponse::from_der(response).unwrap();
    assert_eq!(resp.response_status, OcspResponseStatus::Successful);
    let basic = BasicOcspResponse::from_der(resp.response_bytes.unwrap().response.as_bytes()).unwrap();
    let signer = basic.certs.unwrap()[0].to_der().unwrap();
    (basic.tbs_response_data.responses[0].cert_status, signer)
}

fn status(response: &[u8]) -> OcspResponseStatus {
    OcspResponse::from_der(response).unwrap().response_status
}

fn cert_of(a: &Authority, name: &str) -> Vec<u8> {
    a.ca_certificates().into_iter().find(|(n, _, _)| n == name).unwrap().2
}

async fn load(store: &Store, clock: &ManualClock) -> Authority {
    let config = AuthorityConfig { poll_interval: Duration::from_millis(50), ..Default::default() };
    Authority::load(store.clone(), PASS, Arc::new(clock.clone()), config).await.unwrap()
}

async fn offline_root_rotation_and_renewal(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = database(engine, &dir) else { return };
    let store = Store::open(&url).await.unwrap();
    let clock = ManualClock::new(NOW);
    let opts = InitOptions {
        passphrase: PASS.to_vec(),
        public_url: "http://ca.test".into(),
        key_algorithm: pki::KeyAlgorithm::EcdsaP256,
        organization: "Test".into(),
        actor: "test".into(),
    };
    let keys: Arc<dyn KeyStore> = Arc::new(FileKeys::new(PASS));
    let placement = KeyPlacement { keys: keys.clone(), offline_root: Some(keys.clone()), presign_days: 3 };
    let report = ca::init_hierarchy_with(&store, &clock, &opts, &placement).await.unwrap();

    // The database has no root key; the report hands it over for the offline machine.
    let root_rec = store.cas().await.unwrap().into_iter().find(|c| c.parent.is_none()).unwrap();
    assert_eq!(root_rec.key_ref, ca::OFFLINE_KEY);
    let root_key = KeyPair::from_pem(report.root_key_ref.as_deref().unwrap(), Some(PASS)).unwrap();
    let root = CaIdentity::new("root", root_rec.cert_der.clone(), root_key.into_signer()).unwrap();

    let a = load(&store, &clock).await;
    let root_der = cert_of(&a, "root");
    let systems_der = cert_of(&a, "systems");
    // The root's answer about `systems` is the pre-signed one; the ARL is there.
    let (st, signer) = answer(&a.ocsp(&ocsp_request(&root_der, &systems_der)).await.der);
    assert!(matches!(st, OcspCertStatus::Good(_)));
    assert_eq!(signer, root_der);
    assert_eq!(a.crl("root").unwrap().crl_number, 1);
    // Nothing is signed with the root on line.
    assert!(matches!(a.issue(request("root")).await, Err(CaError::Offline(_))));
    assert!(matches!(a.publish_crl("root").await, Err(CaError::Offline(_))));
    // Past the pre-signed period: tryLater, never an answer signed here.
    clock.advance(5 * DAY);
    let a2 = load(&store, &clock).await;
    assert_eq!(status(&a2.ocsp(&ocsp_request(&root_der, &systems_der)).await.der), OcspResponseStatus::TryLater);
    clock.set(NOW);

    // Rotation: a key for systems-2, signed by the offline root, imported with its responder.
    let old = a.issue(request("systems")).await.unwrap();
    assert_eq!(old.issuer, "systems");
    let (req, key_ref) = ca::offline::request_intermediate(&store, keys.as_ref(), "systems").await.unwrap();
    assert_eq!(req.name, "systems-2");
    let mut ledger = RootLedger::new("Test", "http://ca.test");
    for (name, der) in &report.intermediates {
        ledger.add(name, der).unwrap();
    }
    ledger.crl_number = 1;
    let now = time::OffsetDateTime::from_unix_timestamp(NOW).unwrap();
    ledger.sign_intermediate(&root, &req, now).unwrap();
    let bundle = ledger.presign(&root, now, 3).unwrap();
    let added = ca::offline::import_bundle(
        &store,
        &clock,
        keys.clone(),
        &bundle,
        &|n: &str| (n == "systems-2").then(|| key_ref.clone()),
        "test",
    )
    .await
    .unwrap();
    assert_eq!(added, vec!["systems-2".to_string()]);
    // A bundle from another root is refused.
    let mut foreign = bundle.clone();
    foreign.root = hex::encode(b"another root");
    assert!(ca::offline::import_presigned(&store, &clock, &foreign, "test").await.is_err());

    let b = load(&store, &clock).await;
    let new = b.issue(request("systems")).await.unwrap();
    assert_eq!(new.issuer, "systems-2");
    assert_eq!(b.issuing_ca("systems").unwrap(), "systems-2");
    let systems2_der = cert_of(&b, "systems-2");
    for (issuer, cert) in [(&systems_der, &old.der), (&systems2_der, &new.der)] {
        assert!(matches!(answer(&b.ocsp(&ocsp_request(issuer, cert)).await.der).0, OcspCertStatus::Good(_)));
    }
    for serial in [&old.serial, &new.serial] {
        let r = RevokeRequest {
            ca: Some("systems".into()),
            serial: serial.clone(),
            reason: RevocationReason::Superseded,
            actor: "test".into(),
        };
        b.revoke(r).await.unwrap();
    }
    for (issuer, cert) in [(&systems_der, &old.der), (&systems2_der, &new.der)] {
        assert!(matches!(answer(&b.ocsp(&ocsp_request(issuer, cert)).await.der).0, OcspCertStatus::Revoked(_)));
    }
    assert!(matches!(answer(&b.ocsp(&ocsp_request(&root_der, &systems2_der)).await.der).0, OcspCertStatus::Good(_)));
    assert_eq!(b.crl("root").unwrap().crl_number, 2);

    // 340 days on, maintenance renews the responders (a new key and certificate) and the
    // answers are signed by the new one.
    let before = b.responder_certificate("systems").unwrap().unwrap();
    clock.advance(340 * DAY);
    let maintenance = b.spawn_maintenance();
    let started = std::time::Instant::now();
    while b.responder_certificate("systems").unwrap().unwrap() == before {
        assert!(started.elapsed() < Duration::from_secs(20), "the responder was not renewed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    maintenance.abort();
    let renewed = b.responder_certificate("systems").unwrap().unwrap();
    let info = pki::CertificateInfo::parse(&renewed).unwrap();
    assert!(info.not_after > NOW + 340 * DAY + 300 * DAY, "{}", info.not_after);
    let fresh = b.issue(request("systems-2")).await.unwrap();
    let (_, signer) = answer(&b.ocsp(&ocsp_request(&systems2_der, &fresh.der)).await.der);
    assert_eq!(signer, b.responder_certificate("systems-2").unwrap().unwrap());
    let (st, signer) = answer(&b.ocsp(&ocsp_request(&systems_der, &old.der)).await.der);
    assert!(matches!(st, OcspCertStatus::Revoked(_)));
    assert_eq!(signer, renewed);
    // Another node takes over the renewed responder from the database.
    let c = load(&store, &clock).await;
    assert_eq!(c.responder_certificate("systems").unwrap().unwrap(), renewed);
}

on_both_engines!(offline_root_rotation_and_renewal);

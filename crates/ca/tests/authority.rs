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
    node_with(store, clock, ca::DEFAULT_CRL_SHARDS).await
}

async fn node_with(store: Store, clock: Arc<dyn Clock>, crl_shards: u16) -> Authority {
    let config = AuthorityConfig { poll_interval: Duration::from_millis(100), crl_shards, ..Default::default() };
    Authority::load(store, PASS, clock, config).await.unwrap()
}

/// The one URI of a certificate's CRL distribution point.
fn cdp_of(cert_der: &[u8]) -> String {
    use x509_cert::ext::pkix::CrlDistributionPoints;
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    let cert = x509_cert::Certificate::from_der(cert_der).unwrap();
    let ext = cert
        .tbs_certificate
        .extensions
        .unwrap()
        .into_iter()
        .find(|e| e.extn_id == <CrlDistributionPoints as der::oid::AssociatedOid>::OID)
        .unwrap();
    let points = CrlDistributionPoints::from_der(ext.extn_value.as_bytes()).unwrap();
    let Some(DistributionPointName::FullName(names)) = &points.0[0].distribution_point else { panic!("no fullName") };
    let [GeneralName::UniformResourceIdentifier(uri)] = names.as_slice() else { panic!("{names:?}") };
    uri.to_string()
}

/// The URI a CRL's issuingDistributionPoint names, with its onlyContainsUserCerts flag
/// (`None`: no issuingDistributionPoint — a CRL of everything the CA revoked).
fn idp_of(crl_der: &[u8]) -> Option<(String, bool)> {
    use x509_cert::ext::pkix::IssuingDistributionPoint;
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    let crl = x509_cert::crl::CertificateList::from_der(crl_der).unwrap();
    let ext = crl
        .tbs_cert_list
        .crl_extensions
        .unwrap_or_default()
        .into_iter()
        // Not `IssuingDistributionPoint::OID`: x509-cert 0.2.5 gives it the OID of
        // subjectInfoAccess.
        .find(|e| e.extn_id == der::oid::db::rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT)?;
    assert!(ext.critical, "issuingDistributionPoint must be critical");
    let idp = IssuingDistributionPoint::from_der(ext.extn_value.as_bytes()).unwrap();
    let Some(DistributionPointName::FullName(names)) = &idp.distribution_point else { panic!("no fullName") };
    let [GeneralName::UniformResourceIdentifier(uri)] = names.as_slice() else { panic!("{names:?}") };
    Some((uri.to_string(), idp.only_contains_user_certs))
}

/// The CRL scope a certificate's distribution point names.
fn scope_of(cert_der: &[u8]) -> ca::CrlScope {
    let url = cdp_of(cert_der);
    match url.strip_prefix("http://ca.test/crl/systems/").and_then(|f| f.strip_suffix(".crl")) {
        Some(n) => ca::CrlScope::Shard(n.parse().unwrap()),
        None => {
            assert_eq!(url, "http://ca.test/crl/systems.crl");
            ca::CrlScope::Whole
        }
    }
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
    ocsp_request_with::<sha1::Sha1>(issuer_der, cert_der)
}

fn ocsp_request_with<D: der::oid::AssociatedOid + sha1::Digest>(issuer_der: &[u8], cert_der: &[u8]) -> Vec<u8> {
    let issuer = x509_cert::Certificate::from_der(issuer_der).unwrap();
    let cert = x509_cert::Certificate::from_der(cert_der).unwrap();
    OcspRequestBuilder::default()
        .with_request(Request::from_cert::<D>(&issuer, &cert).unwrap())
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
    // Node B now holds a cached "good" answer; node A one for each hash of the CertID.
    assert!(b.ocsp(&req).await.max_age.is_some());
    let req256 = ocsp_request_with::<sha2::Sha256>(&systems, &issued.der);
    for r in [&req, &req256] {
        assert!(matches!(status_in(&a.ocsp(r).await.der), OcspCertStatus::Good(_)));
    }

    let revoked = a
        .revoke(RevokeRequest {
            ca: None,
            serial: issued.serial.clone(),
            reason: RevocationReason::KeyCompromise,
            actor: "t".into(),
        })
        .await
        .unwrap();
    for r in [&req, &req256] {
        assert!(matches!(status_in(&a.ocsp(r).await.der), OcspCertStatus::Revoked(_)), "A's cached answers dropped");
    }
    // A's CRL that the certificate names (its shard's) already lists it.
    let scope = scope_of(&issued.der);
    assert!(matches!(scope, ca::CrlScope::Shard(_)));
    let crl = a.crl_of("systems", scope).unwrap();
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
        if b.crl_of("systems", scope).unwrap().crl_number >= revoked.crl_number {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(b.crl_of("systems", scope).unwrap().der, crl.der);
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

/// Revokes `serial` of `systems` on `node` as superseded; panics when refused.
async fn revoke_superseded(node: &Authority, serial: &str) -> ca::Revoked {
    node.revoke(RevokeRequest {
        ca: Some("systems".into()),
        serial: serial.to_string(),
        reason: RevocationReason::Superseded,
        actor: "t".into(),
    })
    .await
    .unwrap()
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
    // Certificates that name the whole CRL: each revocation waits for it.
    let a = node_with(store_a, Arc::new(clock.clone()), 0).await;
    let b = node_with(Store::open(&url).await.unwrap(), Arc::new(clock.clone()), 0).await;
    let short = |mut r: IssueRequest| {
        r.validity_days = Some(2);
        r
    };
    let c1 = a.issue(request(Profile::SystemClient, "systems")).await.unwrap();
    let c2 = a.issue(request(Profile::SystemClient, "systems")).await.unwrap();
    let c3 = a.issue(request(Profile::SystemClient, "systems")).await.unwrap();
    let brief = a.issue(short(request(Profile::SystemClient, "systems"))).await.unwrap();
    // A's first publication reads the whole list; the later ones only what came after it,
    // including what node B revoked meanwhile.
    revoke_superseded(&a, &c1.serial).await;
    revoke_superseded(&b, &c2.serial).await;
    revoke_superseded(&b, &brief.serial).await;
    let last = revoke_superseded(&a, &c3.serial).await;
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
    let c = node_with(Store::open(&url).await.unwrap(), Arc::new(clock.clone()), 0).await;
    c.publish_crl("systems").await.unwrap();
    assert_eq!(crl_serials(&c.crl("systems").unwrap().der), left);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_waits_for_its_shard_and_the_whole_crl_follows_within_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = fresh(&dir).await;
    let clock = ManualClock::new(NOW);
    let a = node_with(store, Arc::new(clock.clone()), 4).await;
    // Every shard has a CRL from the start; there is no fifth.
    for n in 0..4 {
        let crl = a.crl_of("systems", ca::CrlScope::Shard(n)).unwrap();
        assert_eq!(idp_of(&crl.der), Some((format!("http://ca.test/crl/systems/{n}.crl"), true)));
        assert_eq!(crl.entries, 0);
    }
    assert!(matches!(a.crl_of("systems", ca::CrlScope::Shard(4)), Err(ca::CaError::UnknownCrl(_))));
    assert_eq!(idp_of(&a.crl("systems").unwrap().der), None, "the whole CRL has no issuingDistributionPoint");

    // Certificates spread over the shards; each names its own in its distribution point.
    let mut by_shard: std::collections::BTreeMap<u16, Vec<ca::Issued>> = Default::default();
    for _ in 0..16 {
        let c = a.issue(request(Profile::SystemClient, "systems")).await.unwrap();
        let ca::CrlScope::Shard(n) = scope_of(&c.der) else { panic!("a sharded CA issued a whole-CRL certificate") };
        assert_eq!(Some(n), ca::crl_shard_of(&pki::Serial::from_hex(&c.serial).unwrap(), 4));
        by_shard.entry(n).or_default().push(c);
    }
    assert!(by_shard.len() >= 2, "16 certificates all in one of 4 shards: {:?}", by_shard.keys());
    let mut shards = by_shard.iter();
    let (&sx, xs) = shards.next().unwrap();
    let (&sy, ys) = shards.next().unwrap();
    let (x, y) = (&xs[0], &ys[0]);
    let whole_before = a.crl("systems").unwrap();

    // Two revocations on two shards at once: each answered once its own shard lists it.
    let (rx, ry) = tokio::join!(revoke_superseded(&a, &x.serial), revoke_superseded(&a, &y.serial));
    let crl_x = a.crl_of("systems", ca::CrlScope::Shard(sx)).unwrap();
    let crl_y = a.crl_of("systems", ca::CrlScope::Shard(sy)).unwrap();
    assert!(crl_x.crl_number >= rx.crl_number && crl_y.crl_number >= ry.crl_number);
    assert_eq!(crl_serials(&crl_x.der), [x.serial.to_uppercase()].into());
    assert_eq!(crl_serials(&crl_y.der), [y.serial.to_uppercase()].into());
    assert_eq!(idp_of(&crl_x.der).unwrap().0, cdp_of(&x.der), "the shard names the URL the certificate names");
    for n in (0..4).filter(|n| *n != sx && *n != sy) {
        assert!(crl_serials(&a.crl_of("systems", ca::CrlScope::Shard(n)).unwrap().der).is_empty());
    }
    // The whole CRL was not published for them (that is what shards save) ...
    assert_eq!(a.crl("systems").unwrap().crl_number, whole_before.crl_number);
    // ... and follows once the revocations have waited the delay (one minute) for it.
    let _m = a.spawn_maintenance();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.crl("systems").unwrap().crl_number, whole_before.crl_number, "not before the delay");
    clock.advance(61);
    let both: std::collections::BTreeSet<String> = [x.serial.to_uppercase(), y.serial.to_uppercase()].into();
    let mut listed = Default::default();
    for _ in 0..50 {
        listed = crl_serials(&a.crl("systems").unwrap().der);
        if listed == both {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed, both);

    // Fewer shards configured later: a node still serves the shards certificates name, and a
    // certificate of a node without shards names the whole CRL, which its revocation publishes.
    let b = node_with(Store::open(&url).await.unwrap(), Arc::new(clock.clone()), 0).await;
    assert_eq!(b.crl_of("systems", ca::CrlScope::Shard(sx)).unwrap().der, crl_x.der);
    let plain = b.issue(request(Profile::SystemClient, "systems")).await.unwrap();
    assert_eq!(scope_of(&plain.der), ca::CrlScope::Whole);
    let r = b
        .revoke(RevokeRequest {
            ca: Some("systems".into()),
            serial: plain.serial.clone(),
            reason: RevocationReason::Superseded,
            actor: "t".into(),
        })
        .await
        .unwrap();
    let whole = b.crl("systems").unwrap();
    assert_eq!(whole.crl_number, r.crl_number);
    // The whole CRL lists both kinds: the certificate that names it, and those on shards.
    let mut everything = both.clone();
    everything.insert(plain.serial.to_uppercase());
    assert_eq!(crl_serials(&whole.der), everything);
    assert_eq!(whole.entries, 3);
    // A later revocation on shard sx reads only what is new, and still lists x.
    let x2 = xs.get(1).or(ys.get(1)).map(|c| (c.serial.clone(), scope_of(&c.der)));
    if let Some((serial, scope)) = x2 {
        revoke_superseded(&a, &serial).await;
        let crl = a.crl_of("systems", scope).unwrap();
        assert!(crl_serials(&crl.der).contains(&serial.to_uppercase()));
        assert_eq!(crl.entries as usize, crl_serials(&crl.der).len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reads_its_lists_at_start_up_and_its_shards_drop_entries_as_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = fresh(&dir).await;
    let clock = ManualClock::new(NOW);
    let a = node_with(store, Arc::new(clock.clone()), 2).await;
    let brief = |mut r: IssueRequest| {
        r.validity_days = Some(2);
        r
    };
    // Revocations on record before the second node starts: lasting and brief certificates,
    // on both shards.
    let mut revoked = std::collections::BTreeMap::<ca::CrlScope, Vec<(String, bool)>>::new();
    let mut spare = vec![];
    for i in 0..12 {
        let short = i % 3 == 0 && i < 9;
        let req = request(Profile::SystemClient, "systems");
        let c = a.issue(if short { brief(req) } else { req }).await.unwrap();
        if i < 9 {
            revoke_superseded(&a, &c.serial).await;
            revoked.entry(scope_of(&c.der)).or_default().push((c.serial.to_uppercase(), short));
        } else {
            spare.push(c);
        }
    }
    assert_eq!(revoked.len(), 2, "9 revocations all on one of 2 shards");

    // Node B starts; its maintenance reads the CA's lists in the background.
    let b = node_with(Store::open(&url).await.unwrap(), Arc::new(clock.clone()), 2).await;
    let _m = b.spawn_maintenance();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let last = &spare[0];
    let scope = scope_of(&last.der);
    let r = revoke_superseded(&b, &last.serial).await;
    revoked.entry(scope).or_default().push((last.serial.to_uppercase(), false));
    let listed = |node: &Authority, scope| crl_serials(&node.crl_of("systems", scope).unwrap().der);
    let of = |scope, with_brief: bool| -> std::collections::BTreeSet<String> {
        revoked[&scope].iter().filter(|(_, short)| with_brief || !short).map(|(s, _)| s.clone()).collect()
    };
    assert_eq!(b.crl_of("systems", scope).unwrap().crl_number, r.crl_number);
    assert_eq!(listed(&b, scope), of(scope, true), "the list read at start-up, and the revocation after it");

    // Three days on, the brief certificates have expired: every shard and the whole CRL drop
    // them, and keep the others.
    clock.advance(3 * 86_400);
    b.publish_crl("systems").await.unwrap();
    let mut whole = std::collections::BTreeSet::new();
    for s in revoked.keys() {
        assert_eq!(listed(&b, *s), of(*s, false), "shard {s:?} after the expiry");
        assert_eq!(b.crl_of("systems", *s).unwrap().entries as usize, of(*s, false).len());
        whole.extend(of(*s, false));
    }
    assert_eq!(crl_serials(&b.crl("systems").unwrap().der), whole);
    // A revocation after the expiry lands beside what was kept.
    let after = &spare[1];
    revoke_superseded(&b, &after.serial).await;
    let s = scope_of(&after.der);
    let mut expected = of(s, false);
    expected.insert(after.serial.to_uppercase());
    assert_eq!(listed(&b, s), expected);
}

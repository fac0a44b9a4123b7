//! Creating the CA hierarchy (`carecert init`) and loading it at start-up.

use std::sync::Arc;

use pki::cert::{CertificateOrder, CertificateTemplate};
use pki::{CaIdentity, KeyAlgorithm, KeyPair, Profile, PublicationUrls, Serial, Signer, SubjectName};
use store::{CaRecord, Store};
use types::Action;

use crate::issue::{event, issue_recorded};
use crate::keys::{FileKeys, KeyStore, OFFLINE_KEY};
use crate::{CaError, Clock};

/// What `carecert init` needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Encrypts every CA and responder key at rest.
    pub passphrase: Vec<u8>,
    /// Base URL of the plain-HTTP listener as relying parties reach it (AIA, CDP).
    pub public_url: String,
    /// Key algorithm of the CA keys.
    pub key_algorithm: KeyAlgorithm,
    /// Organisation name in the CA subjects.
    pub organization: String,
    /// Who is doing this (for the audit log).
    pub actor: String,
}

/// What was created.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// `(name, certificate PEM)` for each CA, root first.
    pub cas: Vec<(String, String)>,
    /// With an offline root: its key reference, to keep on the offline machine (it is not in
    /// the database).
    pub root_key_ref: Option<String>,
    /// `(name, certificate DER)` of each intermediate the root signed.
    pub intermediates: Vec<(String, Vec<u8>)>,
}

/// Where `init` puts the keys.
#[derive(Debug, Clone)]
pub struct KeyPlacement {
    /// The issuing CAs' and responders' keys (an HSM, or [`FileKeys`]).
    pub keys: Arc<dyn KeyStore>,
    /// With `Some`, the root's key is made here and the database records only
    /// [`OFFLINE_KEY`]: no serving node can sign with it. The first ARL and the intermediates'
    /// OCSP answers are pre-signed at once for `presign_days`.
    pub offline_root: Option<Arc<dyn KeyStore>>,
    /// How far ahead the offline root pre-signs at init.
    pub presign_days: u32,
}

/// Creates the root CA, the issuing CAs `systems` and `smartcards`, and a delegated OCSP
/// responder for each issuing CA, with every key encrypted with the passphrase in the
/// database. Refuses if a CA exists already.
pub async fn init_hierarchy(store: &Store, clock: &dyn Clock, opts: &InitOptions) -> Result<InitReport, CaError> {
    let placement =
        KeyPlacement { keys: Arc::new(FileKeys::new(&opts.passphrase)), offline_root: None, presign_days: 0 };
    init_hierarchy_with(store, clock, opts, &placement).await
}

/// [`init_hierarchy`] with the keys where `placement` says.
pub async fn init_hierarchy_with(
    store: &Store,
    clock: &dyn Clock,
    opts: &InitOptions,
    placement: &KeyPlacement,
) -> Result<InitReport, CaError> {
    if !store.cas().await?.is_empty() {
        return Err(CaError::AlreadyInitialised);
    }
    if opts.passphrase.len() < 8 {
        return Err(CaError::BadInput(pki::PkiError::Invalid(
            "the CA passphrase must be at least 8 characters".into(),
        )));
    }
    let keys = &placement.keys;
    store.set_setting(store::settings::PUBLIC_URL, opts.public_url.trim_end_matches('/')).await?;
    let now = clock.now();
    let mut report = InitReport { cas: Vec::new(), root_key_ref: None, intermediates: Vec::new() };

    // The root signs itself.
    let root_keys = placement.offline_root.as_ref().unwrap_or(keys);
    let root_key = root_keys.generate("carecert root CA", opts.key_algorithm)?;
    let root_subject = SubjectName {
        organization: Some(opts.organization.clone()),
        ..SubjectName::cn(format!("{} Root CA", opts.organization))
    };
    let spec = Profile::RootCa.spec();
    let order = CertificateOrder {
        spec: &spec,
        subject: &root_subject,
        sans: &[],
        subject_spki: root_key.signer.public_key_spki(),
        now,
        validity_days: None,
        issuer_not_after: None,
        urls: &PublicationUrls::default(),
    };
    let template = CertificateTemplate::prepare(&order, Serial::random()?)?;
    let root_signer: Arc<dyn Signer> = root_key.signer.clone();
    let root_der = template.self_sign(root_signer.clone())?;
    let root = CaIdentity::new("root", root_der.clone(), root_signer)?;
    let recorded_ref = if placement.offline_root.is_some() {
        report.root_key_ref = Some(root_key.key_ref.clone());
        OFFLINE_KEY.to_string()
    } else {
        root_key.key_ref.clone()
    };
    store
        .insert_ca(
            &CaRecord {
                name: "root".into(),
                parent: None,
                cert_der: root_der,
                key_ref: recorded_ref,
                responder_cert_der: None,
                responder_key_ref: None,
                crl_number: 0,
                created_at: now.unix_timestamp(),
            },
            event(
                clock,
                &opts.actor,
                Action::CaCreated,
                "root",
                serde_json::json!({"subject": template.subject_display, "key": opts.key_algorithm.name(), "offline": placement.offline_root.is_some()}),
            ),
        )
        .await?;
    report.cas.push(("root".into(), root.cert_pem()));

    for (name, title) in [("systems", "Systems"), ("smartcards", "Smartcards")] {
        let key = keys.generate(&format!("carecert {name} CA"), opts.key_algorithm)?;
        let subject = SubjectName {
            organization: Some(opts.organization.clone()),
            ..SubjectName::cn(format!("{} {title} CA", opts.organization))
        };
        let (_, der) = issue_recorded(
            store,
            clock,
            &root,
            Profile::IssuingCa,
            &subject,
            &[],
            key.signer.public_key_spki(),
            None,
            &opts.public_url,
            0,
            &opts.actor,
        )
        .await?;
        let ca = CaIdentity::new(name, der.clone(), key.signer.clone())?;
        store
            .insert_ca(
                &CaRecord {
                    name: name.into(),
                    parent: Some("root".into()),
                    cert_der: der.clone(),
                    key_ref: key.key_ref,
                    responder_cert_der: None,
                    responder_key_ref: None,
                    crl_number: 0,
                    created_at: now.unix_timestamp(),
                },
                event(clock, &opts.actor, Action::CaCreated, name, serde_json::json!({"parent": "root"})),
            )
            .await?;
        new_responder(store, clock, &ca, keys.as_ref(), &opts.public_url, &opts.organization, &opts.actor).await?;
        report.cas.push((name.into(), ca.cert_pem()));
        report.intermediates.push((name.to_string(), der));
    }
    if placement.offline_root.is_some() {
        // The offline root's first ARL and OCSP answers, while its key is at hand.
        let mut ledger = crate::offline::RootLedger::new(&opts.organization, &opts.public_url);
        for (name, der) in &report.intermediates {
            ledger.add(name, der)?;
        }
        let bundle = ledger.presign(&root, now, placement.presign_days)?;
        crate::offline::import_presigned(store, clock, &bundle, &opts.actor).await?;
    }
    Ok(report)
}

/// The organisation (O=) in a CA certificate's subject, for the names of what it issues.
pub(crate) fn organization_of(ca: &CaIdentity) -> String {
    pki::CertificateInfo::parse(&ca.cert_der)
        .ok()
        .and_then(|i| i.subject.split(", ").find_map(|a| a.strip_prefix("O=").map(str::to_string)))
        .unwrap_or_else(|| "carecert".into())
}

/// Issues a delegated OCSP responder certificate of `ca` for the key `spki`.
pub(crate) async fn issue_responder_cert(
    store: &Store,
    clock: &dyn Clock,
    ca: &CaIdentity,
    spki: &[u8],
    public_url: &str,
    organization: &str,
    actor: &str,
) -> Result<Vec<u8>, CaError> {
    let subject = SubjectName {
        organization: Some(organization.to_string()),
        ..SubjectName::cn(format!("{} OCSP Responder", ca.name))
    };
    let (_, der) =
        issue_recorded(store, clock, ca, Profile::OcspResponder, &subject, &[], spki, None, public_url, 0, actor)
            .await?;
    Ok(der)
}

/// Issues (or re-issues) the delegated OCSP responder of `ca`, with a new key from `keys`.
pub(crate) async fn new_responder(
    store: &Store,
    clock: &dyn Clock,
    ca: &CaIdentity,
    keys: &dyn KeyStore,
    public_url: &str,
    organization: &str,
    actor: &str,
) -> Result<(), CaError> {
    // Responder keys are always P-256: they sign every fresh response.
    let key = keys.generate(&format!("carecert {} OCSP responder", ca.name), KeyAlgorithm::EcdsaP256)?;
    let der =
        issue_responder_cert(store, clock, ca, key.signer.public_key_spki(), public_url, organization, actor).await?;
    store
        .set_responder(
            &ca.name,
            &der,
            &key.key_ref,
            event(clock, actor, Action::CaResponderIssued, ca.name.as_str(), serde_json::json!({})),
        )
        .await?;
    Ok(())
}

/// Issues a TLS server certificate for carecert's own HTTPS listener from the `systems` CA,
/// with a fresh key. Returns `(certificate chain PEM, private key PEM)`.
pub async fn issue_tls_server_key(
    authority: &crate::Authority,
    sans: Vec<pki::cert::San>,
) -> Result<(String, String), CaError> {
    let key = KeyPair::generate(KeyAlgorithm::EcdsaP256)?;
    let issued = authority
        .issue_for_key(
            "systems",
            Profile::TlsServer,
            pki::Signer::public_key_spki(&key),
            SubjectName::cn("carecert server"),
            sans,
            None,
            "system",
        )
        .await?;
    let mut chain = pki::cert::to_pem("CERTIFICATE", &issued.der);
    for c in &issued.chain {
        chain.push_str(&pki::cert::to_pem("CERTIFICATE", c));
    }
    Ok((chain, key.pkcs8_pem()))
}

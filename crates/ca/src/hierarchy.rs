//! Creating the CA hierarchy (`carecert init`) and loading it at start-up.

use std::sync::Arc;

use pki::cert::{CertificateOrder, CertificateTemplate};
use pki::{CaIdentity, KeyAlgorithm, KeyPair, Profile, PublicationUrls, Serial, Signer, SubjectName};
use store::{CaRecord, Store};
use types::Action;

use crate::issue::{event, issue_recorded, urls_for};
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
}

/// Creates the root CA, the issuing CAs `systems` and `smartcards`, and a delegated OCSP
/// responder for each issuing CA. Refuses if a CA exists already.
pub async fn init_hierarchy(store: &Store, clock: &dyn Clock, opts: &InitOptions) -> Result<InitReport, CaError> {
    if !store.cas().await?.is_empty() {
        return Err(CaError::AlreadyInitialised);
    }
    if opts.passphrase.len() < 8 {
        return Err(CaError::BadInput(pki::PkiError::Invalid(
            "the CA passphrase must be at least 8 characters".into(),
        )));
    }
    store.set_setting(store::settings::PUBLIC_URL, opts.public_url.trim_end_matches('/')).await?;
    let now = clock.now();
    let mut report = InitReport { cas: Vec::new() };

    // The root signs itself.
    let root_key = KeyPair::generate(opts.key_algorithm)?;
    let root_subject = SubjectName {
        organization: Some(opts.organization.clone()),
        ..SubjectName::cn(format!("{} Root CA", opts.organization))
    };
    let spec = Profile::RootCa.spec();
    let order = CertificateOrder {
        spec: &spec,
        subject: &root_subject,
        sans: &[],
        subject_spki: pki::Signer::public_key_spki(&root_key),
        now,
        validity_days: None,
        issuer_not_after: None,
        urls: &PublicationUrls::default(),
    };
    let template = CertificateTemplate::prepare(&order, Serial::random()?)?;
    let root_pem = root_key.encrypted_pkcs8_pem(&opts.passphrase, pki::key::PBKDF2_ROUNDS)?;
    let root_signer: Arc<dyn Signer> = root_key.into_signer();
    let root_der = template.self_sign(root_signer.clone())?;
    let root = CaIdentity::new("root", root_der.clone(), root_signer)?;
    store
        .insert_ca(
            &CaRecord {
                name: "root".into(),
                parent: None,
                cert_der: root_der,
                key_ref: root_pem,
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
                serde_json::json!({"subject": template.subject_display, "key": opts.key_algorithm.name()}),
            ),
        )
        .await?;
    report.cas.push(("root".into(), root.cert_pem()));

    for (name, title) in [("systems", "Systems"), ("smartcards", "Smartcards")] {
        let key = KeyPair::generate(opts.key_algorithm)?;
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
            pki::Signer::public_key_spki(&key),
            None,
            &urls_for(&opts.public_url, "root"),
            &opts.actor,
        )
        .await?;
        let key_pem = key.encrypted_pkcs8_pem(&opts.passphrase, pki::key::PBKDF2_ROUNDS)?;
        let ca = CaIdentity::new(name, der.clone(), key.into_signer())?;
        store
            .insert_ca(
                &CaRecord {
                    name: name.into(),
                    parent: Some("root".into()),
                    cert_der: der,
                    key_ref: key_pem,
                    responder_cert_der: None,
                    responder_key_ref: None,
                    crl_number: 0,
                    created_at: now.unix_timestamp(),
                },
                event(clock, &opts.actor, Action::CaCreated, name, serde_json::json!({"parent": "root"})),
            )
            .await?;
        new_responder(store, clock, &ca, &opts.passphrase, &opts.public_url, &opts.organization, &opts.actor).await?;
        report.cas.push((name.into(), ca.cert_pem()));
    }
    Ok(report)
}

/// Issues (or re-issues) the delegated OCSP responder of `ca`.
pub(crate) async fn new_responder(
    store: &Store,
    clock: &dyn Clock,
    ca: &CaIdentity,
    passphrase: &[u8],
    public_url: &str,
    organization: &str,
    actor: &str,
) -> Result<(), CaError> {
    // Responder keys are always P-256: they sign every fresh response.
    let key = KeyPair::generate(KeyAlgorithm::EcdsaP256)?;
    let subject = SubjectName {
        organization: Some(organization.to_string()),
        ..SubjectName::cn(format!("{} OCSP Responder", ca.name))
    };
    let (_, der) = issue_recorded(
        store,
        clock,
        ca,
        Profile::OcspResponder,
        &subject,
        &[],
        pki::Signer::public_key_spki(&key),
        None,
        &urls_for(public_url, &ca.name),
        actor,
    )
    .await?;
    let key_pem = key.encrypted_pkcs8_pem(passphrase, pki::key::PBKDF2_ROUNDS)?;
    store
        .set_responder(
            &ca.name,
            &der,
            &key_pem,
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

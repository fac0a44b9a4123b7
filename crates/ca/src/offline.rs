//! The offline root (issue 13, finding M10): what the root signs on its own machine, and how
//! the serving nodes take it in.
//!
//! The root's key never reaches a serving node: the database records [`OFFLINE_KEY`] for it.
//! On the offline machine `carecert root …` keeps a [`RootLedger`] (the intermediates it
//! signed, their revocations, the last ARL number) beside the root key, signs intermediates
//! from an [`IntermediateRequest`], and pre-signs a [`RootBundle`]: the ARL (the root's CRL)
//! and, for a period, one OCSP answer per intermediate per day in each CertID form clients
//! use. A serving node imports the bundle ([`import_bundle`]); its OCSP answers for the root
//! are then looked up, never signed.

use std::sync::Arc;

use pki::cert::{CertificateOrder, CertificateTemplate};
use pki::crl::{RevokedEntry, build_crl};
use pki::ocsp::{CertIdHash, OcspAnswer, OcspResponder, OcspStatus, cert_id_for};
use pki::{CaIdentity, CertificateInfo, KeyAlgorithm, Profile, RevocationReason, Serial, SubjectName};
use serde::{Deserialize, Serialize};
use store::{CaRecord, CrlRecord, NewCertificate, PresignedOcsp, Store};
use time::OffsetDateTime;
use types::{Action, Clock};

use crate::CaError;
use crate::issue::{event, sha256_hex, urls_for};
use crate::keys::{KeyStore, family_of};

/// Format tag of a [`RootBundle`].
pub const BUNDLE_FORMAT: &str = "carecert-root-bundle/v1";
/// Format tag of an [`IntermediateRequest`].
pub const REQUEST_FORMAT: &str = "carecert-intermediate-request/v1";
const DAY: i64 = 86_400;

fn unhex(what: &str, s: &str) -> Result<Vec<u8>, CaError> {
    hex::decode(s).map_err(|_| CaError::BadInput(pki::PkiError::Invalid(format!("{what} is not hex"))))
}

fn invalid(msg: impl Into<String>) -> CaError {
    CaError::BadInput(pki::PkiError::Invalid(msg.into()))
}

/// What the offline root keeps about what it signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootLedger {
    /// Organisation in the subjects of the CAs it signs.
    pub organization: String,
    /// Base URL for the AIA / CDP of the intermediates.
    pub public_url: String,
    /// The last ARL number used.
    pub crl_number: i64,
    /// Every intermediate signed.
    pub intermediates: Vec<LedgerEntry>,
}

/// One intermediate the root signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// Its name in carecert (`systems`, `systems-2`).
    pub name: String,
    /// Serial, canonical hex.
    pub serial: String,
    /// The certificate, DER in hex.
    pub certificate: String,
    /// notAfter (Unix seconds).
    pub not_after: i64,
    /// When it was revoked and why (CRLReason code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<(i64, u8)>,
}

/// A serving node's request for a new intermediate (a rotation): the name and the public key
/// it made on its key store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntermediateRequest {
    /// [`REQUEST_FORMAT`].
    pub format: String,
    /// The new CA's name (`systems-2`).
    pub name: String,
    /// Its public key: DER SubjectPublicKeyInfo in hex.
    pub public_key: String,
}

/// What the offline root hands the serving nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The root certificate (DER, hex): the bundle is refused by a database with another root.
    pub root: String,
    /// Every intermediate the root signed (a node imports those it does not have).
    pub intermediates: Vec<BundleCa>,
    /// The ARL.
    pub arl: BundleCrl,
    /// Pre-signed OCSP answers about the intermediates.
    pub ocsp: Vec<BundleOcsp>,
}

/// An intermediate in a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleCa {
    /// Name.
    pub name: String,
    /// Certificate, DER in hex.
    pub certificate: String,
}

/// The root's CRL in a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleCrl {
    /// CRL number.
    pub crl_number: i64,
    /// thisUpdate.
    pub this_update: i64,
    /// nextUpdate.
    pub next_update: i64,
    /// Revoked entries.
    pub entries: i64,
    /// DER in hex.
    pub der: String,
}

/// A pre-signed answer in a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleOcsp {
    /// Serial asked about.
    pub serial: String,
    /// `sha1` | `sha256`.
    pub cert_id_hash: String,
    /// NULL parameters in the CertID's AlgorithmIdentifier.
    pub null_params: bool,
    /// thisUpdate.
    pub this_update: i64,
    /// nextUpdate.
    pub next_update: i64,
    /// DER OCSPResponse in hex.
    pub der: String,
}

fn title(family: &str) -> String {
    let mut c = family.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl RootLedger {
    /// An empty ledger.
    pub fn new(organization: &str, public_url: &str) -> Self {
        Self {
            organization: organization.into(),
            public_url: public_url.trim_end_matches('/').into(),
            crl_number: 0,
            intermediates: Vec::new(),
        }
    }

    /// Records an intermediate signed elsewhere (at init).
    pub fn add(&mut self, name: &str, der: &[u8]) -> Result<(), CaError> {
        let info = CertificateInfo::parse(der)?;
        self.intermediates.push(LedgerEntry {
            name: name.into(),
            serial: info.serial,
            certificate: hex::encode(der),
            not_after: info.not_after,
            revoked: None,
        });
        Ok(())
    }

    /// Signs the intermediate `request` asks for with the root; records it.
    pub fn sign_intermediate(
        &mut self,
        root: &CaIdentity,
        request: &IntermediateRequest,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, CaError> {
        if request.format != REQUEST_FORMAT {
            return Err(invalid(format!("not an intermediate request ({REQUEST_FORMAT})")));
        }
        if self.intermediates.iter().any(|i| i.name == request.name) {
            return Err(invalid(format!("the root already signed an intermediate named '{}'", request.name)));
        }
        let family = family_of(&request.name);
        if !matches!(family, "systems" | "smartcards") {
            return Err(invalid(format!("'{}' is not a systems or smartcards CA", request.name)));
        }
        let spki = unhex("the public key", &request.public_key)?;
        KeyAlgorithm::from_spki(&spki)?;
        let generation = request.name.strip_prefix(family).unwrap_or("").trim_start_matches('-');
        let cn = format!("{} {} CA {generation}", self.organization, title(family));
        let subject = SubjectName { organization: Some(self.organization.clone()), ..SubjectName::cn(cn.trim()) };
        let spec = Profile::IssuingCa.spec();
        let urls = urls_for(&self.public_url, &root.name, None);
        let order = CertificateOrder {
            spec: &spec,
            subject: &subject,
            sans: &[],
            subject_spki: &spki,
            now,
            validity_days: None,
            issuer_not_after: Some(root.not_after),
            urls: &urls,
        };
        let der = CertificateTemplate::prepare(&order, Serial::random()?)?.sign(root)?;
        self.add(&request.name, &der)?;
        Ok(der)
    }

    /// Marks an intermediate revoked (the next [`RootLedger::presign`] lists it).
    pub fn revoke(&mut self, name: &str, reason: RevocationReason, now: i64) -> Result<(), CaError> {
        let e = self
            .intermediates
            .iter_mut()
            .find(|i| i.name == name)
            .ok_or_else(|| invalid(format!("the root signed no intermediate named '{name}'")))?;
        e.revoked.get_or_insert((now, reason.code()));
        Ok(())
    }

    /// Signs the ARL (valid `days`) and, for each intermediate not yet expired, one OCSP answer
    /// per day of the period (thisUpdate day k, nextUpdate two days later) in the four CertID
    /// forms (SHA-1 / SHA-256, with or without NULL parameters).
    pub fn presign(&mut self, root: &CaIdentity, now: OffsetDateTime, days: u32) -> Result<RootBundle, CaError> {
        let days = i64::from(days.max(1));
        let t = now.unix_timestamp();
        self.crl_number += 1;
        let mut revoked: Vec<(Vec<u8>, i64, u8)> = Vec::new();
        for i in &self.intermediates {
            if let Some((at, reason)) = i.revoked {
                revoked.push((unhex("a serial", &i.serial)?, at, reason));
            }
        }
        let next = now + time::Duration::seconds(days * DAY);
        let arl = build_crl(
            root,
            self.crl_number as u64,
            now,
            next,
            revoked.iter().map(|(s, at, r)| RevokedEntry {
                serial: s,
                revoked_at: *at,
                reason: RevocationReason::from_code(*r).unwrap_or(RevocationReason::Unspecified),
            }),
        )?;
        let responder = OcspResponder::new(&root.cert_der, &[], root.signer().clone())?;
        let mut ocsp = Vec::new();
        for i in self.intermediates.iter().filter(|i| i.not_after > t) {
            let der = unhex("a certificate", &i.certificate)?;
            let status = match i.revoked {
                Some((at, reason)) => OcspStatus::Revoked {
                    at,
                    reason: RevocationReason::from_code(reason).filter(|r| *r != RevocationReason::Unspecified),
                },
                None => OcspStatus::Good,
            };
            for k in 0..days {
                let this_update = t + k * DAY;
                let next_update = this_update + 2 * DAY;
                for (hash, hash_name) in [(CertIdHash::Sha1, "sha1"), (CertIdHash::Sha256, "sha256")] {
                    for null_params in [true, false] {
                        let cert_id = cert_id_for(root, &der, hash, null_params)?;
                        let answer = OcspAnswer { cert_id, status, this_update, next_update };
                        let signed = responder.respond(&[answer], this_update, None)?;
                        ocsp.push(BundleOcsp {
                            serial: i.serial.clone(),
                            cert_id_hash: hash_name.into(),
                            null_params,
                            this_update,
                            next_update,
                            der: hex::encode(signed),
                        });
                    }
                }
            }
        }
        Ok(RootBundle {
            format: BUNDLE_FORMAT.into(),
            root: hex::encode(&root.cert_der),
            intermediates: self
                .intermediates
                .iter()
                .map(|i| BundleCa { name: i.name.clone(), certificate: i.certificate.clone() })
                .collect(),
            arl: BundleCrl {
                crl_number: self.crl_number,
                this_update: t,
                next_update: next.unix_timestamp(),
                entries: revoked.len() as i64,
                der: hex::encode(arl),
            },
            ocsp,
        })
    }
}

/// Makes the key of the next CA of `family` (`systems` → `systems-2`, `-3`, …) on `keys` and
/// the request the offline root signs. Returns the request and the key reference to keep
/// until the signed certificate is imported.
pub async fn request_intermediate(
    store: &Store,
    keys: &dyn KeyStore,
    family: &str,
) -> Result<(IntermediateRequest, String), CaError> {
    let cas = store.cas().await?;
    let current = cas.iter().rev().find(|c| family_of(&c.name) == family && c.parent.is_some()).ok_or_else(|| {
        invalid(format!("there is no issuing CA '{family}' to rotate (the issuing CAs are systems and smartcards)"))
    })?;
    let mut n = 2;
    while cas.iter().any(|c| c.name == format!("{family}-{n}")) {
        n += 1;
    }
    let name = format!("{family}-{n}");
    let algorithm = KeyAlgorithm::from_spki(&CertificateInfo::parse(&current.cert_der)?.spki_der)?;
    let key = keys.generate(&format!("carecert {name} CA"), algorithm)?;
    let request = IntermediateRequest {
        format: REQUEST_FORMAT.into(),
        name,
        public_key: hex::encode(key.signer.public_key_spki()),
    };
    Ok((request, key.key_ref))
}

/// Stores the bundle's ARL (when newer than the one stored) and its OCSP answers, with one
/// audit entry. Returns how many answers were new.
pub async fn import_presigned(
    store: &Store,
    clock: &dyn Clock,
    bundle: &RootBundle,
    actor: &str,
) -> Result<u64, CaError> {
    let root = root_of(store, bundle).await?;
    let arl = &bundle.arl;
    if store.latest_crl_number(&root.name).await? < Some(arl.crl_number) {
        store
            .store_crl(&CrlRecord {
                issuer: root.name.clone(),
                scope: store::CrlScope::Whole,
                crl_number: arl.crl_number,
                this_update: arl.this_update,
                next_update: arl.next_update,
                entries: arl.entries,
                der: unhex("the ARL", &arl.der)?,
            })
            .await?;
    }
    let answers = bundle
        .ocsp
        .iter()
        .map(|o| {
            Ok(PresignedOcsp {
                issuer: root.name.clone(),
                serial: o.serial.clone(),
                cert_id_hash: o.cert_id_hash.clone(),
                null_params: o.null_params,
                this_update: o.this_update,
                next_update: o.next_update,
                der: unhex("an OCSP answer", &o.der)?,
            })
        })
        .collect::<Result<Vec<_>, CaError>>()?;
    let last = answers.iter().map(|a| a.next_update).max().unwrap_or_default();
    let ev = event(
        clock,
        actor,
        Action::CaPresignedImported,
        root.name.as_str(),
        serde_json::json!({"arl": arl.crl_number, "answers": answers.len(), "valid_until": last}),
    );
    Ok(store.store_presigned_ocsp(&answers, clock.now().unix_timestamp(), ev).await?)
}

async fn root_of(store: &Store, bundle: &RootBundle) -> Result<CaRecord, CaError> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(invalid(format!("not a root bundle ({BUNDLE_FORMAT})")));
    }
    let der = unhex("the root certificate", &bundle.root)?;
    store
        .cas()
        .await?
        .into_iter()
        .find(|c| c.parent.is_none() && c.cert_der == der)
        .ok_or_else(|| invalid("this bundle was made by another root than this database's: nothing imported"))
}

/// Imports a bundle: each intermediate this database does not have yet (its key reference from
/// `key_of(name)`, kept since [`request_intermediate`]) with a new delegated OCSP responder,
/// then the ARL and the answers. Returns the names of the CAs added: serving nodes load them
/// at their next start.
pub async fn import_bundle(
    store: &Store,
    clock: &dyn Clock,
    keys: Arc<dyn KeyStore>,
    bundle: &RootBundle,
    key_of: &dyn Fn(&str) -> Option<String>,
    actor: &str,
) -> Result<Vec<String>, CaError> {
    let root = root_of(store, bundle).await?;
    let known: Vec<String> = store.cas().await?.into_iter().map(|c| c.name).collect();
    let public_url = store
        .setting(store::settings::PUBLIC_URL)
        .await?
        .ok_or_else(|| CaError::Internal("no public URL recorded; run `carecert init` first".into()))?;
    let mut added = Vec::new();
    for ca in bundle.intermediates.iter().filter(|c| !known.contains(&c.name)) {
        let der = unhex("an intermediate certificate", &ca.certificate)?;
        let key_ref = key_of(&ca.name).ok_or_else(|| {
            invalid(format!(
                "no key for '{}' here: import on the node where `carecert ca request` made it (its DATA_DIR/ca-requests)",
                ca.name
            ))
        })?;
        let signer = keys.open(&ca.name, &key_ref)?;
        let identity = CaIdentity::new(ca.name.clone(), der.clone(), signer)?;
        let info = CertificateInfo::parse(&der)?;
        let now = clock.now().unix_timestamp();
        store
            .import_ca(
                &CaRecord {
                    name: ca.name.clone(),
                    parent: Some(root.name.clone()),
                    cert_der: der.clone(),
                    key_ref,
                    responder_cert_der: None,
                    responder_key_ref: None,
                    crl_number: 0,
                    created_at: now,
                },
                &NewCertificate {
                    issuer: root.name.clone(),
                    serial: info.serial.clone(),
                    profile: Profile::IssuingCa.name().into(),
                    subject: info.subject.clone(),
                    spki_sha256: sha256_hex(&info.spki_der),
                    not_before: info.not_before,
                    not_after: info.not_after,
                    created_at: now,
                    crl_shard: None,
                },
                event(
                    clock,
                    actor,
                    Action::CaImported,
                    ca.name.as_str(),
                    serde_json::json!({"parent": root.name, "serial": info.serial, "subject": info.subject}),
                ),
            )
            .await?;
        let organization = crate::hierarchy::organization_of(&identity);
        crate::hierarchy::new_responder(store, clock, &identity, keys.as_ref(), &public_url, &organization, actor)
            .await?;
        added.push(ca.name.clone());
    }
    import_presigned(store, clock, bundle, actor).await?;
    Ok(added)
}

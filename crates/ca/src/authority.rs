//! The loaded CA: loading the hierarchy, revocation, and the periodic work of a node.
//! Issuance is in `issue.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use pki::ocsp::OcspResponder;
use pki::{CaIdentity, RevocationReason, Signer};
use store::{CaRecord, CrlRecord, CrlScope, RevokeOutcome, Store};
use types::Action;

use crate::issue::event;
use crate::keys::{FileKeys, KeyStore, OFFLINE_KEY, OfflineKey, family_of};
use crate::ocsp::OcspCache;
use crate::{CaError, Clock};

/// Tunables of a running authority.
#[derive(Debug, Clone)]
pub struct AuthorityConfig {
    /// Base URL for AIA/CDP; `None` takes the one recorded by `carecert init`.
    pub public_url: Option<String>,
    /// How long a CRL is valid (nextUpdate − thisUpdate).
    pub crl_validity: Duration,
    /// How often a fresh CRL is published even without revocations.
    pub crl_refresh: Duration,
    /// How long an OCSP response is valid.
    pub ocsp_validity: Duration,
    /// How old a cached OCSP response may get before it is signed again.
    pub ocsp_refresh: Duration,
    /// How often this node looks for revocations made by other nodes.
    pub poll_interval: Duration,
    /// Most OCSP answers kept in memory (answers for known certificates only; 0 keeps none).
    pub ocsp_cache_entries: usize,
    /// A delegated OCSP responder's certificate is renewed this long before it expires.
    pub responder_renew_before: Duration,
    /// A reservation older than this that was never signed is marked `failed`.
    pub reservation_timeout: Duration,
    /// CRL shards per online CA (0: one CRL per CA). A new certificate names the shard
    /// chosen from its serial in its CRL distribution point; changing the count affects
    /// only certificates issued afterwards (the shards already named stay published).
    pub crl_shards: u16,
    /// The whole CRL of a CA is published again this long after a revocation on one of
    /// its shards at the latest (and with every revocation of a certificate that names it).
    pub whole_crl_delay: Duration,
}

/// Default CRL shards per CA.
pub const DEFAULT_CRL_SHARDS: u16 = 1024;

/// Default bound of the OCSP answer cache.
pub const DEFAULT_OCSP_CACHE_ENTRIES: usize = 100_000;

impl Default for AuthorityConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            crl_validity: Duration::from_secs(24 * 3600),
            crl_refresh: Duration::from_secs(3600),
            ocsp_validity: Duration::from_secs(24 * 3600),
            ocsp_refresh: Duration::from_secs(3600),
            poll_interval: Duration::from_secs(1),
            ocsp_cache_entries: DEFAULT_OCSP_CACHE_ENTRIES,
            responder_renew_before: Duration::from_secs(30 * 86_400),
            reservation_timeout: Duration::from_secs(300),
            crl_shards: DEFAULT_CRL_SHARDS,
            whole_crl_delay: Duration::from_secs(60),
        }
    }
}

/// A revocation to make.
#[derive(Debug, Clone)]
pub struct RevokeRequest {
    /// The issuing CA; `None` finds it from the serial.
    pub ca: Option<String>,
    /// Serial (hex).
    pub serial: String,
    /// Reason.
    pub reason: RevocationReason,
    /// Who asks (audit).
    pub actor: String,
}

/// A revocation made.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// Issuing CA.
    pub issuer: String,
    /// Serial.
    pub serial: String,
    /// Reason.
    pub reason: RevocationReason,
    /// When (Unix seconds).
    pub revoked_at: i64,
    /// The CRL number that first lists it.
    pub crl_number: i64,
}

/// A CA's delegated OCSP responder as loaded (replaced when it is renewed).
pub(crate) struct Responder {
    pub(crate) signer: OcspResponder,
    /// Its certificate; `None` when the CA answers with its own key.
    pub(crate) cert_der: Option<Vec<u8>>,
    /// Its notAfter (Unix seconds).
    pub(crate) not_after: i64,
}

pub(crate) struct LoadedCa {
    pub(crate) identity: CaIdentity,
    /// The CA's family (`systems` for `systems-2`): its profiles, and which CA issues for it.
    pub(crate) family: String,
    /// Its key is kept off line (the root): answers and CRLs come pre-signed.
    pub(crate) offline: bool,
    pub(crate) responder: RwLock<Arc<Responder>>,
    /// This CA's certificate and its parents', excluding the root.
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) record: CaRecord,
    /// Serialises CRL publication for this CA (whole and shards); holds what the last
    /// publications covered.
    pub(crate) crls: crate::crl::CaCrls,
}

/// Counters exposed on /metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Certificates issued.
    pub issued: AtomicU64,
    /// Issuance attempts refused or failed.
    pub issue_errors: AtomicU64,
    /// Certificates revoked.
    pub revoked: AtomicU64,
    /// OCSP responses served from memory.
    pub ocsp_cached: AtomicU64,
    /// OCSP responses signed on demand.
    pub ocsp_signed: AtomicU64,
    /// CRLs published.
    pub crls_published: AtomicU64,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: AuthorityConfig,
    pub(crate) public_url: String,
    pub(crate) cas: Vec<LoadedCa>,
    pub(crate) ocsp: OcspCache,
    pub(crate) crls: RwLock<HashMap<(String, CrlScope), Arc<CrlRecord>>>,
    pub(crate) seen_revocation_clock: AtomicI64,
    pub(crate) metrics: Metrics,
    pub(crate) keys: Arc<dyn KeyStore>,
}

/// The running certificate authority. Cheap to clone; shared by every request handler.
#[derive(Clone)]
pub struct Authority {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").field("cas", &self.ca_names()).finish_non_exhaustive()
    }
}

fn responder_of(cert: &[u8], issuer: &[u8], signer: Arc<dyn Signer>) -> Result<Responder, CaError> {
    let info = pki::CertificateInfo::parse(cert)?;
    Ok(Responder {
        signer: OcspResponder::new(cert, &[issuer], signer)?,
        cert_der: Some(cert.to_vec()),
        not_after: info.not_after,
    })
}

impl Authority {
    /// Loads the hierarchy from the database and unlocks every key with `passphrase` (keys
    /// encrypted in the database: [`FileKeys`]).
    pub async fn load(
        store: Store,
        passphrase: &[u8],
        clock: Arc<dyn Clock>,
        config: AuthorityConfig,
    ) -> Result<Self, CaError> {
        Self::load_with_keys(store, Arc::new(FileKeys::new(passphrase)), clock, config).await
    }

    /// Loads the hierarchy and opens every key through `keys` (an HSM, or [`FileKeys`]).
    /// A CA whose key is [`OFFLINE_KEY`] (the root) is loaded without a key: its CRL and its
    /// OCSP answers come pre-signed from the offline machine.
    pub async fn load_with_keys(
        store: Store,
        keys: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
        config: AuthorityConfig,
    ) -> Result<Self, CaError> {
        let records = store.cas().await?;
        if records.is_empty() {
            return Err(CaError::NotInitialised);
        }
        let public_url = match &config.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => store
                .setting(store::settings::PUBLIC_URL)
                .await?
                .ok_or_else(|| CaError::Internal("no public URL recorded; run `carecert init` again".into()))?,
        };
        // Key derivation is deliberately slow: unlock the keys on the blocking pool, in parallel.
        let mut jobs = Vec::new();
        for r in &records {
            let (name, key_ref, resp_ref, keys, cert) =
                (r.name.clone(), r.key_ref.clone(), r.responder_key_ref.clone(), keys.clone(), r.cert_der.clone());
            jobs.push(tokio::task::spawn_blocking(move || -> Result<_, CaError> {
                let key: Arc<dyn Signer> = if key_ref == OFFLINE_KEY {
                    let info = pki::CertificateInfo::parse(&cert)?;
                    Arc::new(OfflineKey {
                        name: name.clone(),
                        algorithm: pki::KeyAlgorithm::from_spki(&info.spki_der)?,
                        spki: info.spki_der,
                    })
                } else {
                    keys.open(&name, &key_ref)?
                };
                let resp = resp_ref.map(|k| keys.open(&format!("{name} OCSP responder"), &k)).transpose()?;
                Ok((key, resp))
            }));
        }
        let mut cas: Vec<LoadedCa> = Vec::new();
        for (r, job) in records.into_iter().zip(jobs) {
            let (key, resp_key) = job.await.map_err(|e| CaError::Internal(e.to_string()))??;
            let offline = r.key_ref == OFFLINE_KEY;
            if r.parent.is_none() && !offline {
                tracing::warn!(
                    ca = %r.name,
                    "the root CA's key is on line in this database: production deployments keep it off line (`carecert init --root-dir`)"
                );
            }
            let identity = CaIdentity::new(r.name.clone(), r.cert_der.clone(), key.clone())?;
            let mut chain = Vec::new();
            if r.parent.is_some() {
                chain.push(r.cert_der.clone());
                let mut parent = r.parent.clone();
                while let Some(p) = parent {
                    let Some(pc) = cas.iter().find(|c| c.record.name == p) else { break };
                    if pc.record.parent.is_some() {
                        chain.push(pc.record.cert_der.clone());
                    }
                    parent = pc.record.parent.clone();
                }
            }
            // A CA without a delegated responder (the root) answers OCSP with its own key.
            let responder = match (&r.responder_cert_der, resp_key) {
                (Some(cert), Some(k)) => responder_of(cert, &r.cert_der, k)?,
                _ => Responder {
                    signer: OcspResponder::new(&r.cert_der, &[], key)?,
                    cert_der: None,
                    not_after: identity.not_after.unix_timestamp(),
                },
            };
            cas.push(LoadedCa {
                identity,
                family: family_of(&r.name).to_string(),
                offline,
                responder: RwLock::new(Arc::new(responder)),
                chain,
                record: r,
                crls: crate::crl::CaCrls::default(),
            });
        }
        let clock_now = store.revocation_clock().await?;
        let ocsp = OcspCache::new(config.ocsp_cache_entries);
        let authority = Authority {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                public_url,
                cas,
                ocsp,
                crls: RwLock::new(HashMap::new()),
                seen_revocation_clock: AtomicI64::new(clock_now),
                metrics: Metrics::default(),
                keys,
            }),
        };
        authority.ensure_crls().await?;
        Ok(authority)
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// How many OCSP answers this node holds in memory.
    pub fn ocsp_cache_len(&self) -> usize {
        self.inner.ocsp.len()
    }

    /// The base URL in AIA / CDP.
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// CA names, root first.
    pub fn ca_names(&self) -> Vec<String> {
        self.inner.cas.iter().map(|c| c.record.name.clone()).collect()
    }

    /// `(name, parent, certificate DER)` of each CA, root first.
    pub fn ca_certificates(&self) -> Vec<(String, Option<String>, Vec<u8>)> {
        self.inner
            .cas
            .iter()
            .map(|c| (c.record.name.clone(), c.record.parent.clone(), c.record.cert_der.clone()))
            .collect()
    }

    pub(crate) fn ca(&self, name: &str) -> Result<&LoadedCa, CaError> {
        self.inner.cas.iter().find(|c| c.record.name == name).ok_or_else(|| CaError::UnknownCa(name.into()))
    }

    /// The CA that issues for `name`: the newest CA of that family (`systems` → `systems-2`
    /// once rotated), or the CA of exactly that name. Refused when its key is off line.
    pub(crate) fn issuing(&self, name: &str) -> Result<&LoadedCa, CaError> {
        let ca = match self.inner.cas.iter().rev().find(|c| c.family == name) {
            Some(c) => c,
            None => self.ca(name)?,
        };
        if ca.offline {
            return Err(CaError::Offline(ca.record.name.clone()));
        }
        Ok(ca)
    }

    /// The CA that new certificates for `name` (a CA or its family) come from.
    pub fn issuing_ca(&self, name: &str) -> Result<String, CaError> {
        Ok(self.issuing(name)?.record.name.clone())
    }

    /// Where the keys are, for messages.
    pub fn key_store(&self) -> String {
        self.inner.keys.describe()
    }

    /// The delegated OCSP responder certificate `ca` signs with now (DER).
    pub fn responder_certificate(&self, ca: &str) -> Result<Option<Vec<u8>>, CaError> {
        Ok(self.ca(ca)?.responder.read().cert_der.clone())
    }

    /// Revokes a certificate: one transaction records it (with its audit entry), then
    /// cached OCSP answers are dropped and a new CRL is published before this returns.
    pub async fn revoke(&self, req: RevokeRequest) -> Result<Revoked, CaError> {
        let serial = pki::cert::normalize_serial_hex(&req.serial).ok_or_else(|| {
            CaError::BadInput(pki::PkiError::Invalid(format!("'{}' is not a serial number in hex", req.serial)))
        })?;
        let issuer = match &req.ca {
            Some(ca) if self.inner.cas.iter().any(|c| &c.family == ca && &c.record.name != ca) => {
                // A rotated family: the certificate may be from any of its CAs.
                let found = self.inner.store.certificates_by_serial(&serial).await?;
                let mine: Vec<_> = found.iter().filter(|c| family_of(&c.issuer) == ca.as_str()).collect();
                match mine.as_slice() {
                    [] => return Err(CaError::UnknownCertificate(serial)),
                    [one] => one.issuer.clone(),
                    _ => return Err(CaError::AmbiguousSerial(serial)),
                }
            }
            Some(ca) => {
                self.ca(ca)?;
                ca.clone()
            }
            None => {
                let found = self.inner.store.certificates_by_serial(&serial).await?;
                match found.as_slice() {
                    [] => return Err(CaError::UnknownCertificate(serial)),
                    [one] => one.issuer.clone(),
                    _ => return Err(CaError::AmbiguousSerial(serial)),
                }
            }
        };
        if self.ca(&issuer)?.offline {
            return Err(CaError::Offline(issuer));
        }
        if req.reason == RevocationReason::RemoveFromCrl {
            return Err(CaError::BadInput(pki::PkiError::Invalid(
                "removeFromCRL is not a revocation reason: revocations here are final".into(),
            )));
        }
        let now = self.inner.clock.now().unix_timestamp();
        let event = event(
            self.inner.clock.as_ref(),
            &req.actor,
            Action::CertificateRevoked,
            format!("{issuer}/{serial}"),
            serde_json::json!({"reason": req.reason.name()}),
        );
        let outcome = self.inner.store.revoke(&issuer, &serial, req.reason.code(), now, event).await?;
        match outcome {
            RevokeOutcome::Revoked { seq, scope, successors } => {
                self.inner.ocsp.forget(&issuer, &serial);
                self.inner.metrics.revoked.fetch_add(1, Ordering::Relaxed);
                // Key compromise also revoked the certificates renewed from this one: each
                // CRL that names one of them is published too.
                let mut others = std::collections::BTreeSet::new();
                for c in &successors {
                    self.inner.ocsp.forget(&c.issuer, &c.serial);
                    self.inner.metrics.revoked.fetch_add(1, Ordering::Relaxed);
                    if (&c.issuer, c.scope) != (&issuer, scope) {
                        others.insert((c.issuer.clone(), c.scope));
                    }
                }
                for (i, s) in others {
                    self.publish_crl_covering(&i, s, seq).await?;
                }
                let crl_number = self.publish_crl_covering(&issuer, scope, seq).await?;
                Ok(Revoked { issuer, serial, reason: req.reason, revoked_at: now, crl_number })
            }
            RevokeOutcome::AlreadyRevoked { reason, .. } => Err(CaError::AlreadyRevoked {
                serial,
                reason: RevocationReason::from_code(reason).map(|r| r.name()).unwrap_or("unknown").to_string(),
            }),
            RevokeOutcome::NotIssued => Err(CaError::NotIssued(serial)),
            RevokeOutcome::NotFound => Err(CaError::UnknownCertificate(serial)),
        }
    }

    /// Runs the periodic work of a node until the returned handle is aborted: picks up
    /// revocations made by other nodes (drops their cached OCSP answers), loads CRLs other
    /// nodes published, and publishes a fresh CRL when the current one gets old.
    pub fn spawn_maintenance(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            // The kept CRL lists are read now, not by the first revocations after start-up.
            if let Err(e) = this.warm_crl_lists().await {
                tracing::warn!(error = %e, "reading the CRL lists after start-up failed; the first publication reads them");
            }
            let mut tick = tokio::time::interval(this.inner.config.poll_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = this.maintain().await {
                    tracing::warn!(error = %e, "CA maintenance failed; retrying at the next tick");
                }
            }
        })
    }

    async fn maintain(&self) -> Result<(), CaError> {
        let seen = self.inner.seen_revocation_clock.load(Ordering::SeqCst);
        let clock = self.inner.store.revocation_clock().await?;
        if clock != seen {
            for (issuer, serial) in self.inner.store.revoked_since(seen).await? {
                self.inner.ocsp.forget(&issuer, &serial);
            }
            self.inner.seen_revocation_clock.store(clock, Ordering::SeqCst);
        }
        let now = self.inner.clock.now().unix_timestamp();
        self.inner.ocsp.evict_expired(now, self.inner.config.ocsp_refresh.as_secs() as i64);
        self.fail_stale_reservations(now).await?;
        self.renew_responders(now).await?;
        self.refresh_crls().await
    }

    /// Marks reservations that were never signed within `reservation_timeout` as failed.
    async fn fail_stale_reservations(&self, now: i64) -> Result<(), CaError> {
        let before = now - self.inner.config.reservation_timeout.as_secs() as i64;
        let clock = self.inner.clock.clone();
        let failed = self
            .inner
            .store
            .fail_stale_reservations(before, |issuer, serial| {
                event(
                    clock.as_ref(),
                    "system",
                    Action::CertificateFailed,
                    format!("{issuer}/{serial}"),
                    serde_json::json!({"reason": "signing did not complete"}),
                )
            })
            .await?;
        for (issuer, serial) in &failed {
            tracing::warn!(%issuer, %serial, "a reservation was never signed: marked failed");
        }
        Ok(())
    }

    /// Renews each delegated OCSP responder certificate that is within
    /// `responder_renew_before` of its end (when the CA outlives it), and takes over
    /// responders other nodes renewed. Two nodes renewing at once: one wins the conditional
    /// update, the other loads the winner's.
    async fn renew_responders(&self, now: i64) -> Result<(), CaError> {
        let records = self.inner.store.cas().await?;
        for ca in self.inner.cas.iter().filter(|c| !c.offline) {
            let Some(rec) = records.iter().find(|r| r.name == ca.record.name) else { continue };
            let current = ca.responder.read().clone();
            let Some(current_cert) = current.cert_der.clone() else { continue };
            if let (Some(db_cert), Some(db_key)) = (&rec.responder_cert_der, &rec.responder_key_ref)
                && db_cert != &current_cert
            {
                self.adopt_responder(ca, db_cert, db_key).await?;
                continue;
            }
            let due = now >= current.not_after - self.inner.config.responder_renew_before.as_secs() as i64;
            let outlives = ca.identity.not_after.unix_timestamp() > current.not_after;
            if !(due && outlives) {
                continue;
            }
            let organization = crate::hierarchy::organization_of(&ca.identity);
            let new_key = {
                let keys = self.inner.keys.clone();
                let label = format!("carecert {} OCSP responder {now}", ca.record.name);
                tokio::task::spawn_blocking(move || keys.generate(&label, pki::KeyAlgorithm::EcdsaP256))
                    .await
                    .map_err(|e| CaError::Internal(e.to_string()))??
            };
            let der = crate::hierarchy::issue_responder_cert(
                &self.inner.store,
                self.inner.clock.as_ref(),
                &ca.identity,
                new_key.signer.public_key_spki(),
                &self.inner.public_url,
                &organization,
                "system",
            )
            .await?;
            let ev = event(
                self.inner.clock.as_ref(),
                "system",
                Action::CaResponderIssued,
                ca.record.name.as_str(),
                serde_json::json!({"renewed": true}),
            );
            if self.inner.store.replace_responder(&ca.record.name, &current_cert, &der, &new_key.key_ref, ev).await? {
                let responder = responder_of(&der, &ca.record.cert_der, new_key.signer)?;
                tracing::info!(ca = %ca.record.name, not_after = responder.not_after, "OCSP responder certificate renewed");
                *ca.responder.write() = Arc::new(responder);
                self.inner.ocsp.forget_issuer(&ca.record.name);
            }
        }
        Ok(())
    }

    async fn adopt_responder(&self, ca: &LoadedCa, cert: &[u8], key_ref: &str) -> Result<(), CaError> {
        let keys = self.inner.keys.clone();
        let (name, key_ref) = (format!("{} OCSP responder", ca.record.name), key_ref.to_string());
        let signer = tokio::task::spawn_blocking(move || keys.open(&name, &key_ref))
            .await
            .map_err(|e| CaError::Internal(e.to_string()))??;
        let responder = responder_of(cert, &ca.record.cert_der, signer)?;
        tracing::info!(ca = %ca.record.name, "took over the OCSP responder another node renewed");
        *ca.responder.write() = Arc::new(responder);
        self.inner.ocsp.forget_issuer(&ca.record.name);
        Ok(())
    }
}

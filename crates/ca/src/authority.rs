//! The loaded CA: loading the hierarchy, revocation, and the periodic work of a node.
//! Issuance is in `issue.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use pki::ocsp::OcspResponder;
use pki::{CaIdentity, KeyPair, RevocationReason, Signer};
use store::{CaRecord, CrlRecord, RevokeOutcome, Store};
use types::Action;

use crate::issue::event;
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
}

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

pub(crate) struct LoadedCa {
    pub(crate) identity: CaIdentity,
    pub(crate) responder: OcspResponder,
    /// This CA's certificate and its parents', excluding the root.
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) record: CaRecord,
    /// Serialises CRL publication for this CA; holds the revocation clock the last CRL covers.
    pub(crate) crl_lock: tokio::sync::Mutex<i64>,
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
    pub(crate) crls: RwLock<HashMap<String, Arc<CrlRecord>>>,
    pub(crate) seen_revocation_clock: AtomicI64,
    pub(crate) metrics: Metrics,
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

fn unlock(name: &str, key_ref: &str, passphrase: &[u8]) -> Result<Arc<dyn Signer>, CaError> {
    if key_ref.starts_with("pkcs11:") {
        return Err(CaError::UnsupportedKey(name.into(), "PKCS#11 CA keys arrive with the HSM signer".into()));
    }
    match KeyPair::from_pem(key_ref, Some(passphrase)) {
        Ok(k) => Ok(k.into_signer()),
        Err(pki::PkiError::WrongPassphrase) => Err(CaError::WrongPassphrase(name.into())),
        Err(e) => Err(CaError::Internal(format!("key of CA '{name}': {e}"))),
    }
}

impl Authority {
    /// Loads the hierarchy from the database and unlocks every key with `passphrase`.
    pub async fn load(
        store: Store,
        passphrase: &[u8],
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
            let (name, key_ref, resp_ref, pass) =
                (r.name.clone(), r.key_ref.clone(), r.responder_key_ref.clone(), passphrase.to_vec());
            jobs.push(tokio::task::spawn_blocking(move || -> Result<_, CaError> {
                let key = unlock(&name, &key_ref, &pass)?;
                let resp = resp_ref.map(|k| unlock(&format!("{name} OCSP responder"), &k, &pass)).transpose()?;
                Ok((key, resp))
            }));
        }
        let mut cas: Vec<LoadedCa> = Vec::new();
        for (r, job) in records.into_iter().zip(jobs) {
            let (key, resp_key) = job.await.map_err(|e| CaError::Internal(e.to_string()))??;
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
                (Some(cert), Some(k)) => OcspResponder::new(cert, &[&r.cert_der], k)?,
                _ => OcspResponder::new(&r.cert_der, &[], key)?,
            };
            cas.push(LoadedCa { identity, responder, chain, record: r, crl_lock: tokio::sync::Mutex::new(-1) });
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

    /// Revokes a certificate: one transaction records it (with its audit entry), then
    /// cached OCSP answers are dropped and a new CRL is published before this returns.
    pub async fn revoke(&self, req: RevokeRequest) -> Result<Revoked, CaError> {
        let serial = pki::cert::normalize_serial_hex(&req.serial).ok_or_else(|| {
            CaError::BadInput(pki::PkiError::Invalid(format!("'{}' is not a serial number in hex", req.serial)))
        })?;
        let issuer = match &req.ca {
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
            RevokeOutcome::Revoked { seq, successors } => {
                self.inner.ocsp.forget(&issuer, &serial);
                self.inner.metrics.revoked.fetch_add(1, Ordering::Relaxed);
                // Key compromise also revoked the certificates renewed from this one.
                for (i, s) in &successors {
                    self.inner.ocsp.forget(i, s);
                    self.inner.metrics.revoked.fetch_add(1, Ordering::Relaxed);
                    if i != &issuer {
                        self.publish_crl_covering(i, seq).await?;
                    }
                }
                let crl_number = self.publish_crl_covering(&issuer, seq).await?;
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
        self.refresh_crls().await
    }
}

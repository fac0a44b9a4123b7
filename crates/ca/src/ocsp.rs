//! OCSP answers: signed once per status change, served from memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::RwLock;
use pki::RevocationReason;
use pki::ocsp::{CertIdHash, OcspAnswer, OcspStatus, ResponseStatus, error_response, parse_request};
use store::CertStatus;

use crate::{Authority, CaError};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    issuer: String,
    serial: String,
    hash: CertIdHash,
    /// Whether the request's hash AlgorithmIdentifier carried NULL parameters; the
    /// response echoes the CertID exactly, so the two forms are cached apart.
    params: bool,
}

#[derive(Debug)]
struct Cached {
    der: bytes_like::Bytes,
    signed_at: i64,
    next_update: i64,
}

mod bytes_like {
    /// Shared immutable response bytes.
    pub type Bytes = std::sync::Arc<[u8]>;
}

impl Cached {
    fn fresh(&self, now: i64, refresh: i64) -> bool {
        now < self.signed_at + refresh && now < self.next_update
    }
}

/// Signed responses by certificate, for certificates this CA knows (`good` or `revoked`):
/// answers for unknown serials are never kept, so the key space an outsider can fill is the
/// set of real certificates. Bounded: when full, expired answers go first, then the oldest
/// tenth by signing time (an answer is re-signed every `ocsp_refresh` anyway, so the oldest
/// are the next to expire). Maintenance also drops expired answers every tick.
#[derive(Debug)]
pub(crate) struct OcspCache {
    map: RwLock<HashMap<Key, Arc<Cached>>>,
    capacity: usize,
}

impl OcspCache {
    /// A cache of at most `capacity` answers (0: keep nothing).
    pub(crate) fn new(capacity: usize) -> Self {
        Self { map: RwLock::new(HashMap::new()), capacity }
    }

    /// Drops the answers about one certificate: the four forms of its CertID (two hashes,
    /// with or without NULL parameters) are looked up, not searched for — a revocation costs
    /// the same whatever the number of answers held.
    pub(crate) fn forget(&self, issuer: &str, serial: &str) {
        let mut key =
            Key { issuer: issuer.to_string(), serial: serial.to_string(), hash: CertIdHash::Sha1, params: false };
        let mut map = self.map.write();
        for hash in [CertIdHash::Sha1, CertIdHash::Sha256] {
            for params in [false, true] {
                key.hash = hash;
                key.params = params;
                map.remove(&key);
            }
        }
    }

    /// Drops every answer of `issuer` (its responder changed).
    pub(crate) fn forget_issuer(&self, issuer: &str) {
        self.map.write().retain(|k, _| k.issuer != issuer);
    }

    /// How many answers are held.
    pub(crate) fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Drops every answer that may no longer be served.
    pub(crate) fn evict_expired(&self, now: i64, refresh: i64) {
        if self.map.read().values().any(|c| !c.fresh(now, refresh)) {
            self.map.write().retain(|_, c| c.fresh(now, refresh));
        }
    }

    fn insert(&self, key: Key, value: Arc<Cached>, now: i64, refresh: i64) {
        if self.capacity == 0 {
            return;
        }
        let mut map = self.map.write();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, c| c.fresh(now, refresh));
            if map.len() >= self.capacity {
                let mut signed: Vec<i64> = map.values().map(|c| c.signed_at).collect();
                let evict = (self.capacity / 10).max(1).min(signed.len());
                let (_, cut, _) = signed.select_nth_unstable(evict - 1);
                let cut = *cut;
                let mut left = evict;
                map.retain(|_, c| {
                    if left > 0 && c.signed_at <= cut {
                        left -= 1;
                        false
                    } else {
                        true
                    }
                });
            }
        }
        map.insert(key, value);
    }
}

/// How long a relying party may keep an `unknown` answer (seconds).
const UNKNOWN_MAX_AGE: i64 = 60;

/// An OCSP reply ready to send.
#[derive(Debug, Clone)]
pub struct OcspReply {
    /// DER `OCSPResponse`.
    pub der: Arc<[u8]>,
    /// Seconds a cache may keep it (`None`: do not cache — nonce or error).
    pub max_age: Option<i64>,
}

impl Authority {
    /// Answers a DER OCSP request. Never fails: bad requests get the matching unsuccessful
    /// OCSP response status, as RFC 6960 §2.3 says.
    pub async fn ocsp(&self, request: &[u8]) -> OcspReply {
        match self.ocsp_inner(request).await {
            Ok(r) => r,
            Err(status) => OcspReply { der: error_response(status).into(), max_age: None },
        }
    }

    async fn ocsp_inner(&self, request: &[u8]) -> Result<OcspReply, ResponseStatus> {
        let parsed = parse_request(request).map_err(|_| ResponseStatus::MalformedRequest)?;
        let now = self.inner.clock.now().unix_timestamp();
        let refresh = self.inner.config.ocsp_refresh.as_secs() as i64;
        // Which CA is asked about: the first query decides (one responder signs a response).
        let ca = parsed
            .queries
            .iter()
            .find_map(|q| self.inner.cas.iter().find(|c| q.is_for(&c.identity)))
            .ok_or(ResponseStatus::Unauthorized)?;
        let issuer = ca.record.name.clone();
        let cacheable = parsed.nonce.is_none() && parsed.queries.len() == 1;
        let key = cacheable.then(|| {
            let q = &parsed.queries[0];
            Key {
                issuer: issuer.clone(),
                serial: q.serial_hex.clone(),
                hash: q.hash.unwrap_or(CertIdHash::Sha1),
                params: q.cert_id.hash_algorithm.parameters.is_some(),
            }
        });
        if let Some(k) = &key
            && let Some(hit) = self.inner.ocsp.map.read().get(k)
            && hit.fresh(now, refresh)
        {
            self.inner.metrics.ocsp_cached.fetch_add(1, Ordering::Relaxed);
            return Ok(OcspReply { der: hit.der.clone(), max_age: Some((hit.signed_at + refresh - now).max(0)) });
        }
        if ca.offline {
            return self.presigned(&issuer, &parsed.queries[0], key, now, refresh).await;
        }
        let next_update = now + self.inner.config.ocsp_validity.as_secs() as i64;
        let mut answers = Vec::with_capacity(parsed.queries.len());
        for q in &parsed.queries {
            let status = if q.is_for(&ca.identity) {
                self.status_of(&issuer, &q.serial_hex).await.map_err(|e| {
                    tracing::error!(error = %e, "OCSP status lookup failed");
                    ResponseStatus::TryLater
                })?
            } else {
                OcspStatus::Unknown
            };
            answers.push(OcspAnswer { cert_id: q.cert_id.clone(), status, this_update: now, next_update });
        }
        let responder = ca.responder.read().clone();
        let der: Arc<[u8]> = responder
            .signer
            .respond(&answers, now, parsed.nonce.as_deref())
            .map_err(|e| {
                tracing::error!(error = %e, "OCSP signing failed");
                ResponseStatus::InternalError
            })?
            .into();
        self.inner.metrics.ocsp_signed.fetch_add(1, Ordering::Relaxed);
        // Only answers about certificates this CA issued are kept: an `unknown` answer is
        // signed afresh each time (it costs CPU, never memory).
        let known = answers.iter().all(|a| a.status != OcspStatus::Unknown);
        match key {
            Some(k) if known => {
                let cached = Arc::new(Cached { der: der.clone(), signed_at: now, next_update });
                self.inner.ocsp.insert(k, cached, now, refresh);
                Ok(OcspReply { der, max_age: Some(refresh) })
            }
            // Unknown today, perhaps issued in a minute: relying parties may keep it briefly.
            Some(_) => Ok(OcspReply { der, max_age: Some(UNKNOWN_MAX_AGE.min(refresh)) }),
            None => Ok(OcspReply { der, max_age: None }),
        }
    }

    /// An answer of an offline CA (the root): pre-signed on the offline machine, imported into
    /// the database; never signed here. A nonce cannot be echoed (RFC 6960 allows that).
    async fn presigned(
        &self,
        issuer: &str,
        query: &pki::ocsp::CertQuery,
        key: Option<Key>,
        now: i64,
        refresh: i64,
    ) -> Result<OcspReply, ResponseStatus> {
        let hash = match query.hash {
            Some(CertIdHash::Sha1) => "sha1",
            Some(CertIdHash::Sha256) => "sha256",
            None => return Err(ResponseStatus::Unauthorized),
        };
        let params = query.cert_id.hash_algorithm.parameters.is_some();
        let found =
            self.inner.store.presigned_ocsp(issuer, &query.serial_hex, hash, params, now).await.map_err(|e| {
                tracing::error!(error = %e, "reading pre-signed OCSP answers failed");
                ResponseStatus::TryLater
            })?;
        let Some(found) = found else {
            tracing::warn!(%issuer, serial = %query.serial_hex, "{}", CaError::PresignedMissing(issuer.into()));
            return Err(ResponseStatus::TryLater);
        };
        let der: Arc<[u8]> = found.der.into();
        let max_age = refresh.min(found.next_update - now).max(0);
        if let Some(k) = key {
            let cached = Arc::new(Cached { der: der.clone(), signed_at: now, next_update: found.next_update });
            self.inner.ocsp.insert(k, cached, now, refresh);
        }
        Ok(OcspReply { der, max_age: Some(max_age) })
    }

    async fn status_of(&self, issuer: &str, serial: &str) -> Result<OcspStatus, CaError> {
        Ok(match self.inner.store.certificate(issuer, serial).await? {
            None => OcspStatus::Unknown,
            Some(rec) => match rec.status {
                CertStatus::Reserved | CertStatus::Failed => OcspStatus::Unknown,
                CertStatus::Issued => OcspStatus::Good,
                CertStatus::Revoked { at, reason } => OcspStatus::Revoked {
                    at,
                    reason: RevocationReason::from_code(reason).filter(|r| *r != RevocationReason::Unspecified),
                },
            },
        })
    }
}

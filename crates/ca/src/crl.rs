//! CRL publication: on revocation, on a schedule, and picked up from other nodes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use pki::RevocationReason;
use pki::crl::{EncodedEntries, RevokedEntry, build_crl, build_crl_encoded};
use store::CrlRecord;
use time::OffsetDateTime;

use crate::{Authority, CaError};

impl Authority {
    /// The newest CRL of `ca`, from memory.
    pub fn crl(&self, ca: &str) -> Result<Arc<CrlRecord>, CaError> {
        self.ca(ca)?;
        self.inner.crls.read().get(ca).cloned().ok_or_else(|| CaError::Internal(format!("no CRL for '{ca}' yet")))
    }

    /// Publishes a CRL for each CA that has none (first start) and loads the rest.
    pub(crate) async fn ensure_crls(&self) -> Result<(), CaError> {
        for name in self.ca_names() {
            match self.inner.store.latest_crl(&name).await? {
                Some(crl) => {
                    self.inner.crls.write().insert(name, Arc::new(crl));
                }
                None if self.ca(&name)?.offline => {
                    tracing::warn!(ca = %name, "no CRL of the offline CA yet: import one (`carecert root presign`, `carecert ca import`)");
                }
                None => {
                    self.publish_crl(&name).await?;
                }
            }
        }
        Ok(())
    }

    /// Publishes a new CRL for `ca` now; returns its number.
    pub async fn publish_crl(&self, ca: &str) -> Result<i64, CaError> {
        let loaded = self.ca(ca)?;
        if loaded.offline {
            return Err(CaError::Offline(ca.into()));
        }
        let mut state = loaded.crl_lock.lock().await;
        self.publish_locked(ca, &mut state).await
    }

    /// Makes sure the published CRL of `ca` includes every revocation up to clock value
    /// `seq`: publishes one unless a publication since then already did. Concurrent callers
    /// queue on the CA's lock, so one publication answers all who waited during the previous.
    pub(crate) async fn publish_crl_covering(&self, ca: &str, seq: i64) -> Result<i64, CaError> {
        let loaded = self.ca(ca)?;
        let mut state = loaded.crl_lock.lock().await;
        if state.covered >= seq {
            return Ok(self.crl(ca)?.crl_number);
        }
        self.publish_locked(ca, &mut state).await
    }

    async fn publish_locked(&self, ca: &str, state: &mut CrlState) -> Result<i64, CaError> {
        let store = &self.inner.store;
        // Order matters: clock, then number, then list — a higher number never carries an
        // older list, and the list holds every revocation up to `clock`.
        let clock = store.revocation_clock().await?;
        let number = store.next_crl_number(ca).await?;
        let now = self.inner.clock.now();
        let mut list = match state.list.take() {
            // Only what was revoked since the last read: the list is kept, not re-read.
            Some(mut list) => {
                let added = store.revoked_for_crl_since(ca, list.upto).await?;
                list.add(added)?;
                list
            }
            None => RevokedList::new(store.revoked_for_crl(ca, now.unix_timestamp()).await?)?,
        };
        list.drop_expired(now.unix_timestamp())?;
        let list = Arc::new(list);
        let next = now + self.inner.config.crl_validity;
        let this = self.clone();
        let name = ca.to_string();
        let shared = list.clone();
        let der = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, CaError> {
            let loaded = this.ca(&name)?;
            Ok(build_crl_encoded(&loaded.identity, number as u64, now, next, &shared.encoded)?)
        })
        .await
        .map_err(|e| CaError::Internal(e.to_string()))??;
        let entries = list.encoded.len() as i64;
        state.list = Arc::into_inner(list);
        let record = CrlRecord {
            issuer: ca.to_string(),
            crl_number: number,
            this_update: now.unix_timestamp(),
            next_update: next.unix_timestamp(),
            entries,
            der,
        };
        store.store_crl(&record).await?;
        tracing::info!(ca, crl_number = number, entries, "published CRL");
        self.inner.metrics.crls_published.fetch_add(1, Ordering::Relaxed);
        let mut crls = self.inner.crls.write();
        let newer = crls.get(ca).is_none_or(|c| c.crl_number < number);
        if newer {
            crls.insert(ca.to_string(), Arc::new(record));
        }
        state.covered = clock;
        Ok(number)
    }

    /// Loads CRLs other nodes published and refreshes CRLs that are getting old.
    pub(crate) async fn refresh_crls(&self) -> Result<(), CaError> {
        let now = self.inner.clock.now().unix_timestamp();
        for name in self.ca_names() {
            let local = self.inner.crls.read().get(&name).cloned();
            let db = self.inner.store.latest_crl_number(&name).await?;
            if db > local.as_ref().map(|c| c.crl_number)
                && let Some(crl) = self.inner.store.latest_crl(&name).await?
            {
                self.inner.crls.write().insert(name.clone(), Arc::new(crl));
            }
            let current = self.inner.crls.read().get(&name).cloned();
            let stale = current.is_none_or(|c| c.this_update + self.inner.config.crl_refresh.as_secs() as i64 <= now);
            if stale && !self.ca(&name)?.offline {
                self.publish_crl(&name).await?;
            }
        }
        Ok(())
    }
}

/// Builds and signs a CRL of `rows` (as read from the database) with a fresh P-256 key, for
/// benchmarks; returns (DER size, entries).
pub fn bench_crl_rows(rows: &[store::RevokedRow]) -> Result<(usize, usize), CaError> {
    let ca = bench_ca()?;
    let now = OffsetDateTime::now_utc();
    let list = rows.iter().map(|r| RevokedEntry {
        serial: &r.serial,
        revoked_at: r.revoked_at,
        reason: RevocationReason::from_code(r.reason).unwrap_or(RevocationReason::Unspecified),
    });
    let der = build_crl(&ca, 1, now, now + time::Duration::days(1), list)?;
    Ok((der.len(), rows.len()))
}

fn bench_ca() -> Result<pki::CaIdentity, CaError> {
    let key = pki::KeyPair::generate(pki::KeyAlgorithm::EcdsaP256)?.into_signer();
    let spec = pki::Profile::RootCa.spec();
    let subject = pki::SubjectName::cn("bench CA");
    let order = pki::cert::CertificateOrder {
        spec: &spec,
        subject: &subject,
        sans: &[],
        subject_spki: key.public_key_spki(),
        now: OffsetDateTime::now_utc(),
        validity_days: None,
        issuer_not_after: None,
        urls: &pki::PublicationUrls::default(),
    };
    let t = pki::cert::CertificateTemplate::prepare(&order, pki::Serial::random()?)?;
    Ok(pki::CaIdentity::new("bench", t.self_sign(key.clone())?, key)?)
}

/// Builds and signs a CRL of `entries` synthetic revocations in memory, for benchmarks.
/// Returns the DER size and the time the build and signature took (the input list is
/// prepared before the clock starts, as a database read would hand it over).
pub fn bench_crl(entries: usize) -> Result<(usize, std::time::Duration), CaError> {
    let ca = bench_ca()?;
    let now = OffsetDateTime::now_utc();
    let serials: Vec<[u8; 16]> = (0..entries as u64)
        .map(|i| {
            let mut s = [0x5au8; 16];
            s[8..].copy_from_slice(&i.to_be_bytes());
            s
        })
        .collect();
    let list = serials.iter().enumerate().map(|(i, s)| RevokedEntry {
        serial: s,
        revoked_at: now.unix_timestamp() - (i as i64 % 86_400),
        reason: if i % 4 == 0 { RevocationReason::KeyCompromise } else { RevocationReason::Superseded },
    });
    let started = std::time::Instant::now();
    let der = build_crl(&ca, 1, now, now + time::Duration::days(1), list)?;
    Ok((der.len(), started.elapsed()))
}

/// What a CA's last CRL publication covered, kept between publications (behind the CA's
/// publication lock).
pub(crate) struct CrlState {
    /// Every revocation up to this revocation clock value is in the published CRL (-1:
    /// nothing published by this node yet).
    pub(crate) covered: i64,
    /// The CA's revocations as last read (None until the first publication, or after one
    /// failed part way): the next publication reads only what was revoked after it.
    list: Option<RevokedList>,
}

impl Default for CrlState {
    fn default() -> Self {
        Self { covered: -1, list: None }
    }
}

/// A CA's unexpired revocations in revocation order, encoded for the CRL, and the highest
/// clock value read.
///
/// Publishing a CRL used to read every unexpired revocation of the CA from the database,
/// ~36k rows at 10M certificates (50–70 ms, most of it reading rows), on every revocation.
/// Now the first publication reads them all and later ones read only the rows revoked
/// after the highest clock value already read (an index range on `certificates_crl`):
/// revocations commit in clock order (`Store::revoked_for_crl_since`), so that range holds
/// every revocation this list lacks, including other nodes'. The entries are kept encoded
/// (`pki::crl::EncodedEntries`): a publication encodes only the new ones, and encodes the
/// whole list again only when an entry has expired.
struct RevokedList {
    /// (serial, revocation time, notAfter, reason) of each entry, in the order of `encoded`.
    kept: Vec<(Vec<u8>, i64, i64, u8)>,
    encoded: EncodedEntries,
    upto: i64,
    /// The earliest notAfter in the list: nothing to drop before it.
    first_expiry: i64,
}

impl RevokedList {
    fn new(rows: Vec<store::RevokedRow>) -> Result<Self, CaError> {
        let mut list = Self { kept: vec![], encoded: EncodedEntries::default(), upto: 0, first_expiry: i64::MAX };
        list.add(rows)?;
        Ok(list)
    }

    fn add(&mut self, rows: Vec<store::RevokedRow>) -> Result<(), CaError> {
        for r in rows {
            // `revoked_for_crl_since` reads only values above `upto`: never a row twice.
            self.upto = self.upto.max(r.seq);
            self.first_expiry = self.first_expiry.min(r.not_after);
            self.encoded.push(&entry(&r.serial, r.revoked_at, r.reason))?;
            self.kept.push((r.serial, r.revoked_at, r.not_after, r.reason));
        }
        Ok(())
    }

    /// Drops the entries whose certificate expired before `now` (a CRL lists only unexpired
    /// ones), encoding the rest again; nothing to do until the earliest expiry.
    fn drop_expired(&mut self, now: i64) -> Result<(), CaError> {
        if self.first_expiry >= now {
            return Ok(());
        }
        self.kept.retain(|(_, _, not_after, _)| *not_after >= now);
        self.encoded = EncodedEntries::default();
        self.first_expiry = i64::MAX;
        for (serial, revoked_at, not_after, reason) in &self.kept {
            self.encoded.push(&entry(serial, *revoked_at, *reason))?;
            self.first_expiry = self.first_expiry.min(*not_after);
        }
        Ok(())
    }
}

fn entry(serial: &[u8], revoked_at: i64, reason: u8) -> RevokedEntry<'_> {
    RevokedEntry {
        serial,
        revoked_at,
        reason: RevocationReason::from_code(reason).unwrap_or(RevocationReason::Unspecified),
    }
}

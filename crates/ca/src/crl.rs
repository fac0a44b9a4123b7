//! CRL publication: on revocation, on a schedule, and picked up from other nodes.
//!
//! Each online CA publishes its **whole CRL** (every unexpired revocation; no
//! issuingDistributionPoint) and, when `AuthorityConfig::crl_shards` is above 0, one CRL per
//! **shard**: a certificate names the shard chosen from its serial in its CRL distribution
//! point (`crl_shard_of`), and that shard's CRL lists the revocations of the certificates
//! that name it, with an issuingDistributionPoint naming the same URL. A revocation waits
//! for the CRL its certificate names — a shard's, a few hundred entries at ten million
//! certificates — not for the whole CA's. The whole CRL follows within
//! `whole_crl_delay`, and on the refresh schedule (ARCHITECTURE.md, "CRL shards").

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pki::RevocationReason;
use pki::crl::{EncodedEntries, RevokedEntry, build_crl, build_crl_encoded};
use store::{CrlRecord, CrlScope};
use time::OffsetDateTime;

use crate::{Authority, CaError};

mod lists;
use lists::{RevokedList, ShardLists};

/// The shard of a certificate with this serial when its CA has `shards` shards (`None`
/// when it has none: the certificate names the whole CRL). Taken from the serial's random
/// low bytes, so certificates spread evenly over the shards whatever their issue time.
pub fn crl_shard_of(serial: &pki::Serial, shards: u16) -> Option<u16> {
    if shards == 0 {
        return None;
    }
    let b = serial.as_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&b[8..]);
    Some((u64::from_be_bytes(low) % u64::from(shards)) as u16)
}

/// The URL of a CA's CRL: `{base}/crl/{ca}.crl` for the whole CRL, `{base}/crl/{ca}/{n}.crl`
/// for shard `n`. Certificates name it in their CRL distribution point; a shard's CRL names
/// the same URL in its issuingDistributionPoint.
pub fn crl_url(base: &str, ca: &str, scope: CrlScope) -> String {
    let base = base.trim_end_matches('/');
    match scope {
        CrlScope::Whole => format!("{base}/crl/{ca}.crl"),
        CrlScope::Shard(n) => format!("{base}/crl/{ca}/{n}.crl"),
    }
}

/// A CA's CRL publication state: the whole CRL and the shards have their own lock and kept
/// list, so that a whole-CRL publication (0.1 s at ten million certificates) never holds up
/// the shard a revocation waits for.
#[derive(Default)]
pub(crate) struct CaCrls {
    whole: tokio::sync::Mutex<CrlState>,
    shards: tokio::sync::Mutex<ShardState>,
    /// Shards that revocations are waiting for: whoever holds `shards` next publishes them
    /// all in one round (one CRL-number transaction, one storing transaction).
    pending: parking_lot::Mutex<BTreeSet<u16>>,
    /// Revocations on shards of this CA, made by this node, that the whole CRL does not list
    /// yet: (when the first of them was made, the highest clock value among them).
    whole_behind: parking_lot::Mutex<Option<(i64, i64)>>,
}

impl Authority {
    /// The newest whole CRL of `ca`, from memory.
    pub fn crl(&self, ca: &str) -> Result<Arc<CrlRecord>, CaError> {
        self.crl_of(ca, CrlScope::Whole)
    }

    /// The newest CRL of `ca` of `scope`, from memory.
    pub fn crl_of(&self, ca: &str, scope: CrlScope) -> Result<Arc<CrlRecord>, CaError> {
        self.ca(ca)?;
        self.inner.crls.read().get(&(ca.to_string(), scope)).cloned().ok_or_else(|| match scope {
            CrlScope::Whole => CaError::Internal(format!("no CRL for '{ca}' yet")),
            CrlScope::Shard(n) => CaError::UnknownCrl(format!("'{ca}' has no CRL shard {n}")),
        })
    }

    /// The shards `ca` publishes: the configured ones and any other a stored CRL shows was
    /// in use (certificates keep the shard they were issued with when the count changes).
    fn shards_of(&self, ca: &str) -> BTreeSet<u16> {
        self.shards_of_locked(ca, &self.inner.crls.read())
    }

    /// Loads the newest CRLs and publishes those an online CA lacks (first start, or more
    /// shards configured).
    pub(crate) async fn ensure_crls(&self) -> Result<(), CaError> {
        for crl in self.inner.store.latest_crls().await? {
            self.remember(crl);
        }
        for name in self.ca_names() {
            let loaded = self.ca(&name)?;
            let has_whole = self.inner.crls.read().contains_key(&(name.clone(), CrlScope::Whole));
            if loaded.offline {
                if !has_whole {
                    tracing::warn!(ca = %name, "no CRL of the offline CA yet: import one (`carecert root presign`, `carecert ca import`)");
                }
                continue;
            }
            if !has_whole {
                self.publish_whole(&name, -1).await?;
            }
            let missing = self.missing_or_stale_shards(&name, None);
            if !missing.is_empty() {
                let mut state = loaded.crls.shards.lock().await;
                self.publish_shards_locked(&name, &mut state, missing).await?;
            }
        }
        Ok(())
    }

    /// Reads each online CA's revocations once and keeps them as its whole CRL's list and
    /// its shards' lists, unless a publication has read them already. Run in the background
    /// right after start-up: otherwise the first revocations on a node wait for that read
    /// (the CA's every unexpired revocation, ~50k rows at ten million certificates).
    pub(crate) async fn warm_crl_lists(&self) -> Result<(), CaError> {
        for name in self.ca_names() {
            let loaded = self.ca(&name)?;
            if loaded.offline {
                continue;
            }
            let sharded = !self.shards_of(&name).is_empty();
            let now = self.inner.clock.now().unix_timestamp();
            // Both lists from one read, row by row, without the locks (revocations go on
            // meanwhile); each is kept only where no publication has read its own since —
            // either is complete up to its `upto`.
            let (mut list, mut lists, mut failed) = (RevokedList::empty(), ShardLists::empty(), None);
            let mut entries = 0usize;
            self.inner
                .store
                .each_revoked_for_crl(&name, now, |r| {
                    entries += 1;
                    let pushed = list.add_one(&r).and_then(|()| if sharded { lists.add_one(&r) } else { Ok(()) });
                    if let Err(e) = pushed {
                        failed.get_or_insert(e);
                    }
                })
                .await?;
            if let Some(e) = failed {
                return Err(e);
            }
            list.shrink_to_fit();
            {
                let mut whole = loaded.crls.whole.lock().await;
                if whole.list.is_none() {
                    whole.list = Some(list);
                }
            }
            if sharded {
                lists.shrink_to_fit();
                let mut shards = loaded.crls.shards.lock().await;
                if shards.lists.is_none() {
                    shards.lists = Some(lists);
                }
            }
            tracing::debug!(ca = %name, entries, "CRL lists read");
        }
        Ok(())
    }

    /// Keeps `crl` in memory unless a newer one of its scope is there.
    fn remember(&self, crl: CrlRecord) -> bool {
        let key = (crl.issuer.clone(), crl.scope);
        let mut crls = self.inner.crls.write();
        let newer = crls.get(&key).is_none_or(|c| c.crl_number < crl.crl_number);
        if newer {
            crls.insert(key, Arc::new(crl));
        }
        newer
    }

    /// Publishes a new whole CRL for `ca`, and its shards, now; returns the whole CRL's number.
    pub async fn publish_crl(&self, ca: &str) -> Result<i64, CaError> {
        let loaded = self.ca(ca)?;
        if loaded.offline {
            return Err(CaError::Offline(ca.into()));
        }
        let number = self.publish_whole(ca, -1).await?;
        let shards = self.shards_of(ca);
        if !shards.is_empty() {
            let mut state = loaded.crls.shards.lock().await;
            self.publish_shards_locked(ca, &mut state, shards).await?;
        }
        Ok(number)
    }

    /// Makes sure the published CRL of `ca` of `scope` includes every revocation up to clock
    /// value `seq`: publishes one unless a publication since then already did; returns its
    /// number. Concurrent callers queue on the CA's lock, so one publication answers all who
    /// waited during the previous — for shards, one round publishes every shard waited for.
    pub(crate) async fn publish_crl_covering(&self, ca: &str, scope: CrlScope, seq: i64) -> Result<i64, CaError> {
        let loaded = self.ca(ca)?;
        let shard = match scope {
            CrlScope::Whole => return self.publish_whole(ca, seq).await,
            CrlScope::Shard(n) => n,
        };
        {
            let now = self.inner.clock.now().unix_timestamp();
            let mut behind = loaded.crls.whole_behind.lock();
            *behind = Some(behind.map_or((now, seq), |(since, max)| (since, max.max(seq))));
        }
        loaded.crls.pending.lock().insert(shard);
        let mut state = loaded.crls.shards.lock().await;
        if state.covered.get(&shard).is_some_and(|c| *c >= seq) {
            return Ok(self.crl_of(ca, scope)?.crl_number);
        }
        // Everything asked for while the previous round ran, this one included (a round
        // that failed took it from `pending` without publishing it).
        let mut round = std::mem::take(&mut *loaded.crls.pending.lock());
        round.insert(shard);
        let numbers = self.publish_shards_locked(ca, &mut state, round).await?;
        numbers.get(&shard).copied().ok_or_else(|| CaError::Internal(format!("shard {shard} of '{ca}' not published")))
    }

    /// Publishes the whole CRL of `ca` unless one published since clock value `seq` covers
    /// it already (`seq` -1: publish anyway).
    async fn publish_whole(&self, ca: &str, seq: i64) -> Result<i64, CaError> {
        let loaded = self.ca(ca)?;
        if loaded.offline {
            return Err(CaError::Offline(ca.into()));
        }
        let mut state = loaded.crls.whole.lock().await;
        if seq >= 0 && state.covered >= seq {
            return Ok(self.crl(ca)?.crl_number);
        }
        let store = &self.inner.store;
        // Order matters: clock, then number, then list — a higher number never carries an
        // older list, and the list holds every revocation up to `clock`.
        let clock = store.revocation_clock().await?;
        let number = store.next_crl_number(ca).await?;
        let now = self.inner.clock.now();
        let mut list = match state.list.take() {
            // Only what was revoked since the last read: the list is kept, not re-read.
            Some(mut list) => {
                list.add(&store.revoked_for_crl_since(ca, list.upto).await?)?;
                list
            }
            None => RevokedList::read(&store.revoked_for_crl(ca, now.unix_timestamp()).await?)?,
        };
        list.drop_expired(now.unix_timestamp())?;
        let next = now + self.inner.config.crl_validity;
        let (list, mut built) =
            self.sign_crls(ca, list, vec![(CrlScope::Whole, number)], now, next, |list, _| vec![&list.encoded]).await?;
        state.list = Some(list);
        let record = built.pop().ok_or_else(|| CaError::Internal("no CRL built".into()))?;
        store.store_crl(&record).await?;
        tracing::info!(ca, crl_number = number, entries = record.entries, "published CRL");
        self.inner.metrics.crls_published.fetch_add(1, Ordering::Relaxed);
        self.remember(record);
        state.covered = clock;
        // Shard revocations up to `clock` are on it now; later ones still wait, as if made now.
        let mut behind = loaded.crls.whole_behind.lock();
        *behind = match *behind {
            Some((_, max)) if max <= clock => None,
            Some((_, max)) => Some((now.unix_timestamp(), max)),
            None => None,
        };
        Ok(number)
    }

    /// One round: publishes the CRLs of `shards` of `ca`, with one transaction for their
    /// numbers and one storing them all; returns each shard's number.
    async fn publish_shards_locked(
        &self,
        ca: &str,
        state: &mut ShardState,
        shards: BTreeSet<u16>,
    ) -> Result<BTreeMap<u16, i64>, CaError> {
        let store = &self.inner.store;
        let clock = store.revocation_clock().await?;
        let numbers = store.next_crl_numbers(ca, shards.len() as u32).await?;
        let now = self.inner.clock.now();
        // Rows of certificates that name no shard belong to the whole CRL only.
        let mut lists = match state.lists.take() {
            Some(mut lists) => {
                lists.add(&store.revoked_for_crl_since(ca, lists.upto).await?)?;
                lists
            }
            None => ShardLists::read(&store.revoked_for_crl(ca, now.unix_timestamp()).await?)?,
        };
        lists.drop_expired(now.unix_timestamp())?;
        let next = now + self.inner.config.crl_validity;
        let wanted: Vec<(CrlScope, i64)> = shards.iter().map(|n| CrlScope::Shard(*n)).zip(numbers).collect();
        let (lists, built) = self
            .sign_crls(ca, lists, wanted, now, next, |lists, scope| match scope {
                CrlScope::Shard(n) => lists.parts.get(&n).map(|p| vec![&p.encoded]).unwrap_or_default(),
                CrlScope::Whole => vec![],
            })
            .await?;
        state.lists = Some(lists);
        store.store_crls(&built).await?;
        tracing::debug!(ca, shards = built.len(), "published CRL shards");
        self.inner.metrics.crls_published.fetch_add(built.len() as u64, Ordering::Relaxed);
        let mut numbers = BTreeMap::new();
        for record in built {
            if let CrlScope::Shard(n) = record.scope {
                numbers.insert(n, record.crl_number);
                state.covered.insert(n, clock);
            }
            self.remember(record);
        }
        Ok(numbers)
    }

    /// Builds and signs one CRL per (scope, number) of `ca` on the blocking pool, from the
    /// parts `parts` picks out of `lists`; hands `lists` back with the records.
    async fn sign_crls<L: Send + Sync + 'static>(
        &self,
        ca: &str,
        lists: L,
        wanted: Vec<(CrlScope, i64)>,
        now: OffsetDateTime,
        next: OffsetDateTime,
        parts: fn(&L, CrlScope) -> Vec<&EncodedEntries>,
    ) -> Result<(L, Vec<CrlRecord>), CaError> {
        let this = self.clone();
        let name = ca.to_string();
        let base = self.inner.public_url.clone();
        tokio::task::spawn_blocking(move || -> Result<(L, Vec<CrlRecord>), CaError> {
            let loaded = this.ca(&name)?;
            let mut out = Vec::with_capacity(wanted.len());
            for (scope, number) in wanted {
                let parts = parts(&lists, scope);
                let url = match scope {
                    CrlScope::Whole => None,
                    CrlScope::Shard(_) => Some(crl_url(&base, &name, scope)),
                };
                let der = build_crl_encoded(&loaded.identity, number as u64, now, next, &parts, url.as_deref())?;
                out.push(CrlRecord {
                    issuer: name.clone(),
                    scope,
                    crl_number: number,
                    this_update: now.unix_timestamp(),
                    next_update: next.unix_timestamp(),
                    entries: parts.iter().map(|p| p.len() as i64).sum(),
                    der,
                });
            }
            Ok((lists, out))
        })
        .await
        .map_err(|e| CaError::Internal(e.to_string()))?
    }

    /// The shards of `ca` with no CRL, or (with `now`) whose CRL is due for its refresh.
    fn missing_or_stale_shards(&self, ca: &str, now: Option<i64>) -> BTreeSet<u16> {
        let refresh = self.inner.config.crl_refresh.as_secs() as i64;
        let crls = self.inner.crls.read();
        let due = |scope: CrlScope| match crls.get(&(ca.to_string(), scope)) {
            None => true,
            Some(c) => now.is_some_and(|now| c.this_update + refresh <= now),
        };
        let shards = self.shards_of_locked(ca, &crls);
        shards.into_iter().filter(|n| due(CrlScope::Shard(*n))).collect()
    }

    fn shards_of_locked(
        &self,
        ca: &str,
        crls: &std::collections::HashMap<(String, CrlScope), Arc<CrlRecord>>,
    ) -> BTreeSet<u16> {
        let mut shards: BTreeSet<u16> = (0..self.inner.config.crl_shards).collect();
        for (name, scope) in crls.keys() {
            if let (true, CrlScope::Shard(n)) = (name == ca, scope) {
                shards.insert(*n);
            }
        }
        shards
    }

    /// Loads CRLs other nodes published, publishes CRLs that are getting old, and the whole
    /// CRL of a CA once a revocation on one of its shards has waited `whole_crl_delay` for it.
    pub(crate) async fn refresh_crls(&self) -> Result<(), CaError> {
        for name in self.ca_names() {
            // One index probe per CA; the scopes are read only when another node published.
            let newest_here =
                self.inner.crls.read().iter().filter(|((n, _), _)| n == &name).map(|(_, c)| c.crl_number).max();
            if self.inner.store.latest_crl_number(&name).await? <= newest_here {
                continue;
            }
            for (scope, n) in self.inner.store.latest_crl_numbers(&name).await? {
                let local = self.inner.crls.read().get(&(name.clone(), scope)).map(|c| c.crl_number);
                if Some(n) > local
                    && let Some(crl) = self.inner.store.latest_crl(&name, scope).await?
                {
                    self.remember(crl);
                }
            }
        }
        let now = self.inner.clock.now().unix_timestamp();
        for name in self.ca_names() {
            let loaded = self.ca(&name)?;
            if loaded.offline {
                continue;
            }
            let whole = self.inner.crls.read().get(&(name.clone(), CrlScope::Whole)).cloned();
            let stale =
                whole.as_ref().is_none_or(|c| c.this_update + self.inner.config.crl_refresh.as_secs() as i64 <= now);
            // A revocation on a shard has waited `whole_crl_delay` for the whole CRL: the
            // revocations of a busy minute share one publication.
            let delay = self.inner.config.whole_crl_delay.as_secs() as i64;
            let behind = loaded.crls.whole_behind.lock().is_some_and(|(since, _)| since + delay <= now);
            if stale || behind {
                self.publish_whole(&name, -1).await?;
            }
            let due = self.missing_or_stale_shards(&name, Some(now));
            if !due.is_empty() {
                let mut state = loaded.crls.shards.lock().await;
                self.publish_shards_locked(&name, &mut state, due).await?;
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

/// What a CA's last whole-CRL publication covered, kept between publications (behind its
/// lock).
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

/// The same for the shards of a CA: what each shard's last publication covered, and the
/// CA's sharded revocations by shard.
#[derive(Default)]
pub(crate) struct ShardState {
    covered: BTreeMap<u16, i64>,
    lists: Option<ShardLists>,
}

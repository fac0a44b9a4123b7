//! The kept lists a CA's CRL publications start from: its unexpired revocations, encoded
//! for the CRL, read once (at start-up or by the first publication) and then only by clock
//! range (ARCHITECTURE.md, "Kept lists read at start-up").

use std::collections::BTreeMap;

use pki::RevocationReason;
use pki::crl::{EncodedEntries, RevokedEntry};

use crate::CaError;

/// A CA's unexpired revocations in revocation order, encoded for the CRL, and the highest
/// clock value read.
///
/// Publishing a CRL used to read every unexpired revocation of the CA from the database,
/// ~36k rows at 10M certificates (50–70 ms, most of it reading rows), on every revocation.
/// Now the first publication (or the warm-up after start-up, `warm_crl_lists`) reads them
/// all and later ones read only the rows revoked after the highest clock value already read
/// (an index range on `certificates_crl`): revocations commit in clock order
/// (`Store::revoked_for_crl_since`), so that range holds every revocation this list lacks,
/// including other nodes'. The entries are kept encoded (`pki::crl::EncodedEntries`) with
/// their notAfter beside them and nothing else — about 50 bytes an entry: a publication
/// encodes only the new ones, and an expiry drops entries from the encoding in place.
pub(super) struct RevokedList {
    /// The notAfter of each entry, in the order of `encoded`.
    expiry: Vec<i64>,
    pub(super) encoded: EncodedEntries,
    pub(super) upto: i64,
    /// The earliest notAfter in the list: nothing to drop before it.
    first_expiry: i64,
}

impl RevokedList {
    pub(super) fn empty() -> Self {
        Self { expiry: vec![], encoded: EncodedEntries::default(), upto: 0, first_expiry: i64::MAX }
    }

    pub(super) fn read(rows: &[store::RevokedRow]) -> Result<Self, CaError> {
        let mut list = Self::empty();
        list.add(rows)?;
        list.shrink_to_fit();
        Ok(list)
    }

    /// Gives back what the list grew into beyond its entries (after a full read).
    pub(super) fn shrink_to_fit(&mut self) {
        self.expiry.shrink_to_fit();
        self.encoded.shrink_to_fit();
    }

    /// Appends the rows; `upto` moves past all of them.
    pub(super) fn add(&mut self, rows: &[store::RevokedRow]) -> Result<(), CaError> {
        rows.iter().try_for_each(|r| self.add_one(r))
    }

    /// Appends one row read after `upto` (`revoked_for_crl_since` reads only values above
    /// it: never a row twice).
    pub(super) fn add_one(&mut self, r: &store::RevokedRow) -> Result<(), CaError> {
        self.upto = self.upto.max(r.seq);
        self.push(r)
    }

    fn push(&mut self, r: &store::RevokedRow) -> Result<(), CaError> {
        self.first_expiry = self.first_expiry.min(r.not_after);
        self.encoded.push(&entry(&r.serial, r.revoked_at, r.reason))?;
        self.expiry.push(r.not_after);
        Ok(())
    }

    /// Drops the entries whose certificate expired before `now` (a CRL lists only unexpired
    /// ones); nothing to do until the earliest expiry.
    pub(super) fn drop_expired(&mut self, now: i64) -> Result<(), CaError> {
        if self.first_expiry >= now {
            return Ok(());
        }
        let expiry = &self.expiry;
        self.encoded.retain(|i| expiry.get(i).is_some_and(|t| *t >= now))?;
        self.expiry.retain(|t| *t >= now);
        self.first_expiry = self.expiry.iter().copied().min().unwrap_or(i64::MAX);
        Ok(())
    }
}

/// A CA's unexpired revocations of certificates that name a shard, one kept list per shard,
/// read together (one index range for all shards) up to one clock value.
pub(super) struct ShardLists {
    pub(super) parts: BTreeMap<u16, RevokedList>,
    pub(super) upto: i64,
}

impl ShardLists {
    pub(super) fn empty() -> Self {
        Self { parts: BTreeMap::new(), upto: 0 }
    }

    pub(super) fn read(rows: &[store::RevokedRow]) -> Result<Self, CaError> {
        let mut lists = Self::empty();
        lists.add(rows)?;
        lists.shrink_to_fit();
        Ok(lists)
    }

    pub(super) fn shrink_to_fit(&mut self) {
        for part in self.parts.values_mut() {
            part.shrink_to_fit();
        }
    }

    pub(super) fn add(&mut self, rows: &[store::RevokedRow]) -> Result<(), CaError> {
        rows.iter().try_for_each(|r| self.add_one(r))
    }

    /// Appends one row to its shard's list (rows of certificates that name no shard belong
    /// to the whole CRL only); `upto` moves past it.
    pub(super) fn add_one(&mut self, r: &store::RevokedRow) -> Result<(), CaError> {
        self.upto = self.upto.max(r.seq);
        match r.shard {
            Some(n) => self.parts.entry(n).or_insert_with(RevokedList::empty).push(r),
            None => Ok(()),
        }
    }

    pub(super) fn drop_expired(&mut self, now: i64) -> Result<(), CaError> {
        for part in self.parts.values_mut() {
            part.drop_expired(now)?;
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

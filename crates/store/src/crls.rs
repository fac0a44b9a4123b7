//! CRLs as stored: which CRL of a CA (`CrlScope`: the whole CRL or a shard), the revoked
//! rows a CRL lists, CRL numbers, and the stored CRLs themselves. Building and signing CRLs
//! is the `ca` crate's (`ca::crl`); this module only reads and writes rows.

use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::{Cols, Store, StoreError};

/// Most CRLs one INSERT of [`Store::store_crls`] carries (7 parameters each; SQLite takes
/// 32,766, PostgreSQL 65,535).
pub const CRLS_PER_STATEMENT: usize = 1024;

/// Which CRL of a CA: the CA's whole CRL (every unexpired revocation of the CA), or one
/// shard of it (the revocations of the certificates that name that shard in their CRL
/// distribution point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrlScope {
    /// Every revocation of the CA.
    Whole,
    /// The certificates issued into shard `n`.
    Shard(u16),
}

impl CrlScope {
    /// The scope of a certificate whose CRL distribution point names `shard`.
    pub fn of(shard: Option<u16>) -> Self {
        shard.map_or(Self::Whole, Self::Shard)
    }

    /// `crls.shard`: -1 for the whole CRL.
    pub(crate) fn to_db(self) -> i32 {
        match self {
            Self::Whole => -1,
            Self::Shard(n) => i32::from(n),
        }
    }

    pub(crate) fn from_db(v: i32) -> Result<Self, StoreError> {
        match v {
            -1 => Ok(Self::Whole),
            n => u16::try_from(n).map(Self::Shard).map_err(|_| StoreError::Corrupt(format!("CRL shard {n}"))),
        }
    }
}

impl std::fmt::Display for CrlScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Whole => f.write_str("whole"),
            Self::Shard(n) => write!(f, "shard {n}"),
        }
    }
}

pub(crate) fn shard_col(r: &AnyRow) -> Result<Option<u16>, StoreError> {
    r.col::<Option<i32>>("crl_shard")?
        .map(|n| u16::try_from(n).map_err(|_| StoreError::Corrupt(format!("crl_shard {n}"))))
        .transpose()
}

/// One entry for a CRL.
#[derive(Debug, Clone)]
pub struct RevokedRow {
    /// Serial bytes.
    pub serial: Vec<u8>,
    /// Revocation time.
    pub revoked_at: i64,
    /// CRLReason code.
    pub reason: u8,
    /// The certificate's notAfter: the entry leaves the CRL after it.
    pub not_after: i64,
    /// The revocation clock value of the revocation (0 for rows revoked before the clock).
    pub seq: i64,
    /// The shard its certificate names (`None`: only the CA's whole CRL).
    pub shard: Option<u16>,
}

fn revoked_row(r: &AnyRow) -> Result<RevokedRow, StoreError> {
    let serial: String = r.col("serial")?;
    Ok(RevokedRow {
        serial: hex::decode(&serial).map_err(|_| StoreError::Corrupt(format!("serial '{serial}'")))?,
        revoked_at: r.col::<Option<i64>>("revoked_at")?.unwrap_or_default(),
        reason: r.col::<Option<i32>>("revocation_reason")?.unwrap_or_default() as u8,
        not_after: r.col("not_after")?,
        seq: r.col::<Option<i64>>("revocation_seq")?.unwrap_or_default(),
        shard: shard_col(r)?,
    })
}

/// A stored CRL.
#[derive(Debug, Clone)]
pub struct CrlRecord {
    /// Issuing CA.
    pub issuer: String,
    /// The whole CA's CRL, or one shard.
    pub scope: CrlScope,
    /// CRL number.
    pub crl_number: i64,
    /// thisUpdate.
    pub this_update: i64,
    /// nextUpdate.
    pub next_update: i64,
    /// Entries on it.
    pub entries: i64,
    /// The CRL.
    pub der: Vec<u8>,
}

fn crl_from_row(r: &AnyRow) -> Result<CrlRecord, StoreError> {
    Ok(CrlRecord {
        issuer: r.col("issuer")?,
        scope: CrlScope::from_db(r.col("shard")?)?,
        crl_number: r.col("crl_number")?,
        this_update: r.col("this_update")?,
        next_update: r.col("next_update")?,
        entries: r.col("entries")?,
        der: r.col("der")?,
    })
}

impl Store {
    /// Takes the next `count` CRL numbers of `issuer`, lowest first (its own short
    /// transaction, before the revoked list is read, so a higher number never carries an
    /// older list). One sequence per CA, shared by its whole CRL and its shards.
    pub async fn next_crl_numbers(
        &self,
        issuer: &str,
        count: u32,
    ) -> Result<std::ops::RangeInclusive<i64>, StoreError> {
        let count = i64::from(count.max(1));
        let _turn = self.gate.enter().await;
        let row = sqlx::query("UPDATE cas SET crl_number = crl_number + $2 WHERE name = $1 RETURNING crl_number")
            .bind(issuer)
            .bind(count)
            .fetch_optional(self.pool())
            .await?;
        let last: i64 = row
            .map(|r| r.col("crl_number"))
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("CA '{issuer}'")))?;
        Ok(last - count + 1..=last)
    }

    /// Takes the next CRL number of `issuer`.
    pub async fn next_crl_number(&self, issuer: &str) -> Result<i64, StoreError> {
        Ok(*self.next_crl_numbers(issuer, 1).await?.end())
    }

    /// Everything revoked by `issuer` and not yet expired, for its CRL, oldest revocation
    /// first.
    pub async fn revoked_for_crl(&self, issuer: &str, now: i64) -> Result<Vec<RevokedRow>, StoreError> {
        let mut out = Vec::new();
        self.each_revoked_row(issuer, "not_after >= $2", now, |r| out.push(r)).await?;
        Ok(out)
    }

    /// The same rows as [`Store::revoked_for_crl`], handed to `each` one at a time as they
    /// are read: a reader that keeps them in its own form never holds them all twice.
    pub async fn each_revoked_for_crl(
        &self,
        issuer: &str,
        now: i64,
        each: impl FnMut(RevokedRow) + Send,
    ) -> Result<(), StoreError> {
        self.each_revoked_row(issuer, "not_after >= $2", now, each).await
    }

    /// What `issuer` revoked after clock value `after_seq`, oldest first (expired or not):
    /// what a CRL publisher that holds the list up to `after_seq` has to add. Revocations
    /// commit in clock order (each takes the next value of the clock row, which stays
    /// locked until its transaction ends), so nothing can later appear below a value read.
    pub async fn revoked_for_crl_since(&self, issuer: &str, after_seq: i64) -> Result<Vec<RevokedRow>, StoreError> {
        let mut out = Vec::new();
        self.each_revoked_row(issuer, "revocation_seq > $2", after_seq, |r| out.push(r)).await?;
        Ok(out)
    }

    async fn each_revoked_row(
        &self,
        issuer: &str,
        bound: &'static str,
        value: i64,
        mut each: impl FnMut(RevokedRow) + Send,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT serial, revoked_at, revocation_reason, not_after, revocation_seq, crl_shard FROM certificates WHERE issuer = $1 AND status = 'revoked' AND {bound} ORDER BY revocation_seq"
        );
        // Row by row: the first read after start-up is every unexpired revocation of the CA,
        // and holding them all as driver rows first would cost several times their size.
        let mut stream = sqlx::query(AssertSqlSafe(sql)).bind(issuer).bind(value).fetch(self.pool());
        while let Some(row) = std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx)).await {
            each(revoked_row(&row?)?);
        }
        Ok(())
    }

    /// Stores a CRL and drops the older ones of its scope.
    pub async fn store_crl(&self, crl: &CrlRecord) -> Result<(), StoreError> {
        self.store_crls(std::slice::from_ref(crl)).await
    }

    /// Stores CRLs in one transaction, dropping the older ones of their scopes: one multi-row
    /// INSERT and one DELETE per CA and up to [`CRLS_PER_STATEMENT`] CRLs (a round of shard
    /// publications is one transaction of a few statements, not two per shard). A CRL another
    /// node stored meanwhile with a higher number is left alone.
    pub async fn store_crls(&self, crls: &[CrlRecord]) -> Result<(), StoreError> {
        let _turn = self.gate.enter().await;
        let mut tx = self.pool().begin().await?;
        for chunk in crls.chunks(CRLS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO crls (issuer, shard, crl_number, this_update, next_update, entries, der) VALUES ",
            );
            crate::push_values(&mut sql, chunk.len(), 7);
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for crl in chunk {
                q = q
                    .bind(crl.issuer.clone())
                    .bind(crl.scope.to_db())
                    .bind(crl.crl_number)
                    .bind(crl.this_update)
                    .bind(crl.next_update)
                    .bind(crl.entries)
                    .bind(crl.der.clone());
            }
            q.execute(&mut *tx).await?;
            let mut by_issuer: std::collections::BTreeMap<&str, Vec<&CrlRecord>> = Default::default();
            for crl in chunk {
                by_issuer.entry(&crl.issuer).or_default().push(crl);
            }
            for (issuer, stored) in by_issuer {
                // Numbers of one publication round are taken together; everything of these
                // scopes below the lowest of them is older than what was just stored.
                let lowest = stored.iter().map(|c| c.crl_number).min().unwrap_or_default();
                let shards: Vec<String> = stored.iter().map(|c| c.scope.to_db().to_string()).collect();
                let sql = format!(
                    "DELETE FROM crls WHERE issuer = $1 AND crl_number < $2 AND shard IN ({})",
                    shards.join(",")
                );
                sqlx::query(AssertSqlSafe(sql)).bind(issuer.to_string()).bind(lowest).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest CRL of `issuer` of `scope`.
    pub async fn latest_crl(&self, issuer: &str, scope: CrlScope) -> Result<Option<CrlRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT issuer, shard, crl_number, this_update, next_update, entries, der FROM crls WHERE issuer = $1 AND shard = $2 ORDER BY crl_number DESC LIMIT 1",
        )
        .bind(issuer)
        .bind(scope.to_db())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(crl_from_row).transpose()
    }

    /// The newest CRL of every CA and scope (what a node loads at start).
    pub async fn latest_crls(&self) -> Result<Vec<CrlRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.issuer, c.shard, c.crl_number, c.this_update, c.next_update, c.entries, c.der FROM crls c
             JOIN (SELECT issuer, shard, MAX(crl_number) AS n FROM crls GROUP BY issuer, shard) m
               ON m.issuer = c.issuer AND m.shard = c.shard AND m.n = c.crl_number",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(crl_from_row).collect()
    }

    /// The newest CRL number of each scope of `issuer` (cheap: no CRL body), for picking up
    /// what other nodes published.
    pub async fn latest_crl_numbers(&self, issuer: &str) -> Result<Vec<(CrlScope, i64)>, StoreError> {
        let rows = sqlx::query("SELECT shard, MAX(crl_number) AS n FROM crls WHERE issuer = $1 GROUP BY shard")
            .bind(issuer)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok((CrlScope::from_db(r.col("shard")?)?, r.col("n")?))).collect()
    }

    /// The newest CRL number stored for `issuer`, any scope.
    pub async fn latest_crl_number(&self, issuer: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT MAX(crl_number) AS n FROM crls WHERE issuer = $1")
            .bind(issuer)
            .fetch_one(self.pool())
            .await?;
        row.col::<Option<i64>>("n")
    }
}

//! Machine certificates: organisations, enrolment PINs, login failures, sessions,
//! certificate requests, client releases and the trust feed.
//!
//! The store records; `enrol` decides. Request state changes are conditional updates
//! (`… WHERE status IN (…)`), so two RA staff approving and denying at once cannot both win.

use std::str::FromStr;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::audit::{self, AuditEvent};
pub use types::{ApprovalPolicy, OrgKind, OrgStatus, RequestChannel, RequestStatus};
use crate::{Store, StoreError};

fn parse<T: FromStr<Err = String>>(what: &str, s: String) -> Result<T, StoreError> {
    s.parse().map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// An organisation as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    /// Organisation code (digits).
    pub epoc: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: OrgKind,
    /// Status.
    pub status: OrgStatus,
    /// Approval policy.
    pub approval: ApprovalPolicy,
    /// Created (Unix seconds).
    pub created_at: i64,
}

fn org_from_row(r: &AnyRow) -> Result<Organisation, StoreError> {
    Ok(Organisation {
        epoc: r.get(0),
        name: r.get(1),
        kind: parse("organisation kind", r.get(2))?,
        status: parse("organisation status", r.get(3))?,
        approval: parse("approval policy", r.get(4))?,
        created_at: r.get(5),
    })
}

/// An enrolment PIN that can still be used (its hash only).
#[derive(Debug, Clone)]
pub struct ActivePin {
    /// Row id.
    pub id: i64,
    /// Argon2id PHC string.
    pub pin_hash: String,
    /// Issued (Unix seconds).
    pub created_at: i64,
    /// Expires (Unix seconds).
    pub expires_at: i64,
}

/// Consecutive failed logins of one EPOC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginFailures {
    /// Failures since the last success or lockout.
    pub failures: i64,
    /// Locked until (Unix seconds); 0 when never locked.
    pub locked_until: i64,
}

/// A stored enrolment session.
#[derive(Debug, Clone)]
pub struct EnrolSession {
    /// The organisation.
    pub epoc: String,
    /// The client's version at login.
    pub client_version: String,
    /// Expires (Unix seconds).
    pub expires_at: i64,
    /// Ended by logout (Unix seconds).
    pub ended_at: Option<i64>,
}

/// A request to store.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// Organisation.
    pub epoc: String,
    /// How it was authenticated.
    pub channel: RequestChannel,
    /// The PKCS#10 request (DER).
    pub csr_der: Vec<u8>,
    /// SHA-256 of its public key, hex.
    pub spki_sha256: String,
    /// The acceptable-use policy version accepted.
    pub policy_version: String,
    /// Who asked (`org:EPOC`, `cert:SERIAL`).
    pub requested_by: String,
    /// The certificate this renews, if any.
    pub renewal_of: Option<String>,
    /// When.
    pub created_at: i64,
}

/// A stored request.
#[derive(Debug, Clone, Serialize)]
pub struct CertRequest {
    /// Short sequential number.
    pub id: i64,
    /// Organisation.
    pub epoc: String,
    /// State.
    pub status: RequestStatus,
    /// How it was authenticated.
    pub channel: RequestChannel,
    /// SHA-256 of the public key, hex.
    pub spki_sha256: String,
    /// Acceptable-use policy version accepted.
    pub policy_version: String,
    /// Who asked.
    pub requested_by: String,
    /// Created.
    pub created_at: i64,
    /// Approved / denied / cancelled at.
    pub decided_at: Option<i64>,
    /// By whom.
    pub decided_by: Option<String>,
    /// Why it was denied.
    pub deny_reason: Option<String>,
    /// Issuing CA of the certificate.
    pub issuer: Option<String>,
    /// Serial of the certificate.
    pub serial: Option<String>,
    /// The certificate this renews.
    pub renewal_of: Option<String>,
    /// First downloaded at.
    pub downloaded_at: Option<i64>,
    /// Confirmed installed at.
    pub installed_at: Option<i64>,
    /// The PKCS#10 request (DER).
    #[serde(skip)]
    pub csr_der: Vec<u8>,
}

const REQUEST_COLUMNS: &str = "id, epoc, status, channel, spki_sha256, policy_version, requested_by, created_at, decided_at, decided_by, deny_reason, issuer, serial, renewal_of, downloaded_at, installed_at, csr_der";

fn request_from_row(r: &AnyRow) -> Result<CertRequest, StoreError> {
    Ok(CertRequest {
        id: r.get(0),
        epoc: r.get(1),
        status: parse("request status", r.get(2))?,
        channel: parse("request channel", r.get(3))?,
        spki_sha256: r.get(4),
        policy_version: r.get(5),
        requested_by: r.get(6),
        created_at: r.get(7),
        decided_at: r.get(8),
        decided_by: r.get(9),
        deny_reason: r.get(10),
        issuer: r.get(11),
        serial: r.get(12),
        renewal_of: r.get(13),
        downloaded_at: r.get(14),
        installed_at: r.get(15),
        csr_der: r.get(16),
    })
}

/// What a request transition writes besides the status.
#[derive(Debug, Clone, Default)]
pub struct RequestChange {
    /// decided_at / decided_by.
    pub decided: Option<(i64, String)>,
    /// Deny reason.
    pub deny_reason: Option<String>,
    /// The issued certificate (issuer, serial).
    pub certificate: Option<(String, String)>,
    /// First download time (kept if already set).
    pub downloaded_at: Option<i64>,
    /// Install time.
    pub installed_at: Option<i64>,
}

/// Which requests to list.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    /// Only this organisation.
    pub epoc: Option<String>,
    /// Only these states (empty: all).
    pub status: Vec<RequestStatus>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// A registered client release.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    /// `ecmt` or `carecert-agent`.
    pub product: String,
    /// Semantic version.
    pub version: String,
    /// Whether this version is the minimum supported (versions below it are refused).
    pub minimum: bool,
    /// Download page or file.
    pub url: String,
    /// SHA-256 of the download, hex.
    pub sha256: String,
    /// Release notes.
    pub notes: String,
    /// Registered at.
    pub created_at: i64,
}

/// One entry of the trust feed.
#[derive(Debug, Clone, Serialize)]
pub struct TrustEvent {
    /// Position (the client's cursor).
    pub seq: i64,
    /// CA name.
    pub ca_name: String,
    /// `added` or `withdrawn`.
    pub kind: String,
    /// When.
    pub at: i64,
}

impl Store {
    /// Stores a new organisation.
    pub async fn insert_organisation(&self, org: &Organisation, event: AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO organisations (epoc, name, kind, status, approval, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org.epoc.clone())
        .bind(org.name.clone())
        .bind(org.kind.as_str())
        .bind(org.status.as_str())
        .bind(org.approval.as_str())
        .bind(org.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("organisation {} exists already", org.epoc))
            }
            _ => StoreError::Database(e),
        })?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes an organisation's status and approval policy.
    pub async fn update_organisation(
        &self,
        epoc: &str,
        status: OrgStatus,
        approval: ApprovalPolicy,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("UPDATE organisations SET status = $1, approval = $2 WHERE epoc = $3")
            .bind(status.as_str())
            .bind(approval.as_str())
            .bind(epoc)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("organisation {epoc}")));
        }
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One organisation.
    pub async fn organisation(&self, epoc: &str) -> Result<Option<Organisation>, StoreError> {
        let row =
            sqlx::query("SELECT epoc, name, kind, status, approval, created_at FROM organisations WHERE epoc = $1")
                .bind(epoc)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(org_from_row).transpose()
    }

    /// Every organisation, by EPOC.
    pub async fn organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        let rows =
            sqlx::query("SELECT epoc, name, kind, status, approval, created_at FROM organisations ORDER BY epoc")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(org_from_row).collect()
    }

    /// Stores a new PIN for `epoc`, superseding every older active one, in one transaction.
    pub async fn issue_pin(
        &self,
        epoc: &str,
        pin_hash: &str,
        issued_by: &str,
        created_at: i64,
        expires_at: i64,
        event: AuditEvent,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE enrolment_pins SET status = 'superseded' WHERE epoc = $1 AND status = 'active'")
            .bind(epoc)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "INSERT INTO enrolment_pins (epoc, pin_hash, status, issued_by, created_at, expires_at) VALUES ($1, $2, 'active', $3, $4, $5) RETURNING id",
        )
        .bind(epoc)
        .bind(pin_hash)
        .bind(issued_by)
        .bind(created_at)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        // A new letter starts a fresh count of wrong PINs.
        sqlx::query("DELETE FROM login_failures WHERE epoc = $1").bind(epoc).execute(&mut *tx).await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(row.get(0))
    }

    /// The active (not superseded) PINs of `epoc` that have not expired at `now`.
    pub async fn active_pins(&self, epoc: &str, now: i64) -> Result<Vec<ActivePin>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, pin_hash, created_at, expires_at FROM enrolment_pins WHERE epoc = $1 AND status = 'active' AND expires_at > $2 ORDER BY id DESC",
        )
        .bind(epoc)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| ActivePin { id: r.get(0), pin_hash: r.get(1), created_at: r.get(2), expires_at: r.get(3) })
            .collect())
    }

    /// Consecutive failed logins for `epoc`.
    pub async fn login_failures(&self, epoc: &str) -> Result<LoginFailures, StoreError> {
        let row = sqlx::query("SELECT failures, locked_until FROM login_failures WHERE epoc = $1")
            .bind(epoc)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| LoginFailures { failures: r.get(0), locked_until: r.get(1) }).unwrap_or_default())
    }

    /// Counts a failed login; the `max`-th consecutive failure locks `epoc` until
    /// `now + lock_seconds` and starts the count again. Returns the new state.
    pub async fn record_login_failure(
        &self,
        epoc: &str,
        now: i64,
        max: i64,
        lock_seconds: i64,
        event: AuditEvent,
    ) -> Result<LoginFailures, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO login_failures (epoc, failures, locked_until) VALUES ($1, 1, 0) ON CONFLICT (epoc) DO UPDATE SET failures = login_failures.failures + 1",
        )
        .bind(epoc)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE login_failures SET failures = 0, locked_until = $2 WHERE epoc = $1 AND failures >= $3")
            .bind(epoc)
            .bind(now + lock_seconds)
            .bind(max)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT failures, locked_until FROM login_failures WHERE epoc = $1")
            .bind(epoc)
            .fetch_one(&mut *tx)
            .await?;
        let state = LoginFailures { failures: row.get(0), locked_until: row.get(1) };
        let mut events = vec![event];
        if state.locked_until > now && state.failures == 0 {
            events.push(AuditEvent {
                at_ms: now * 1000,
                actor: "system".into(),
                action: "enrol.locked_out".into(),
                subject: format!("org:{epoc}"),
                details: serde_json::json!({ "until": state.locked_until }),
            });
        }
        audit::append(&mut tx, self.engine(), &events).await?;
        tx.commit().await?;
        Ok(state)
    }

    /// Starts a session (and clears the failure count) in one transaction.
    pub async fn create_enrol_session(
        &self,
        token_sha256: &str,
        session: &EnrolSession,
        now: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO enrol_sessions (token_sha256, epoc, client_version, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_sha256)
        .bind(session.epoc.clone())
        .bind(session.client_version.clone())
        .bind(now)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM login_failures WHERE epoc = $1").bind(session.epoc.clone()).execute(&mut *tx).await?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session whose token hashes to `token_sha256`.
    pub async fn enrol_session(&self, token_sha256: &str) -> Result<Option<EnrolSession>, StoreError> {
        let row = sqlx::query(
            "SELECT epoc, client_version, expires_at, ended_at FROM enrol_sessions WHERE token_sha256 = $1",
        )
        .bind(token_sha256)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| EnrolSession {
            epoc: r.get(0),
            client_version: r.get(1),
            expires_at: r.get(2),
            ended_at: r.get(3),
        }))
    }

    /// Ends a session (logout). Returns false when it had ended already.
    pub async fn end_enrol_session(&self, token_sha256: &str, now: i64, event: AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("UPDATE enrol_sessions SET ended_at = $1 WHERE token_sha256 = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(token_sha256)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            audit::append(&mut tx, self.engine(), &[event]).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Stores a new request in state `status` and returns its number.
    pub async fn insert_request(
        &self,
        req: &NewRequest,
        status: RequestStatus,
        event: AuditEvent,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "INSERT INTO cert_requests (epoc, status, channel, csr_der, spki_sha256, policy_version, requested_by, renewal_of, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(req.epoc.clone())
        .bind(status.as_str())
        .bind(req.channel.as_str())
        .bind(req.csr_der.clone())
        .bind(req.spki_sha256.clone())
        .bind(req.policy_version.clone())
        .bind(req.requested_by.clone())
        .bind(req.renewal_of.clone())
        .bind(req.created_at)
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.get(0);
        let mut event = event;
        event.subject = format!("request/{id}");
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// One request.
    pub async fn request(&self, id: i64) -> Result<Option<CertRequest>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {REQUEST_COLUMNS} FROM cert_requests WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// The request that produced the certificate `serial`.
    pub async fn request_for_serial(&self, serial: &str) -> Result<Option<CertRequest>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {REQUEST_COLUMNS} FROM cert_requests WHERE serial = $1")))
            .bind(serial)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// Requests matching `f`, newest first.
    pub async fn requests(&self, f: &RequestFilter) -> Result<Vec<CertRequest>, StoreError> {
        let mut sql = format!("SELECT {REQUEST_COLUMNS} FROM cert_requests WHERE 1 = 1");
        let mut n = 0;
        if f.epoc.is_some() {
            n += 1;
            sql.push_str(&format!(" AND epoc = ${n}"));
        }
        if !f.status.is_empty() {
            sql.push_str(" AND status IN (");
            for i in 0..f.status.len() {
                n += 1;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${n}"));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(e) = &f.epoc {
            q = q.bind(e.clone());
        }
        for s in &f.status {
            q = q.bind(s.as_str());
        }
        q = q.bind(if f.limit > 0 { f.limit } else { 100 });
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Moves request `id` from one of `from` to `to`, writing `change` and the audit
    /// entry in one transaction. Returns false (and changes nothing) when the request was
    /// not in one of `from` any more.
    pub async fn transition_request(
        &self,
        id: i64,
        from: &[RequestStatus],
        to: RequestStatus,
        change: &RequestChange,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut sql = String::from(
            "UPDATE cert_requests SET status = $1, \
             decided_at = COALESCE($2, decided_at), decided_by = COALESCE($3, decided_by), \
             deny_reason = COALESCE($4, deny_reason), issuer = COALESCE($5, issuer), serial = COALESCE($6, serial), \
             downloaded_at = COALESCE(downloaded_at, $7), installed_at = COALESCE($8, installed_at) \
             WHERE id = $9 AND status IN (",
        );
        for i in 0..from.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("${}", 10 + i));
        }
        sql.push(')');
        let mut tx = self.pool().begin().await?;
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(to.as_str())
            .bind(change.decided.as_ref().map(|d| d.0))
            .bind(change.decided.as_ref().map(|d| d.1.clone()))
            .bind(change.deny_reason.clone())
            .bind(change.certificate.as_ref().map(|c| c.0.clone()))
            .bind(change.certificate.as_ref().map(|c| c.1.clone()))
            .bind(change.downloaded_at)
            .bind(change.installed_at)
            .bind(id);
        for s in from {
            q = q.bind(s.as_str());
        }
        let n = q.execute(&mut *tx).await?.rows_affected();
        if n == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Registers a client release.
    pub async fn add_release(&self, r: &Release, event: AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO releases (product, version, minimum, url, sha256, notes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.product.clone())
        .bind(r.version.clone())
        .bind(i64::from(r.minimum))
        .bind(r.url.clone())
        .bind(r.sha256.clone())
        .bind(r.notes.clone())
        .bind(r.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("{} {} is registered already", r.product, r.version))
            }
            _ => StoreError::Database(e),
        })?;
        audit::append(&mut tx, self.engine(), &[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every release of `product`.
    pub async fn releases(&self, product: &str) -> Result<Vec<Release>, StoreError> {
        let rows = sqlx::query(
            "SELECT product, version, minimum, url, sha256, notes, created_at FROM releases WHERE product = $1 ORDER BY created_at, version",
        )
        .bind(product)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| Release {
                product: r.get(0),
                version: r.get(1),
                minimum: r.get::<i64, _>(2) != 0,
                url: r.get(3),
                sha256: r.get(4),
                notes: r.get(5),
                created_at: r.get(6),
            })
            .collect())
    }

    /// Trust-feed entries after `cursor`.
    pub async fn trust_events(&self, cursor: i64) -> Result<Vec<TrustEvent>, StoreError> {
        let rows = sqlx::query("SELECT seq, ca_name, kind, at FROM trust_events WHERE seq > $1 ORDER BY seq")
            .bind(cursor)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(|r| TrustEvent { seq: r.get(0), ca_name: r.get(1), kind: r.get(2), at: r.get(3) }).collect())
    }
}

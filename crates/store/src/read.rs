//! [`StoreRead`]: the read-only face of the store for the HTTP layer (Boulder's web front
//! end holds a `StorageAuthorityReadOnlyClient`, never the read-write one).
//!
//! It exposes only the queries that pages and the admin read endpoints need — counts,
//! searches, the audit log and its check — and no method that changes a row. It must never
//! grow a write: every change goes through a domain service (`ca`, `enrol`, `cards`,
//! `portal`), which decides policy and appends the audit entry.

use crate::{AuditEntry, AuditVerification, Card, CertificateFilter, CertificateRecord, Store, StoreError};

/// A read-only handle to the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StoreRead(Store);

impl StoreRead {
    /// The read-only face of `store`.
    pub fn new(store: Store) -> Self {
        Self(store)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }

    /// Certificates matching a filter.
    pub async fn certificates(&self, f: &CertificateFilter) -> Result<Vec<CertificateRecord>, StoreError> {
        self.0.certificates(f).await
    }

    /// Certificates of the organisations whose EPOC is `text` or whose name contains it.
    pub async fn certificates_of_organisation(
        &self,
        text: &str,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        self.0.certificates_of_organisation(text, status, limit).await
    }

    /// Every certificate with this serial (under any CA).
    pub async fn certificates_by_serial(&self, serial: &str) -> Result<Vec<CertificateRecord>, StoreError> {
        self.0.certificates_by_serial(serial).await
    }

    /// Certificates per status, for the metrics.
    pub async fn certificate_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.0.certificate_counts().await
    }

    /// Issued certificates (of `issuer`, or every CA) expiring in each of `weeks` weeks from `now`.
    pub async fn certificates_expiring_per_week(
        &self,
        issuer: Option<&str>,
        now: i64,
        weeks: i64,
    ) -> Result<Vec<i64>, StoreError> {
        self.0.certificates_expiring_per_week(issuer, now, weeks).await
    }

    /// Cards not cancelled expiring in each of `weeks` weeks from `now`.
    pub async fn cards_expiring_per_week(&self, now: i64, weeks: i64) -> Result<Vec<i64>, StoreError> {
        self.0.cards_expiring_per_week(now, weeks).await
    }

    /// How many cards are locked.
    pub async fn locked_cards(&self) -> Result<i64, StoreError> {
        self.0.locked_cards().await
    }

    /// The cards of a user.
    pub async fn cards_of(&self, uid: &str) -> Result<Vec<Card>, StoreError> {
        self.0.cards_of(uid).await
    }

    /// Audit entries after `after_seq`, oldest first.
    pub async fn audit_entries(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        self.0.audit_entries(after_seq, limit).await
    }

    /// The newest `limit` audit entries.
    pub async fn recent_audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        self.0.recent_audit_entries(limit).await
    }

    /// Verifies the whole audit chain.
    pub async fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        self.0.verify_audit().await
    }

    /// The audit head: the last sequence number and its hash.
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        self.0.audit_head().await
    }
    /// Organisations whose newest machine certificate (of `issuer`) expires between `now` and `until`.
    pub async fn machine_certs_expiring(
        &self,
        issuer: &str,
        now: i64,
        until: i64,
    ) -> Result<Vec<crate::MachineExpiry>, StoreError> {
        self.0.machine_certs_expiring(issuer, now, until).await
    }

    /// Cards whose certificates expire between `now` and `until`.
    pub async fn cards_expiring(&self, now: i64, until: i64) -> Result<Vec<crate::CardExpiry>, StoreError> {
        self.0.cards_expiring(now, until).await
    }

    /// Expiry reminders sent for expiries after `now`.
    pub async fn reminders_sent(&self, now: i64) -> Result<Vec<crate::SentReminder>, StoreError> {
        self.0.reminders_sent(now).await
    }
}

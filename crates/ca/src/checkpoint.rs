//! Signed checkpoints of the audit chain's head (issue 10, finding M6).
//!
//! The chain's head lives in the same database as the log, so someone with database access
//! can cut the tail (or TRUNCATE the lot) and reset the head to match. A checkpoint — the
//! head's sequence number and hash and the time, signed by the root CA's key (which the
//! database does not hold in clear) — taken out of the system by an outside party (syslog,
//! WORM storage, an auditor) lets anyone later prove the log was cut below it or rewritten.
//! The signed bytes are [`types::checkpoint_message`] (domain-separated); the signature is
//! made by the CA's [`pki::Signer`], exactly as certificates are signed — no crypto of ours.

use types::Action;

use crate::issue::event;
use crate::{Authority, CaError};

/// The CA whose key signs checkpoints: the root, which every verifier already pins.
pub const CHECKPOINT_SIGNER: &str = "root";

/// A signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// The head's sequence number.
    pub seq: i64,
    /// Its hash (hex).
    pub head_hash: String,
    /// When it was signed (Unix milliseconds).
    pub at_ms: i64,
    /// The signing CA.
    pub signer: String,
    /// The signature over [`types::checkpoint_message`].
    pub signature: Vec<u8>,
}

impl Authority {
    /// Signs the audit chain's current head, then records that a checkpoint was taken (a new
    /// entry after the one signed).
    pub async fn audit_checkpoint(&self, actor: &str) -> Result<AuditCheckpoint, CaError> {
        let store = &self.inner.store;
        let (seq, head_hash) = store.audit_head().await?;
        let at_ms = i64::try_from(self.clock().now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let message = types::checkpoint_message(seq, &head_hash, at_ms);
        let signer = self.ca(CHECKPOINT_SIGNER)?;
        if signer.offline {
            return Err(CaError::Offline(CHECKPOINT_SIGNER.into()));
        }
        let signature = signer.identity.signer().sign(&message)?;
        let ev = event(
            self.clock().as_ref(),
            actor,
            Action::AuditCheckpoint,
            format!("audit/{seq}"),
            serde_json::json!({"seq": seq, "head_hash": head_hash, "at_ms": at_ms, "signer": CHECKPOINT_SIGNER}),
        );
        store.record(&[ev]).await?;
        Ok(AuditCheckpoint { seq, head_hash, at_ms, signer: CHECKPOINT_SIGNER.into(), signature })
    }
}

//! # ca — the carecert certificate authority
//!
//! Owns the CA hierarchy (a root and the issuing CAs `systems` and `smartcards`, each with
//! a delegated OCSP responder), the signers that hold their keys, **issuance**, **revocation**,
//! and the publication of revocation status as **CRLs** and **OCSP** responses.
//!
//! Issuance follows Boulder's order: the certificate's content and serial are stored
//! (reserved) before the CA signs, and the signed certificate is stored before it is
//! returned — so no certificate can exist that the database does not know about.
//!
//! This crate must never speak HTTP or SQL: it calls [`store::Store`] for persistence and
//! [`pki`] for encodings, and leaves transport to the `server` crate. It decides nothing
//! about *who* may ask for a certificate; the domain crates (`enrol`, `cards`) and the
//! admin API decide that, then call [`Authority::issue`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod authority;
mod checkpoint;
mod crl;
mod error;
mod hierarchy;
mod issue;
mod keys;
mod ocsp;
pub mod offline;

pub use authority::{
    Authority, AuthorityConfig, DEFAULT_CRL_SHARDS, DEFAULT_OCSP_CACHE_ENTRIES, Metrics, RevokeRequest, Revoked,
};
pub use checkpoint::{AuditCheckpoint, CHECKPOINT_SIGNER};
pub use crl::{bench_crl, bench_crl_rows, crl_shard_of, crl_url};
pub use error::CaError;
pub use hierarchy::{InitOptions, InitReport, KeyPlacement, init_hierarchy, init_hierarchy_with, issue_tls_server_key};
pub use issue::{IssueRequest, Issued, allowed_profiles};
pub use keys::{FileKeys, KeyStore, NewKey, OFFLINE_KEY, family_of};
pub use ocsp::OcspReply;
pub use pki::VerifiedCsr;
pub use store::CrlScope;
pub use types::{CHECKPOINT_FORMAT, Clock, ManualClock, OffsetClock, SystemClock, checkpoint_message};

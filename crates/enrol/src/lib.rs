//! # enrol — machine certificates for pharmacy, GP, dental and ophthalmic systems
//!
//! Owns the rules of DESIGN §2.1–2.3: organisations and their **enrolment PINs** (random,
//! shown once, Argon2id-hashed, 14 days, a new one supersedes the old), the PIN **letter**
//! (PDF and text), logon with EPOC + PIN (5 wrong PINs lock the EPOC for 15 minutes; the
//! same answer for an unknown EPOC and a wrong PIN), the client **update check** and
//! **trust feed**, **certificate requests** and their states
//! (`pending → approved → downloaded → installed`, or `denied` / `cancelled`), the approval
//! policy per organisation, **renewal with the current certificate** (mutual TLS, no PIN),
//! and the **message-store gate**'s decision.
//!
//! It must never speak HTTP or SQL (the `server` and `store` crates do), never keep a PIN
//! or a session token in clear (hashes only), and never take a certificate subject from a
//! request: the subject comes from the organisation record.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod letter;
mod pin;
mod service;

pub use error::EnrolError;
pub use letter::{PinLetter, local_date, render_letter};
pub use pin::EnrolmentPin;
pub use service::{
    CertificateBundle, ClientVersionCheck, EnrolConfig, Enrolment, IssuedPin, LoggedIn, Sender, SessionContext,
    UpdateCheck, request_message,
};
pub use store::{
    ApprovalPolicy, CertRequest, OrgKind, OrgStatus, Organisation, Release, RequestChannel, RequestStatus,
};

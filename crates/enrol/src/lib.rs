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
//! One file per use case: `orgs`, `pins` (and the `letter`), `releases` (update check,
//! trust feed), `sessions` (logon, lockout), `requests` (the lifecycle; every state change
//! passes the [`RequestStatus`] transition guard), `mtls` (identify, renew with the current
//! certificate); `service` holds [`Enrolment`], built from explicit parts, and what they share.
//!
//! It must never speak HTTP or SQL (the `server` and `store` crates do), never keep a PIN
//! or a session token in clear (hashes only), and never take a certificate subject from a
//! request: the subject comes from the organisation record.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod letter;
mod mtls;
mod orgs;
mod pin;
mod pins;
mod releases;
mod requests;
mod service;
mod sessions;
mod zerotouch;

pub use error::{CertificateProblem, EnrolError, InputProblem};
pub use letter::{PinLetter, local_date, render_letter};
pub use mtls::Sender;
pub use pin::EnrolmentPin;
pub use pins::IssuedPin;
pub use releases::{ClientVersionCheck, SignedRelease, UpdateCheck};
pub use requests::{CertificateBundle, request_message};
pub use service::{EnrolConfig, Enrolment, HashGate};
pub use sessions::{LoggedIn, SessionContext};
pub use store::{
    ApprovalPolicy, CertRequest, OrgKind, OrgStatus, Organisation, Release, ReleaseKey, RequestChannel, RequestStatus,
};
pub use zerotouch::RenewalWindow;

//! # api — the JSON contract of carecert's service API
//!
//! Every request and response body that `server` speaks and `client` (for `ecmt`,
//! `carecert-agent` and `carecert admin`) sends, in one place so both sides agree by
//! construction. Field names and the text of enum values are the public contract
//! (DESIGN §5): add fields, never rename or remove them.
//!
//! By area: [`ecmt`] (machine certificates), [`cards`] (the smartcard agent), [`portal`]
//! (the agent's portal calls), [`admin`] (the admin API: certificates and audit, and the
//! RA's work in [`admin::enrol`] and [`admin::cards`]), [`public`] (`GET /ca`). Every
//! closed set (statuses, profiles, revocation reasons, channels, …) is an enum in
//! [`vocab`] whose serde name is the wire text; an unknown value is a data error of the
//! JSON body. Everything is re-exported at the crate root (`api::RequestView`).
//!
//! Features: `clap` derives `clap::ValueEnum` for the enums of [`vocab`], so command lines
//! take the same values.
//!
//! This crate must never hold logic or I/O: plain `serde` types with their OpenAPI
//! schemas, nothing else.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod admin;
pub mod cards;
pub mod ecmt;
pub mod portal;
pub mod public;
pub mod releases;
pub mod vocab;
pub mod zerotouch;

pub use admin::cards::*;
pub use admin::enrol::*;
pub use admin::operators::*;
pub use admin::*;
pub use cards::*;
pub use ecmt::*;
pub use portal::*;
pub use public::*;
pub use releases::*;
pub use vocab::*;
pub use zerotouch::*;

/// Every error: a code for programs, a sentence for people.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code (`login_failed`, `locked_out`, `client_too_old`, …).
    pub error: String,
    /// What happened and what to do, for a person.
    pub message: String,
}

//! The JSON wing: one module per API area. Handlers are thin — extract, call one domain
//! service, render a type from `api` (or [`wire`] until `api` has it). They never choose a
//! status for a domain error (that is `error.rs`) and never touch storage except through the
//! read-only handle. They are registered in one table, `openapi::json_routes`.

pub(crate) mod admin;
pub(crate) mod cards;
pub(crate) mod enrol;
pub(crate) mod operators;
pub(crate) mod portal;
pub(crate) mod public;
pub(crate) mod releases;
pub(crate) mod wire;
pub(crate) mod zerotouch;

//! # types — carecert's vocabulary
//!
//! The words every other crate speaks: where "now" comes from ([`Clock`]), identifiers that
//! are validated once when they are parsed ([`Epoc`], [`Uid`], [`CardSerial`], [`CertSerial`],
//! [`RequestId`], [`RenewalId`], [`Username`]), every closed set as an enum whose stored and
//! wire text never changes ([`RequestStatus`], [`CardStatus`], [`OrgKind`], …), web [`Role`]s
//! and sets of them ([`Roles`]), and the audit log's [`Actor`], [`Action`] and
//! [`AuditEvent`].
//!
//! This crate is layer 0: it depends on no other carecert crate. It must never do I/O (no
//! files, network or database) and never decide policy beyond validating a value and saying
//! which state transitions are legal: who may do what belongs to the domain crates.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod audit;
mod clock;
mod gate;
mod ids;
mod operator;
mod role;
mod status;
mod version;

pub use audit::{Action, Actor, AuditEvent, CHECKPOINT_FORMAT, InvalidActor, checkpoint_message};
pub use clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use gate::{GateError, HashGate};
pub use ids::{CardSerial, CertSerial, Epoc, InvalidId, RenewalId, RequestId, Uid, Username};
pub use operator::{Operator, OperatorRole, Permission, Refused, Scope};
pub use role::{PortalRole, Role, RoleError, Roles};
pub use status::{
    ApprovalPolicy, Area, CardStatus, Channel, Environment, IdentityPurpose, IllegalTransition, OrgKind, OrgStatus,
    RenewalKind, RenewalStatus, RequestChannel, RequestStatus, SessionEnd, TrustEventKind,
};
pub use version::{ClientVersion, InvalidVersion};

/// The approval policy under its shorter name.
pub type Approval = ApprovalPolicy;

//! # cards — staff smartcards
//!
//! Owns the rules of DESIGN §2.4 on the server side: users and their cards (two
//! certificates each, authentication and signing, from the `smartcards` CA), the
//! **passcode lock** (3 consecutive wrong passcodes lock the card; the count is kept here
//! because soft tokens such as SoftHSM2 do not count), **unlock** by a one-time code (email
//! on an allow-listed domain, SMS, or landline text-to-voice; 10 minutes, single use, 3
//! tries), by a **sponsor** whose own card signs a challenge, or by the **RA** face to face;
//! **renewal** (90-day window, two remote renewals, then the RA; expired → RA only; locked →
//! unlock first), done as an attempt that either completes or is **aborted** with every
//! certificate it issued revoked; **cancellation**; and the minimum agent version per batch.
//!
//! One file per use case: `users` (users, batches, sponsors), `lifecycle` (issue, view,
//! cancel), `sessions` (passcode count, challenges, card sessions, logon identity), `unlock`
//! (codes, sponsors, RA), `renewal` (begin, certificates, complete, abort; a card session
//! acts only on its own card's renewals); `service` holds [`Cards`] and what they share.
//! Codes leave through the [`Messenger`] port: the SMTP and text-gateway adapters live in
//! the binary that wires them (`carecert`), not here.
//!
//! It must never speak HTTP, SMTP or SQL, never hold a passcode, and never keep a code or a PIN
//! in clear: one-time codes are Argon2id hashes; a card's security-officer PIN is sealed
//! (AES-256-GCM) and only opened for an agent that has just proved an unlock. Keys are
//! generated on the card; this crate only ever sees public keys and signatures.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod desk;
mod desk_renew;
mod error;
mod lifecycle;
mod messenger;
mod renewal;
mod service;
mod sessions;
mod unlock;
mod users;

pub use desk::{DESK_TICKET_PREFIX, DESK_TICKET_SECONDS, DeskCheck, MintedTicket};
pub use error::{
    CardsError, ChannelProblem, CodeProblem, ConflictProblem, DeskProblem, InputProblem, RaNeeded, RenewalProblem,
    SponsorProblem, Throttle,
};
pub use lifecycle::{CardView, IssueCard, IssuedCard};
pub use messenger::{Channel, Messenger, Outbox, SendFuture};
pub use renewal::RenewalKind;
pub use service::{CardKeyRole, CardLimits, Cards, CardsConfig, Limit};
pub use sessions::{CardState, PasscodeFailure, Source, TokenFlags};
pub use store::{Card, CardStatus, CodeDelivery, Contact, DeskTicket, User};
pub use unlock::Unlocked;

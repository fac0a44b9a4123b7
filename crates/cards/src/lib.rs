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
//! It must never speak HTTP or SQL, never hold a passcode, and never keep a code or a PIN
//! in clear: one-time codes are Argon2id hashes; a card's security-officer PIN is sealed
//! (AES-256-GCM) and only opened for an agent that has just proved an unlock. Keys are
//! generated on the card; this crate only ever sees public keys and signatures.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod messenger;
mod service;

pub use error::CardsError;
pub use messenger::{Channel, HttpTextGateway, Messenger, Outbox, SmtpMailer};
pub use service::{CardKeyRole, CardView, Cards, CardsConfig, IssueCard, IssuedCard, RenewalKind, Unlocked};
pub use store::{Card, CardStatus, User};

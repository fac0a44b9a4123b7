use thiserror::Error;

use crate::messenger::Channel;
use crate::service::CardKeyRole;

/// What can go wrong with cards. Each message says what happened and what to do instead.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CardsError {
    /// No such user.
    #[error("there is no user with UID {0}: register the user first (carecert admin user add)")]
    UnknownUser(String),
    /// No such card.
    #[error("card {0} is not registered: an RA must issue it first")]
    UnknownCard(String),
    /// The card is locked.
    #[error(
        "card {0} is locked after too many wrong passcodes: unlock it first (a one-time code by email or text, a sponsor, or the RA)"
    )]
    Locked(String),
    /// The card is cancelled.
    #[error("card {0} is cancelled and can no longer be used: ask the RA for a new card")]
    Cancelled(String),
    /// A wrong passcode; tries left.
    #[error("wrong passcode: {left} {} left before the card locks", if *left == 1 { "try" } else { "tries" })]
    WrongPasscode {
        /// Tries left.
        left: i64,
    },
    /// The new passcode breaks the rule.
    #[error("the passcode must be 6 to 8 digits")]
    BadPasscode,
    /// Renewal is not possible yet.
    #[error("renewal opens {days_before} days before expiry, on {opens}: try again then")]
    RenewalNotYet {
        /// Window length.
        days_before: i64,
        /// Date it opens.
        opens: String,
    },
    /// Renewal (or logon) needs the RA.
    #[error(transparent)]
    NeedsRa(RaNeeded),
    /// The agent is too old for this card.
    #[error(
        "this card (batch {batch}) needs carecert-agent {minimum} or newer; this is {version}: install the current agent"
    )]
    AgentTooOld {
        /// Card batch.
        batch: String,
        /// Minimum.
        minimum: String,
        /// This agent.
        version: String,
    },
    /// Unlock code problems.
    #[error(transparent)]
    CodeRefused(CodeProblem),
    /// The channel cannot be used for this user.
    #[error(transparent)]
    ChannelUnavailable(ChannelProblem),
    /// Sponsor problems.
    #[error(transparent)]
    SponsorRefused(SponsorProblem),
    /// A renewal attempt problem.
    #[error(transparent)]
    RenewalRefused(RenewalProblem),
    /// A card session acted on another card's renewal.
    #[error("this card session belongs to another card")]
    WrongCard,
    /// Delivery of a message failed.
    #[error("the code could not be sent by {channel}: {detail}. Try another way, or call the helpdesk")]
    Delivery {
        /// Channel.
        channel: String,
        /// Why.
        detail: String,
    },
    /// Too many requests: the caller may try again after `retry_after`.
    #[error("{what}: try again in {} seconds", retry_after.as_secs().max(1))]
    Throttled {
        /// What was limited.
        what: Throttle,
        /// When the next request is allowed.
        retry_after: std::time::Duration,
    },
    /// Every Argon2 worker stayed busy longer than the configured wait.
    #[error("the service is busy checking other codes: try again in a few seconds")]
    Busy,
    /// Unlock codes are for locked cards only.
    #[error(
        "card {0} is not locked: unlock codes are sent and accepted only for a locked card; log in with the passcode instead"
    )]
    NotLocked(String),
    /// Other bad input.
    #[error(transparent)]
    BadInput(InputProblem),
    /// A desk ticket, or a contact detail the RA entered, that cannot be used.
    #[error(transparent)]
    DeskTicket(DeskProblem),
    /// Conflict with what exists.
    #[error(transparent)]
    Conflict(ConflictProblem),
    /// From the CA.
    #[error(transparent)]
    Ca(#[from] ca::CaError),
    /// From the store.
    #[error(transparent)]
    Store(store::StoreError),
    /// Inside.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<store::StoreError> for CardsError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Conflict(m) => CardsError::Conflict(ConflictProblem::Stored(m)),
            other => CardsError::Store(other),
        }
    }
}

/// What a [`CardsError::Throttled`] limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Throttle {
    /// Login challenges for this card from this source.
    CardFromSource,
    /// Login challenges for this card from unenrolled workstations.
    Card,
    /// Login challenges from this source.
    Source,
    /// The back-off after wrong passcodes reported by an unenrolled workstation.
    Backoff,
    /// Unlock codes sent for this card.
    CodesForCard,
    /// Unlock codes sent to this address or number.
    CodesToDestination,
}

impl std::fmt::Display for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Throttle::CardFromSource => "too many login attempts for this card from this workstation",
            Throttle::Card => "too many login attempts for this card from workstations that are not enrolled",
            Throttle::Source => "too many login attempts from this workstation",
            Throttle::Backoff => {
                "a wrong passcode was entered on a workstation that is not enrolled, so further tries are slowed down"
            }
            Throttle::CodesForCard => "unlock codes for this card were sent recently",
            Throttle::CodesToDestination => "unlock codes were sent to this address recently",
        })
    }
}

/// Why only the RA can help now.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RaNeeded {
    /// A remote renewal of expired certificates.
    #[error("the certificates on card {serial} expired on {on}: only the RA can renew them, in person")]
    RenewExpired {
        /// Card.
        serial: String,
        /// Expiry date.
        on: String,
    },
    /// The remote renewals are used up.
    #[error(
        "card {serial} has been renewed remotely {count} times: this renewal needs an identity check by the RA, in person"
    )]
    RemoteLimit {
        /// Card.
        serial: String,
        /// Remote renewals so far.
        count: i64,
    },
    /// A logon with a revoked certificate.
    #[error("the certificate on card {serial} is revoked: ask the RA for a new card")]
    Revoked {
        /// Card.
        serial: String,
    },
    /// A logon with expired certificates.
    #[error("the certificates on card {serial} have expired: renew them at the RA")]
    Expired {
        /// Card.
        serial: String,
    },
}

/// Why a one-time unlock code is refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CodeProblem {
    /// No code exists.
    #[error("no code was sent for this card: ask for a new code, or use a sponsor or the RA")]
    NotSent,
    /// Used once already.
    #[error("this code was used already: ask for a new code, or use a sponsor or the RA")]
    Used,
    /// Past its lifetime.
    #[error("this code has expired: ask for a new code, or use a sponsor or the RA")]
    Expired,
    /// Its tries are used up.
    #[error("too many wrong codes: ask for a new code, or use a sponsor or the RA")]
    TooManyTries,
    /// Wrong, with tries left.
    #[error("the code is not right: {left} {} left", if *left == 1 { "try" } else { "tries" })]
    Wrong {
        /// Tries left.
        left: i64,
    },
    /// Wrong, and that was the last try.
    #[error("the code is not right and no tries are left: ask for a new code, or use a sponsor or the RA")]
    NoTriesLeft,
}

/// Why a code cannot be sent this way.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ChannelProblem {
    /// No email address registered.
    #[error("no email address is registered for you: use SMS, a sponsor or the RA")]
    NoEmail,
    /// The address's domain is not on the allow-list.
    #[error("codes are not sent to {domain} addresses (allowed: {allowed}): use SMS, a sponsor or the RA")]
    DomainNotAllowed {
        /// The address's domain.
        domain: String,
        /// The allowed domains, comma-separated.
        allowed: String,
    },
    /// No mobile registered.
    #[error("no mobile number is registered for you: use email, a sponsor or the RA")]
    NoMobile,
    /// No landline that takes text-to-voice calls.
    #[error("your landline is not registered as able to take text-to-voice calls: use email, SMS, a sponsor or the RA")]
    NoVoiceLandline,
    /// This server has no messenger for the channel.
    #[error("this service cannot send {} messages: use another way", .0.as_str())]
    NotConfigured(Channel),
}

/// Why a sponsor unlock is refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SponsorProblem {
    /// The challenge is not (or no longer) valid for this card.
    #[error("the challenge is unknown, used or expired: start the sponsor unlock again")]
    Challenge,
    /// The certificate cannot be parsed.
    #[error("the sponsor's certificate cannot be read: {0}")]
    Unreadable(pki::PkiError),
    /// Not a card certificate of this service.
    #[error("the sponsor's card certificate was not issued by this service")]
    NotIssuedHere,
    /// Revoked or expired.
    #[error("the sponsor's card certificate is revoked or expired")]
    NotValid,
    /// The signature is not the sponsor card's.
    #[error("the sponsor's signature does not verify: use the sponsor's own card")]
    BadSignature,
    /// No card holds the certificate.
    #[error("the sponsor's card is not registered")]
    CardUnknown,
    /// The sponsor's card is locked or cancelled.
    #[error("the sponsor's card cannot be used: {0}")]
    CardUnusable(Box<CardsError>),
    /// A card tried to unlock itself.
    #[error("a card cannot unlock itself")]
    SameCard,
    /// The sponsor has no authority for the holder's organisation.
    #[error("user {uid} has no unlock authority for organisation {organisation}: ask the RA")]
    NoAuthority {
        /// The sponsor.
        uid: String,
        /// The holder's organisation.
        organisation: String,
    },
}

/// Why a step of a renewal attempt is refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RenewalProblem {
    /// No such attempt.
    #[error("renewal {id} is unknown")]
    Unknown {
        /// Attempt.
        id: i64,
    },
    /// The attempt is over.
    #[error("renewal {id} is {status}: start a new one")]
    Over {
        /// Attempt.
        id: i64,
        /// Its state.
        status: String,
    },
    /// That certificate was issued already.
    #[error("renewal {id} already has its {role:?} certificate")]
    AlreadyIssued {
        /// Attempt.
        id: i64,
        /// Which certificate.
        role: CardKeyRole,
    },
    /// The attempt ended while the certificate was issued.
    #[error("renewal {id} ended meanwhile: start a new one")]
    EndedMeanwhile {
        /// Attempt.
        id: i64,
    },
    /// Completing before both certificates exist.
    #[error("renewal {id} does not have both certificates yet")]
    Incomplete {
        /// Attempt.
        id: i64,
    },
    /// Completing an attempt that was aborted.
    #[error("renewal {id} was aborted meanwhile: start a new one")]
    AbortedMeanwhile {
        /// Attempt.
        id: i64,
    },
}

/// Input that breaks a rule.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InputProblem {
    /// An RA action without the identity documents checked.
    #[error("record which identity documents were checked (--documents)")]
    NoDocuments,
    /// The SO PIN is too short.
    #[error("the card's SO PIN must be at least 8 characters")]
    SoPinTooShort,
    /// Not a delivery channel.
    #[error("'{0}' is not a way to send a code: use email, sms or voice")]
    Channel(String),
    /// Not an agent version.
    #[error("'{0}' is not an agent version")]
    AgentVersion(String),
    /// Not a minimum version.
    #[error("'{0}' is not a version like 1.2.0")]
    Version(String),
    /// The logon challenge is not valid for this card.
    #[error("the challenge is unknown, used or expired: log in again")]
    Challenge,
    /// The passcode-failure report names no challenge issued to this caller.
    #[error(
        "the report names no unused login challenge issued to this workstation for this card: ask for a challenge before the passcode is tried"
    )]
    FailureChallenge,
    /// The card's signature does not verify.
    #[error("the card's signature does not verify: is this the right card?")]
    CardSignature,
    /// The card session is over (or never was).
    #[error("the card session has ended: log in with the card again")]
    SessionEnded,
    /// A certificate that cannot be parsed.
    #[error("the certificate cannot be read: {0}")]
    Certificate(pki::PkiError),
    /// Not a UID.
    #[error("'{0}' is not a UID: use the user's digits (e.g. 12)")]
    Uid(String),
    /// A name out of bounds.
    #[error("the name must be 1 to 64 characters")]
    Name,
    /// Not an email address.
    #[error("'{0}' is not an email address")]
    Email(String),
}

/// What an action conflicts with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConflictProblem {
    /// The card serial is taken.
    #[error("card {serial} is registered already")]
    CardRegistered {
        /// Card.
        serial: String,
    },
    /// A uniqueness or state conflict found by the store, in its words.
    #[error("{0}")]
    Stored(String),
}

/// Why a desk ticket (or an RA's contact change) is refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DeskProblem {
    /// No ticket has this value.
    #[error("the desk ticket is not valid: record the identity check again on the RA desk page")]
    Unknown,
    /// Used already.
    #[error("the desk ticket has been used (a desk ticket issues one card): record the identity check again")]
    Used,
    /// Presented a second time while the first use is running.
    #[error("the desk ticket is being used by another request: wait for it to finish")]
    InUse,
    /// Expired.
    #[error("the desk ticket has expired (it lasts 10 minutes): record the identity check again")]
    Expired,
    /// For another holder, other documents or another batch.
    #[error("the desk ticket was made for UID {uid} with other documents or batch: it cannot issue this card")]
    Scope {
        /// The holder it was made for.
        uid: String,
    },
    /// A renewal ticket presented for another card (or an issue ticket for a renewal).
    #[error(
        "the desk ticket was not made for renewing card {serial}: record the identity check for this card on its RA page"
    )]
    RenewScope {
        /// The card it was presented for.
        serial: String,
    },
    /// The documents text is too long.
    #[error("describe the documents in at most 500 characters")]
    DocumentsTooLong,
    /// Not a batch name.
    #[error("'{0}' is not a card batch: use 1 to 32 letters, digits, '.', '-' or '_' (as printed on the card box)")]
    Batch(String),
    /// Not a telephone number.
    #[error("the {what} number '{value}' is not a telephone number: use 7 to 15 digits, with + ( ) - or spaces")]
    Phone {
        /// mobile or landline.
        what: &'static str,
        /// As entered.
        value: String,
    },
    /// Text-to-voice without a landline.
    #[error("text-to-voice needs a landline number: enter the landline, or untick text-to-voice")]
    VoiceWithoutLandline,
}

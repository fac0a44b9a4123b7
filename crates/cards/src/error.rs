use thiserror::Error;

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
    /// Renewal needs the RA.
    #[error("{0}")]
    NeedsRa(String),
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
    #[error("{0}")]
    CodeRefused(String),
    /// The channel cannot be used for this user.
    #[error("{0}")]
    ChannelUnavailable(String),
    /// Sponsor problems.
    #[error("{0}")]
    SponsorRefused(String),
    /// A renewal attempt problem.
    #[error("{0}")]
    RenewalRefused(String),
    /// Delivery of a message failed.
    #[error("the code could not be sent by {channel}: {detail}. Try another way, or call the helpdesk")]
    Delivery {
        /// Channel.
        channel: String,
        /// Why.
        detail: String,
    },
    /// Other bad input.
    #[error("{0}")]
    BadInput(String),
    /// Conflict with what exists.
    #[error("{0}")]
    Conflict(String),
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
            store::StoreError::Conflict(m) => CardsError::Conflict(m),
            other => CardsError::Store(other),
        }
    }
}

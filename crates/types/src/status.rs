//! Every closed set as an enum. The text of each value is what the database stores and the
//! wire carries; it must never change.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::role::Role;

/// Declares a closed set whose values are stored as fixed text.
///
/// `FromStr` refuses anything but the exact text, with a message that lists every value.
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $text)] #[cfg_attr(feature = "clap", value(name = $text))] $variant),+
        }
        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stored (and displayed) text.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "'{other}' is not one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

text_enum!(
    /// What kind of care an organisation provides.
    OrgKind {
        /// A community pharmacy.
        Pharmacy = "pharmacy",
        /// A general practice.
        Gp = "gp",
        /// A dental practice.
        Dental = "dental",
        /// An optician.
        Ophthalmic = "ophthalmic",
    }
);
text_enum!(
    /// Whether an organisation may hold and use certificates.
    OrgStatus {
        /// May request and use certificates.
        Active = "active",
        /// Temporarily barred: its certificates are refused at the message store.
        Suspended = "suspended",
        /// Gone.
        Closed = "closed",
    }
);
text_enum!(
    /// Who approves an organisation's requests.
    ApprovalPolicy {
        /// Approved (and issued) as soon as they arrive.
        Automatic = "automatic",
        /// Wait in the RA queue.
        RaQueue = "ra-queue",
    }
);
text_enum!(
    /// Where a certificate request is in its life (DESIGN §2.3).
    RequestStatus {
        /// Waiting for the RA.
        Pending = "pending",
        /// Issued; available for download.
        Approved = "approved",
        /// Downloaded at least once, not yet confirmed installed (download may be repeated).
        Downloaded = "downloaded",
        /// The client confirmed the install.
        Installed = "installed",
        /// Refused by the RA, with a reason.
        Denied = "denied",
        /// Withdrawn.
        Cancelled = "cancelled",
    }
);
text_enum!(
    /// How a request was authenticated.
    RequestChannel {
        /// EPOC + PIN session.
        Pin = "pin",
        /// Mutual TLS with the organisation's current certificate.
        Certificate = "certificate",
    }
);
text_enum!(
    /// Where a card is in its life.
    CardStatus {
        /// In use.
        Active = "active",
        /// Locked after wrong passcodes: must be unlocked.
        Locked = "locked",
        /// Withdrawn (user left, card lost); its certificates are revoked.
        Cancelled = "cancelled",
    }
);
text_enum!(
    /// How a card's certificates are renewed.
    RenewalKind {
        /// By the holder, through the agent, without seeing anyone.
        Remote = "remote",
        /// Face to face with the RA, who checks identity documents.
        Ra = "ra",
    }
);
text_enum!(
    /// Where a card renewal attempt is.
    RenewalStatus {
        /// Under way.
        Started = "started",
        /// Finished: the card holds the new certificates.
        Done = "done",
        /// Given up; certificates issued in it were revoked.
        Aborted = "aborted",
    }
);
text_enum!(
    /// Why a face-to-face identity check was made.
    IdentityPurpose {
        /// A card was issued.
        Issue = "issue",
        /// A card's certificates were renewed.
        Renew = "renew",
        /// A locked card was unlocked.
        Unlock = "unlock",
    }
);
text_enum!(
    /// How a one-time unlock code travels.
    Channel {
        /// Email to the registered address.
        Email = "email",
        /// Text message to the registered mobile.
        Sms = "sms",
        /// Text-to-voice call to the registered landline.
        Voice = "voice",
    }
);
text_enum!(
    /// Which environment a deployment is.
    Environment {
        /// The live service.
        Live = "live",
        /// A test service (admits only its allow-list).
        Test = "test",
    }
);
text_enum!(
    /// Which web area a browser session is for.
    Area {
        /// The relying-party portal.
        Portal = "portal",
        /// The RA and operator console.
        Ra = "ra",
    }
);
text_enum!(
    /// Why a browser session ended.
    SessionEnd {
        /// No request for longer than the idle timeout (or past its lifetime).
        Idle = "idle",
        /// The user logged out.
        Logout = "logout",
        /// The smartcard it was opened with was removed (or its agent went quiet).
        CardRemoved = "card removed",
    }
);
text_enum!(
    /// What a trust-feed entry says about a CA.
    TrustEventKind {
        /// Trust this CA.
        Added = "added",
        /// Stop trusting this CA.
        Withdrawn = "withdrawn",
    }
);

/// A request state change that the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a request that is {from} cannot become {to}")]
pub struct IllegalTransition {
    /// The state the request is in.
    pub from: RequestStatus,
    /// The state asked for.
    pub to: RequestStatus,
}

impl RequestStatus {
    /// The states a request may move to from this one.
    pub fn next_states(self) -> &'static [RequestStatus] {
        use RequestStatus::*;
        match self {
            Pending => &[Approved, Denied, Cancelled],
            Approved => &[Downloaded, Installed, Cancelled],
            Downloaded => &[Downloaded, Installed],
            Installed | Denied | Cancelled => &[],
        }
    }

    /// Whether `next` may follow this state.
    pub fn can_become(self, next: RequestStatus) -> bool {
        self.next_states().contains(&next)
    }

    /// The guard every request state change goes through: `next` when it may follow this
    /// state, otherwise an [`IllegalTransition`].
    pub fn transition(self, next: RequestStatus) -> Result<RequestStatus, IllegalTransition> {
        if self.can_become(next) { Ok(next) } else { Err(IllegalTransition { from: self, to: next }) }
    }

    /// The states from which a request may move to `next` (for conditional updates).
    pub fn states_before(next: RequestStatus) -> Vec<RequestStatus> {
        RequestStatus::ALL.iter().copied().filter(|s| s.can_become(next)).collect()
    }

    /// Whether nothing can happen to the request any more.
    pub fn is_final(self) -> bool {
        self.next_states().is_empty()
    }
}

impl Area {
    /// Whether `role` opens this area: `ra` and `operator` the RA console, `portal:…` the
    /// portal.
    pub fn admits(self, role: &Role) -> bool {
        match self {
            Area::Ra => matches!(role, Role::Ra | Role::Operator),
            Area::Portal => matches!(role, Role::Portal(_)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestStatus::*;

    #[test]
    fn legal_transitions_pass_the_guard() {
        for (from, to) in [
            (Pending, Approved),
            (Pending, Denied),
            (Pending, Cancelled),
            (Approved, Downloaded),
            (Approved, Installed),
            (Approved, Cancelled),
            (Downloaded, Downloaded),
            (Downloaded, Installed),
        ] {
            assert_eq!(from.transition(to), Ok(to), "{from} -> {to}");
        }
    }

    #[test]
    fn illegal_transitions_are_refused_with_a_message() {
        for from in RequestStatus::ALL {
            for to in RequestStatus::ALL {
                if !from.next_states().contains(to) {
                    let e = from.transition(*to).unwrap_err();
                    assert_eq!(e, IllegalTransition { from: *from, to: *to });
                }
            }
        }
        assert_eq!(
            Denied.transition(Approved).unwrap_err().to_string(),
            "a request that is denied cannot become approved"
        );
        assert!(Installed.is_final() && Denied.is_final() && Cancelled.is_final() && !Pending.is_final());
        assert_eq!(RequestStatus::states_before(Installed), vec![Approved, Downloaded]);
    }

    #[test]
    fn stored_text_round_trips_and_is_exact() {
        for s in RequestStatus::ALL {
            assert_eq!(s.as_str().parse::<RequestStatus>().unwrap(), *s);
            assert_eq!(serde_json::to_string(s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        assert_eq!(ApprovalPolicy::RaQueue.as_str(), "ra-queue");
        assert_eq!(SessionEnd::CardRemoved.as_str(), "card removed");
        assert!("Pending".parse::<RequestStatus>().is_err());
        assert!("pending ".parse::<RequestStatus>().is_err());
        assert_eq!("x".parse::<CardStatus>().unwrap_err(), "'x' is not one of: active, locked, cancelled");
    }

    #[test]
    fn areas_admit_their_roles() {
        let ra: Role = "ra".parse().unwrap();
        let op: Role = "operator".parse().unwrap();
        let clin: Role = "portal:clinician".parse().unwrap();
        assert!(Area::Ra.admits(&ra) && Area::Ra.admits(&op) && !Area::Ra.admits(&clin));
        assert!(Area::Portal.admits(&clin) && !Area::Portal.admits(&ra));
    }
}

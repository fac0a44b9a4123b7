//! The closed sets of the wire: every value a field may take, as an enum whose serde name
//! is the text on the wire (unchanged from when these fields were strings).
//!
//! Each enum has `ALL`, `as_str`, `Display` and a `FromStr` whose error names every
//! accepted value. With the `clap` feature each also derives `clap::ValueEnum`, so
//! command lines list the values from the type.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $text)] #[cfg_attr(feature = "clap", value(name = $text))] $variant),+
        }
        impl $name {
            /// Every value, in the order of the declaration.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The text on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("'{other}' is not one of: {}", [$($text),+].join(", "))),
                }
            }
        }
    };
}

wire_enum!(
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

wire_enum!(
    /// Whether an organisation may hold and use certificates.
    OrgStatus {
        /// May request and use certificates.
        Active = "active",
        /// Temporarily barred.
        Suspended = "suspended",
        /// Gone.
        Closed = "closed",
    }
);

wire_enum!(
    /// Who approves an organisation's requests.
    Approval {
        /// Approved (and issued) as soon as they arrive.
        Automatic = "automatic",
        /// Wait in the RA queue.
        RaQueue = "ra-queue",
    }
);

wire_enum!(
    /// Where a certificate request is in its life.
    RequestStatus {
        /// Waiting for the RA.
        Pending = "pending",
        /// Issued; available for download.
        Approved = "approved",
        /// Downloaded at least once, not yet confirmed installed.
        Downloaded = "downloaded",
        /// The client confirmed the install.
        Installed = "installed",
        /// Refused by the RA, with a reason.
        Denied = "denied",
        /// Withdrawn.
        Cancelled = "cancelled",
    }
);

wire_enum!(
    /// How a certificate request was authenticated.
    RequestChannel {
        /// Organisation code + PIN session.
        Pin = "pin",
        /// Mutual TLS with the organisation's current certificate.
        Certificate = "certificate",
    }
);

wire_enum!(
    /// Where a smartcard is in its life.
    CardStatus {
        /// In use.
        Active = "active",
        /// Locked after wrong passcodes: must be unlocked.
        Locked = "locked",
        /// Withdrawn; its certificates are revoked.
        Cancelled = "cancelled",
    }
);

wire_enum!(
    /// Where a one-time unlock code is sent.
    Channel {
        /// The registered email address.
        Email = "email",
        /// A text message to the mobile number.
        Sms = "sms",
        /// A text-to-voice call to the landline.
        Voice = "voice",
    }
);

wire_enum!(
    /// Which of a card's two keys.
    KeyRole {
        /// The authentication key.
        Auth = "auth",
        /// The signing key.
        Sign = "sign",
    }
);

wire_enum!(
    /// A certificate profile.
    Profile {
        /// The self-signed root of the hierarchy.
        RootCa = "root-ca",
        /// An issuing CA under the root.
        IssuingCa = "issuing-ca",
        /// A pharmacy / GP system's machine certificate (TLS client).
        SystemClient = "system-client",
        /// A TLS server certificate.
        TlsServer = "tls-server",
        /// A smartcard's authentication certificate.
        CardAuth = "card-auth",
        /// A smartcard's signing certificate.
        CardSign = "card-sign",
        /// A delegated OCSP responder.
        OcspResponder = "ocsp-responder",
    }
);

wire_enum!(
    /// An RFC 5280 revocation reason, by its name (as `openssl` prints it).
    RevocationReason {
        /// No reason given.
        Unspecified = "unspecified",
        /// The key is known or suspected to be compromised.
        KeyCompromise = "keyCompromise",
        /// The CA's key is compromised.
        CaCompromise = "cACompromise",
        /// The subject's affiliation changed.
        AffiliationChanged = "affiliationChanged",
        /// Replaced by another certificate.
        Superseded = "superseded",
        /// No longer needed.
        CessationOfOperation = "cessationOfOperation",
        /// On hold.
        CertificateHold = "certificateHold",
        /// Taken off a CRL (a CRL mechanism, not a reason an operator chooses).
        RemoveFromCrl = "removeFromCRL",
        /// The privilege was withdrawn.
        PrivilegeWithdrawn = "privilegeWithdrawn",
        /// The attribute authority is compromised.
        AaCompromise = "aACompromise",
    }
);

impl RevocationReason {
    /// Parses the name as the server always has: case-insensitively, with or without
    /// dashes and underscores (`keyCompromise`, `key-compromise`).
    pub fn parse_lenient(s: &str) -> Option<Self> {
        let norm: String = s.chars().filter(|c| *c != '-' && *c != '_').collect::<String>().to_ascii_lowercase();
        Self::ALL.iter().copied().find(|r| r.as_str().to_ascii_lowercase() == norm)
    }
}

wire_enum!(
    /// Where a stored certificate is in its life.
    CertStatus {
        /// Serial reserved, not (yet) signed.
        Reserved = "reserved",
        /// Signed and valid (or expired).
        Issued = "issued",
        /// Revoked.
        Revoked = "revoked",
        /// Reserved, but its signing never completed (never signed; nothing to revoke).
        Failed = "failed",
    }
);

wire_enum!(
    /// The kind of a subject alternative name.
    SanKind {
        /// A DNS name.
        Dns = "dns",
        /// An IP address.
        Ip = "ip",
        /// An email address.
        Email = "email",
        /// A URI.
        Uri = "uri",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_text_round_trips() {
        for r in RevocationReason::ALL {
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<RevocationReason>(&json).unwrap(), *r);
            assert_eq!(r.as_str().parse::<RevocationReason>().unwrap(), *r);
        }
        assert_eq!(serde_json::to_string(&Approval::RaQueue).unwrap(), "\"ra-queue\"");
        assert_eq!(serde_json::to_string(&Profile::SystemClient).unwrap(), "\"system-client\"");
        assert_eq!(RevocationReason::parse_lenient("key-compromise"), Some(RevocationReason::KeyCompromise));
        assert!("boredom".parse::<RevocationReason>().unwrap_err().contains("keyCompromise"));
    }
}

wire_enum!(
    /// The role of an operator account.
    OperatorRole {
        /// Runs the CA: every permission.
        CaAdmin = "ca-admin",
        /// RA officer for named organisations / RA units.
        RaOfficer = "ra-officer",
        /// Reads; changes nothing.
        Auditor = "auditor",
        /// Administers portal web accounts.
        PortalAdmin = "portal-admin",
        /// The one-shot token of `carecert init` (never an account's role).
        Bootstrap = "bootstrap",
    }
);

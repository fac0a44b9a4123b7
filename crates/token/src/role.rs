//! The two key slots of a carecert card and how their objects are named on the card.

use std::fmt;

/// Which of the card's two key pairs (and certificates).
///
/// Each role has fixed `CKA_ID` bytes and `CKA_LABEL`s, so any PKCS#11 tool shows what an
/// object is. A renewal's new key pair and certificate live beside the current ones under a
/// *pending* id and label until they are promoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CardKeyRole {
    /// The authentication key (logon, portal login, card possession proofs).
    Auth,
    /// The signing key (signatures on documents and messages).
    Sign,
}

impl CardKeyRole {
    /// Both roles, in the order a renewal handles them.
    pub const BOTH: [CardKeyRole; 2] = [CardKeyRole::Auth, CardKeyRole::Sign];

    /// `CKA_ID` of this role's objects: `01` / `02`, pending `81` / `82`.
    pub fn object_id(self, pending: bool) -> Vec<u8> {
        let base = match self {
            CardKeyRole::Auth => 0x01,
            CardKeyRole::Sign => 0x02,
        };
        vec![if pending { base | 0x80 } else { base }]
    }

    /// `CKA_LABEL` of this role's key objects, e.g. `carecert auth key (pending)`.
    pub fn key_label(self, pending: bool) -> String {
        self.label("key", pending)
    }

    /// `CKA_LABEL` of this role's certificate object, e.g. `carecert sign certificate`.
    pub fn certificate_label(self, pending: bool) -> String {
        self.label("certificate", pending)
    }

    fn short(self) -> &'static str {
        match self {
            CardKeyRole::Auth => "auth",
            CardKeyRole::Sign => "sign",
        }
    }

    fn label(self, what: &str, pending: bool) -> String {
        let suffix = if pending { " (pending)" } else { "" };
        format!("carecert {} {what}{suffix}", self.short())
    }
}

impl fmt::Display for CardKeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CardKeyRole::Auth => "authentication",
            CardKeyRole::Sign => "signing",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_and_generation_has_its_own_id_and_labels() {
        let mut ids = Vec::new();
        let mut labels = Vec::new();
        for role in CardKeyRole::BOTH {
            for pending in [false, true] {
                ids.push(role.object_id(pending));
                labels.push(role.key_label(pending));
                labels.push(role.certificate_label(pending));
            }
        }
        ids.sort();
        ids.dedup();
        labels.sort();
        labels.dedup();
        assert_eq!((ids.len(), labels.len()), (4, 8));
        assert_eq!(CardKeyRole::Auth.object_id(false), [0x01]);
        assert_eq!(CardKeyRole::Sign.object_id(true), [0x82]);
        assert_eq!(CardKeyRole::Auth.key_label(true), "carecert auth key (pending)");
        assert_eq!(CardKeyRole::Sign.certificate_label(false), "carecert sign certificate");
    }
}

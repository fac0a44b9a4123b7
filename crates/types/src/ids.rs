//! Identifiers that are validated once, when they are parsed, and are plain strings (or
//! numbers) on the wire and in the database.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// A value that is not a valid identifier of its kind. The message says what one looks like.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("'{value}' is not {what}")]
pub struct InvalidId {
    /// What was given.
    pub value: String,
    /// What was expected, e.g. "an EPOC (1 to 12 digits)".
    pub what: &'static str,
}

impl InvalidId {
    fn new(value: &str, what: &'static str) -> Self {
        Self { value: value.to_string(), what }
    }
}

/// Declares a string identifier with a validating (and possibly normalising) constructor.
macro_rules! string_id {
    ($(#[$m:meta])* $name:ident, $what:literal, $check:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The identifier as text (its stored and wire form).
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The identifier as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let check: fn(&str) -> Option<String> = $check;
                check(s).map($name).ok_or_else(|| InvalidId::new(s, $what))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidId;
            fn try_from(s: &str) -> Result<Self, InvalidId> {
                s.parse()
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($what))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

fn digits(s: &str, max: usize) -> Option<String> {
    (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.to_string())
}

string_id!(
    /// An organisation code (EPOC): 1 to 12 digits.
    Epoc,
    "an EPOC (1 to 12 digits)",
    |s| digits(s, 12)
);

string_id!(
    /// A person's UID (the number on their smartcard record): 1 to 20 digits.
    Uid,
    "a UID (1 to 20 digits, e.g. 12)",
    |s| digits(s, 20)
);

string_id!(
    /// A smartcard's token serial: 1 to 64 letters, digits, `-`, `_`, `.` or `:` (SoftHSM2 and
    /// real cards print hex).
    CardSerial,
    "a card serial (1 to 64 letters, digits, '-', '_', '.' or ':')",
    |s| (!s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
    .then(|| s.to_string())
);

string_id!(
    /// A certificate serial number in canonical form: upper-case hex without leading zero
    /// bytes (what the store records and `openssl x509 -serial` prints). Parsing accepts any
    /// case, an optional `0x` and colons, and normalises.
    CertSerial,
    "a certificate serial number in hex",
    canonical_serial
);

string_id!(
    /// A web account's login name: 1 to 64 letters, digits, dots, dashes or underscores.
    Username,
    "a user name (1 to 64 letters, digits, dots, dashes or underscores)",
    |s| (!s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        .then(|| s.to_string())
);

/// Canonical upper-case hex of a serial given in hex (any case, optional `0x`, colons),
/// without leading zero bytes; `None` when it is not hex.
fn canonical_serial(s: &str) -> Option<String> {
    let t: String = s.trim().trim_start_matches("0x").trim_start_matches("0X").chars().filter(|c| *c != ':').collect();
    if t.is_empty() || t.len() > 80 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let t = if t.len() % 2 == 1 { format!("0{t}") } else { t };
    let mut t = t.to_ascii_uppercase();
    while t.len() > 2 && t.starts_with("00") {
        t.drain(..2);
    }
    Some(t)
}

/// Declares a positive numeric identifier (a database row number).
macro_rules! number_id {
    ($(#[$m:meta])* $name:ident, $what:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i64);

        impl $name {
            /// The number.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = InvalidId;
            fn try_from(n: i64) -> Result<Self, InvalidId> {
                if n > 0 { Ok($name(n)) } else { Err(InvalidId::new(&n.to_string(), $what)) }
            }
        }

        impl From<$name> for i64 {
            fn from(v: $name) -> i64 {
                v.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                match s.parse::<i64>() {
                    Ok(n) if n > 0 && !s.starts_with('+') => Ok($name(n)),
                    _ => Err(InvalidId::new(s, $what)),
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidId;
            fn try_from(s: &str) -> Result<Self, InvalidId> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        /// A number on the wire (as today), refused when it is not positive.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i64(self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $name::try_from(i64::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64)))
                    .minimum(Some(1))
                    .description(Some($what))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

number_id!(
    /// A certificate request's number.
    RequestId,
    "a request number (a positive whole number)"
);

number_id!(
    /// A card renewal attempt's number.
    RenewalId,
    "a renewal number (a positive whole number)"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoc_and_uid_are_digits() {
        assert_eq!("123456".parse::<Epoc>().unwrap().as_str(), "123456");
        for bad in ["", "12a", " 12", "1234567890123", "12,3"] {
            assert!(bad.parse::<Epoc>().is_err(), "{bad:?}");
        }
        assert!("12345678901234567890".parse::<Uid>().is_ok());
        assert!("123456789012345678901".parse::<Uid>().is_err());
        let e = "x".parse::<Uid>().unwrap_err();
        assert_eq!(e.to_string(), "'x' is not a UID (1 to 20 digits, e.g. 12)");
    }

    #[test]
    fn cert_serial_is_canonical_upper_hex() {
        let s: CertSerial = "0x00:0a:1b".parse().unwrap();
        assert_eq!(s.as_str(), "0A1B");
        assert_eq!("abc".parse::<CertSerial>().unwrap().as_str(), "0ABC");
        assert_eq!("00".parse::<CertSerial>().unwrap().as_str(), "00");
        assert!("xyz".parse::<CertSerial>().is_err());
        assert!("".parse::<CertSerial>().is_err());
    }

    #[test]
    fn usernames_and_card_serials() {
        assert!("ada.jones-2".parse::<Username>().is_ok());
        for bad in ["", "ada jones", "ada,ra", &"a".repeat(65)] {
            assert!(bad.parse::<Username>().is_err(), "{bad:?}");
        }
        assert!("A1B2C3D4E5F60718".parse::<CardSerial>().is_ok());
        assert!("card 1".parse::<CardSerial>().is_err());
    }

    #[test]
    fn numbers_are_positive_and_validate_on_deserialize() {
        assert_eq!("42".parse::<RequestId>().unwrap().get(), 42);
        for bad in ["0", "-1", "+3", "x", ""] {
            assert!(bad.parse::<RequestId>().is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<RenewalId>("0").is_err());
        assert_eq!(serde_json::to_string(&RenewalId::try_from(7).unwrap()).unwrap(), "7");
    }

    #[test]
    fn strings_validate_on_deserialize() {
        assert!(serde_json::from_str::<Epoc>("\"12a\"").is_err());
        let e: Epoc = serde_json::from_str("\"123\"").unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"123\"");
    }
}

//! Web roles and sets of them.
//!
//! A role is exactly one of `ra`, `operator` or `portal:NAME`. Parsing refuses anything else
//! — a list (`clinician,ra`), surrounding spaces, an empty string — so one role can never
//! carry a second one in with it, whatever the storage or the form does with the text.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::status::Area;

/// A text that is not exactly one role.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RoleError {
    /// Not one of the allowed roles.
    #[error(
        "'{0}' is not a role: give exactly one of ra, operator or portal:NAME (NAME is 1 to 32 letters, digits, '-' or '_'; no spaces or commas)"
    )]
    Unknown(String),
    /// A set of roles must hold at least one.
    #[error("give the account at least one role (ra, operator, portal:ROLE)")]
    Empty,
}

/// The name of a portal role (`clinician` in `portal:clinician`): 1 to 32 ASCII letters,
/// digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortalRole(String); // holds the full text, `portal:NAME`

impl PortalRole {
    /// The part after `portal:`.
    pub fn name(&self) -> &str {
        &self.0["portal:".len()..]
    }
}

impl FromStr for PortalRole {
    type Err = RoleError;
    /// Parses the name alone (`clinician`).
    fn from_str(name: &str) -> Result<Self, RoleError> {
        if !name.is_empty()
            && name.len() <= 32
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(PortalRole(format!("portal:{name}")))
        } else {
            Err(RoleError::Unknown(format!("portal:{name}")))
        }
    }
}

/// What a web account may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Registration authority staff (the RA console).
    Ra,
    /// Operators (the RA console, read-mostly).
    Operator,
    /// A relying-party portal role, e.g. `portal:clinician`, `portal:admin`.
    Portal(PortalRole),
}

impl Role {
    /// The portal administrator (registers smartcard UIDs).
    pub fn portal_admin() -> Role {
        Role::Portal(PortalRole("portal:admin".into()))
    }

    /// The stored and wire text.
    pub fn as_str(&self) -> &str {
        match self {
            Role::Ra => "ra",
            Role::Operator => "operator",
            Role::Portal(p) => &p.0,
        }
    }

    /// For `portal:NAME`, `NAME`; otherwise the whole text (what pages show).
    pub fn short_name(&self) -> &str {
        match self {
            Role::Portal(p) => p.name(),
            other => other.as_str(),
        }
    }

    /// Whether this role opens `area`.
    pub fn opens(&self, area: Area) -> bool {
        area.admits(self)
    }
}

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Self, RoleError> {
        match s {
            "ra" => Ok(Role::Ra),
            "operator" => Ok(Role::Operator),
            _ => match s.strip_prefix("portal:") {
                Some(name) => name.parse().map(Role::Portal).map_err(|_| RoleError::Unknown(s.to_string())),
                None => Err(RoleError::Unknown(s.to_string())),
            },
        }
    }
}

impl TryFrom<&str> for Role {
    type Error = RoleError;
    fn try_from(s: &str) -> Result<Self, RoleError> {
        s.parse()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role reads as its text, so pages and messages can treat it as a `&str`.
impl Deref for Role {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Role {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Role {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Role {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Role {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("exactly one role: ra, operator or portal:NAME"))
            .pattern(Some("^(ra|operator|portal:[A-Za-z0-9_-]{1,32})$"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Role {}

/// The roles of one account: at least one, no duplicates, in the order they were given.
/// Stored and sent as a list of role texts, each validated when read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Roles(Vec<Role>);

impl Roles {
    /// The set of `roles` (duplicates dropped); refused when empty.
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Result<Self, RoleError> {
        let mut v: Vec<Role> = Vec::new();
        for r in roles {
            if !v.contains(&r) {
                v.push(r);
            }
        }
        if v.is_empty() { Err(RoleError::Empty) } else { Ok(Roles(v)) }
    }

    /// Parses each text as exactly one role.
    pub fn parse<S: AsRef<str>>(texts: impl IntoIterator<Item = S>) -> Result<Self, RoleError> {
        Self::new(texts.into_iter().map(|t| t.as_ref().parse()).collect::<Result<Vec<Role>, _>>()?)
    }

    /// Each role, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Role> {
        self.0.iter()
    }

    /// Whether the set holds `role`.
    pub fn contains(&self, role: &Role) -> bool {
        self.0.contains(role)
    }

    /// Whether the set holds the role written `text`.
    pub fn contains_str(&self, text: &str) -> bool {
        self.0.iter().any(|r| r.as_str() == text)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (only for a default value).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The roles that open `area`, in order.
    pub fn for_area(&self, area: Area) -> Vec<Role> {
        self.0.iter().filter(|r| area.admits(r)).cloned().collect()
    }

    /// The roles as a slice.
    pub fn as_slice(&self) -> &[Role] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Roles {
    type Item = &'a Role;
    type IntoIter = std::slice::Iter<'a, Role>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(r.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for Roles {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Roles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<Role>::deserialize(d)?;
        Roles::new(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Roles {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(<Role as utoipa::PartialSchema>::schema())
            .min_items(Some(1))
            .unique_items(true)
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Roles {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_known_role_parses() {
        assert_eq!("ra".parse::<Role>().unwrap(), Role::Ra);
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        let p: Role = "portal:clinician".parse().unwrap();
        assert_eq!(p.as_str(), "portal:clinician");
        assert_eq!(p.short_name(), "clinician");
        assert_eq!(p, "portal:clinician");
    }

    #[test]
    fn smuggling_and_padding_are_refused_naming_the_allowed_roles() {
        for bad in [
            "clinician,ra",
            "ra ",
            " ra",
            "",
            "RA",
            "ra,operator",
            "portal:",
            "portal:a,ra",
            "portal:ra ",
            "portal: ra",
            "admin",
        ] {
            let e = bad.parse::<Role>().unwrap_err();
            let m = e.to_string();
            assert!(m.contains("ra, operator or portal:NAME"), "{bad:?}: {m}");
        }
    }

    #[test]
    fn roles_are_a_set_stored_as_a_list() {
        let r = Roles::parse(["portal:clinician", "portal:admin", "portal:clinician"]).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"["portal:clinician","portal:admin"]"#);
        assert_eq!(serde_json::from_str::<Roles>(r#"["ra"]"#).unwrap().as_slice(), &[Role::Ra]);
        assert!(serde_json::from_str::<Roles>(r#"["clinician,ra"]"#).is_err());
        assert!(serde_json::from_str::<Roles>("[]").is_err());
        assert_eq!(Roles::parse(Vec::<String>::new()).unwrap_err(), RoleError::Empty);
        assert_eq!(r.for_area(Area::Portal).len(), 2);
        assert!(r.for_area(Area::Ra).is_empty());
    }
}

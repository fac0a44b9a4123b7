//! Subject names as carecert sets them (never copied from a request).

use rcgen::{DistinguishedName, DnType, DnValue};
use serde::{Deserialize, Serialize};

use crate::PkiError;

/// The subject distinguished name of a certificate, attribute by attribute.
///
/// The server fills this from its own records (organisation, user); a CSR's subject is
/// ignored. Attributes are written in X.500 order: C, O, OU, CN, serialNumber.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectName {
    /// Two-letter country code (`GB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Organisation name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Organisational unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<String>,
    /// Common name.
    pub common_name: String,
    /// The X.520 serialNumber attribute (a person's UID or an organisation's code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
}

impl SubjectName {
    /// A name with only a common name.
    pub fn cn(common_name: impl Into<String>) -> Self {
        Self { common_name: common_name.into(), ..Default::default() }
    }

    /// Checks lengths (RFC 5280 upper bounds) and characters.
    pub fn validate(&self) -> Result<(), PkiError> {
        fn check(field: &str, v: &str, max: usize) -> Result<(), PkiError> {
            if v.trim().is_empty() {
                return Err(PkiError::Invalid(format!("subject {field} is empty")));
            }
            if v.chars().count() > max {
                return Err(PkiError::Invalid(format!("subject {field} is longer than {max} characters")));
            }
            if v.chars().any(|c| c.is_control()) {
                return Err(PkiError::Invalid(format!("subject {field} contains control characters")));
            }
            Ok(())
        }
        check("common name", &self.common_name, 64)?;
        if let Some(c) = &self.country
            && (c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()))
        {
            return Err(PkiError::Invalid("subject country must be two upper-case letters, e.g. GB".into()));
        }
        if let Some(o) = &self.organization {
            check("organization", o, 64)?;
        }
        if let Some(ou) = &self.organizational_unit {
            check("organizational unit", ou, 64)?;
        }
        if let Some(sn) = &self.serial_number {
            check("serial number", sn, 64)?;
            if !sn.chars().all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)) {
                return Err(PkiError::Invalid("subject serial number must be printable ASCII".into()));
            }
        }
        Ok(())
    }

    pub(crate) fn to_rcgen(&self) -> Result<DistinguishedName, PkiError> {
        self.validate()?;
        let mut dn = DistinguishedName::new();
        if let Some(c) = &self.country {
            let p = rcgen::string::PrintableString::try_from(c.as_str())
                .map_err(|e| PkiError::Invalid(format!("country: {e}")))?;
            dn.push(DnType::CountryName, DnValue::PrintableString(p));
        }
        if let Some(o) = &self.organization {
            dn.push(DnType::OrganizationName, o.as_str());
        }
        if let Some(ou) = &self.organizational_unit {
            dn.push(DnType::OrganizationalUnitName, ou.as_str());
        }
        dn.push(DnType::CommonName, self.common_name.as_str());
        if let Some(sn) = &self.serial_number {
            let p = rcgen::string::PrintableString::try_from(sn.as_str())
                .map_err(|e| PkiError::Invalid(format!("serial number: {e}")))?;
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 5]), DnValue::PrintableString(p));
        }
        Ok(dn)
    }
}

//! Operator accounts: their roles, what each role may do, and the one check.
//!
//! An operator is a named person (or the one-shot bootstrap credential) acting through the
//! admin API (`carecert admin`, tokens) or the RA console (password + TOTP or smartcard).
//! Each [`OperatorRole`] is a fixed set of [`Permission`]s ([`OperatorRole::permissions`]);
//! an `ra-officer` is further limited to the organisations / RA units in its [`Scope`].
//! [`Operator::check`] is the only place that decides; the server calls it from the API
//! extractor's users and from every RA console page, and audits each refusal.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::audit::Actor;
use crate::role::Role;

/// The role of an operator account. The stored and wire texts never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OperatorRole {
    /// Runs the CA: every permission, CA-level profiles included.
    #[serde(rename = "ca-admin")]
    CaAdmin,
    /// Registration authority officer: organisations, requests, PIN letters, card holders,
    /// cards and sponsors of the organisations / RA units in its scope; reads certificates.
    #[serde(rename = "ra-officer")]
    RaOfficer,
    /// Reads certificates, requests, organisations and the audit log; changes nothing.
    #[serde(rename = "auditor")]
    Auditor,
    /// Administers the portal: web accounts for portal roles.
    #[serde(rename = "portal-admin")]
    PortalAdmin,
    /// The token `carecert init` prints: creates operator accounts and tokens, nothing else;
    /// it expires after its first use or 24 hours.
    #[serde(rename = "bootstrap")]
    Bootstrap,
}

impl OperatorRole {
    /// Every role an account can hold (the bootstrap credential is not an account's role).
    pub const ACCOUNT_ROLES: &'static [OperatorRole] =
        &[OperatorRole::CaAdmin, OperatorRole::RaOfficer, OperatorRole::Auditor, OperatorRole::PortalAdmin];

    /// The stored and wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorRole::CaAdmin => "ca-admin",
            OperatorRole::RaOfficer => "ra-officer",
            OperatorRole::Auditor => "auditor",
            OperatorRole::PortalAdmin => "portal-admin",
            OperatorRole::Bootstrap => "bootstrap",
        }
    }

    /// The fixed set of permissions of this role.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            OperatorRole::CaAdmin => Permission::ALL,
            OperatorRole::RaOfficer => &[
                ReadCertificates,
                ReadRequests,
                ReadOrganisations,
                ManageOrganisations,
                DecideRequests,
                IssuePins,
                ManageCardHolders,
                IssueCards,
                UnlockCards,
                CancelCards,
                RenewCards,
                GrantSponsors,
            ],
            OperatorRole::Auditor => &[ReadCertificates, ReadRequests, ReadOrganisations, ReadAudit],
            OperatorRole::PortalAdmin => &[ManageWebAccounts],
            OperatorRole::Bootstrap => &[ManageOperators],
        }
    }

    /// Whether organisation scope applies: an `ra-officer` acts only on its organisations.
    pub fn is_scoped(self) -> bool {
        self == OperatorRole::RaOfficer
    }

    /// The web role that opens the matching web area for this operator's console login
    /// (`ra` for RA officers, `operator` for CA admins and auditors, `portal:admin` for
    /// portal admins).
    pub fn web_role(self) -> Option<Role> {
        match self {
            OperatorRole::RaOfficer => Some(Role::Ra),
            OperatorRole::CaAdmin | OperatorRole::Auditor => Some(Role::Operator),
            OperatorRole::PortalAdmin => Some(Role::portal_admin()),
            OperatorRole::Bootstrap => None,
        }
    }
}

impl fmt::Display for OperatorRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OperatorRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ca-admin" => Ok(OperatorRole::CaAdmin),
            "ra-officer" => Ok(OperatorRole::RaOfficer),
            "auditor" => Ok(OperatorRole::Auditor),
            "portal-admin" => Ok(OperatorRole::PortalAdmin),
            "bootstrap" => Ok(OperatorRole::Bootstrap),
            other => {
                Err(format!("'{other}' is not an operator role: use ca-admin, ra-officer, auditor or portal-admin"))
            }
        }
    }
}

macro_rules! permissions {
    ($($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)?) => {
        /// One thing an operator may do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Permission {
            $($(#[$vm])* $variant),+
        }
        impl Permission {
            /// Every permission.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),+];
            /// The text audit entries and refusals use.
            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $text),+ }
            }
        }
    };
}

permissions! {
    /// Create and disable operator accounts; create, list and revoke tokens.
    ManageOperators = "operators.manage",
    /// Issue end-entity certificates directly through the admin API.
    IssueCertificates = "certificates.issue",
    /// Issue CA-level profiles (`issuing-ca`, `ocsp-responder`, `tls-server`) or anything
    /// from the root.
    IssueCaCertificates = "certificates.issue_ca",
    /// Revoke certificates.
    RevokeCertificates = "certificates.revoke",
    /// List and show certificates.
    ReadCertificates = "certificates.read",
    /// Read and verify the audit log.
    ReadAudit = "audit.read",
    /// Sign audit checkpoints with the root.
    SignCheckpoints = "audit.checkpoint",
    /// Read organisations.
    ReadOrganisations = "organisations.read",
    /// Add organisations, change their status or approval policy.
    ManageOrganisations = "organisations.manage",
    /// Read certificate requests.
    ReadRequests = "requests.read",
    /// Approve or deny requests.
    DecideRequests = "requests.decide",
    /// Issue enrolment PIN letters.
    IssuePins = "pins.issue",
    /// Register client releases and minimum versions.
    ManageReleases = "releases.manage",
    /// Withdraws a CA from the trust feed (a CA being retired).
    ManageTrust = "trust.manage",
    /// Register card holders and read them.
    ManageCardHolders = "users.manage",
    /// Issue smartcards at the desk.
    IssueCards = "cards.issue",
    /// Unlock cards at the desk (releases the SO PIN).
    UnlockCards = "cards.unlock",
    /// Cancel cards.
    CancelCards = "cards.cancel",
    /// Renew cards at the desk.
    RenewCards = "cards.renew",
    /// Give card holders sponsor (unlock) authority.
    GrantSponsors = "sponsors.grant",
    /// Set card batches' minimum agent versions.
    ManageCardBatches = "card_batches.manage",
    /// Add web accounts (RA console, portal).
    ManageWebAccounts = "web_accounts.manage",
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The organisations / RA units an operator acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every organisation (roles without scope).
    All,
    /// Only these (EPOCs of machine organisations, or the organisation / RA unit names card
    /// holders are registered under).
    Orgs(Vec<String>),
}

impl Scope {
    /// Whether `org` is inside.
    pub fn covers(&self, org: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Orgs(list) => list.iter().any(|o| o == org),
        }
    }

    /// The organisations, empty for every organisation.
    pub fn orgs(&self) -> &[String] {
        match self {
            Scope::All => &[],
            Scope::Orgs(list) => list,
        }
    }
}

/// Who is acting: a named operator with a role and a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The account name (`bootstrap` for the bootstrap credential).
    pub name: String,
    /// The role.
    pub role: OperatorRole,
    /// The organisations it acts for.
    pub scope: Scope,
}

/// Why an operator was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refused {
    /// The role does not carry the permission.
    #[error("a {role} may not do this ({permission}); ask an operator whose role allows it")]
    Permission {
        /// The role.
        role: OperatorRole,
        /// What was asked.
        permission: Permission,
    },
    /// The organisation is outside the operator's scope.
    #[error("{org} is not one of your organisations ({scope}); ask an RA officer of {org}")]
    OutOfScope {
        /// The organisation acted on.
        org: String,
        /// The operator's organisations, comma-separated.
        scope: String,
    },
}

impl Operator {
    /// The audit actor naming this person: `ra:alice` for an RA officer, `ca-admin:bob`,
    /// `auditor:carol`, `portal-admin:dan`, and `bootstrap` for the bootstrap credential.
    pub fn actor(&self) -> Actor {
        match self.role {
            OperatorRole::RaOfficer => Actor::Ra(self.name.clone()),
            OperatorRole::CaAdmin => Actor::CaAdmin(self.name.clone()),
            OperatorRole::Auditor => Actor::Auditor(self.name.clone()),
            OperatorRole::PortalAdmin => Actor::PortalAdmin(self.name.clone()),
            OperatorRole::Bootstrap => Actor::Bootstrap,
        }
    }

    /// **The** permission check: may this operator do `permission`, on `org` when the action
    /// concerns one organisation (`None`: not about one organisation)?
    ///
    /// A scoped role (`ra-officer`) acting on an organisation outside its scope is refused,
    /// and a scoped role may not use an organisation-less form of an action that has an
    /// organisation-scoped one (the caller passes the organisation whenever there is one).
    pub fn check(&self, permission: Permission, org: Option<&str>) -> Result<(), Refused> {
        if !self.role.permissions().contains(&permission) {
            return Err(Refused::Permission { role: self.role, permission });
        }
        if self.role.is_scoped()
            && let Some(org) = org
            && !self.scope.covers(org)
        {
            return Err(Refused::OutOfScope { org: org.to_string(), scope: self.scope.orgs().join(", ") });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(role: OperatorRole, orgs: &[&str]) -> Operator {
        Operator {
            name: "alice".into(),
            role,
            scope: if orgs.is_empty() { Scope::All } else { Scope::Orgs(orgs.iter().map(|s| s.to_string()).collect()) },
        }
    }

    #[test]
    fn an_ra_officer_acts_only_for_its_organisations_and_never_at_ca_level() {
        let ra = op(OperatorRole::RaOfficer, &["RA1"]);
        assert!(ra.check(Permission::DecideRequests, Some("RA1")).is_ok());
        assert!(matches!(ra.check(Permission::DecideRequests, Some("RA2")), Err(Refused::OutOfScope { .. })));
        for p in [Permission::IssueCaCertificates, Permission::IssueCertificates, Permission::ManageOperators] {
            assert!(matches!(ra.check(p, None), Err(Refused::Permission { .. })), "{p}");
        }
        assert_eq!(ra.actor().to_string(), "ra:alice");
    }

    #[test]
    fn roles_have_fixed_permissions() {
        let aud = op(OperatorRole::Auditor, &[]);
        assert!(aud.check(Permission::ReadAudit, None).is_ok());
        assert!(aud.check(Permission::RevokeCertificates, None).is_err());
        let boot = op(OperatorRole::Bootstrap, &[]);
        assert!(boot.check(Permission::ManageOperators, None).is_ok());
        assert!(boot.check(Permission::ReadAudit, None).is_err());
        let ca = op(OperatorRole::CaAdmin, &[]);
        assert!(Permission::ALL.iter().all(|p| ca.check(*p, Some("X")).is_ok()));
        assert_eq!(ca.actor().to_string(), "ca-admin:alice");
        for r in OperatorRole::ACCOUNT_ROLES {
            assert_eq!(r.as_str().parse::<OperatorRole>().unwrap(), *r);
        }
    }
}

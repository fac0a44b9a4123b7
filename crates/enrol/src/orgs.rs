//! Organisations: adding, reading and changing them, and the subject their certificates carry.

use pki::SubjectName;
use store::{ApprovalPolicy, OrgKind, OrgStatus, Organisation};

use crate::EnrolError;
use crate::error::InputProblem;
use crate::service::Enrolment;

pub(crate) fn valid_epoc(epoc: &str) -> bool {
    !epoc.is_empty() && epoc.len() <= 12 && epoc.bytes().all(|b| b.is_ascii_digit())
}

impl Enrolment {
    /// Adds an organisation (RA / operator).
    pub async fn add_organisation(
        &self,
        epoc: &str,
        name: &str,
        kind: OrgKind,
        approval: ApprovalPolicy,
        actor: &str,
    ) -> Result<Organisation, EnrolError> {
        let epoc = epoc.trim();
        if !valid_epoc(epoc) {
            return Err(EnrolError::BadInput(InputProblem::Epoc(epoc.into())));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(EnrolError::BadInput(InputProblem::OrganisationName));
        }
        let org = Organisation {
            epoc: epoc.into(),
            name: name.into(),
            kind,
            status: OrgStatus::Active,
            approval,
            created_at: self.now(),
        };
        let ev = self.event(
            actor,
            "organisation.added",
            &format!("org:{epoc}"),
            serde_json::json!({"name": name, "kind": kind.as_str(), "approval": approval.as_str()}),
        );
        self.store().insert_organisation(&org, ev).await?;
        Ok(org)
    }

    /// One organisation.
    pub async fn organisation(&self, epoc: &str) -> Result<Organisation, EnrolError> {
        self.store().organisation(epoc).await?.ok_or_else(|| EnrolError::UnknownOrganisation(epoc.into()))
    }

    /// Every organisation.
    pub async fn organisations(&self) -> Result<Vec<Organisation>, EnrolError> {
        Ok(self.store().organisations().await?)
    }

    /// Changes an organisation's status or approval policy.
    pub async fn change_organisation(
        &self,
        epoc: &str,
        status: Option<OrgStatus>,
        approval: Option<ApprovalPolicy>,
        actor: &str,
    ) -> Result<Organisation, EnrolError> {
        let org = self.organisation(epoc).await?;
        let status = status.unwrap_or(org.status);
        let approval = approval.unwrap_or(org.approval);
        let ev = self.event(
            actor,
            "organisation.changed",
            &format!("org:{epoc}"),
            serde_json::json!({"status": status.as_str(), "approval": approval.as_str()}),
        );
        self.store().update_organisation(epoc, status, approval, ev).await?;
        self.organisation(epoc).await
    }
}

pub(crate) fn subject_for(org: &Organisation) -> SubjectName {
    let cn: String = org.name.chars().take(64).collect();
    SubjectName {
        country: Some("GB".into()),
        organization: Some(cn.clone()),
        organizational_unit: Some(org.kind.to_string()),
        common_name: format!("EPOC {}", org.epoc),
        serial_number: Some(org.epoc.clone()),
    }
}

//! Client releases, the update check and the trust feed.

use store::{Release, TrustEvent};

use crate::EnrolError;
use crate::error::InputProblem;
use crate::service::Enrolment;

/// What the update check says about a client version.
#[derive(Debug, Clone)]
pub struct ClientVersionCheck {
    /// The newest release.
    pub latest: Option<Release>,
    /// A newer one exists.
    pub update_available: bool,
    /// Below the minimum: refused.
    pub update_required: bool,
    /// The minimum supported version.
    pub minimum: Option<String>,
}

/// The full update check.
#[derive(Debug, Clone)]
pub struct UpdateCheck {
    /// Version verdict.
    pub version: ClientVersionCheck,
    /// CA certificates added since the cursor (name, PEM).
    pub added: Vec<(String, String)>,
    /// CAs withdrawn since the cursor.
    pub withdrawn: Vec<String>,
    /// The same withdrawals with when and why: (name, Unix seconds, reason).
    pub withdrawn_details: Vec<(String, i64, Option<String>)>,
    /// The new cursor.
    pub cursor: i64,
}

fn parse_version(v: &str) -> Result<semver::Version, EnrolError> {
    semver::Version::parse(v.trim().trim_start_matches('v'))
        .map_err(|_| EnrolError::BadInput(InputProblem::Version(v.into())))
}

impl Enrolment {
    /// Registers a client release.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_release(
        &self,
        product: &str,
        version: &str,
        minimum: bool,
        url: &str,
        sha256: &str,
        notes: &str,
        actor: &str,
    ) -> Result<Release, EnrolError> {
        if !matches!(product, "ecmt" | "carecert-agent") {
            return Err(EnrolError::BadInput(InputProblem::Product(product.into())));
        }
        let v = parse_version(version)?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EnrolError::BadInput(InputProblem::Sha256));
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(EnrolError::BadInput(InputProblem::DownloadUrl));
        }
        let r = Release {
            product: product.into(),
            version: v.to_string(),
            minimum,
            url: url.into(),
            sha256: sha256.to_ascii_lowercase(),
            notes: notes.into(),
            created_at: self.now(),
        };
        let ev = self.event(
            actor,
            "release.added",
            &format!("{product}/{v}"),
            serde_json::json!({"minimum": minimum, "url": url}),
        );
        self.store().add_release(&r, ev).await?;
        Ok(r)
    }

    /// Every release of a product.
    pub async fn releases(&self, product: &str) -> Result<Vec<Release>, EnrolError> {
        Ok(self.store().releases(product).await?)
    }

    /// Whether `version` of `product` is current, outdated or below the minimum.
    pub async fn check_client(&self, product: &str, version: &str) -> Result<ClientVersionCheck, EnrolError> {
        let mine = parse_version(version)?;
        let releases = self.store().releases(product).await?;
        let mut parsed: Vec<(semver::Version, Release)> =
            releases.into_iter().filter_map(|r| semver::Version::parse(&r.version).ok().map(|v| (v, r))).collect();
        parsed.sort_by(|a, b| a.0.cmp(&b.0));
        let minimum = parsed.iter().filter(|(_, r)| r.minimum).map(|(v, _)| v.clone()).max();
        let latest = parsed.last().cloned();
        Ok(ClientVersionCheck {
            update_available: latest.as_ref().is_some_and(|(v, _)| *v > mine),
            update_required: minimum.as_ref().is_some_and(|m| mine < *m),
            minimum: minimum.map(|m| m.to_string()),
            latest: latest.map(|(_, r)| r),
        })
    }

    /// The update check: version verdict plus the trust feed since `cursor`.
    pub async fn update_check(&self, product: &str, version: &str, cursor: i64) -> Result<UpdateCheck, EnrolError> {
        let verdict = self.check_client(product, version).await?;
        let events: Vec<TrustEvent> = self.store().trust_events(cursor.max(0)).await?;
        let cas = self.inner.authority.ca_certificates();
        let mut added = Vec::new();
        let mut withdrawn = Vec::new();
        let mut withdrawn_details = Vec::new();
        let mut new_cursor = cursor.max(0);
        for e in events {
            new_cursor = new_cursor.max(e.seq);
            match e.kind.as_str() {
                "added" => {
                    if let Some((_, _, der)) = cas.iter().find(|(n, _, _)| *n == e.ca_name) {
                        added.push((e.ca_name.clone(), pki::cert::to_pem("CERTIFICATE", der)));
                    }
                }
                _ => {
                    withdrawn.push(e.ca_name.clone());
                    withdrawn_details.push((e.ca_name.clone(), e.at, e.reason.clone()));
                }
            }
        }
        Ok(UpdateCheck { version: verdict, added, withdrawn, withdrawn_details, cursor: new_cursor })
    }
}

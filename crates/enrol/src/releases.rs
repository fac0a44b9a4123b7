//! Client releases, the update check and the trust feed.

use store::{Release, ReleaseKey, TrustEvent};

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

/// A signed release to register.
#[derive(Debug, Clone, Copy)]
pub struct SignedRelease<'a> {
    /// `ecmt` or `carecert-agent`.
    pub product: &'a str,
    /// Version (one to four numbers).
    pub version: &'a str,
    /// Versions below it are refused at logon.
    pub minimum: bool,
    /// Where the file is, when not served by carecert (`file_path` is `None`).
    pub url: &'a str,
    /// SHA-256 of the file, hex.
    pub sha256: &'a str,
    /// Release notes.
    pub notes: &'a str,
    /// Ed25519 signature, base64.
    pub signature: &'a str,
    /// A file on the server's machine to serve.
    pub file_path: Option<&'a str>,
}

fn check_product(product: &str) -> Result<(), EnrolError> {
    if matches!(product, "ecmt" | "carecert-agent") {
        Ok(())
    } else {
        Err(EnrolError::BadInput(InputProblem::Product(product.into())))
    }
}

/// Versions have one to four parts ("4.1.0.0" as in the source documents, or semver).
fn parse_version(v: &str) -> Result<types::ClientVersion, EnrolError> {
    types::ClientVersion::parse(v).map_err(|_| EnrolError::BadInput(InputProblem::Version(v.into())))
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
            signature: String::new(),
            key_id: String::new(),
            file_path: String::new(),
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

    /// Registers a release-signing public key (`ed25519:BASE64`) for `product`.
    pub async fn add_release_key(
        &self,
        product: &str,
        public_key: &str,
        actor: &str,
    ) -> Result<ReleaseKey, EnrolError> {
        check_product(product)?;
        let pk = pki::release::ReleasePublicKey::parse(public_key)
            .map_err(|e| EnrolError::BadInput(InputProblem::Release(e.to_string())))?;
        let k = ReleaseKey {
            key_id: pk.key_id(),
            product: product.into(),
            public_key: pk.to_text(),
            created_at: self.now(),
        };
        let ev = self.event(
            actor,
            "release_key.added",
            &format!("release-key:{}", k.key_id),
            serde_json::json!({"product": product, "public_key": k.public_key}),
        );
        self.store().add_release_key(&k, ev).await?;
        Ok(k)
    }

    /// Registered release-signing keys (of `product`, or all).
    pub async fn release_keys(&self, product: Option<&str>) -> Result<Vec<ReleaseKey>, EnrolError> {
        Ok(self.store().release_keys(product).await?)
    }

    /// Registers a signed release. The signature must verify with a registered key of the
    /// product; with `file_path` the file must exist on this machine with the given SHA-256,
    /// and the server serves it at `/download/{product}/{version}/file`.
    pub async fn add_signed_release(&self, new: SignedRelease<'_>, actor: &str) -> Result<Release, EnrolError> {
        check_product(new.product)?;
        let v = parse_version(new.version)?;
        let sha256 = new.sha256.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EnrolError::BadInput(InputProblem::Sha256));
        }
        let bad = |m: String| EnrolError::BadInput(InputProblem::Release(m));
        let keys = self.store().release_keys(Some(new.product)).await?;
        if keys.is_empty() {
            return Err(bad(format!(
                "no release-signing key is registered for {}: register one first with `carecert admin release-key add`",
                new.product
            )));
        }
        let version = v.to_string();
        let mut key_id = None;
        for k in &keys {
            let Ok(pk) = pki::release::ReleasePublicKey::parse(&k.public_key) else { continue };
            if pk.verify(new.product, &version, &sha256, new.signature).is_ok() {
                key_id = Some(k.key_id.clone());
                break;
            }
        }
        let key_id = key_id.ok_or_else(|| {
            bad(format!(
                "the signature of {} {version} does not verify with any registered release-signing key ({}): sign the file with the matching private key (`carecert admin release add … --sign-with KEY`)",
                new.product,
                keys.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?;
        let url = match new.file_path {
            Some(path) => {
                let data = tokio::fs::read(path).await.map_err(|e| {
                    bad(format!("the server cannot read the release file {path}: {e}. Give a path on the server's machine (the same on every node)"))
                })?;
                let have = pki::release::sha256_hex(&data);
                if have != sha256 {
                    return Err(bad(format!(
                        "the release file {path} has SHA-256 {have}, not {sha256}: it changed after it was signed; sign it again"
                    )));
                }
                format!("/download/{}/{version}/file", new.product)
            }
            None if new.url.starts_with("https://") || new.url.starts_with("http://") => new.url.to_string(),
            None => return Err(EnrolError::BadInput(InputProblem::DownloadUrl)),
        };
        let r = Release {
            product: new.product.into(),
            version: version.clone(),
            minimum: new.minimum,
            url,
            sha256,
            notes: new.notes.into(),
            created_at: self.now(),
            signature: new.signature.trim().to_string(),
            key_id: key_id.clone(),
            file_path: new.file_path.unwrap_or_default().to_string(),
        };
        let ev = self.event(
            actor,
            "release.added",
            &format!("{}/{version}", new.product),
            serde_json::json!({"minimum": new.minimum, "url": r.url, "key_id": key_id, "sha256": r.sha256}),
        );
        self.store().add_release(&r, ev).await?;
        Ok(r)
    }

    /// The release of `product` at `version` (as registered, or written another way: "4.1" is "4.1.0.0").
    pub async fn release(&self, product: &str, version: &str) -> Result<Option<Release>, EnrolError> {
        let want = parse_version(version)?;
        Ok(self
            .store()
            .releases(product)
            .await?
            .into_iter()
            .find(|r| types::ClientVersion::parse(&r.version).is_ok_and(|v| v == want)))
    }

    /// Every release of a product.
    pub async fn releases(&self, product: &str) -> Result<Vec<Release>, EnrolError> {
        Ok(self.store().releases(product).await?)
    }

    /// Whether `version` of `product` is current, outdated or below the minimum.
    pub async fn check_client(&self, product: &str, version: &str) -> Result<ClientVersionCheck, EnrolError> {
        let mine = parse_version(version)?;
        let releases = self.store().releases(product).await?;
        let mut parsed: Vec<(types::ClientVersion, Release)> =
            releases.into_iter().filter_map(|r| types::ClientVersion::parse(&r.version).ok().map(|v| (v, r))).collect();
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

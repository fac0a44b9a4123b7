//! What ecmt does, independent of how it is asked (command line or the `ui` screens).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use pki::Signer as _;

use crate::local::{Installed, LocalStore, SavedSession};
use client::{Client, Error as ClientError, SetupError};

/// This client's version, as sent to the update check.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The product name the server knows.
pub const PRODUCT: &str = "ecmt";

/// Exit code when the server cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 3;

/// What an unreachable server's message adds.
const UNREACHABLE_HINT: &str =
    ". Check the network and the server address (--server / ECMT_SERVER); nothing on this machine was changed";

/// Settings every command shares.
#[derive(Debug, Clone)]
pub struct Ecmt {
    /// Server URL.
    pub server: String,
    /// Root certificate to trust for the server.
    pub ca_file: Option<PathBuf>,
    /// Local store.
    pub store: LocalStore,
}

/// The backup password rule: ≥ 8 characters with an upper-case letter, a lower-case
/// letter and a digit. Returns what is missing.
pub fn check_password(pw: &str, repeat: &str) -> Result<(), String> {
    let mut missing = Vec::new();
    if pw.chars().count() < 8 {
        missing.push("at least 8 characters");
    }
    if !pw.chars().any(|c| c.is_uppercase()) {
        missing.push("an upper-case letter");
    }
    if !pw.chars().any(|c| c.is_lowercase()) {
        missing.push("a lower-case letter");
    }
    if !pw.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a digit");
    }
    if !missing.is_empty() {
        return Err(format!("the backup password needs {}", missing.join(", ")));
    }
    if pw != repeat {
        return Err("the two passwords are not the same: type the same password twice".into());
    }
    Ok(())
}

/// What to do with a backup once it is written (the eCMT guide's advice).
pub const BACKUP_ADVICE: &str = "Copy the backup file to a secure backed-up area on the server, so that a copy is still available if this machine fails (your system supplier can confirm which areas are backed up). Keep the password safe: it is not stored anywhere, and the certificate cannot be restored from the file without it.";

/// A backup's file name ends in `.pfx` (added when missing, as the eCMT did).
pub fn with_pfx(path: &Path) -> PathBuf {
    match path.extension() {
        Some(e) if e.eq_ignore_ascii_case("pfx") => path.to_path_buf(),
        _ => {
            let mut s = path.as_os_str().to_os_string();
            s.push(".pfx");
            PathBuf::from(s)
        }
    }
}

impl Ecmt {
    fn root(&self) -> Result<PathBuf> {
        if let Some(p) = &self.ca_file {
            return Ok(p.clone());
        }
        self.store.trusted_root().ok_or_else(|| {
            anyhow!(
                "ecmt does not know the carecert root certificate yet: pass it once with --ca-file ROOT.pem (or ECMT_CA_FILE)"
            )
        })
    }

    /// A client for the server: trusts only the carecert root; presents `identity_pem`
    /// (certificate chain + key, PEM) when given; sends `token` when given.
    fn connect(&self, identity_pem: Option<String>, token: Option<String>) -> Result<Client> {
        let root = self.root()?;
        let mut b = Client::builder(&self.server).unreachable_hint(UNREACHABLE_HINT).bearer(token);
        if self.server.starts_with("https://") {
            let pem = std::fs::read(&root).map_err(|e| {
                anyhow!(
                    "cannot read the carecert root certificate {} ({e}): pass it with --ca-file (or ECMT_CA_FILE)",
                    root.display()
                )
            })?;
            b = b.root_pem(pem);
        }
        if let Some(id) = identity_pem {
            b = b.identity_pem(id);
        }
        b.build().map_err(|e| match e {
            ClientError::Setup(SetupError::BadRoot(src)) => {
                anyhow!("{} is not a PEM certificate: {src}", root.display())
            }
            other => other.into(),
        })
    }

    /// A client without a session.
    pub fn anonymous(&self) -> Result<Client> {
        self.connect(None, None)
    }

    /// A client with the saved session.
    pub fn authed(&self) -> Result<Client> {
        let s = self
            .session()
            .ok_or_else(|| anyhow!("you are not logged on: run `ecmt login` (EPOC and the PIN from your letter)"))?;
        self.connect(None, Some(s.token))
    }

    /// A client presenting the installed certificate (mutual TLS).
    pub fn mutual(&self, installed: &Installed) -> Result<Client> {
        let mut id = installed.key_pem.clone();
        id.push_str(&pki::cert::to_pem("CERTIFICATE", &installed.leaf));
        for c in &installed.chain {
            id.push_str(&pki::cert::to_pem("CERTIFICATE", c));
        }
        self.connect(Some(id), None)
    }

    /// The saved session, if it is for this server and not expired.
    pub fn session(&self) -> Option<SavedSession> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.store.session().filter(|s| s.server == self.server && s.expires_at > now)
    }

    /// The update check; stores the trust feed's CA certificates.
    pub async fn update_check(&self) -> Result<api::UpdateInfo> {
        let c = self.anonymous()?;
        let mut state = self.store.state();
        let info = c
            .updates(&api::UpdateQuery {
                product: PRODUCT.into(),
                version: VERSION.into(),
                trust_cursor: state.trust_cursor,
            })
            .await?;
        for ca in &info.trust.added {
            self.store.save_trust(&ca.name, &ca.pem)?;
        }
        for name in &info.trust.withdrawn {
            self.store.withdraw_trust(name);
        }
        state.trust_cursor = info.trust.cursor;
        self.store.save_state(&state)?;
        Ok(info)
    }

    /// Logon with EPOC + PIN.
    pub async fn login(&self, epoc: &str, pin: &str) -> Result<api::LoginResponse> {
        let c = self.anonymous()?;
        let r = c
            .login(&api::LoginRequest {
                epoc: epoc.into(),
                pin: pin.into(),
                client: api::ClientInfo { product: PRODUCT.into(), version: VERSION.into() },
            })
            .await?;
        self.store.save_session(&SavedSession {
            server: self.server.clone(),
            token: r.token.clone(),
            epoc: r.organisation.epoc.clone(),
            name: r.organisation.name.clone(),
            expires_at: r.expires_at,
        })?;
        let mut st = self.store.state();
        st.last_epoc = Some(r.organisation.epoc.clone());
        self.store.save_state(&st)?;
        Ok(r)
    }

    /// Ends the session (also locally when the server cannot be told).
    pub async fn logout(&self) -> Result<()> {
        let result = match self.authed() {
            Ok(c) => c.logout().await.map_err(anyhow::Error::from),
            Err(_) => Ok(()),
        };
        self.store.clear_session();
        match result {
            Err(e) if e.downcast_ref::<ClientError>().and_then(|c| c.code()) == Some("session_invalid") => Ok(()),
            other => other,
        }
    }

    /// The organisation's requests.
    pub async fn requests(&self) -> Result<Vec<api::RequestView>> {
        Ok(self.authed()?.requests().await?)
    }

    /// One request.
    pub async fn request_status(&self, id: i64) -> Result<api::RequestView> {
        Ok(self.authed()?.request(id).await?)
    }

    /// A new key on this machine and a request for it.
    pub async fn create_request(&self, policy_version: &str) -> Result<api::RequestView> {
        let c = self.authed()?;
        let key = pki::KeyPair::generate(pki::KeyAlgorithm::EcdsaP256)?;
        let csr = pki::cert::to_pem("CERTIFICATE REQUEST", &key.csr_der("ecmt request")?);
        // The key is on disk before the request exists, so no certificate can be issued
        // for a key this machine lost.
        let tmp = self.store.save_pending_key(&key.pkcs8_pem())?;
        let result = c
            .create_request(&api::NewRequestBody { csr, policy_version: policy_version.into(), policy_accepted: true })
            .await;
        match result {
            Ok(r) => {
                self.store.file_pending_key(&tmp, r.id)?;
                Ok(r)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e.into())
            }
        }
    }

    /// Downloads request `id`'s certificate and installs it with the key kept for it.
    pub async fn download(&self, id: i64) -> Result<Installed> {
        let c = self.authed()?;
        let key_pem = self.store.pending_key(id).ok_or_else(|| {
            anyhow!(
                "this machine has no key for request {id} (it was made on another machine, or its certificate is installed already): request a new certificate with `ecmt request`"
            )
        })?;
        let d = c.download(id).await?;
        let installed = self.install_download(&key_pem, &d)?;
        self.confirm_installed(&c, id).await;
        self.store.drop_pending_key(id);
        Ok(installed)
    }

    fn install_download(&self, key_pem: &str, d: &api::CertificateDownload) -> Result<Installed> {
        let (info, leaf) = pki::CertificateInfo::parse_pem_or_der(d.certificate_pem.as_bytes())?;
        let key = pki::KeyPair::from_pem(key_pem, None)?;
        if key.public_key_spki() != info.spki_der.as_slice() {
            bail!(
                "the certificate from the server does not match this machine's key; nothing was installed. Call the helpdesk"
            );
        }
        let chain = pem_certs(&d.chain_pem);
        let root = pem_certs(&d.root_pem).into_iter().next();
        let installed = self.store.install(key_pem, &leaf, &chain, root.as_deref())?;
        if let Some(r) = &root {
            self.store.save_trust("root", &pki::cert::to_pem("CERTIFICATE", r))?;
        }
        let mut st = self.store.state();
        st.installed_request = Some(d.request_id);
        self.store.save_state(&st)?;
        Ok(installed)
    }

    async fn confirm_installed(&self, c: &Client, id: i64) {
        // Best effort: a lost confirmation only means a later download is still allowed.
        if let Err(e) = c.mark_installed(id).await {
            eprintln!("note: the server was not told that the certificate is installed ({e})");
        }
    }

    /// Renewal with the installed certificate over mutual TLS (no PIN).
    pub async fn renew_with_certificate(&self, policy_version: &str) -> Result<Installed> {
        let current = self
            .store
            .installed()?
            .ok_or_else(|| anyhow!("no certificate is installed: log on with your PIN letter instead"))?;
        let c = self.mutual(&current)?;
        let key = pki::KeyPair::generate(pki::KeyAlgorithm::EcdsaP256)?;
        let csr = pki::cert::to_pem("CERTIFICATE REQUEST", &key.csr_der("ecmt renewal")?);
        let tmp = self.store.save_pending_key(&key.pkcs8_pem())?;
        let d = match c
            .renew(&api::NewRequestBody { csr, policy_version: policy_version.into(), policy_accepted: true })
            .await
        {
            Ok(d) => d,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.into());
            }
        };
        let installed = self.install_download(&key.pkcs8_pem(), &d)?;
        let _ = std::fs::remove_file(&tmp);
        Ok(installed)
    }

    /// Writes the installed key and chain to a password-protected PKCS#12 file, at `out`
    /// with `.pfx` added when it does not end so ([`with_pfx`]).
    pub fn backup(&self, out: &Path, password: &str, repeat: &str) -> Result<Installed> {
        let out = &with_pfx(out);
        check_password(password, repeat).map_err(|m| anyhow!("{m}; nothing was written"))?;
        let inst = self.store.installed()?.ok_or_else(|| anyhow!("no certificate is installed: nothing to back up"))?;
        let key = pki::KeyPair::from_pem(&inst.key_pem, None)?;
        // Leaf, issuing CA and root: the file restores on a machine that has none of them.
        let mut chain = vec![inst.leaf.clone()];
        chain.extend(inst.chain.iter().cloned());
        chain.extend(inst.root.iter().cloned());
        let pfx = pki::pkcs12::write(
            &pki::pkcs12::KeyAndChain { key_pkcs8_der: key.pkcs8_der().to_vec(), chain },
            password,
            &format!("ecmt {}", inst.info.subject),
        )?;
        crate::local::write_atomic(out, &pfx, 0o600)
            .with_context(|| format!("writing the backup {}", out.display()))?;
        Ok(inst)
    }

    /// Reads a backup and installs it after checking that key and certificate match.
    pub fn restore(&self, input: &Path, password: &str) -> Result<Installed> {
        let data = std::fs::read(input).with_context(|| format!("cannot read the backup {}", input.display()))?;
        let kc = pki::pkcs12::read(&data, password).map_err(|e| {
            anyhow!("cannot open the backup {}: {e}. Check the password; nothing was installed", input.display())
        })?;
        let leaf = kc.chain.first().ok_or_else(|| anyhow!("the backup holds no certificate; nothing was installed"))?;
        let info = pki::CertificateInfo::parse(leaf)?;
        let key = pki::KeyPair::from_pkcs8_der(&kc.key_pkcs8_der)?;
        if key.public_key_spki() != info.spki_der.as_slice() {
            bail!("the key in the backup does not belong to its certificate; nothing was installed");
        }
        let rest: Vec<Vec<u8>> = kc.chain[1..].to_vec();
        let (chain, root): (Vec<Vec<u8>>, Vec<Vec<u8>>) = rest
            .into_iter()
            .partition(|c| pki::CertificateInfo::parse(c).map(|i| i.subject != i.issuer).unwrap_or(true));
        Ok(self.store.install(&key.pkcs8_pem(), leaf, &chain, root.first().map(Vec::as_slice))?)
    }
}

fn pem_certs(text: &str) -> Vec<Vec<u8>> {
    pem::parse_many(text)
        .map(|v| v.into_iter().filter(|p| p.tag() == "CERTIFICATE").map(|p| p.into_contents()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::check_password;

    #[test]
    fn backups_end_in_pfx() {
        use std::path::Path;
        assert_eq!(super::with_pfx(Path::new("/b/mybackup")), Path::new("/b/mybackup.pfx"));
        assert_eq!(super::with_pfx(Path::new("/b/x.PFX")), Path::new("/b/x.PFX"));
        assert_eq!(super::with_pfx(Path::new("/b/x.p12")), Path::new("/b/x.p12.pfx"));
    }

    #[test]
    fn password_rule_names_what_is_missing() {
        assert!(check_password("Abcdefg1", "Abcdefg1").is_ok());
        assert_eq!(
            check_password("abc", "abc").unwrap_err(),
            "the backup password needs at least 8 characters, an upper-case letter, a digit"
        );
        assert!(check_password("ABCDEFG1", "ABCDEFG1").unwrap_err().contains("a lower-case letter"));
        assert!(check_password("Abcdefg1", "Abcdefg2").unwrap_err().contains("not the same"));
    }
}

//! The local certificate store: one directory per machine (the system store, `/var/lib/ecmt`),
//! or per user with `--user-store` (see `access`).
//!
//! ```text
//! STORE/
//!   key.pem   -> current/key.pem      PEM files for other programs (curl, nginx) —
//!   cert.pem  -> current/cert.pem     always the installed certificate (leaf + chain)
//!   chain.pem -> current/chain.pem
//!   current   -> certs/<serial>       the installed generation (an atomic symlink swap)
//!   previous  -> certs/<serial>       the one before it
//!   certs/<serial>/{key.pem (0600), cert.pem, leaf.pem, chain.pem, root.pem}
//!   pending/<request-id>.key.pem      keys whose certificates are not downloaded yet (0600)
//!   trust/<ca>.pem                    CA certificates from the server's trust feed
//!   session.json (0600), state.json
//! ```
//!
//! An install writes a whole new generation directory, fsyncs it, then swaps the `current`
//! symlink with one `rename` — a crash leaves either the old or the new certificate, never
//! a key of one and a certificate of the other.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What can go wrong with the local store.
#[derive(Debug, Error)]
pub enum LocalError {
    /// No permission to write the store.
    #[error(
        "cannot write the certificate store {dir}: {source}. Run ecmt as administrator (sudo ecmt …) for the system store, or choose a directory you can write with --store"
    )]
    NotWritable {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Any other file-system failure.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The stored files are not usable.
    #[error("the certificate store {0} is damaged: {1}")]
    Damaged(PathBuf, String),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> LocalError + 'a {
    move |source| {
        if matches!(source.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem) {
            LocalError::NotWritable { dir: path.to_path_buf(), source }
        } else {
            LocalError::Io { what, path: path.to_path_buf(), source }
        }
    }
}

/// The client's session with the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedSession {
    /// Server URL it belongs to.
    pub server: String,
    /// Bearer token.
    pub token: String,
    /// Organisation.
    pub epoc: String,
    /// Its name.
    pub name: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// Other remembered facts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Trust-feed cursor.
    #[serde(default)]
    pub trust_cursor: i64,
    /// The request whose certificate is installed.
    #[serde(default)]
    pub installed_request: Option<i64>,
    /// The EPOC of the last successful logon, pre-filled at the next one.
    #[serde(default)]
    pub last_epoc: Option<String>,
}

/// An installed certificate.
#[derive(Debug, Clone)]
pub struct Installed {
    /// Private key, PKCS#8 PEM.
    pub key_pem: String,
    /// Leaf certificate DER.
    pub leaf: Vec<u8>,
    /// Issuing chain DER (not the root).
    pub chain: Vec<Vec<u8>>,
    /// Root DER, if stored.
    pub root: Option<Vec<u8>>,
    /// Parsed leaf.
    pub info: pki::CertificateInfo,
    /// Where the generation lives.
    pub dir: PathBuf,
}

/// The store directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: PathBuf,
}

/// Writes `data` to `path` durably and atomically (temp file, fsync, rename, fsync dir).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), LocalError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp =
        dir.join(format!(".{}.tmp{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("file"), std::process::id()));
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io("cannot create", &tmp))?;
        f.write_all(data).map_err(io("cannot write", &tmp))?;
        f.sync_all().map_err(io("cannot sync", &tmp))?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(io("cannot set permissions of", &tmp))?;
    fs::rename(&tmp, path).map_err(io("cannot replace", path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), LocalError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("cannot sync", dir))
}

fn swap_symlink(link: &Path, target: &Path) -> Result<(), LocalError> {
    let dir = link.parent().unwrap_or(Path::new("."));
    let tmp =
        dir.join(format!(".{}.tmp{}", link.file_name().and_then(|n| n.to_str()).unwrap_or("link"), std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io("cannot create link", &tmp))?;
    fs::rename(&tmp, link).map_err(io("cannot replace", link))?;
    sync_dir(dir)
}

fn pem_certs(text: &str) -> Vec<Vec<u8>> {
    pem::parse_many(text)
        .map(|v| v.into_iter().filter(|p| p.tag() == "CERTIFICATE").map(|p| p.into_contents()).collect())
        .unwrap_or_default()
}

impl LocalStore {
    /// Opens (creating, mode 0700) the store and checks that it can be written.
    pub fn open(dir: &Path) -> Result<Self, LocalError> {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io("cannot protect", dir))?;
        }
        let probe = dir.join(format!(".write-test{}", std::process::id()));
        fs::write(&probe, b"").map_err(|source| LocalError::NotWritable { dir: dir.to_path_buf(), source })?;
        let _ = fs::remove_file(&probe);
        for sub in ["certs", "pending", "trust"] {
            let p = dir.join(sub);
            if !p.exists() {
                fs::create_dir(&p).map_err(io("cannot create", &p))?;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).map_err(io("cannot protect", &p))?;
            }
        }
        Ok(Self { dir: dir.to_path_buf() })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Installs a key and its certificate as the current generation; the one installed
    /// before becomes `previous`.
    pub fn install(
        &self,
        key_pem: &str,
        leaf: &[u8],
        chain: &[Vec<u8>],
        root: Option<&[u8]>,
    ) -> Result<Installed, LocalError> {
        let info =
            pki::CertificateInfo::parse(leaf).map_err(|e| LocalError::Damaged(self.dir.clone(), e.to_string()))?;
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let name = format!("{}-{nanos}", info.serial);
        let gen_dir = self.dir.join("certs").join(&name);
        fs::create_dir(&gen_dir).map_err(io("cannot create", &gen_dir))?;
        fs::set_permissions(&gen_dir, fs::Permissions::from_mode(0o755))
            .map_err(io("cannot set permissions of", &gen_dir))?;
        let leaf_pem = pki::cert::to_pem("CERTIFICATE", leaf);
        let chain_pem: String = chain.iter().map(|c| pki::cert::to_pem("CERTIFICATE", c)).collect();
        write_atomic(&gen_dir.join("key.pem"), key_pem.as_bytes(), 0o600)?;
        write_atomic(&gen_dir.join("leaf.pem"), leaf_pem.as_bytes(), 0o644)?;
        write_atomic(&gen_dir.join("chain.pem"), chain_pem.as_bytes(), 0o644)?;
        write_atomic(&gen_dir.join("cert.pem"), format!("{leaf_pem}{chain_pem}").as_bytes(), 0o644)?;
        if let Some(r) = root {
            write_atomic(&gen_dir.join("root.pem"), pki::cert::to_pem("CERTIFICATE", r).as_bytes(), 0o644)?;
        }
        sync_dir(&self.dir.join("certs"))?;
        let current = self.dir.join("current");
        let old = fs::read_link(&current).ok();
        swap_symlink(&current, &Path::new("certs").join(&name))?;
        if let Some(old) = &old {
            swap_symlink(&self.dir.join("previous"), old)?;
        }
        for f in ["key.pem", "cert.pem", "chain.pem"] {
            let link = self.dir.join(f);
            if fs::read_link(&link).ok().as_deref() != Some(&Path::new("current").join(f)) {
                swap_symlink(&link, &Path::new("current").join(f))?;
            }
        }
        self.prune();
        self.installed()?.ok_or_else(|| LocalError::Damaged(self.dir.clone(), "the install did not take".into()))
    }

    /// Removes generations that are neither current nor previous.
    fn prune(&self) {
        let keep: Vec<PathBuf> = ["current", "previous"]
            .iter()
            .filter_map(|l| fs::read_link(self.dir.join(l)).ok())
            .filter_map(|p| p.file_name().map(PathBuf::from))
            .collect();
        if let Ok(rd) = fs::read_dir(self.dir.join("certs")) {
            for e in rd.flatten() {
                if !keep.iter().any(|k| k.as_os_str() == e.file_name()) {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }

    fn generation(&self, link: &str) -> Result<Option<Installed>, LocalError> {
        let Ok(target) = fs::read_link(self.dir.join(link)) else { return Ok(None) };
        let dir = self.dir.join(target);
        let read = |f: &str| fs::read_to_string(dir.join(f));
        let (Ok(key_pem), Ok(leaf_pem)) = (read("key.pem"), read("leaf.pem")) else {
            return Err(LocalError::Damaged(
                self.dir.clone(),
                format!("{link} points to {} which is incomplete", dir.display()),
            ));
        };
        let leaf = pem_certs(&leaf_pem)
            .into_iter()
            .next()
            .ok_or_else(|| LocalError::Damaged(self.dir.clone(), "leaf.pem holds no certificate".into()))?;
        let chain = pem_certs(&read("chain.pem").unwrap_or_default());
        let root = pem_certs(&read("root.pem").unwrap_or_default()).into_iter().next();
        let info =
            pki::CertificateInfo::parse(&leaf).map_err(|e| LocalError::Damaged(self.dir.clone(), e.to_string()))?;
        Ok(Some(Installed { key_pem, leaf, chain, root, info, dir }))
    }

    /// The installed certificate, if any.
    pub fn installed(&self) -> Result<Option<Installed>, LocalError> {
        self.generation("current")
    }

    /// The certificate installed before the current one.
    pub fn previous(&self) -> Result<Option<Installed>, LocalError> {
        self.generation("previous")
    }

    /// Keeps a new key until its certificate arrives; returns a handle to rename it.
    pub fn save_pending_key(&self, key_pem: &str) -> Result<PathBuf, LocalError> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let p = self.dir.join("pending").join(format!("new-{nanos}.key.pem"));
        write_atomic(&p, key_pem.as_bytes(), 0o600)?;
        Ok(p)
    }

    /// Files a pending key under its request ID.
    pub fn file_pending_key(&self, tmp: &Path, request_id: i64) -> Result<(), LocalError> {
        let p = self.pending_key_path(request_id);
        fs::rename(tmp, &p).map_err(io("cannot rename", tmp))?;
        sync_dir(&self.dir.join("pending"))
    }

    fn pending_key_path(&self, request_id: i64) -> PathBuf {
        self.dir.join("pending").join(format!("{request_id}.key.pem"))
    }

    /// The key kept for request `id`.
    pub fn pending_key(&self, request_id: i64) -> Option<String> {
        fs::read_to_string(self.pending_key_path(request_id)).ok()
    }

    /// Forgets the pending key of an installed request.
    pub fn drop_pending_key(&self, request_id: i64) {
        let _ = fs::remove_file(self.pending_key_path(request_id));
    }

    /// Removes everything in the store (used by tests and `ecmt` never by itself).
    pub fn session(&self) -> Option<SavedSession> {
        fs::read(self.dir.join("session.json")).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Saves the session (0600).
    pub fn save_session(&self, s: &SavedSession) -> Result<(), LocalError> {
        let data = serde_json::to_vec_pretty(s).unwrap_or_default();
        write_atomic(&self.dir.join("session.json"), &data, 0o600)
    }

    /// Forgets the session.
    pub fn clear_session(&self) {
        let _ = fs::remove_file(self.dir.join("session.json"));
    }

    /// Remembered state.
    pub fn state(&self) -> State {
        fs::read(self.dir.join("state.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Saves state.
    pub fn save_state(&self, s: &State) -> Result<(), LocalError> {
        let data = serde_json::to_vec_pretty(s).unwrap_or_default();
        write_atomic(&self.dir.join("state.json"), &data, 0o644)
    }

    /// Stores a CA certificate from the trust feed.
    pub fn save_trust(&self, name: &str, pem: &str) -> Result<(), LocalError> {
        let safe: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        write_atomic(&self.dir.join("trust").join(format!("{safe}.pem")), pem.as_bytes(), 0o644)
    }

    /// Removes a withdrawn CA certificate.
    pub fn withdraw_trust(&self, name: &str) {
        let safe: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        let _ = fs::remove_file(self.dir.join("trust").join(format!("{safe}.pem")));
    }

    /// The root from the trust feed, if the store has one.
    pub fn trusted_root(&self) -> Option<PathBuf> {
        let p = self.dir.join("trust").join("root.pem");
        p.exists().then_some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_for(key: &pki::KeyPair) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["example.test".to_string()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "t");
        let kp = rcgen::KeyPair::from_pem(&key.pkcs8_pem()).unwrap();
        params.self_signed(&kp).unwrap().der().to_vec()
    }

    #[test]
    fn install_swaps_generations_and_keeps_the_previous_one() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&tmp.path().join("s")).unwrap();
        assert!(store.installed().unwrap().is_none());
        let k1 = pki::KeyPair::generate(pki::KeyAlgorithm::EcdsaP256).unwrap();
        let c1 = cert_for(&k1);
        store.install(&k1.pkcs8_pem(), &c1, &[], None).unwrap();
        let k2 = pki::KeyPair::generate(pki::KeyAlgorithm::EcdsaP256).unwrap();
        let c2 = cert_for(&k2);
        let now = store.install(&k2.pkcs8_pem(), &c2, &[], None).unwrap();
        assert_eq!(now.leaf, c2);
        assert_eq!(store.previous().unwrap().unwrap().leaf, c1);
        // The PEM files for other programs follow the current generation.
        assert_eq!(fs::read_to_string(store.dir().join("key.pem")).unwrap(), k2.pkcs8_pem());
        let mode = fs::metadata(now.dir.join("key.pem")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A third install prunes the first generation.
        let k3 = pki::KeyPair::generate(pki::KeyAlgorithm::EcdsaP256).unwrap();
        store.install(&k3.pkcs8_pem(), &cert_for(&k3), &[], None).unwrap();
        assert_eq!(fs::read_dir(store.dir().join("certs")).unwrap().count(), 2);
    }
}

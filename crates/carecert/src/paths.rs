//! Where carecert keeps its files, and how secrets are read.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The data directory: `--data-dir`, else `$CARECERT_DATA_DIR`, else the platform data dir
/// (`~/.local/share/carecert`).
pub fn data_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let base = dirs::data_dir().context("cannot find a data directory for this user: pass --data-dir")?;
    Ok(base.join("carecert"))
}

/// Creates `dir` (mode 0700) if needed.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict permissions of {}", dir.display()))?;
    Ok(())
}

/// Writes a file atomically (temp file, fsync, rename) with the given mode.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("file")));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(())
}

/// The default SQLite URL inside the data directory.
pub fn default_database(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("carecert.db").display())
}

/// Reads the CA passphrase: `--ca-passphrase-file`, else `$CARECERT_CA_PASSPHRASE`, else the
/// dev file (with `--dev`), else a prompt on a terminal.
pub fn ca_passphrase(file: Option<&Path>, dev_file: Option<&Path>, create_dev: bool) -> Result<Vec<u8>> {
    if let Some(f) = file {
        let s = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the CA passphrase file {}", f.display()))?;
        let s = s.trim_end_matches(['\n', '\r']);
        if s.is_empty() {
            bail!("the CA passphrase file {} is empty", f.display());
        }
        return Ok(s.as_bytes().to_vec());
    }
    if let Ok(s) = std::env::var("CARECERT_CA_PASSPHRASE")
        && !s.is_empty()
    {
        return Ok(s.into_bytes());
    }
    if let Some(dev) = dev_file {
        if dev.exists() {
            return Ok(std::fs::read_to_string(dev)?.trim().as_bytes().to_vec());
        }
        if create_dev {
            let raw: [u8; 24] = pki::random_bytes().map_err(|e| anyhow::anyhow!("{e}"))?;
            let pass = hex::encode(raw);
            write_atomic(dev, pass.as_bytes(), 0o600)?;
            return Ok(pass.into_bytes());
        }
    }
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password("CA passphrase: ").context("cannot read the passphrase")?;
        if p.is_empty() {
            bail!("no passphrase entered");
        }
        return Ok(p.into_bytes());
    }
    bail!(
        "the CA keys are encrypted: give the passphrase with --ca-passphrase-file FILE or CARECERT_CA_PASSPHRASE (or use --dev for the demo CA)"
    )
}

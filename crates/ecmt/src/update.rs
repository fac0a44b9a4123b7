//! `ecmt update`: self-update from carecert's download index, verified twice.
//!
//! 1. `GET /download.json` lists the releases with their SHA-256 and an Ed25519 signature
//!    over `carecert-release-v1\n{product}\n{version}\n{sha256}\n`.
//! 2. The release-signing public key is **pinned on this machine**, never taken from the
//!    server: `--release-key FILE` / `ECMT_RELEASE_KEY`, else `STORE/trust/release-key.pub`
//!    (put there when ecmt is installed, from `carecert admin release-key generate`'s `.pub`
//!    file). A server that is compromised can list a file, but cannot sign it.
//! 3. The file is downloaded; its SHA-256 must equal the listed one and the signature must
//!    verify with the pinned key — otherwise nothing is replaced.
//! 4. The running program is replaced atomically: the new bytes go to a temporary file in
//!    the same directory (fsync, mode 0755); the current program is hard-linked to
//!    `<name>.old` (the rollback copy); one `rename` puts the new file in place; the directory
//!    is fsynced. `ecmt update --rollback` swaps `<name>.old` back the same way.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;

use crate::ops::{Ecmt, PRODUCT, VERSION};

/// `ecmt update` options.
#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// The release-signing public key this machine trusts [default: STORE/trust/release-key.pub]
    #[arg(long, env = "ECMT_RELEASE_KEY")]
    release_key: Option<PathBuf>,
    /// Install this version rather than the newest
    #[arg(long = "to", value_name = "VERSION")]
    to: Option<String>,
    /// Only say whether a newer version is available
    #[arg(long)]
    check: bool,
    /// Go back to the program kept by the last update (<name>.old)
    #[arg(long, conflicts_with_all = ["to", "check"])]
    rollback: bool,
}

fn pinned_key(e: &Ecmt, a: &UpdateArgs) -> Result<(pki::release::ReleasePublicKey, PathBuf)> {
    let path = a.release_key.clone().unwrap_or_else(|| e.store.dir().join("trust").join("release-key.pub"));
    let text = fs::read_to_string(&path).map_err(|err| {
        anyhow!(
            "no release-signing key is pinned on this machine ({}: {err}): ecmt installs only releases signed with it. Copy the .pub file your operator made with `carecert admin release-key generate` there, or pass --release-key FILE",
            path.display()
        )
    })?;
    let key = pki::release::ReleasePublicKey::parse(&text).with_context(|| format!("reading {}", path.display()))?;
    Ok((key, path))
}

fn this_program() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running program")?;
    Ok(fs::canonicalize(&exe).unwrap_or(exe))
}

fn old_path(exe: &Path) -> PathBuf {
    let name = exe.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "ecmt".into());
    exe.with_file_name(format!("{name}.old"))
}

fn tmp_path(exe: &Path, what: &str) -> PathBuf {
    let name = exe.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "ecmt".into());
    exe.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("cannot sync {}", dir.display()))
}

fn admin_hint(err: std::io::Error, what: &str, path: &Path) -> anyhow::Error {
    if err.kind() == std::io::ErrorKind::PermissionDenied {
        anyhow!(
            "cannot {what} {}: {err}. Run it as administrator (sudo ecmt update); nothing was replaced",
            path.display()
        )
    } else {
        anyhow!("cannot {what} {}: {err}; nothing was replaced", path.display())
    }
}

/// Hard-links (or, failing that, copies) `from` to `to` through a temporary name.
fn keep_copy(from: &Path, to: &Path, tmp: &Path) -> Result<()> {
    let _ = fs::remove_file(tmp);
    if fs::hard_link(from, tmp).is_err() {
        fs::copy(from, tmp).map_err(|e| admin_hint(e, "keep a copy of", from))?;
    }
    fs::rename(tmp, to).map_err(|e| admin_hint(e, "keep a copy as", to))
}

/// Replaces `exe` with `data` atomically, keeping the current one as `<name>.old`.
pub fn replace_program(exe: &Path, data: &[u8]) -> Result<PathBuf> {
    let dir = exe.parent().ok_or_else(|| anyhow!("{} has no directory", exe.display()))?;
    let new = tmp_path(exe, "new");
    let result = write_and_swap(exe, dir, &new, data);
    if result.is_err() {
        let _ = fs::remove_file(&new);
    }
    result
}

fn write_and_swap(exe: &Path, dir: &Path, new: &Path, data: &[u8]) -> Result<PathBuf> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(new)
        .map_err(|e| admin_hint(e, "write the new program in", dir))?;
    f.write_all(data)
        .and_then(|()| f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755)))
        .and_then(|()| f.sync_all())
        .map_err(|e| admin_hint(e, "write", new))?;
    let old = old_path(exe);
    keep_copy(exe, &old, &tmp_path(exe, "old"))?;
    fs::rename(new, exe).map_err(|e| admin_hint(e, "replace", exe))?;
    sync_dir(dir)?;
    Ok(old)
}

/// `ecmt update`.
pub async fn run(e: &Ecmt, a: UpdateArgs, json_out: bool) -> Result<()> {
    let exe = this_program()?;
    if a.rollback {
        let old = old_path(&exe);
        if !old.exists() {
            bail!("there is no previous program to go back to ({} does not exist)", old.display());
        }
        let data = fs::read(&old).with_context(|| format!("cannot read {}", old.display()))?;
        replace_program(&exe, &data)?;
        if json_out {
            println!("{}", json!({"rolled_back": true, "program": exe, "old": old}));
        } else {
            println!(
                "Rolled back: {} is the program kept by the last update again (the one replaced is now {}).",
                exe.display(),
                old.display()
            );
        }
        return Ok(());
    }
    let mine = types::ClientVersion::parse(VERSION)?;
    let c = e.anonymous()?;
    let index = c.download_index().await?;
    let mut releases: Vec<(types::ClientVersion, api::DownloadRelease)> = index
        .releases
        .into_iter()
        .filter(|r| r.product == PRODUCT)
        .filter_map(|r| types::ClientVersion::parse(&r.version).ok().map(|v| (v, r)))
        .collect();
    releases.sort_by(|x, y| y.0.cmp(&x.0));
    let chosen = match &a.to {
        Some(v) => {
            let want = types::ClientVersion::parse(v)?;
            releases
                .into_iter()
                .find(|(rv, _)| *rv == want)
                .ok_or_else(|| anyhow!("ecmt {want} is not on the download page {}/download", e.server))?
        }
        None => match releases.into_iter().next() {
            Some((v, r)) if v > mine => (v, r),
            _ => {
                if json_out {
                    println!("{}", json!({"version": VERSION, "update_available": false}));
                } else {
                    println!("ecmt {VERSION} is the newest version: nothing to do.");
                }
                return Ok(());
            }
        },
    };
    let (version, release) = chosen;
    if a.check {
        if json_out {
            println!("{}", json!({"version": VERSION, "update_available": true, "latest": release.version}));
        } else {
            println!("ecmt {version} is available (this is {VERSION}): install it with `sudo ecmt update`.");
        }
        return Ok(());
    }
    let (key, key_file) = pinned_key(e, &a)?;
    if release.signature.is_empty() {
        bail!(
            "ecmt {version} on the download page is not signed, and ecmt installs only releases signed with the pinned key {} ({}); nothing was replaced. Tell your operator",
            key.key_id(),
            key_file.display()
        );
    }
    if !release.key_id.is_empty() && release.key_id != key.key_id() {
        bail!(
            "ecmt {version} is signed with release-signing key {}, but this machine trusts only key {} ({}); nothing was replaced. Check the key with your operator",
            release.key_id,
            key.key_id(),
            key_file.display()
        );
    }
    let data = c.fetch_file(&release.url).await?;
    let have = pki::release::sha256_hex(&data);
    if have != release.sha256.to_ascii_lowercase() {
        bail!(
            "the downloaded ecmt {version} has SHA-256 {have}, but the download page lists {}: the file was damaged or tampered with; nothing was replaced",
            release.sha256
        );
    }
    key.verify(PRODUCT, &release.version, &have, &release.signature).map_err(|err| {
        anyhow!(
            "{err}: the release ecmt {version} is not the one the operator signed; nothing was replaced. Tell your operator",
        )
    })?;
    let old = replace_program(&exe, &data)?;
    if json_out {
        println!(
            "{}",
            json!({"updated": true, "from": VERSION, "to": release.version, "sha256": have, "key_id": key.key_id(), "program": exe, "old": old})
        );
    } else {
        println!(
            "ecmt updated from {VERSION} to {} (SHA-256 {have}, signature by release-signing key {} verified).\nInstalled at {}; the previous program is kept as {} (`ecmt update --rollback` goes back to it).",
            release.version,
            key.key_id(),
            exe.display(),
            old.display()
        );
    }
    Ok(())
}

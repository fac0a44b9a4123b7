//! Which certificate store, and the administrator check.
//!
//! The practice system reads its certificate from the **system store** (`/var/lib/ecmt`, or
//! the directory given with `--store` / `ECMT_STORE`). Changing it needs administrator rights,
//! as the eCMT guides say ("made by a person who is logged in with Administrator Privileges"):
//! ecmt runs when it is root, or when this user can write the system store (a service
//! account given the directory); otherwise it refuses, saying how to run it. It never falls
//! back silently to a per-user store: `--user-store` asks for one explicitly (tests, or a
//! program that reads the certificate from the user's home).

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The system store.
pub const SYSTEM_STORE: &str = "/var/lib/ecmt";

/// Where the store is and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The store the practice system reads (administrator only).
    System,
    /// This user's own store (`--user-store`).
    User,
}

/// This process's effective user id (the owner of `/proc/self`).
pub fn uid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The per-user store.
pub fn user_store_dir() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("ecmt")
}

/// Whether this user can create files in `dir` (creating it if missing).
fn can_write(dir: &Path) -> bool {
    if !dir.exists() && fs::create_dir_all(dir).is_err() {
        return false;
    }
    let probe = dir.join(format!(".admin-check{}", std::process::id()));
    match fs::write(&probe, b"") {
        Ok(()) => {
            let _ = fs::remove_file(&probe);
            true
        }
        Err(_) => false,
    }
}

/// Chooses the store; refuses a non-administrator on the system store.
pub fn choose(store: Option<PathBuf>, user_store: bool) -> Result<(PathBuf, StoreKind)> {
    if user_store {
        return Ok((user_store_dir(), StoreKind::User));
    }
    let dir = store.unwrap_or_else(|| PathBuf::from(SYSTEM_STORE));
    let uid = uid();
    if uid == Some(0) || can_write(&dir) {
        return Ok((dir, StoreKind::System));
    }
    let who = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| match uid {
        Some(u) => format!("uid {u}"),
        None => "this user".into(),
    });
    let args: Vec<String> = std::env::args().skip(1).collect();
    bail!(
        "ecmt must be run as administrator: the certificate store {} is the one the practice system reads, and {who} is not an administrator and cannot write it. Nothing was changed.\nRun it again with administrator rights:\n    sudo ecmt {}\n(or log in as root). To keep a certificate for this user only — for tests, or a program that reads it from your home directory — add --user-store.",
        dir.display(),
        args.join(" ")
    )
}

//! `carecert root …`: the offline root's commands, run on the offline machine against its
//! root directory (root key, root certificate, ledger). Nothing here opens a database or the
//! network: what the serving nodes need leaves as a bundle file (`carecert ca import`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ca::offline::{IntermediateRequest, RootBundle, RootLedger};
use clap::{Args, Subcommand};
use pki::{CaIdentity, KeyPair};

use crate::paths;

const KEY_FILE: &str = "root-key.pem";
const CERT_FILE: &str = "root.pem";
const LEDGER_FILE: &str = "ledger.json";

/// `carecert root`.
#[derive(Args, Debug)]
pub struct RootArgs {
    /// The root directory made by `carecert init --root-dir` (on the offline machine)
    #[arg(long, env = "CARECERT_ROOT_DIR")]
    root_dir: PathBuf,
    /// File holding the passphrase of the root key (or set CARECERT_CA_PASSPHRASE)
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// Sign a new intermediate from a request (`carecert ca request`), and pre-sign
    /// the ARL and OCSP answers including it; writes the bundle the serving nodes import
    SignIntermediate {
        /// The request file
        #[arg(long)]
        request: PathBuf,
        /// The bundle to write
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Days of ARL and OCSP answers to pre-sign
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Pre-sign the ARL and the intermediates' OCSP answers for the next DAYS days; writes the
    /// bundle the serving nodes import (run it well before the last one expires)
    Presign {
        /// The bundle to write
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Days of ARL and OCSP answers to pre-sign
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Revoke an intermediate (it is listed on the next ARL and answered revoked); writes a bundle
    Revoke {
        /// The intermediate's name (e.g. systems)
        name: String,
        /// RFC 5280 reason (keyCompromise, cACompromise, superseded, cessationOfOperation, …)
        #[arg(long, default_value = "cessationOfOperation")]
        reason: String,
        /// The bundle to write
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Days of ARL and OCSP answers to pre-sign
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// List what the root signed
    List,
}

/// Makes the root directory for `init --root-dir`; refuses one inside the data directory
/// (the serving nodes' configuration must reach no root key) or one that holds a root already.
pub fn prepare_root_dir(dir: &Path, data_dir: &Path) -> Result<PathBuf> {
    paths::ensure_private_dir(dir)?;
    let dir = std::fs::canonicalize(dir).with_context(|| format!("reading {}", dir.display()))?;
    let data = std::fs::canonicalize(data_dir).with_context(|| format!("reading {}", data_dir.display()))?;
    if dir.starts_with(&data) || data.starts_with(&dir) {
        bail!(
            "--root-dir {} overlaps the data directory {}: the root must live apart from what `carecert serve` reads (removable media for the offline machine)",
            dir.display(),
            data.display()
        );
    }
    if dir.join(KEY_FILE).exists() {
        bail!("{} holds a root key already: choose an empty directory", dir.display());
    }
    Ok(dir)
}

/// Writes the offline root's key, certificate and ledger after `init`.
pub fn write_root_dir(dir: &Path, report: &ca::InitReport, organization: &str, public_url: &str) -> Result<()> {
    let key = report.root_key_ref.as_deref().context("init made no offline root key")?;
    paths::write_atomic(&dir.join(KEY_FILE), key.as_bytes(), 0o600)?;
    let root_pem = report.cas.iter().find(|(n, _)| n == "root").map(|(_, p)| p.as_str()).unwrap_or_default();
    paths::write_atomic(&dir.join(CERT_FILE), root_pem.as_bytes(), 0o644)?;
    let mut ledger = RootLedger::new(organization, public_url);
    for (name, der) in &report.intermediates {
        ledger.add(name, der)?;
    }
    // init pre-signed ARL number 1 already.
    ledger.crl_number = 1;
    save_ledger(dir, &ledger)
}

fn save_ledger(dir: &Path, ledger: &RootLedger) -> Result<()> {
    paths::write_atomic(&dir.join(LEDGER_FILE), serde_json::to_string_pretty(ledger)?.as_bytes(), 0o600)
}

fn load(args: &RootArgs) -> Result<(CaIdentity, RootLedger)> {
    let dir = &args.root_dir;
    let key_pem = std::fs::read_to_string(dir.join(KEY_FILE))
        .with_context(|| format!("reading the root key in {} (made by `carecert init --root-dir`)", dir.display()))?;
    let pass = paths::ca_passphrase(args.passphrase_file.as_deref(), None, false)?;
    let key = KeyPair::from_pem(&key_pem, Some(&pass)).map_err(|e| match e {
        pki::PkiError::WrongPassphrase => anyhow::anyhow!("the root key's passphrase is wrong"),
        other => anyhow::anyhow!("reading the root key: {other}"),
    })?;
    let cert = std::fs::read(dir.join(CERT_FILE)).with_context(|| format!("reading {}/{CERT_FILE}", dir.display()))?;
    let (_, der) = pki::CertificateInfo::parse_pem_or_der(&cert)?;
    let root = CaIdentity::new("root", der, key.into_signer())?;
    let ledger: RootLedger = serde_json::from_slice(
        &std::fs::read(dir.join(LEDGER_FILE)).with_context(|| format!("reading {}/{LEDGER_FILE}", dir.display()))?,
    )
    .with_context(|| format!("{}/{LEDGER_FILE} is not a root ledger", dir.display()))?;
    Ok((root, ledger))
}

fn write_bundle(out: &Path, bundle: &RootBundle) -> Result<()> {
    paths::write_atomic(out, serde_json::to_string(bundle)?.as_bytes(), 0o644)?;
    println!(
        "Bundle written to {}: ARL #{} and {} OCSP answers valid until {}; import it on a serving node with `carecert ca import {}`",
        out.display(),
        bundle.arl.crl_number,
        bundle.ocsp.len(),
        bundle.arl.next_update,
        out.display()
    );
    Ok(())
}

pub async fn run(args: RootArgs) -> Result<()> {
    let (root, mut ledger) = load(&args)?;
    let now = time::OffsetDateTime::now_utc();
    match &args.what {
        What::SignIntermediate { request, out, days } => {
            let req: IntermediateRequest = serde_json::from_slice(
                &std::fs::read(request).with_context(|| format!("reading {}", request.display()))?,
            )
            .with_context(|| format!("{} is not an intermediate request", request.display()))?;
            let der = ledger.sign_intermediate(&root, &req, now)?;
            let bundle = ledger.presign(&root, now, *days)?;
            save_ledger(&args.root_dir, &ledger)?;
            let info = pki::CertificateInfo::parse(&der)?;
            println!("Signed intermediate '{}': {} (serial {})", req.name, info.subject, info.serial);
            write_bundle(out, &bundle)
        }
        What::Presign { out, days } => {
            let bundle = ledger.presign(&root, now, *days)?;
            save_ledger(&args.root_dir, &ledger)?;
            write_bundle(out, &bundle)
        }
        What::Revoke { name, reason, out, days } => {
            let reason = pki::RevocationReason::parse(reason)
                .with_context(|| format!("'{reason}' is not a revocation reason"))?;
            ledger.revoke(name, reason, now.unix_timestamp())?;
            let bundle = ledger.presign(&root, now, *days)?;
            save_ledger(&args.root_dir, &ledger)?;
            println!("Revoked intermediate '{name}' ({})", reason.name());
            write_bundle(out, &bundle)
        }
        What::List => {
            println!("root: {}", pki::CertificateInfo::parse(&root.cert_der)?.subject);
            for i in &ledger.intermediates {
                let state = match i.revoked {
                    Some((at, _)) => format!("revoked at {at}"),
                    None => "good".into(),
                };
                println!("{}\t{}\tnot after {}\t{state}", i.name, i.serial, i.not_after);
            }
            println!("last ARL number: {}", ledger.crl_number);
            Ok(())
        }
    }
}

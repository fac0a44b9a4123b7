//! `carecert admin audit`: list and verify the audit log, and take signed checkpoints of its
//! head that an outside party keeps, so a log cut below a checkpoint (the newest rows
//! deleted, the whole table truncated, the head reset) or rewritten is detected by
//! `audit verify --since FILE` even when the chain left in the database is consistent.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use api::{AuditCheckpointBody, AuditVerifyBody};
use base64::Engine as _;
use clap::Subcommand;
use client::Client;
use serde::Serialize;

use super::output::{Answer, date, print};

#[derive(Subcommand, Debug)]
pub(super) enum AuditCmd {
    /// Show the newest audit entries.
    List {
        /// How many
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Recompute the hash chain and report the first broken entry (exit code 1 if broken);
    /// with --since, also prove the log still holds an earlier signed checkpoint.
    Verify {
        /// Read the database directly instead of asking the server (sqlite://… or postgres://…)
        #[arg(long)]
        database: Option<String>,
        /// A checkpoint saved earlier (`audit checkpoint --out FILE`): the log must still hold
        /// its entry with the signed hash (exit code 1: truncated, reset or rewritten)
        #[arg(long)]
        since: Option<PathBuf>,
    },
    /// Sign the chain's current head with the root CA's key: keep the result outside carecert
    /// (syslog, WORM storage, an auditor) and check against it later with `verify --since`.
    Checkpoint {
        /// Also write the checkpoint (JSON) to this file
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// What `verify` found: the chain check, and the checkpoint check when one was given.
#[derive(Debug, Serialize)]
struct Verdict {
    #[serde(flatten)]
    chain: AuditVerifyBody,
    /// The checkpoint's entry, when `--since` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint_seq: Option<i64>,
    /// What is wrong with the log measured against the checkpoint (None: it holds).
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint_problem: Option<String>,
}

/// A checkpoint file, with its signature checked against the root certificate the verifier
/// pins (`--ca-file`, default DATA_DIR/ca/root.pem).
fn read_checkpoint(file: &Path, root_file: &Path) -> Result<AuditCheckpointBody> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read the checkpoint {}", file.display()))?;
    let cp: AuditCheckpointBody = serde_json::from_str(&text).with_context(|| {
        format!("{} is not an audit checkpoint (from `carecert admin audit checkpoint`)", file.display())
    })?;
    if cp.format != ca::CHECKPOINT_FORMAT {
        bail!(
            "{}: unknown checkpoint format '{}' (this carecert reads {})",
            file.display(),
            cp.format,
            ca::CHECKPOINT_FORMAT
        );
    }
    if cp.signer != ca::CHECKPOINT_SIGNER {
        bail!(
            "{}: signed by '{}', but checkpoints are signed by the {} CA",
            file.display(),
            cp.signer,
            ca::CHECKPOINT_SIGNER
        );
    }
    let root = std::fs::read(root_file)
        .with_context(|| format!("cannot read the root certificate {} (pass --ca-file)", root_file.display()))?;
    let (info, _) = pki::CertificateInfo::parse_pem_or_der(&root)
        .map_err(|e| anyhow!("{} is not a certificate: {e}", root_file.display()))?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(cp.signature.trim())
        .map_err(|_| anyhow!("{}: the signature is not base64", file.display()))?;
    pki::verify_signature(&info.spki_der, &ca::checkpoint_message(cp.seq, &cp.head_hash, cp.at_ms), &sig).map_err(
        |_| anyhow!("{}: the signature does not verify with the root certificate {}: the checkpoint was altered or is not from this CA", file.display(), root_file.display()),
    )?;
    Ok(cp)
}

/// The log against a checkpoint: the head must not be below it, and its entry must still
/// carry the signed hash.
fn judge(cp: &AuditCheckpointBody, head_seq: i64, hash_at_seq: Option<&str>) -> Option<String> {
    if head_seq < cp.seq {
        return Some(format!(
            "TRUNCATED: the log's head is at entry {head_seq}, below the checkpoint's entry {} (signed {}): entries were deleted and the head reset",
            cp.seq,
            date(cp.at_ms / 1000)
        ));
    }
    match hash_at_seq {
        _ if cp.seq == 0 => None,
        None => Some(format!("TRUNCATED: entry {} of the checkpoint is missing from the log", cp.seq)),
        Some(h) if h != cp.head_hash => Some(format!(
            "REWRITTEN: entry {} no longer has the hash signed in the checkpoint: the log was rewritten",
            cp.seq
        )),
        Some(_) => None,
    }
}

fn report(json_out: bool, v: &Verdict) -> Result<()> {
    print(json_out, v, |v| {
        let mut t = if v.chain.ok {
            format!("Audit chain OK: {} entries verified.", v.chain.entries)
        } else {
            format!(
                "Audit chain BROKEN at entry {}: {} ({} entries before it verified).",
                v.chain.first_broken_seq.unwrap_or_default(),
                v.chain.problem.as_deref().unwrap_or_default(),
                v.chain.entries
            )
        };
        match (&v.checkpoint_seq, &v.checkpoint_problem) {
            (Some(seq), None) => t.push_str(&format!(
                "\nCheckpoint OK: entry {seq} still carries the signed hash; the log goes on to entry {}.",
                v.chain.head_seq
            )),
            (Some(_), Some(p)) => t.push_str(&format!("\nCheckpoint FAILED: {p}")),
            _ => {}
        }
        t
    });
    if !v.chain.ok {
        bail!("the audit chain is broken");
    }
    if v.checkpoint_problem.is_some() {
        bail!("the audit log no longer holds the checkpoint");
    }
    Ok(())
}

/// `audit …` against the server.
pub(super) async fn audit(client: &Client, cmd: AuditCmd, root: &Path, json_out: bool) -> Result<()> {
    match cmd {
        AuditCmd::List { limit } => {
            let v = client.audit(&api::AuditQuery { after: None, limit: Some(limit) }).await.answer()?;
            print(json_out, &v, |v| {
                let mut t = String::new();
                for e in v {
                    t.push_str(&format!(
                        "{:>6} {} {:<14} {:<26} {} {}\n",
                        e.seq,
                        date(e.at_ms / 1000),
                        e.actor,
                        e.action,
                        e.subject,
                        e.details
                    ));
                }
                t.trim_end().to_string()
            });
            Ok(())
        }
        AuditCmd::Verify { since, .. } => {
            let cp = since.as_deref().map(|f| read_checkpoint(f, root)).transpose()?;
            let chain = client.verify_audit().await.answer()?;
            let (checkpoint_seq, checkpoint_problem) = match &cp {
                Some(cp) => {
                    let at =
                        client.audit(&api::AuditQuery { after: Some(cp.seq - 1), limit: Some(1) }).await.answer()?;
                    let hash = at.first().filter(|e| e.seq == cp.seq).map(|e| e.hash.as_str());
                    (Some(cp.seq), judge(cp, chain.head_seq, hash))
                }
                None => (None, None),
            };
            report(json_out, &Verdict { chain, checkpoint_seq, checkpoint_problem })
        }
        AuditCmd::Checkpoint { out } => {
            let cp = client.audit_checkpoint().await.answer()?;
            if let Some(file) = &out {
                let text = serde_json::to_string_pretty(&cp)?;
                std::fs::write(file, format!("{text}\n"))
                    .with_context(|| format!("cannot write {}", file.display()))?;
            }
            print(json_out, &cp, |cp| {
                format!(
                    "Checkpoint of the audit log: entry {}, head {}, signed by the {} CA at {}{}",
                    cp.seq,
                    cp.head_hash,
                    cp.signer,
                    date(cp.at_ms / 1000),
                    out.as_ref().map(|f| format!(" — written to {}", f.display())).unwrap_or_default()
                )
            });
            Ok(())
        }
    }
}

/// `audit verify --database URL [--since FILE]`: the checks on the database itself, no server.
pub(super) async fn verify_database(url: &str, since: Option<&Path>, root: &Path, json_out: bool) -> Result<()> {
    let cp = since.map(|f| read_checkpoint(f, root)).transpose()?;
    let store = store::Store::open(url).await.context("opening the database")?;
    let v = store.verify_audit().await?;
    let chain = AuditVerifyBody {
        ok: v.first_broken.is_none(),
        entries: v.entries,
        first_broken_seq: v.first_broken.as_ref().map(|b| b.seq),
        problem: v.first_broken.map(|b| b.problem),
        head_seq: v.head_seq,
    };
    let (checkpoint_seq, checkpoint_problem) = match &cp {
        Some(cp) => {
            let at = store.audit_entries(cp.seq - 1, 1).await?;
            let hash = at.first().filter(|e| e.seq == cp.seq).map(|e| e.hash.as_str());
            (Some(cp.seq), judge(cp, chain.head_seq, hash))
        }
        None => (None, None),
    };
    report(json_out, &Verdict { chain, checkpoint_seq, checkpoint_problem })
}

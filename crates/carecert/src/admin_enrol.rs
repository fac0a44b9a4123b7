//! `carecert admin org|pin|request|release`: the RA's machine-certificate work.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use base64::Engine as _;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::admin::{Client, date, print, s};

#[derive(Subcommand, Debug)]
pub enum OrgCmd {
    /// Add an organisation.
    Add {
        /// Organisation code (EPOC), digits
        #[arg(long)]
        epoc: String,
        /// Name
        #[arg(long)]
        name: String,
        /// pharmacy, gp, dental or ophthalmic
        #[arg(long, default_value = "pharmacy")]
        kind: String,
        /// Who approves its requests: automatic or ra-queue
        #[arg(long, default_value = "ra-queue")]
        approval: String,
    },
    /// List organisations.
    List,
    /// Show one organisation.
    Show {
        /// EPOC
        epoc: String,
    },
    /// Change an organisation's status or approval policy.
    Set {
        /// EPOC
        epoc: String,
        /// active, suspended or closed
        #[arg(long)]
        status: Option<String>,
        /// automatic or ra-queue
        #[arg(long)]
        approval: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PinCmd {
    /// Issue a PIN letter (older PINs of the organisation stop working). The PIN is shown once.
    Issue {
        /// EPOC
        #[arg(long)]
        epoc: String,
        /// Write the letter here as PDF (and the same name with .txt as text)
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RequestCmd {
    /// List requests (default: pending ones, the RA queue).
    List {
        /// pending, approved, downloaded, installed, denied, cancelled or all
        #[arg(long, default_value = "pending")]
        status: String,
        /// Only this organisation
        #[arg(long)]
        epoc: Option<String>,
    },
    /// Approve a request: the certificate is issued and ready for download.
    Approve {
        /// Request ID
        id: i64,
    },
    /// Deny a request; the requester sees the reason.
    Deny {
        /// Request ID
        id: i64,
        /// Why (shown to the requester)
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReleaseCmd {
    /// Register a release of ecmt or carecert-agent.
    Add {
        /// ecmt or carecert-agent
        #[arg(long, default_value = "ecmt")]
        product: String,
        /// Version (1.4.2)
        #[arg(value_name = "VERSION")]
        release_version: String,
        /// This is the minimum supported version: older clients are refused
        #[arg(long)]
        minimum: bool,
        /// Download URL
        #[arg(long)]
        url: String,
        /// SHA-256 of the download (hex)
        #[arg(long)]
        sha256: String,
        /// Release notes
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// List releases.
    List {
        /// ecmt or carecert-agent
        #[arg(long, default_value = "ecmt")]
        product: String,
    },
}

fn org_line(o: &Value) -> String {
    format!("{:<10} {:<10} {:<10} {:<9} {}", s(o, "epoc"), s(o, "kind"), s(o, "status"), s(o, "approval"), s(o, "name"))
}

pub async fn org(c: &Client, cmd: OrgCmd, json_out: bool) -> Result<()> {
    match cmd {
        OrgCmd::Add { epoc, name, kind, approval } => {
            let v = c
                .post(
                    "/api/v1/admin/organisations",
                    &json!({"epoc": epoc, "name": name, "kind": kind, "approval": approval}),
                )
                .await?;
            print(json_out, &v, |v| {
                format!("Added organisation {} ({}), approval: {}", s(v, "epoc"), s(v, "name"), s(v, "approval"))
            });
        }
        OrgCmd::List => {
            let v = c.get("/api/v1/admin/organisations").await?;
            print(json_out, &v, |v| {
                let mut t = format!("{:<10} {:<10} {:<10} {:<9} NAME", "EPOC", "KIND", "STATUS", "APPROVAL");
                for o in v.as_array().into_iter().flatten() {
                    t.push('\n');
                    t.push_str(&org_line(o));
                }
                t
            });
        }
        OrgCmd::Show { epoc } => {
            let v = c.get(&format!("/api/v1/admin/organisations/{epoc}")).await?;
            print(json_out, &v, org_line);
        }
        OrgCmd::Set { epoc, status, approval } => {
            let v = c
                .patch(&format!("/api/v1/admin/organisations/{epoc}"), &json!({"status": status, "approval": approval}))
                .await?;
            print(json_out, &v, org_line);
        }
    }
    Ok(())
}

pub async fn pin(c: &Client, cmd: PinCmd, json_out: bool) -> Result<()> {
    let PinCmd::Issue { epoc, out } = cmd;
    let v = c.post(&format!("/api/v1/admin/organisations/{epoc}/pins"), &json!({})).await?;
    if let Some(path) = &out {
        let pdf = base64::engine::general_purpose::STANDARD
            .decode(s(&v, "letter_pdf_base64"))
            .map_err(|e| anyhow!("the server sent a letter that is not base64: {e}"))?;
        crate::paths::write_atomic(path, &pdf, 0o600)?;
        let txt = path.with_extension("txt");
        crate::paths::write_atomic(&txt, s(&v, "letter_text").as_bytes(), 0o600)
            .with_context(|| format!("writing {}", txt.display()))?;
    }
    let mut shown = v.clone();
    if let Some(o) = shown.as_object_mut() {
        o.remove("letter_pdf_base64");
    }
    print(json_out, &shown, |v| {
        let mut t = format!(
            "PIN for EPOC {}: {}\nValid until {}. Older PINs of this organisation no longer work.\nThe PIN is not stored: this is the only time it is shown.",
            s(v, "epoc"),
            s(v, "pin"),
            date(v, "expires_at")
        );
        if let Some(p) = &out {
            t.push_str(&format!("\nLetter written to {} and {}", p.display(), p.with_extension("txt").display()));
        }
        t
    });
    Ok(())
}

fn request_table(v: &Value) -> String {
    let mut t =
        format!("{:>6}  {:<10} {:<10} {:<18} {:<18} SERIAL / NOTE", "ID", "EPOC", "STATUS", "CREATED", "DECIDED");
    for r in v.as_array().into_iter().flatten() {
        let note = match s(r, "status") {
            "denied" => s(r, "deny_reason").to_string(),
            _ => s(r, "serial").to_string(),
        };
        t.push_str(&format!(
            "\n{:>6}  {:<10} {:<10} {:<18} {:<18} {}",
            r.get("id").and_then(Value::as_i64).unwrap_or_default(),
            s(r, "epoc"),
            s(r, "status"),
            date(r, "created_at"),
            date(r, "decided_at"),
            note
        ));
    }
    t
}

pub async fn request(c: &Client, cmd: RequestCmd, json_out: bool) -> Result<()> {
    match cmd {
        RequestCmd::List { status, epoc } => {
            let mut q = format!("?status={status}");
            if let Some(e) = epoc {
                q.push_str(&format!("&epoc={e}"));
            }
            let v = c.get(&format!("/api/v1/admin/requests{q}")).await?;
            print(json_out, &v, request_table);
        }
        RequestCmd::Approve { id } => {
            let v = c.post(&format!("/api/v1/admin/requests/{id}/approve"), &json!({})).await?;
            print(json_out, &v, |v| {
                format!("Request {id} approved: certificate {} is ready for download.", s(v, "serial"))
            });
        }
        RequestCmd::Deny { id, reason } => {
            let v = c.post(&format!("/api/v1/admin/requests/{id}/deny"), &json!({"reason": reason})).await?;
            print(json_out, &v, |v| format!("Request {id} denied: {}", s(v, "deny_reason")));
        }
    }
    Ok(())
}

pub async fn release(c: &Client, cmd: ReleaseCmd, json_out: bool) -> Result<()> {
    match cmd {
        ReleaseCmd::Add { product, release_version: version, minimum, url, sha256, notes } => {
            let v = c
                .post(
                    "/api/v1/admin/releases",
                    &json!({"product": product, "version": version, "minimum": minimum, "url": url, "sha256": sha256, "notes": notes}),
                )
                .await?;
            print(json_out, &v, |v| {
                format!(
                    "Registered {product} {}{}",
                    s(v, "version"),
                    if minimum { " as the minimum supported version" } else { "" }
                )
            });
        }
        ReleaseCmd::List { product } => {
            let v = c.get(&format!("/api/v1/admin/releases?product={product}")).await?;
            print(json_out, &v, |v| {
                let mut t = format!("{:<12} {:<8} URL", "VERSION", "MINIMUM");
                for r in v.as_array().into_iter().flatten() {
                    t.push_str(&format!(
                        "\n{:<12} {:<8} {}",
                        s(r, "version"),
                        if r.get("minimum") == Some(&Value::Bool(true)) { "yes" } else { "" },
                        s(r, "url")
                    ));
                }
                t
            });
        }
    }
    Ok(())
}

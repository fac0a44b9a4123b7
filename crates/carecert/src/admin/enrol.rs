//! `carecert admin org|pin|request|release`: the RA's machine-certificate work.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use api::{Approval, OrgKind, OrgStatus, RequestStatus};
use base64::Engine as _;
use clap::Subcommand;
use client::Client;
use serde::Serialize;

use super::output::{Answer, date, print};

#[derive(Subcommand, Debug)]
pub(super) enum OrgCmd {
    /// Add an organisation.
    Add {
        /// Organisation code (EPOC), digits
        #[arg(long)]
        epoc: String,
        /// Name
        #[arg(long)]
        name: String,
        /// What kind of organisation
        #[arg(long, value_enum, default_value_t = OrgKind::Pharmacy)]
        kind: OrgKind,
        /// Who approves its requests
        #[arg(long, value_enum, default_value_t = Approval::RaQueue)]
        approval: Approval,
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
        /// New status
        #[arg(long, value_enum)]
        status: Option<OrgStatus>,
        /// Who approves its requests
        #[arg(long, value_enum)]
        approval: Option<Approval>,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum PinCmd {
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
pub(super) enum RequestCmd {
    /// List requests (default: pending ones, the RA queue).
    List {
        /// Only requests in this state
        #[arg(long, value_enum, default_value_t = StatusFilter::Pending)]
        status: StatusFilter,
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
pub(super) enum ReleaseCmd {
    /// Register a release of ecmt or carecert-agent.
    Add {
        /// ecmt or carecert-agent
        #[arg(long, default_value = "ecmt")]
        product: String,
        /// Version (4.1.0.0 or 1.4.2)
        #[arg(value_name = "VERSION")]
        release_version: String,
        /// This is the minimum supported version: older clients are refused
        #[arg(long)]
        minimum: bool,
        /// Download URL (not needed with --file: the server then serves the file)
        #[arg(long, required_unless_present = "file")]
        url: Option<String>,
        /// SHA-256 of the download (hex) [default: computed from --file]
        #[arg(long, required_unless_present = "file")]
        sha256: Option<String>,
        /// Release notes
        #[arg(long, default_value = "")]
        notes: String,
        /// The binary, at a path the server can read (the same on every node); the server
        /// checks its SHA-256 and serves it at /download/PRODUCT/VERSION/file
        #[arg(long)]
        file: Option<PathBuf>,
        /// Sign with this release-signing private key (PEM, from `release-key generate`)
        #[arg(long, conflicts_with = "signature")]
        sign_with: Option<PathBuf>,
        /// A signature made elsewhere (base64), e.g. on an offline machine
        #[arg(long)]
        signature: Option<String>,
    },
    /// List releases.
    List {
        /// ecmt or carecert-agent
        #[arg(long, default_value = "ecmt")]
        product: String,
    },
}

/// `--status` of `request list`: a state, or every state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum StatusFilter {
    /// Every state.
    All,
    /// Waiting for the RA.
    Pending,
    /// Issued; available for download.
    Approved,
    /// Downloaded, not yet confirmed installed.
    Downloaded,
    /// Installed.
    Installed,
    /// Refused by the RA.
    Denied,
    /// Withdrawn.
    Cancelled,
}

impl StatusFilter {
    fn status(self) -> Option<RequestStatus> {
        match self {
            StatusFilter::All => None,
            StatusFilter::Pending => Some(RequestStatus::Pending),
            StatusFilter::Approved => Some(RequestStatus::Approved),
            StatusFilter::Downloaded => Some(RequestStatus::Downloaded),
            StatusFilter::Installed => Some(RequestStatus::Installed),
            StatusFilter::Denied => Some(RequestStatus::Denied),
            StatusFilter::Cancelled => Some(RequestStatus::Cancelled),
        }
    }
}

fn org_line(o: &api::OrganisationView) -> String {
    format!("{:<10} {:<10} {:<10} {:<9} {}", o.epoc, o.kind.as_str(), o.status.as_str(), o.approval.as_str(), o.name)
}

pub(super) async fn org(c: &Client, cmd: OrgCmd, json_out: bool) -> Result<()> {
    match cmd {
        OrgCmd::Add { epoc, name, kind, approval } => {
            let body = api::NewOrganisationBody { epoc, name, kind, approval: Some(approval) };
            let v = c.add_organisation(&body).await.answer()?;
            print(json_out, &v, |v| format!("Added organisation {} ({}), approval: {}", v.epoc, v.name, v.approval));
        }
        OrgCmd::List => {
            let v = c.organisations().await.answer()?;
            print(json_out, &v, |v| {
                let mut t = format!("{:<10} {:<10} {:<10} {:<9} NAME", "EPOC", "KIND", "STATUS", "APPROVAL");
                for o in v {
                    t.push('\n');
                    t.push_str(&org_line(o));
                }
                t
            });
        }
        OrgCmd::Show { epoc } => {
            let v = c.organisation(&epoc).await.answer()?;
            print(json_out, &v, org_line);
        }
        OrgCmd::Set { epoc, status, approval } => {
            let v = c.change_organisation(&epoc, &api::OrganisationChangeBody { status, approval }).await.answer()?;
            print(json_out, &v, org_line);
        }
    }
    Ok(())
}

/// A PIN letter as shown: everything but the PDF.
#[derive(Serialize)]
struct PinShown<'a> {
    epoc: &'a str,
    pin: &'a str,
    expires_at: i64,
    letter_text: &'a str,
}

pub(super) async fn pin(c: &Client, cmd: PinCmd, json_out: bool) -> Result<()> {
    let PinCmd::Issue { epoc, out } = cmd;
    let v = c.issue_pin(&epoc).await.answer()?;
    if let Some(path) = &out {
        let pdf = base64::engine::general_purpose::STANDARD
            .decode(&v.letter_pdf_base64)
            .map_err(|e| anyhow!("the server sent a letter that is not base64: {e}"))?;
        crate::paths::write_atomic(path, &pdf, 0o600)?;
        let txt = path.with_extension("txt");
        crate::paths::write_atomic(&txt, v.letter_text.as_bytes(), 0o600)
            .with_context(|| format!("writing {}", txt.display()))?;
    }
    let shown = PinShown { epoc: &v.epoc, pin: &v.pin, expires_at: v.expires_at, letter_text: &v.letter_text };
    print(json_out, &shown, |v| {
        let mut t = format!(
            "PIN for EPOC {}: {}\nValid until {}. Older PINs of this organisation no longer work.\nThe PIN is not stored: this is the only time it is shown.",
            v.epoc,
            v.pin,
            date(v.expires_at)
        );
        if let Some(p) = &out {
            t.push_str(&format!("\nLetter written to {} and {}", p.display(), p.with_extension("txt").display()));
        }
        t
    });
    Ok(())
}

fn request_table(v: &[api::RequestView]) -> String {
    let mut t =
        format!("{:>6}  {:<10} {:<10} {:<18} {:<18} SERIAL / NOTE", "ID", "EPOC", "STATUS", "CREATED", "DECIDED");
    for r in v {
        let note = match r.status {
            RequestStatus::Denied => r.deny_reason.as_deref(),
            _ => r.serial.as_deref(),
        };
        t.push_str(&format!(
            "\n{:>6}  {:<10} {:<10} {:<18} {:<18} {}",
            r.id,
            r.epoc,
            r.status.as_str(),
            date(r.created_at),
            date(r.decided_at),
            note.unwrap_or_default()
        ));
    }
    t
}

pub(super) async fn request(c: &Client, cmd: RequestCmd, json_out: bool) -> Result<()> {
    match cmd {
        RequestCmd::List { status, epoc } => {
            let q = api::RequestQuery { status: status.status(), epoc, limit: None };
            let v = c.admin_requests(&q).await.answer()?;
            print(json_out, &v, |v| request_table(v));
        }
        RequestCmd::Approve { id } => {
            let v = c.approve(id).await.answer()?;
            print(json_out, &v, |v| {
                format!(
                    "Request {id} approved: certificate {} is ready for download.",
                    v.serial.as_deref().unwrap_or_default()
                )
            });
        }
        RequestCmd::Deny { id, reason } => {
            let v = c.deny(id, &api::DenyBody { reason }).await.answer()?;
            print(json_out, &v, |v| format!("Request {id} denied: {}", v.deny_reason.as_deref().unwrap_or_default()));
        }
    }
    Ok(())
}

pub(super) async fn release(c: &Client, cmd: ReleaseCmd, json_out: bool) -> Result<()> {
    match cmd {
        ReleaseCmd::Add { product, release_version, minimum, url, sha256, notes, file, sign_with, signature } => {
            let version = types::ClientVersion::parse(&release_version)?.to_string();
            let sha256 = match (sha256, &file) {
                (Some(h), _) => h.to_ascii_lowercase(),
                (None, Some(f)) => pki::release::sha256_hex(
                    &std::fs::read(f).with_context(|| format!("cannot read the release file {}", f.display()))?,
                ),
                (None, None) => return Err(anyhow!("give --sha256 or --file")),
            };
            let signature = match (&sign_with, signature) {
                (Some(k), _) => {
                    let pem = std::fs::read_to_string(k)
                        .with_context(|| format!("cannot read the release-signing key {}", k.display()))?;
                    Some(pki::release::ReleaseSigningKey::from_pem(&pem)?.sign(&product, &version, &sha256))
                }
                (None, s) => s,
            };
            let file_path = match file {
                Some(f) => Some(
                    std::path::absolute(&f)
                        .with_context(|| format!("{}", f.display()))?
                        .to_str()
                        .ok_or_else(|| anyhow!("the release file's path is not UTF-8"))?
                        .to_string(),
                ),
                None => None,
            };
            let body = api::NewReleaseBody {
                product: product.clone(),
                version,
                minimum,
                url: url.unwrap_or_default(),
                sha256,
                notes,
                signature,
                file_path,
            };
            let v = c.add_release(&body).await.answer()?;
            print(json_out, &v, |v| {
                format!(
                    "Registered {product} {}{}",
                    v.version,
                    if minimum { " as the minimum supported version" } else { "" }
                )
            });
        }
        ReleaseCmd::List { product } => {
            let v = c.releases(&api::ReleaseQuery { product: Some(product) }).await.answer()?;
            print(json_out, &v, |v| {
                let mut t = format!("{:<12} {:<8} URL", "VERSION", "MINIMUM");
                for r in v {
                    t.push_str(&format!("\n{:<12} {:<8} {}", r.version, if r.minimum { "yes" } else { "" }, r.url));
                }
                t
            });
        }
    }
    Ok(())
}

//! `carecert admin …`: operator commands against a running server's admin API, through
//! the `client` crate (typed answers; no JSON is picked apart here).
//!
//! `certs.rs` has certificates and the audit log, `enrol.rs` the RA's machine-certificate
//! work, `cards.rs` its smartcard work, `output.rs` how answers are printed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::paths;

mod audit;
mod cards;
mod certs;
mod enrol;
mod operators;
mod output;
mod releases;
mod zerotouch;

/// `carecert admin`.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Server URL
    #[arg(long, global = true, env = "CARECERT_SERVER", default_value = "https://127.0.0.1:8443")]
    server: String,
    /// File holding your operator token (else CARECERT_ADMIN_TOKEN, else DATA_DIR/admin-token).
    /// Never give a token itself on the command line: it would show in `ps` and the history
    #[arg(long, global = true, env = "CARECERT_ADMIN_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Root certificate that the server's TLS certificate chains to [default: DATA_DIR/ca/root.pem]
    #[arg(long, global = true, env = "CARECERT_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Data directory (where the defaults above are read from)
    #[arg(long, global = true, env = "CARECERT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    what: What,
}

// Parsed once per process: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum What {
    /// Certificates: issue, show, list, revoke.
    #[command(subcommand)]
    Cert(certs::CertCmd),
    /// The audit log: list, verify, signed checkpoints.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Organisations: add, list, show, set.
    #[command(subcommand)]
    Org(enrol::OrgCmd),
    /// PIN letters: issue.
    #[command(subcommand)]
    Pin(enrol::PinCmd),
    /// Certificate requests (the RA queue): list, approve, deny.
    #[command(subcommand)]
    Request(enrol::RequestCmd),
    /// Client releases and minimum versions: add, list.
    #[command(subcommand)]
    Release(enrol::ReleaseCmd),
    /// Release-signing keys for self-update: generate, add, list.
    #[command(subcommand)]
    ReleaseKey(releases::ReleaseKeyCmd),
    /// Card holders: add, show.
    #[command(subcommand)]
    User(cards::UserCmd),
    /// Smartcards: unlock, cancel, status, batch.
    #[command(subcommand)]
    Card(cards::CardCmd),
    /// Sponsors' unlock authority: grant.
    #[command(subcommand)]
    Sponsor(cards::SponsorCmd),
    /// Accounts: operator accounts (create, list, disable) and web accounts (add).
    #[command(subcommand)]
    Account(operators::AccountCmd),
    /// Operator API tokens: create, list, revoke.
    #[command(subcommand)]
    Token(operators::TokenCmd),
    /// The trust feed: withdraw a CA (a CA being retired).
    #[command(subcommand)]
    Trust(zerotouch::TrustCmd),
    /// Where an organisation's certificate expiry reminders are emailed: set, clear.
    #[command(subcommand)]
    Contact(zerotouch::ContactCmd),
}

/// The admin API's client: the token and root come from the flags, else from the data
/// directory.
fn connect(args: &AdminArgs) -> Result<client::Client> {
    let data_dir = paths::data_dir(args.data_dir.as_deref())?;
    let token = match (&args.token_file, std::env::var("CARECERT_ADMIN_TOKEN")) {
        (Some(f), _) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the token file {} (--token-file)", f.display()))?
            .trim()
            .to_string(),
        (None, Ok(t)) => t.trim().to_string(),
        (None, Err(_)) => {
            let f = data_dir.join("admin-token");
            std::fs::read_to_string(&f)
                .with_context(|| format!("no operator token: pass --token-file FILE, set CARECERT_ADMIN_TOKEN, or create {} (carecert init / serve --dev do)", f.display()))?
                .trim()
                .to_string()
        }
    };
    let mut b = client::Client::builder(&args.server)
        .bearer(Some(token))
        .timeout(Duration::from_secs(60))
        .unreachable_hint(" — is `carecert serve` running? (--server URL)");
    if args.server.starts_with("https://") {
        let ca_file = args.ca_file.clone().unwrap_or_else(|| data_dir.join("ca/root.pem"));
        let pem = std::fs::read(&ca_file)
            .with_context(|| format!("cannot read the root certificate {} (pass --ca-file)", ca_file.display()))?;
        b = b.root_pem(pem);
    }
    b.build().map_err(|e| match e {
        client::Error::Setup(client::SetupError::BadRoot(_)) => {
            anyhow::anyhow!("the --ca-file is not a PEM certificate")
        }
        other => other.into(),
    })
}

/// Runs one admin command.
pub async fn run(args: AdminArgs) -> Result<()> {
    let json_out = args.json;
    // The root certificate checkpoints are verified with (the one the operator pins).
    let root = match &args.ca_file {
        Some(f) => f.clone(),
        None => paths::data_dir(args.data_dir.as_deref())?.join("ca/root.pem"),
    };
    if let What::Audit(audit::AuditCmd::Verify { database: Some(url), since }) = &args.what {
        return audit::verify_database(url, since.as_deref(), &root, json_out).await;
    }
    if let What::ReleaseKey(releases::ReleaseKeyCmd::Generate { out }) = &args.what {
        return releases::generate(out, json_out);
    }
    let client = connect(&args)?;
    match args.what {
        What::Cert(c) => certs::cert(&client, c, json_out).await,
        What::Audit(c) => audit::audit(&client, c, &root, json_out).await,
        What::Org(c) => enrol::org(&client, c, json_out).await,
        What::Pin(c) => enrol::pin(&client, c, json_out).await,
        What::Request(c) => enrol::request(&client, c, json_out).await,
        What::Release(c) => enrol::release(&client, c, json_out).await,
        What::ReleaseKey(c) => releases::release_key(&client, c, json_out).await,
        What::User(c) => cards::user(&client, c, json_out).await,
        What::Card(c) => cards::card(&client, c, json_out).await,
        What::Sponsor(c) => cards::sponsor(&client, c, json_out).await,
        What::Account(c) => operators::account(&client, c, json_out).await,
        What::Token(c) => operators::token(&client, c, json_out).await,
        What::Trust(c) => zerotouch::trust(&client, c, json_out).await,
        What::Contact(c) => zerotouch::contact(&client, c, json_out).await,
    }
}

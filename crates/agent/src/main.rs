//! `carecert-agent` — the identity agent on a staff workstation.
//!
//! Talks to smartcards through PKCS#11 (`token`), to carecert over HTTPS (the `client` crate),
//! and to the person at the keyboard (a pinentry passcode dialog, or prompts on a terminal;
//! files and environment variables for scripts; `--json`). The server keeps the passcode
//! count (soft tokens do not), so every wrong passcode is reported, and a locked card is
//! refused before the card is even asked.
//!
//! Files: `session.rs` (card login, interrupted renewals), `renew.rs`, `unlock.rs`,
//! `tasks.rs` (the card tasks the commands and the jobs share), `pinentry.rs` (the passcode
//! dialog), `local_api.rs` (the portal's loopback API and presence reports), `local_jobs.rs`
//! and `jobs.rs` (its jobs and their events).
//!
//! Exit codes: 0 success; 1 refused or failed (the message says why and what to do);
//! 2 usage; 3 the server cannot be reached.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use serde_json::json;
use token::{Card, Module};

use crate::pinentry::Asker;

mod jobs;
mod local_api;
mod local_jobs;
mod pinentry;
mod renew;
mod session;
mod tasks;
mod unlock;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// carecert-agent: your smartcard — status, passcode, unlock, renewal.
#[derive(Parser)]
#[command(name = "carecert-agent", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// carecert service URL
    #[arg(long, global = true, env = "CARECERT_SERVER", default_value = "https://127.0.0.1:8443")]
    server: String,
    /// The carecert root certificate (PEM)
    #[arg(long, global = true, env = "CARECERT_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// PKCS#11 module of the card readers
    #[arg(
        long,
        global = true,
        env = "CARECERT_PKCS11_MODULE",
        default_value = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
    )]
    module: PathBuf,
    /// Which card, when more than one is inserted (its serial)
    #[arg(long, global = true, env = "CARECERT_CARD")]
    card: Option<String>,
    /// The workstation's machine certificate (PEM, with its chain), presented over mutual
    /// TLS: an enrolled workstation's wrong passcodes count toward the card's lock, others
    /// only slow down further tries
    #[arg(long, global = true, env = "CARECERT_CLIENT_CERT", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// The private key of --client-cert (PEM)
    #[arg(long, global = true, env = "CARECERT_CLIENT_KEY", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long, global = true)]
    json: bool,
    /// The passcode dialog program (Assuan pinentry), e.g. /usr/bin/pinentry-gnome3. `run`
    /// always uses one [default: the first of pinentry-gnome3, pinentry-qt, pinentry-curses,
    /// pinentry-tty on PATH]; other commands use it when given (else the terminal)
    #[arg(long, global = true, env = "CARECERT_PINENTRY")]
    pinentry: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Card commands.
    #[command(subcommand)]
    Card(CardCmd),
    /// Log in with the card (passcode): announces a coming expiry.
    Login(PasscodeArgs),
    /// The background agent: watches cards (an event line when a card is inserted or
    /// removed) and serves the portal's pages on loopback; passcodes are asked in the
    /// passcode dialog (pinentry).
    Run {
        /// How often to look at the readers, in milliseconds
        #[arg(long, default_value_t = 150)]
        poll_ms: u64,
        /// Address of the local API the portal's pages call (loopback only)
        #[arg(long, default_value = "127.0.0.1:8477")]
        listen: std::net::SocketAddr,
        /// Web origin allowed to ask for login tickets (repeatable), e.g. https://portal.example.nhs.uk
        #[arg(long = "portal-origin")]
        portal_origins: Vec<String>,
        #[command(flatten)]
        passcode: PasscodeArgs,
        /// FOR TESTS ONLY: take passcodes from --passcode-file / CARECERT_PASSCODE /
        /// CARECERT_NEW_PASSCODE instead of asking in the passcode dialog
        #[arg(long)]
        insecure_test_passcode: bool,
    },
}

#[derive(Subcommand)]
enum CardCmd {
    /// The card in the reader and whether it can be used; with --details, logs in with the
    /// passcode and shows everything carecert knows about it.
    Status {
        /// Log in (passcode) and show the holder's view: tries left, expiry, renewals
        #[arg(long)]
        details: bool,
        #[command(flatten)]
        passcode: PasscodeArgs,
    },
    /// Change the passcode (6 to 8 digits).
    ChangePasscode {
        #[command(flatten)]
        passcode: PasscodeArgs,
        /// File holding the new passcode (or CARECERT_NEW_PASSCODE; asked twice on a terminal)
        #[arg(long)]
        new_passcode_file: Option<PathBuf>,
    },
    /// Unlock a locked card: send a one-time code (--via email|sms|voice), then enter it
    /// (--code); or with a sponsor's card in a second reader (--via sponsor); or at the RA
    /// (--via ra, with the RA's admin token).
    Unlock {
        /// How: a one-time code by email, sms or voice; a sponsor's card; the RA
        #[arg(long, value_enum)]
        via: Option<unlock::Via>,
        /// The one-time code received (or CARECERT_UNLOCK_CODE)
        #[arg(long, env = "CARECERT_UNLOCK_CODE")]
        code: Option<String>,
        /// File holding the new passcode (or CARECERT_NEW_PASSCODE; asked twice on a terminal)
        #[arg(long)]
        new_passcode_file: Option<PathBuf>,
        /// The sponsor's card serial (second reader)
        #[arg(long)]
        sponsor_card: Option<String>,
        /// File holding the card's passcode (unused: an unlock sets a new one)
        #[arg(long, hide = true)]
        passcode_file: Option<PathBuf>,
        /// File holding the sponsor's passcode (or CARECERT_SPONSOR_PASSCODE)
        #[arg(long)]
        sponsor_passcode_file: Option<PathBuf>,
        /// Identity documents checked (RA)
        #[arg(long)]
        documents: Option<String>,
        /// File holding the RA officer's token (or CARECERT_ADMIN_TOKEN; asked on a terminal)
        #[arg(long)]
        admin_token_file: Option<PathBuf>,
    },
    /// Renew both certificates (90 days before expiry; remotely twice, then at the RA).
    Renew {
        #[command(flatten)]
        passcode: PasscodeArgs,
        /// RA renewal face to face (identity checked; allowed when expired), with the RA's admin token
        #[arg(long)]
        ra: bool,
        /// Identity documents checked (RA)
        #[arg(long)]
        documents: Option<String>,
        /// File holding the RA officer's token (or CARECERT_ADMIN_TOKEN; asked on a terminal)
        #[arg(long)]
        admin_token_file: Option<PathBuf>,
    },
    /// RA: issue a blank card to a user face to face (keys are made on the card).
    Issue {
        /// The holder's UID
        #[arg(long)]
        uid: String,
        /// Identity documents checked
        #[arg(long)]
        documents: String,
        /// Card batch
        #[arg(long, default_value = "default")]
        batch: String,
        /// Label written on the card
        #[arg(long, default_value = "carecert card")]
        label: String,
        /// File holding the holder's first passcode (or CARECERT_NEW_PASSCODE; asked twice on a terminal)
        #[arg(long)]
        new_passcode_file: Option<PathBuf>,
        /// File holding the RA officer's token (or CARECERT_ADMIN_TOKEN; asked on a terminal)
        #[arg(long)]
        admin_token_file: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub(crate) struct PasscodeArgs {
    /// File holding the passcode (or CARECERT_PASSCODE; asked on a terminal otherwise)
    #[arg(long)]
    pub(crate) passcode_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.chain().any(|c| c.downcast_ref::<client::Error>().is_some_and(client::Error::is_unreachable)) {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// What every command shares: the service, the card reader module, which card, how to print.
#[derive(Clone)]
pub(crate) struct Agent {
    pub(crate) client: client::Client,
    module_path: PathBuf,
    card: Option<String>,
    json: bool,
    /// Passcode tries left per card, as last heard from carecert (for the dialog's text).
    tries: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
}

fn tty() -> bool {
    prompt::on_terminal()
}

fn secret(file: Option<&PathBuf>, env: &str, prompt_text: &str) -> Result<String> {
    Ok(prompt::secret(file.map(PathBuf::as_path), env, prompt_text, "passcode")?)
}

/// The RA officer's token: from `--admin-token-file`, `CARECERT_ADMIN_TOKEN`, or asked on a
/// terminal; never a command-line value (it would show in `ps` and the shell history).
fn admin_token(file: Option<&PathBuf>) -> Result<Option<String>> {
    if file.is_none() && std::env::var_os("CARECERT_ADMIN_TOKEN").is_none() && !tty() {
        return Ok(None);
    }
    Ok(Some(prompt::secret(file.map(PathBuf::as_path), "CARECERT_ADMIN_TOKEN", "RA officer's token: ", "RA token")?))
}

fn new_passcode(file: Option<&PathBuf>) -> Result<String> {
    let p = if file.is_some() || std::env::var("CARECERT_NEW_PASSCODE").is_ok() {
        secret(file, "CARECERT_NEW_PASSCODE", "")?
    } else {
        let a = secret(None, "CARECERT_NEW_PASSCODE", "New passcode (6 to 8 digits): ")?;
        let b = secret(None, "CARECERT_NEW_PASSCODE", "Repeat the new passcode: ")?;
        if a != b {
            bail!("the two passcodes are not the same; nothing was changed");
        }
        a
    };
    if !pinentry::valid_passcode(&p) {
        bail!("the passcode must be 6 to 8 digits; nothing was changed");
    }
    Ok(p)
}

/// The passcode dialog of the background agent: `--pinentry`, else the first found.
fn dialog_program(given: Option<PathBuf>) -> Result<PathBuf> {
    given.or_else(pinentry::default_program).ok_or_else(|| {
        anyhow!(
            "no passcode dialog found: install pinentry-gnome3, pinentry-qt, pinentry-curses or pinentry-tty (Debian packages of the same names), or name one with --pinentry PROGRAM"
        )
    })
}

fn subject_of(der: &[u8]) -> Result<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let (_, c) =
        x509_parser::certificate::X509Certificate::from_der(der).map_err(|e| anyhow!("bad certificate: {e}"))?;
    Ok(c.subject().as_raw().to_vec())
}

fn serial_of(der: &[u8]) -> Option<String> {
    pki::CertificateInfo::parse(der).ok().map(|i| i.serial)
}

impl Agent {
    pub(crate) fn module(&self) -> Result<Module> {
        Ok(Module::open(&self.module_path)?)
    }

    pub(crate) fn open_card(&self, module: &Module) -> Result<Card> {
        let info = module.find(self.card.as_deref())?;
        Ok(module.card(&info.serial)?)
    }

    fn say(&self, v: serde_json::Value, text: impl FnOnce() -> String) {
        if self.json {
            println!("{v}");
        } else {
            println!("{}", text());
        }
    }
}

/// Whether `run` was given a passcode to keep (a file, or one of the variables).
fn stored_passcode(p: &PasscodeArgs) -> bool {
    p.passcode_file.is_some()
        || ["CARECERT_PASSCODE", "CARECERT_NEW_PASSCODE", "CARECERT_SPONSOR_PASSCODE"]
            .iter()
            .any(|v| std::env::var_os(v).is_some())
}

async fn run(cli: Cli) -> Result<()> {
    if let Command::Run { passcode, insecure_test_passcode: false, .. } = &cli.command
        && stored_passcode(passcode)
    {
        bail!(
            "carecert-agent run does not take a stored passcode (--passcode-file, CARECERT_PASSCODE, CARECERT_NEW_PASSCODE or CARECERT_SPONSOR_PASSCODE is set): the background agent asks for every passcode in the passcode dialog (pinentry; choose one with --pinentry PROGRAM). Unset them, or, for tests only, start it with --insecure-test-passcode"
        );
    }
    let mut b = client::Client::builder(&cli.server)
        .unreachable_hint(". Check the network; the card was not changed")
        .user_agent(format!("carecert-agent/{VERSION}"));
    if cli.server.starts_with("https://") {
        let ca = cli
            .ca_file
            .clone()
            .ok_or_else(|| anyhow!("pass the carecert root certificate with --ca-file (or CARECERT_CA_FILE)"))?;
        b = b.root_pem(std::fs::read(&ca).with_context(|| format!("cannot read {}", ca.display()))?);
    }
    if let (Some(cert), Some(key)) = (&cli.client_cert, &cli.client_key) {
        let mut pem = std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?;
        pem.push(b'\n');
        pem.extend(std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?);
        b = b.identity_pem(pem);
    }
    let client = b.build().map_err(|e| match e {
        client::Error::Setup(client::SetupError::BadRoot(src)) => anyhow!("--ca-file is not a PEM certificate: {src}"),
        client::Error::Setup(client::SetupError::BadIdentity(src)) => {
            anyhow!("--client-cert and --client-key are not a PEM certificate and its key: {src}")
        }
        other => other.into(),
    })?;
    let agent = Agent {
        client,
        module_path: cli.module.clone(),
        card: cli.card.clone(),
        json: cli.json,
        tries: Default::default(),
    };
    let progress = jobs::Progress::Terminal { json: cli.json };
    let pinentry = cli.pinentry.clone();
    match cli.command {
        Command::Login(p) => {
            let module = agent.module()?;
            let card = agent.open_card(&module)?;
            let s = agent.login(&card, &Asker::for_command(pinentry, p.passcode_file)).await?.session;
            agent.say(serde_json::to_value(&s.card)?, || {
                format!("Logged in with card {}. {}", s.card.serial, s.card.message)
            });
        }
        Command::Card(CardCmd::Status { details: false, .. }) => {
            let module = agent.module()?;
            let info = module.find(agent.card.as_deref())?;
            let state = agent.client.card_status(&info.serial).await?;
            agent.say(json!({"card": info.serial, "label": info.label, "server": state}), || {
                format!("Card {} ({}): {}. {}", info.serial, info.label, state.status, state.message)
            });
        }
        Command::Card(CardCmd::Status { details: true, passcode }) => {
            let module = agent.module()?;
            let card = agent.open_card(&module)?;
            let view = agent.login(&card, &Asker::for_command(pinentry, passcode.passcode_file)).await?.session.card;
            let label = card.info().label.clone();
            agent.say(json!({"card": view.serial, "label": label, "server": view}), || {
                format!(
                    "Card {} ({label}): {}, {} passcode tries left. {}",
                    view.serial, view.status, view.tries_left, view.message
                )
            });
        }
        Command::Card(CardCmd::ChangePasscode { passcode, new_passcode_file }) => {
            let module = agent.module()?;
            let card = agent.open_card(&module)?;
            let ask = Asker::for_command(pinentry, passcode.passcode_file).with_new_file(new_passcode_file);
            tasks::change_passcode(&agent, &card, &ask).await?;
            agent.say(json!({"changed": true}), || "Passcode changed.".into());
        }
        Command::Card(CardCmd::Unlock {
            via,
            code,
            new_passcode_file,
            sponsor_card,
            sponsor_passcode_file,
            documents,
            admin_token_file,
            passcode_file,
        }) => {
            let admin_token =
                if matches!(via, Some(unlock::Via::Ra)) { admin_token(admin_token_file.as_ref())? } else { None };
            let stored = new_passcode_file.is_some()
                || sponsor_passcode_file.is_some()
                || std::env::var_os("CARECERT_NEW_PASSCODE").is_some();
            let ask = if stored { Asker::stored(passcode_file) } else { Asker::for_command(pinentry, passcode_file) }
                .with_new_file(new_passcode_file)
                .with_sponsor_file(sponsor_passcode_file);
            let a = unlock::UnlockArgs { via, code, sponsor_card, documents, admin_token };
            unlock::unlock(&agent, a, &ask).await?;
        }
        Command::Card(CardCmd::Renew { passcode, ra, documents, admin_token_file }) => {
            let who = if ra {
                let admin_token = admin_token(admin_token_file.as_ref())?.ok_or_else(|| {
                    anyhow!(
                        "an RA renewal needs the RA's admin token (--admin-token-file FILE or CARECERT_ADMIN_TOKEN)"
                    )
                })?;
                let documents =
                    documents.ok_or_else(|| anyhow!("record the identity documents checked (--documents)"))?;
                renew::Renewer::Ra { admin_token, documents }
            } else {
                renew::Renewer::Holder
            };
            let module = agent.module()?;
            let card = agent.open_card(&module)?;
            let serial = card.info().serial.clone();
            let ask = Asker::for_command(pinentry, passcode.passcode_file);
            let view = renew::renew(&agent, &card, &ask, who, &progress, false).await?;
            agent.say(serde_json::to_value(&view)?, || format!("Card {serial} renewed. {}", view.message));
        }
        Command::Card(CardCmd::Issue { uid, documents, batch, label, new_passcode_file, admin_token_file }) => {
            let token = admin_token(admin_token_file.as_ref())?.ok_or_else(|| {
                anyhow!("issuing a card needs the RA officer's token (--admin-token-file FILE or CARECERT_ADMIN_TOKEN)")
            })?;
            let module = agent.module()?;
            let stored = new_passcode_file.is_some() || std::env::var_os("CARECERT_NEW_PASSCODE").is_some();
            let ask = if stored { Asker::stored(None) } else { Asker::for_command(pinentry, None) }
                .with_new_file(new_passcode_file);
            let uid2 = uid.clone();
            let a = tasks::IssueArgs { uid, documents, batch, label };
            let issued = tasks::issue(&agent, &module, &token, a, &ask, &progress).await?;
            agent.say(json!({"card": issued.card, "auth": issued.auth, "sign": issued.sign}), || {
                format!(
                    "Issued card {} to UID {uid2}: authentication {}, signing {}",
                    issued.card, issued.auth, issued.sign
                )
            });
        }
        Command::Run { poll_ms, listen, portal_origins, passcode, insecure_test_passcode } => {
            let ask = if insecure_test_passcode && stored_passcode(&passcode) {
                eprintln!(
                    "warning: --insecure-test-passcode: passcodes are taken from files and the environment (tests only)"
                );
                Asker::stored(passcode.passcode_file)
            } else {
                Asker::Dialog(dialog_program(pinentry)?)
            };
            local_api::run(agent, poll_ms, listen, portal_origins, ask).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod cli_tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

//! `carecert admin user|card|sponsor`: the RA's smartcard work. Issuing a card needs the
//! card itself (keys are made on it): that is `carecert-agent card issue` at the RA's desk.

use anyhow::Result;
use api::RevocationReason;
use clap::Subcommand;
use client::Client;
use serde::Serialize;

use super::output::{Answer, date, print};

#[derive(Subcommand, Debug)]
pub(super) enum UserCmd {
    /// Register a user (a card holder).
    Add {
        /// UID (digits)
        #[arg(long)]
        uid: String,
        /// Full name
        #[arg(long)]
        name: String,
        /// Email (unlock codes go here if its domain is allowed)
        #[arg(long)]
        email: Option<String>,
        /// Mobile number (SMS unlock codes)
        #[arg(long)]
        mobile: Option<String>,
        /// Landline number
        #[arg(long)]
        landline: Option<String>,
        /// The landline can take text-to-voice calls
        #[arg(long)]
        landline_voice: bool,
        /// Role code (repeatable)
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Organisation code
        #[arg(long)]
        organisation: String,
    },
    /// Show a user and their cards.
    Show {
        /// UID
        uid: String,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum CardCmd {
    /// Unlock a card face to face (identity checked); prints the SO PIN for the agent.
    Unlock {
        /// Card serial
        serial: String,
        /// Documents checked
        #[arg(long)]
        documents: String,
    },
    /// Cancel a card: both certificates are revoked.
    Cancel {
        /// Card serial
        serial: String,
        /// RFC 5280 reason
        #[arg(long, value_enum, default_value_t = RevocationReason::AffiliationChanged)]
        reason: RevocationReason,
    },
    /// Show a card's status.
    Status {
        /// Card serial
        serial: String,
    },
    /// Set the minimum carecert-agent version of a card batch.
    Batch {
        /// Batch
        batch: String,
        /// Minimum agent version
        #[arg(long)]
        min_agent_version: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AccountCmd {
    /// Add a web account (RA console, operator, portal user).
    Add {
        /// Login name
        #[arg(long)]
        username: String,
        /// Display name
        #[arg(long)]
        name: String,
        /// Card UID for smartcard login
        #[arg(long)]
        uid: Option<String>,
        /// Role: ra, operator, portal:ROLE (repeatable)
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// File holding the password (or CARECERT_ACCOUNT_PASSWORD) for password login
        #[arg(long)]
        password_file: Option<std::path::PathBuf>,
    },
}

pub(crate) async fn account(c: &Client, cmd: AccountCmd, json_out: bool) -> Result<()> {
    let AccountCmd::Add { username, name, uid, roles, password_file } = cmd;
    let password = match password_file {
        Some(f) => Some(std::fs::read_to_string(&f)?.trim_end_matches(['\n', '\r']).to_string()),
        None => std::env::var("CARECERT_ACCOUNT_PASSWORD").ok(),
    };
    let v = c.add_web_account(&api::NewWebAccountBody { username, name, uid, roles, password }).await.answer()?;
    print(json_out, &v, |v| {
        let mut t = format!("Added account {} ({})", v.username, v.name);
        if let Some(uri) = v.totp_uri.as_deref().filter(|u| !u.is_empty()) {
            t.push_str(&format!(
                "\nSecond factor (shown once): add this to the person's authenticator app:\n  {}\n  secret {}",
                uri,
                v.totp_secret.as_deref().unwrap_or_default()
            ));
        }
        t
    });
    Ok(())
}

#[derive(Subcommand, Debug)]
pub(super) enum SponsorCmd {
    /// Give a user unlock authority for an organisation's cards.
    Grant {
        /// The sponsor's UID
        #[arg(long)]
        uid: String,
        /// Organisation code
        #[arg(long)]
        organisation: String,
    },
}

pub(super) async fn user(c: &Client, cmd: UserCmd, json_out: bool) -> Result<()> {
    match cmd {
        UserCmd::Add { uid, name, email, mobile, landline, landline_voice, roles, organisation } => {
            let body = api::NewUserBody { uid, name, email, mobile, landline, landline_voice, roles, organisation };
            let v = c.add_user(&body).await.answer()?;
            print(json_out, &v, |v| format!("Registered user {} ({})", v.uid, v.name));
        }
        UserCmd::Show { uid } => {
            let v = c.user(&uid).await.answer()?;
            print(json_out, &v, |v| {
                let u = &v.user;
                let mut t = format!("{} {} ({})", u.uid, u.name, u.organisation);
                for card in &v.cards {
                    t.push_str(&format!(
                        "\n  card {} {} expires {} remote renewals {}",
                        card.serial,
                        card.status,
                        date(card.not_after),
                        card.remote_renewals
                    ));
                }
                t
            });
        }
    }
    Ok(())
}

/// What `card cancel --json` prints.
#[derive(Serialize)]
struct Cancelled<'a> {
    serial: &'a str,
    cancelled: bool,
}

pub(super) async fn card(c: &Client, cmd: CardCmd, json_out: bool) -> Result<()> {
    match cmd {
        CardCmd::Unlock { serial, documents } => {
            let body = api::IdentityCheckBody { documents, agent_version: None };
            let v = c.ra_unlock(&serial, &body).await.answer()?;
            print(json_out, &v, |v| format!("Card {} unlocked. SO PIN for the agent: {}", v.serial, v.so_pin));
        }
        CardCmd::Cancel { serial, reason } => {
            c.cancel_card(&serial, &api::CancelCardBody { reason: Some(reason) }).await.answer()?;
            print(json_out, &Cancelled { serial: &serial, cancelled: true }, |_| {
                format!("Card {serial} cancelled; its certificates are revoked.")
            });
        }
        CardCmd::Status { serial } => {
            let v = c.card(&serial).await.answer()?;
            print(json_out, &v, |v| format!("Card {} {}: {}", v.serial, v.status, v.message));
        }
        CardCmd::Batch { batch, min_agent_version } => {
            let body = api::CardBatchBody { batch, min_agent_version };
            c.set_batch(&body).await.answer()?;
            print(json_out, &body, |b| {
                format!("Batch {} now needs carecert-agent {} or newer.", b.batch, b.min_agent_version)
            });
        }
    }
    Ok(())
}

pub(super) async fn sponsor(c: &Client, cmd: SponsorCmd, json_out: bool) -> Result<()> {
    let SponsorCmd::Grant { uid, organisation } = cmd;
    let body = api::SponsorBody { uid, organisation };
    c.grant_sponsor(&body).await.answer()?;
    print(json_out, &body, |b| format!("User {} may now unlock cards of organisation {}.", b.uid, b.organisation));
    Ok(())
}

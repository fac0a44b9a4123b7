//! `carecert admin user|card|sponsor`: the RA's smartcard work. Issuing a card needs the
//! card itself (keys are made on it): that is `carecert-agent card issue` at the RA's desk.

use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::admin::{Client, date, print, s};

#[derive(Subcommand, Debug)]
pub enum UserCmd {
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
pub enum CardCmd {
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
        #[arg(long, default_value = "affiliationChanged")]
        reason: String,
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
pub enum AccountCmd {
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

pub async fn account(c: &Client, cmd: AccountCmd, json_out: bool) -> Result<()> {
    let AccountCmd::Add { username, name, uid, roles, password_file } = cmd;
    let password = match password_file {
        Some(f) => Some(std::fs::read_to_string(&f)?.trim_end_matches(['\n', '\r']).to_string()),
        None => std::env::var("CARECERT_ACCOUNT_PASSWORD").ok(),
    };
    let v = c
        .post(
            "/api/v1/admin/web-accounts",
            &json!({"username": username, "name": name, "uid": uid, "roles": roles, "password": password}),
        )
        .await?;
    print(json_out, &v, |v| {
        let mut t = format!("Added account {} ({})", s(v, "username"), s(v, "name"));
        if !s(v, "totp_uri").is_empty() {
            t.push_str(&format!(
                "\nSecond factor (shown once): add this to the person's authenticator app:\n  {}\n  secret {}",
                s(v, "totp_uri"),
                s(v, "totp_secret")
            ));
        }
        t
    });
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum SponsorCmd {
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

pub async fn user(c: &Client, cmd: UserCmd, json_out: bool) -> Result<()> {
    match cmd {
        UserCmd::Add { uid, name, email, mobile, landline, landline_voice, roles, organisation } => {
            let v = c
                .post(
                    "/api/v1/admin/users",
                    &json!({"uid": uid, "name": name, "email": email, "mobile": mobile, "landline": landline,
                            "landline_voice": landline_voice, "roles": roles, "organisation": organisation}),
                )
                .await?;
            print(json_out, &v, |v| format!("Registered user {} ({})", s(v, "uid"), s(v, "name")));
        }
        UserCmd::Show { uid } => {
            let v = c.get(&format!("/api/v1/admin/users/{uid}")).await?;
            print(json_out, &v, |v| {
                let u = &v["user"];
                let mut t = format!("{} {} ({})", s(u, "uid"), s(u, "name"), s(u, "organisation"));
                for card in v["cards"].as_array().into_iter().flatten() {
                    t.push_str(&format!(
                        "\n  card {} {} expires {} remote renewals {}",
                        s(card, "serial"),
                        s(card, "status"),
                        date(card, "not_after"),
                        card.get("remote_renewals").and_then(Value::as_i64).unwrap_or_default()
                    ));
                }
                t
            });
        }
    }
    Ok(())
}

pub async fn card(c: &Client, cmd: CardCmd, json_out: bool) -> Result<()> {
    match cmd {
        CardCmd::Unlock { serial, documents } => {
            let v = c.post(&format!("/api/v1/admin/cards/{serial}/unlock"), &json!({"documents": documents})).await?;
            print(json_out, &v, |v| {
                format!("Card {} unlocked. SO PIN for the agent: {}", s(v, "serial"), s(v, "so_pin"))
            });
        }
        CardCmd::Cancel { serial, reason } => {
            c.post(&format!("/api/v1/admin/cards/{serial}/cancel"), &json!({"reason": reason})).await?;
            print(json_out, &json!({"serial": serial, "cancelled": true}), |_| {
                format!("Card {serial} cancelled; its certificates are revoked.")
            });
        }
        CardCmd::Status { serial } => {
            let v = c.get(&format!("/api/v1/cards/{serial}")).await?;
            print(json_out, &v, |v| format!("Card {} {}: {}", s(v, "serial"), s(v, "status"), s(v, "message")));
        }
        CardCmd::Batch { batch, min_agent_version } => {
            c.post("/api/v1/admin/card-batches", &json!({"batch": batch, "min_agent_version": min_agent_version}))
                .await?;
            print(json_out, &json!({"batch": batch, "min_agent_version": min_agent_version}), |_| {
                format!("Batch {batch} now needs carecert-agent {min_agent_version} or newer.")
            });
        }
    }
    Ok(())
}

pub async fn sponsor(c: &Client, cmd: SponsorCmd, json_out: bool) -> Result<()> {
    let SponsorCmd::Grant { uid, organisation } = cmd;
    c.post("/api/v1/admin/sponsors", &json!({"uid": uid, "organisation": organisation})).await?;
    print(json_out, &json!({"uid": uid, "organisation": organisation}), |_| {
        format!("User {uid} may now unlock cards of organisation {organisation}.")
    });
    Ok(())
}

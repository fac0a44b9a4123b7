//! `carecert admin account …` and `carecert admin token …`: named operator accounts and
//! their API tokens. Passwords and tokens are read from files, the environment or a
//! terminal prompt, never from a command-line value; new tokens are written to a file
//! (mode 0600) or printed once.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use client::Client;
use serde::Serialize;

use super::cards;
use super::output::{Answer, date, print};

#[derive(Subcommand, Debug)]
pub(crate) enum AccountCmd {
    /// Create a named operator account (ca-admin, ra-officer, auditor, portal-admin).
    Create {
        /// Account name (the audit log names the person by it: ra:NAME, ca-admin:NAME, …)
        name: String,
        /// Role
        #[arg(long, value_enum)]
        role: api::OperatorRole,
        /// Organisation (EPOC) or RA unit an ra-officer acts for (repeatable; at least one)
        #[arg(long = "org")]
        orgs: Vec<String>,
        /// Display name
        #[arg(long)]
        display_name: Option<String>,
        /// File holding an RA console password (or CARECERT_ACCOUNT_PASSWORD); a TOTP second
        /// factor is enrolled and shown once
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Smartcard UID for card logins to the console
        #[arg(long)]
        uid: Option<String>,
        /// Also make a first API token and write it to this file (mode 0600)
        #[arg(long)]
        token_out: Option<PathBuf>,
        /// Days the first token lasts
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
    /// List operator accounts.
    List,
    /// Disable an account: its console sessions and API tokens stop working at once.
    Disable {
        /// Account name
        name: String,
    },
    #[command(flatten)]
    Web(cards::AccountCmd),
}

#[derive(Subcommand, Debug)]
pub(crate) enum TokenCmd {
    /// Make an API token for an account (its role and organisations), written to a file.
    Create {
        /// Account name
        account: String,
        /// Write the token here (mode 0600); without it the token is printed once
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
        /// Days it lasts (at most 366)
        #[arg(long, default_value_t = 90)]
        days: i64,
        /// A note to recognise it by (where it is used)
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        /// Only this account's
        #[arg(long)]
        account: Option<String>,
    },
    /// Revoke a token by its id (from the list): refused at once on every node.
    Revoke {
        /// Token id
        id: String,
    },
}

/// Writes a secret to `path`, readable by its owner only.
fn write_secret(path: &Path, secret: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write the token to {}", path.display()))?;
    f.write_all(format!("{secret}\n").as_bytes())?;
    Ok(())
}

#[derive(Serialize)]
struct Done<'a> {
    name: &'a str,
    done: &'a str,
}

pub(crate) async fn account(c: &Client, cmd: AccountCmd, json_out: bool) -> Result<()> {
    match cmd {
        AccountCmd::Create { name, role, orgs, display_name, password_file, uid, token_out, days } => {
            let password = match password_file {
                Some(f) => Some(
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("cannot read the password file {}", f.display()))?
                        .trim_end_matches(['\n', '\r'])
                        .to_string(),
                ),
                None => std::env::var("CARECERT_ACCOUNT_PASSWORD").ok(),
            };
            let body = api::NewOperatorBody {
                name,
                display_name,
                role,
                organisations: orgs,
                password,
                uid,
                token_days: token_out.is_some().then_some(days),
            };
            let mut v = c.create_operator(&body).await.answer()?;
            if let (Some(path), Some(t)) = (&token_out, v.token.as_mut()) {
                write_secret(path, &t.token)?;
                t.token = format!("(written to {})", path.display());
            }
            print(json_out, &v, |v| {
                let a = &v.account;
                let mut t = format!("Created {} account {}", a.role, a.name);
                if !a.organisations.is_empty() {
                    t.push_str(&format!(" for {}", a.organisations.join(", ")));
                }
                if let Some(tok) = &v.token {
                    t.push_str(&format!("\nToken {} {} (expires {})", tok.id, tok.token, date(tok.expires_at)));
                }
                if let Some(uri) = &v.totp_uri {
                    t.push_str(&format!(
                        "\nSecond factor (shown once): add to the person's authenticator app:\n  {uri}"
                    ));
                }
                t
            });
        }
        AccountCmd::List => {
            let v = c.operators().await.answer()?;
            print(json_out, &v, |v| {
                v.iter()
                    .map(|a| {
                        format!(
                            "{:<20} {:<13} {:<24} {}",
                            a.name,
                            a.role.as_str(),
                            if a.organisations.is_empty() { "*".to_string() } else { a.organisations.join(",") },
                            if a.disabled_at.is_some() {
                                format!("disabled {}", date(a.disabled_at))
                            } else {
                                "enabled".into()
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        AccountCmd::Disable { name } => {
            c.disable_operator(&name).await.answer()?;
            print(json_out, &Done { name: &name, done: "disabled" }, |_| {
                format!("Account {name} disabled: its sessions and tokens no longer work.")
            });
        }
        AccountCmd::Web(cmd) => cards::account(c, cmd, json_out).await?,
    }
    Ok(())
}

pub(crate) async fn token(c: &Client, cmd: TokenCmd, json_out: bool) -> Result<()> {
    match cmd {
        TokenCmd::Create { account, out, days, label } => {
            let body = api::NewTokenBody { account: account.clone(), days: Some(days), label: Some(label) };
            let mut v = c.create_token(&body).await.answer()?;
            if let Some(path) = &out {
                write_secret(path, &v.token)?;
                v.token = format!("(written to {})", path.display());
            }
            print(json_out, &v, |v| {
                format!("Token {} for {account}: {} (expires {})", v.id, v.token, date(v.expires_at))
            });
        }
        TokenCmd::List { account } => {
            let v = c.tokens(&api::TokenQuery { account }).await.answer()?;
            print(json_out, &v, |v| {
                v.iter()
                    .map(|t| {
                        let state = if t.revoked_at.is_some() {
                            format!("revoked {}", date(t.revoked_at))
                        } else if t.used_at.is_some() {
                            "used".to_string()
                        } else {
                            format!("expires {}", date(t.expires_at))
                        };
                        format!(
                            "{}  {:<20} {:<13} {:<26} {}",
                            t.id,
                            t.account.as_deref().unwrap_or("(bootstrap)"),
                            t.role.as_str(),
                            state,
                            t.label
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        TokenCmd::Revoke { id } => {
            c.revoke_token(&id).await.answer()?;
            print(json_out, &Done { name: &id, done: "revoked" }, |_| {
                format!("Token {id} revoked: refused from now on, on every node.")
            });
        }
    }
    Ok(())
}

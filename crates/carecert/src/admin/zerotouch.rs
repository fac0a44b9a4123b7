//! Issue 11 (zero touch): withdrawing a CA from the trust feed, and where an organisation's
//! expiry reminders go.

use anyhow::Result;
use clap::Subcommand;
use client::Client;

use super::output::{Answer, print};

/// `carecert admin trust …`.
#[derive(Subcommand, Debug)]
pub(super) enum TrustCmd {
    /// Withdraw a CA from the trust feed (a CA being retired): every ecmt removes it and shows why.
    Withdraw {
        /// CA name (as in `carecert admin cert list --ca NAME`), e.g. smartcards
        ca: String,
        /// Why (every ecmt shows it), e.g. "retired: replaced by systems-2027"
        #[arg(long)]
        reason: String,
    },
}

/// `carecert admin contact …`.
#[derive(Subcommand, Debug)]
pub(super) enum ContactCmd {
    /// Set where an organisation's certificate expiry reminders are emailed.
    Set {
        /// Organisation code (EPOC)
        epoc: String,
        /// Email address
        email: String,
    },
    /// Stop emailing an organisation's expiry reminders.
    Clear {
        /// Organisation code (EPOC)
        epoc: String,
    },
}

pub(super) async fn trust(c: &Client, cmd: TrustCmd, json_out: bool) -> Result<()> {
    match cmd {
        TrustCmd::Withdraw { ca, reason } => {
            let v = c.withdraw_trust(&ca, &api::WithdrawTrustBody { reason }).await.answer()?;
            print(json_out, &v, |v| {
                format!(
                    "Withdrew CA {} from the trust feed (entry {}): every ecmt removes it at its next update check",
                    v.name, v.seq
                )
            });
        }
    }
    Ok(())
}

pub(super) async fn contact(c: &Client, cmd: ContactCmd, json_out: bool) -> Result<()> {
    let (epoc, email) = match cmd {
        ContactCmd::Set { epoc, email } => (epoc, Some(email)),
        ContactCmd::Clear { epoc } => (epoc, None),
    };
    let v = c.set_org_contact(&epoc, &api::OrgContactBody { email }).await.answer()?;
    print(json_out, &v, |v| match &v.email {
        Some(e) => format!("Expiry reminders for {} go to {e}", v.epoc),
        None => format!("Expiry reminders for {} are not emailed", v.epoc),
    });
    Ok(())
}

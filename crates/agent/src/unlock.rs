//! `carecert-agent card unlock`: a locked card gets a new passcode, after a one-time code
//! (email, text, voice), a sponsor's card in a second reader, or the RA (identity checked).

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use serde_json::json;
use token::CardKeyRole;

use crate::{Agent, new_passcode, secret};

/// How the card is unlocked (`--via`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Via {
    /// A one-time code by email.
    Email,
    /// A one-time code by text message.
    Sms,
    /// A one-time code by a text-to-voice call.
    Voice,
    /// A sponsor's card in a second reader.
    Sponsor,
    /// At the RA, identity checked, with the RA's admin token.
    Ra,
}

impl Via {
    /// The channel of a one-time code, if this is one.
    fn channel(self) -> Option<api::Channel> {
        match self {
            Via::Email => Some(api::Channel::Email),
            Via::Sms => Some(api::Channel::Sms),
            Via::Voice => Some(api::Channel::Voice),
            Via::Sponsor | Via::Ra => None,
        }
    }
}

/// The unlock command's arguments.
pub(crate) struct UnlockArgs {
    pub(crate) via: Option<Via>,
    pub(crate) code: Option<String>,
    pub(crate) new_passcode_file: Option<PathBuf>,
    pub(crate) sponsor_card: Option<String>,
    pub(crate) sponsor_passcode_file: Option<PathBuf>,
    pub(crate) documents: Option<String>,
    pub(crate) admin_token: Option<String>,
}

/// Sends a code (then returns: the person runs the command again with `--code`), or
/// unlocks and sets the new passcode with the SO PIN carecert releases.
pub(crate) async fn unlock(agent: &Agent, a: UnlockArgs) -> Result<()> {
    let module = agent.module()?;
    let card = agent.open_card(&module)?;
    let serial = card.info().serial.clone();
    if a.code.is_none()
        && let Some(channel) = a.via.and_then(Via::channel)
    {
        let sent = agent.client.send_unlock_code(&serial, channel).await?;
        agent.say(json!({"sent_to": sent.sent_to}), || {
            format!("A one-time code was sent to {}. It is valid for 10 minutes: run `carecert-agent card unlock --code CODE`", sent.sent_to)
        });
        return Ok(());
    }
    let unlocked = match (a.via, a.code) {
        (_, Some(code)) => agent.client.unlock_with_code(&serial, &code).await?,
        (Some(Via::Sponsor), None) => {
            let sponsor_serial = a
                .sponsor_card
                .ok_or_else(|| anyhow!("name the sponsor's card with --sponsor-card SERIAL (second reader)"))?;
            let sponsor = module.card(&sponsor_serial)?;
            let pass = secret(a.sponsor_passcode_file.as_ref(), "CARECERT_SPONSOR_PASSCODE", "Sponsor's passcode: ")?;
            sponsor.login(&pass).map_err(|e| anyhow!("the sponsor's card: {e}"))?;
            let ch = agent.client.sponsor_challenge(&serial).await?;
            let sig = sponsor.sign(CardKeyRole::Auth, false, ch.nonce.as_bytes())?;
            let cert = sponsor
                .certificate(CardKeyRole::Auth, false)?
                .ok_or_else(|| anyhow!("the sponsor's card holds no certificate"))?;
            agent
                .client
                .sponsor_unlock(
                    &serial,
                    &api::SponsorUnlockBody {
                        nonce: ch.nonce,
                        sponsor_certificate: pki::cert::to_pem("CERTIFICATE", &cert),
                        signature: base64::engine::general_purpose::STANDARD.encode(sig),
                    },
                )
                .await?
        }
        (Some(Via::Ra), None) => {
            let token = a.admin_token.ok_or_else(|| {
                anyhow!("an RA unlock needs the RA's admin token (--admin-token-file FILE or CARECERT_ADMIN_TOKEN)")
            })?;
            let documents =
                a.documents.ok_or_else(|| anyhow!("record the identity documents checked (--documents)"))?;
            agent
                .client
                .with_bearer(&token)
                .ra_unlock(&serial, &api::IdentityCheckBody { documents, agent_version: None })
                .await?
        }
        _ => bail!(
            "say how to unlock: --via email|sms|voice (then --code), --via sponsor --sponsor-card SERIAL, or --via ra"
        ),
    };
    let new = new_passcode(a.new_passcode_file.as_ref())?;
    card.login_so(&unlocked.so_pin)?;
    card.set_passcode_as_so(&new)?;
    // The released SO PIN has been seen (an RA page, this workstation, a sponsor): replace it
    // with a fresh random one, stored sealed by carecert first, then set on the card. If the
    // card refuses, carecert is told the old one again, so the two always agree.
    if let Some(ticket) = &unlocked.so_pin_ticket {
        let fresh = hex::encode(pki::random_bytes::<12>()?);
        let server = agent.client.with_bearer(ticket);
        server.replace_so_pin(&serial, &api::NewSoPinBody { so_pin: fresh.clone() }).await?;
        if let Err(e) = card.change_so_pin(&unlocked.so_pin, &fresh) {
            server.replace_so_pin(&serial, &api::NewSoPinBody { so_pin: unlocked.so_pin.clone() }).await?;
            eprintln!("note: the card kept its SO PIN ({e}); carecert still holds it");
        }
    }
    card.logout();
    agent.say(json!({"unlocked": serial}), || format!("Card {serial} is unlocked and has its new passcode."));
    Ok(())
}

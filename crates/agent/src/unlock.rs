//! `carecert-agent card unlock`: a locked card gets a new passcode, after a one-time code
//! (email, text, voice), a sponsor's card in a second reader, or the RA (identity checked).

use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use serde_json::json;
use token::{Card, CardKeyRole};

use crate::Agent;
use crate::pinentry::Asker;

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
    pub(crate) sponsor_card: Option<String>,
    pub(crate) documents: Option<String>,
    pub(crate) admin_token: Option<String>,
}

/// Sends a code (then returns: the person runs the command again with `--code`), or
/// unlocks and sets the new passcode with the SO PIN carecert releases. The new passcode
/// is asked before carecert is (a Cancel leaves the code unused and the card locked).
pub(crate) async fn unlock(agent: &Agent, a: UnlockArgs, ask: &Asker) -> Result<()> {
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
    match (a.via, a.code) {
        (_, Some(code)) => crate::tasks::unlock_with_code(agent, &card, &code, ask).await?,
        (Some(Via::Sponsor), None) => {
            let sponsor_serial = a
                .sponsor_card
                .ok_or_else(|| anyhow!("name the sponsor's card with --sponsor-card SERIAL (second reader)"))?;
            crate::tasks::sponsor_unlock(agent, &module, &card, &sponsor_serial, ask).await?
        }
        (Some(Via::Ra), None) => {
            let token = a.admin_token.ok_or_else(|| {
                anyhow!("an RA unlock needs the RA's admin token (--admin-token-file FILE or CARECERT_ADMIN_TOKEN)")
            })?;
            let documents =
                a.documents.ok_or_else(|| anyhow!("record the identity documents checked (--documents)"))?;
            let new = ask.new_passcode(&agent.describe(&card), "Unlock this smartcard: choose its new passcode.")?;
            let unlocked = agent
                .client
                .with_bearer(&token)
                .ra_unlock(&serial, &api::IdentityCheckBody { documents, agent_version: None })
                .await?;
            finish(agent, &card, &unlocked, &new).await?
        }
        _ => bail!(
            "say how to unlock: --via email|sms|voice (then --code), --via sponsor --sponsor-card SERIAL, or --via ra"
        ),
    };
    agent.say(json!({"unlocked": serial}), || format!("Card {serial} is unlocked and has its new passcode."));
    Ok(())
}

/// The sponsor's card (logged in) signs carecert's challenge for `serial`: carecert
/// releases that card's SO PIN.
pub(crate) async fn sponsor_release(agent: &Agent, sponsor: &Card, serial: &str) -> Result<api::UnlockedView> {
    let ch = agent.client.sponsor_challenge(serial).await?;
    let sig = sponsor.sign(CardKeyRole::Auth, false, ch.nonce.as_bytes())?;
    let cert = sponsor
        .certificate(CardKeyRole::Auth, false)?
        .ok_or_else(|| anyhow!("the sponsor's card holds no certificate"))?;
    Ok(agent
        .client
        .sponsor_unlock(
            serial,
            &api::SponsorUnlockBody {
                nonce: ch.nonce,
                sponsor_certificate: pki::cert::to_pem("CERTIFICATE", &cert),
                signature: base64::engine::general_purpose::STANDARD.encode(sig),
            },
        )
        .await?)
}

/// With the released SO PIN: sets the new passcode (which resets the card's counter), then
/// replaces the SO PIN.
pub(crate) async fn finish(agent: &Agent, card: &Card, unlocked: &api::UnlockedView, new: &str) -> Result<()> {
    let serial = card.info().serial.clone();
    card.login_so(&unlocked.so_pin)?;
    card.set_passcode_as_so(new)?;
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
    agent.forget_tries(&serial);
    Ok(())
}

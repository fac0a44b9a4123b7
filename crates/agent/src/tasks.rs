//! The card tasks both the commands and the local API's jobs run: change the passcode,
//! unlock with a one-time code or a sponsor's card, issue a blank card at the RA desk.
//! (Renewal is `renew.rs`.) Each asks its passcodes through an [`Asker`] — before anything
//! is changed, so Cancel changes nothing — and reports its steps to a [`Progress`].
//!
//! Tasks never print a passcode; they return what the caller shows.

use anyhow::{Result, anyhow};
use token::{Card, CardKeyRole, Module};

use crate::jobs::Progress;
use crate::pinentry::{Asker, CardDesc};
use crate::{Agent, VERSION, subject_of};

/// A refusal decided by the agent (before the card or the server is asked), with the code
/// the local API answers (`locked`, `wrong_passcode`, `card_cancelled`, …).
#[derive(Debug)]
pub(crate) struct Refusal {
    /// The stable code.
    pub(crate) code: &'static str,
    /// What happened and what to do.
    pub(crate) message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// Marks a failure after the card was changed (e.g. initialised but not issued).
#[derive(Debug)]
pub(crate) struct CardChanged(pub(crate) String);

impl std::fmt::Display for CardChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CardChanged {}

/// The holder's name: the common name of a certificate's subject.
pub(crate) fn holder_of(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, c) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let cn = c.subject().iter_common_name().next()?.as_str().ok()?.to_string();
    Some(cn)
}

impl Agent {
    /// What a dialog about `card` says: serial, label, the holder (from the card's own
    /// authentication certificate) and the tries left when this agent has heard them.
    pub(crate) fn describe(&self, card: &Card) -> CardDesc {
        let info = card.info();
        let holder = card.certificate(CardKeyRole::Auth, false).ok().flatten().and_then(|d| holder_of(&d));
        CardDesc {
            serial: info.serial.clone(),
            label: info.label.clone(),
            holder,
            tries_left: self.tries_left(&info.serial),
        }
    }
}

/// Logs in (the passcode asked once), then asks the new passcode twice and lets the card
/// change it.
pub(crate) async fn change_passcode(agent: &Agent, card: &Card, ask: &Asker) -> Result<()> {
    let logged_in = agent.login(card, ask).await?;
    let desc = agent.describe(card);
    let new = ask.new_passcode(&desc, "Change the passcode of your smartcard.")?;
    card.change_passcode(&logged_in.passcode, &new)?;
    card.logout();
    Ok(())
}

/// Unlocks `card` with the one-time code the holder received: the new passcode is asked
/// first (Cancel: the code is not used), then carecert releases the SO PIN for the code.
pub(crate) async fn unlock_with_code(agent: &Agent, card: &Card, code: &str, ask: &Asker) -> Result<()> {
    let desc = agent.describe(card);
    let new = ask.new_passcode(&desc, "Unlock your smartcard: choose its new passcode.")?;
    let unlocked = agent.client.unlock_with_code(&card.info().serial, code).await?;
    crate::unlock::finish(agent, card, &unlocked, &new).await
}

/// Unlocks `card` with the sponsor's card `sponsor_serial` in a second reader: the
/// sponsor's passcode, then the holder's new passcode twice, then carecert checks the
/// sponsor's signature and releases the SO PIN.
pub(crate) async fn sponsor_unlock(
    agent: &Agent,
    module: &Module,
    card: &Card,
    sponsor_serial: &str,
    ask: &Asker,
) -> Result<()> {
    let sponsor = module.card(sponsor_serial)?;
    let sponsor_desc = agent.describe(&sponsor);
    let pass = ask.sponsor(&sponsor_desc, None)?;
    sponsor.login(&pass).map_err(|e| anyhow!("the sponsor's card: {e}"))?;
    let desc = agent.describe(card);
    let new = ask.new_passcode(&desc, "Unlock this smartcard: its holder chooses the new passcode.")?;
    let unlocked = crate::unlock::sponsor_release(agent, &sponsor, &card.info().serial).await?;
    sponsor.logout();
    crate::unlock::finish(agent, card, &unlocked, &new).await
}

/// What the RA desk enters for a new card.
pub(crate) struct IssueArgs {
    /// The holder's UID.
    pub(crate) uid: String,
    /// The identity documents checked.
    pub(crate) documents: String,
    /// The card batch.
    pub(crate) batch: String,
    /// The label written on the card.
    pub(crate) label: String,
}

/// A card issued: its serial and its two certificates' serials.
pub(crate) struct Issued {
    /// The card.
    pub(crate) card: String,
    /// The authentication certificate.
    pub(crate) auth: String,
    /// The signing certificate.
    pub(crate) sign: String,
}

/// Issues the blank card in the reader to `a.uid` with the RA's credential `token` (admin
/// token, or the desk ticket of the RA console): the holder's first passcode (twice), then
/// the card is initialised, two key pairs made on it, certified by carecert and written.
pub(crate) async fn issue(
    agent: &Agent,
    module: &Module,
    token: &str,
    a: IssueArgs,
    ask: &Asker,
    progress: &Progress,
) -> Result<Issued> {
    let desc = CardDesc {
        serial: "(blank card)".into(),
        label: a.label.clone(),
        holder: Some(format!("UID {}", a.uid)),
        tries_left: None,
    };
    module.blank_slot()?;
    let passcode = ask.new_passcode(&desc, "A new smartcard: its holder chooses the first passcode.")?;
    progress.check()?;
    progress.step("creating");
    let so_pin = hex::encode(pki::random_bytes::<12>()?);
    let serial = module.init_blank(&so_pin, &a.label)?;
    let changed = |e: anyhow::Error| {
        e.context(CardChanged(format!(
            "card {serial} was initialised but not issued: issue it again (it is blank to carecert)"
        )))
    };
    let result = async {
        let card = module.card(&serial)?;
        card.login_so(&so_pin)?;
        card.set_passcode_as_so(&passcode)?;
        card.logout();
        card.login(&passcode)?;
        let mut csrs = Vec::new();
        for role in CardKeyRole::BOTH {
            progress.certificate(role_name(role), "Pending");
            card.generate_key_pair(role, false)?;
            csrs.push(pki::cert::to_pem("CERTIFICATE REQUEST", &card.csr(role, false, &format!("UID {}", a.uid))?));
        }
        let issued = agent
            .client
            .with_bearer(token)
            .issue_card(&api::IssueCardBody {
                uid: a.uid.clone(),
                card_serial: serial.clone(),
                batch: a.batch,
                documents: a.documents,
                so_pin,
                auth_csr: csrs[0].clone(),
                sign_csr: csrs[1].clone(),
                agent_version: VERSION.into(),
            })
            .await?;
        for (role, c) in [(CardKeyRole::Auth, &issued.auth), (CardKeyRole::Sign, &issued.sign)] {
            progress.certificate(role_name(role), "Writing");
            let (_, der) = pki::CertificateInfo::parse_pem_or_der(c.certificate_pem.as_bytes())?;
            card.write_certificate(role, false, &der, &subject_of(&der)?)?;
            progress.certificate(role_name(role), "Done");
        }
        card.logout();
        Ok::<_, anyhow::Error>(Issued { card: serial.clone(), auth: issued.auth.serial, sign: issued.sign.serial })
    }
    .await;
    result.map_err(changed)
}

/// `authentication` or `signing`: the certificate's name in progress events.
pub(crate) fn role_name(role: CardKeyRole) -> &'static str {
    match role {
        CardKeyRole::Auth => "authentication",
        CardKeyRole::Sign => "signing",
    }
}

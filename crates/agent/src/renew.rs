//! Renewal of both certificates on the card (`carecert-agent card renew`, and the local
//! API's `renew` job), with the attempt noted so that an interrupted renewal is aborted
//! (and its certificates revoked) later.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, anyhow};
use token::{Card, CardKeyRole};

use crate::jobs::Progress;
use crate::pinentry::Asker;
use crate::session::{RenewalNote, state_file, write_note};
use crate::tasks::role_name;
use crate::{Agent, VERSION, subject_of};

/// Who renews: the holder remotely (card session), or the RA face to face.
pub(crate) enum Renewer {
    /// The holder, with the card's passcode.
    Holder,
    /// The RA: its admin token and the identity documents checked.
    Ra {
        /// The RA officer's token.
        admin_token: String,
        /// The documents checked.
        documents: String,
    },
    /// The RA face to face, driven from the RA console: the renewal desk ticket the console
    /// minted for the identity check of this card (one renewal, 10 minutes).
    Desk {
        /// The desk ticket (`desk-…`).
        ticket: String,
        /// The documents checked (as the ticket recorded them).
        documents: String,
    },
}

/// Renews both certificates of `card`: the passcode (asked again), the attempt started on
/// carecert, then each certificate Pending → Writing → Done (with a pause for "Next"
/// between the two when `pause_between`), then completed and promoted. On any failure the
/// pending objects are discarded and the attempt aborted: the card keeps its certificates.
pub(crate) async fn renew(
    agent: &Agent,
    card: &Card,
    ask: &Asker,
    who: Renewer,
    progress: &Progress,
    pause_between: bool,
) -> Result<api::CardStatusView> {
    let serial = card.info().serial.clone();
    agent.abort_interrupted(&serial).await;
    let state = state_file(&serial);
    let (renewal, token) = match who {
        Renewer::Ra { admin_token, documents } => {
            let view = agent.client.with_bearer(&admin_token).card(&serial).await?;
            let pass = ask.current(&agent.describe(card), None)?;
            card.login(&pass)?;
            agent.reconcile(card, &view)?;
            let r = agent
                .client
                .with_bearer(&admin_token)
                .ra_renewal(&serial, &api::IdentityCheckBody { documents, agent_version: Some(VERSION.into()) })
                .await?;
            let t = r.token.clone().ok_or_else(|| anyhow!("the server sent no renewal token"))?;
            (r, t)
        }
        Renewer::Desk { ticket, documents } => {
            // The ticket cannot read the card's status: whatever an earlier attempt left
            // pending is discarded (this renewal replaces both certificates anyway).
            let pass = ask.current(&agent.describe(card), None)?;
            card.login(&pass)?;
            if card.discard_pending()? > 0 {
                eprintln!("note: removed what an interrupted renewal left on the card");
            }
            progress.check()?;
            let r = agent
                .client
                .with_bearer(&ticket)
                .ra_renewal(&serial, &api::IdentityCheckBody { documents, agent_version: Some(VERSION.into()) })
                .await?;
            let t = r.token.clone().ok_or_else(|| anyhow!("the server sent no renewal token"))?;
            (r, t)
        }
        Renewer::Holder => {
            let s = agent.login(card, ask).await?.session;
            progress.check()?;
            let r = agent
                .client
                .with_bearer(&s.token)
                .start_renewal(&serial, &api::StartRenewalBody { agent_version: VERSION.into() })
                .await?;
            (r, s.token)
        }
    };
    let id = renewal.renewal_id;
    let note = RenewalNote { renewal_id: id, token: token.clone() };
    if let Err(e) = write_note(&state, &serde_json::to_string(&note)?) {
        eprintln!(
            "note: cannot keep the renewal note {} ({e}); an interruption would not be cleaned up",
            state.display()
        );
    }
    match renew_steps(agent, card, id, &token, progress, pause_between).await {
        Ok(view) => {
            let _ = std::fs::remove_file(&state);
            Ok(view)
        }
        Err(e) => {
            let _ = card.discard_pending();
            agent.abort_attempt(id, &token, &format!("{e:#}"), &state).await;
            Err(e.context("the renewal was aborted: the card keeps its current certificates; try again"))
        }
    }
}

/// Both certificates, one after the other: a new key and CSR on the card (pending), the
/// certificate from carecert, written beside the current one; then complete and promote.
///
/// Test hooks (the end-to-end tests use them through the real binary):
/// `CARECERT_AGENT_TEST_EXIT_AFTER=auth|sign` exits with code 9 after that certificate;
/// `CARECERT_AGENT_TEST_PAUSE_AFTER=auth|sign` with `CARECERT_AGENT_TEST_RESUME_FILE=F`
/// writes `F.waiting` and waits (up to a minute) until `F` exists.
async fn renew_steps(
    agent: &Agent,
    card: &Card,
    id: i64,
    token: &str,
    progress: &Progress,
    pause_between: bool,
) -> Result<api::CardStatusView> {
    let session = agent.client.with_bearer(token);
    let fail_after = std::env::var("CARECERT_AGENT_TEST_EXIT_AFTER").ok();
    progress.step("creating");
    for role in CardKeyRole::BOTH {
        let key = if role == CardKeyRole::Auth { api::KeyRole::Auth } else { api::KeyRole::Sign };
        let name = role_name(role);
        if role == CardKeyRole::Sign && pause_between {
            progress.wait_next().await?;
        }
        progress.check()?;
        progress.certificate(name, "Pending");
        card.generate_key_pair(role, true)?;
        let csr = pki::cert::to_pem("CERTIFICATE REQUEST", &card.csr(role, true, "renewal")?);
        progress.certificate(name, "Writing");
        let c = session.renew_certificate(id, &api::RenewCertificateBody { role: key, csr }).await?;
        let (_, der) = pki::CertificateInfo::parse_pem_or_der(c.certificate_pem.as_bytes())?;
        card.write_certificate(role, true, &der, &subject_of(&der)?)?;
        progress.certificate(name, "Done");
        if fail_after.as_deref() == Some(key.as_str()) {
            // Fault injection for tests: the agent "dies" between the two certificates.
            std::process::exit(9);
        }
        if let (Ok(at), Ok(resume)) =
            (std::env::var("CARECERT_AGENT_TEST_PAUSE_AFTER"), std::env::var("CARECERT_AGENT_TEST_RESUME_FILE"))
            && at == key.as_str()
        {
            // Fault injection for tests: wait here (the test pulls the card or stops the
            // server), then go on.
            let resume = PathBuf::from(resume);
            let _ = std::fs::write(resume.with_extension("waiting"), b"");
            for _ in 0..1200 {
                if resume.exists() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    progress.check()?;
    let view = session.complete_renewal(id).await?;
    for role in CardKeyRole::BOTH {
        card.promote_pending(role)?;
    }
    Ok(view)
}

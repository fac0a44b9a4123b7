//! `carecert-agent card renew`: both certificates renewed on the card, with the attempt
//! noted so that an interrupted renewal is aborted (and its certificates revoked) later.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, anyhow};
use serde_json::json;
use token::{Card, CardKeyRole};

use crate::session::{RenewalNote, state_file, write_note};
use crate::{Agent, PasscodeArgs, VERSION, secret, subject_of, tty};

/// `carecert-agent card renew`: a remote renewal (card session), or an RA renewal (admin
/// token, identity checked).
pub(crate) async fn renew(
    agent: &Agent,
    passcode: &PasscodeArgs,
    ra: bool,
    documents: Option<String>,
    admin_token: Option<String>,
) -> Result<()> {
    let module = agent.module()?;
    let card = agent.open_card(&module)?;
    let serial = card.info().serial.clone();
    agent.abort_interrupted(&serial).await;
    let state = state_file(&serial);
    let (renewal, token) = if ra {
        let admin = admin_token.ok_or_else(|| {
            anyhow!("an RA renewal needs the RA's admin token (--admin-token-file FILE or CARECERT_ADMIN_TOKEN)")
        })?;
        let documents = documents.ok_or_else(|| anyhow!("record the identity documents checked (--documents)"))?;
        let view = agent.client.with_bearer(&admin).card(&serial).await?;
        let pass = secret(passcode.passcode_file.as_ref(), "CARECERT_PASSCODE", "Card passcode: ")?;
        card.login(&pass)?;
        agent.reconcile(&card, &view)?;
        let r = agent
            .client
            .with_bearer(&admin)
            .ra_renewal(&serial, &api::IdentityCheckBody { documents, agent_version: Some(VERSION.into()) })
            .await?;
        let t = r.token.clone().ok_or_else(|| anyhow!("the server sent no renewal token"))?;
        (r, t)
    } else {
        let s = agent.login(&card, passcode).await?;
        let r = agent
            .client
            .with_bearer(&s.token)
            .start_renewal(&serial, &api::StartRenewalBody { agent_version: VERSION.into() })
            .await?;
        (r, s.token)
    };
    let id = renewal.renewal_id;
    let note = RenewalNote { renewal_id: id, token: token.clone() };
    if let Err(e) = write_note(&state, &serde_json::to_string(&note)?) {
        eprintln!(
            "note: cannot keep the renewal note {} ({e}); an interruption would not be cleaned up",
            state.display()
        );
    }
    let result = renew_steps(agent, &card, id, &token).await;
    match result {
        Ok(view) => {
            let _ = std::fs::remove_file(&state);
            agent.say(serde_json::to_value(&view)?, || format!("Card {serial} renewed. {}", view.message));
            Ok(())
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
async fn renew_steps(agent: &Agent, card: &Card, id: i64, token: &str) -> Result<api::CardStatusView> {
    let session = agent.client.with_bearer(token);
    let bar = indicatif::ProgressBar::new_spinner();
    let fail_after = std::env::var("CARECERT_AGENT_TEST_EXIT_AFTER").ok();
    for role in CardKeyRole::BOTH {
        let key = if role == CardKeyRole::Auth { api::KeyRole::Auth } else { api::KeyRole::Sign };
        let name = key.as_str();
        let step = |s: &str| {
            if agent.json {
                println!("{}", json!({"renewal": id, "certificate": name, "state": s}));
            } else if tty() {
                bar.println(format!("{name} certificate: {s}"));
            } else {
                println!("{name} certificate: {s}");
            }
        };
        step("Pending");
        card.generate_key_pair(role, true)?;
        let csr = pki::cert::to_pem("CERTIFICATE REQUEST", &card.csr(role, true, "renewal")?);
        step("Writing");
        let c = session.renew_certificate(id, &api::RenewCertificateBody { role: key, csr }).await?;
        let (_, der) = pki::CertificateInfo::parse_pem_or_der(c.certificate_pem.as_bytes())?;
        card.write_certificate(role, true, &der, &subject_of(&der)?)?;
        step("Done");
        if fail_after.as_deref() == Some(name) {
            // Fault injection for tests: the agent "dies" between the two certificates.
            std::process::exit(9);
        }
        if let (Ok(at), Ok(resume)) =
            (std::env::var("CARECERT_AGENT_TEST_PAUSE_AFTER"), std::env::var("CARECERT_AGENT_TEST_RESUME_FILE"))
            && at == name
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
    let view = session.complete_renewal(id).await?;
    for role in CardKeyRole::BOTH {
        card.promote_pending(role)?;
    }
    bar.finish_and_clear();
    Ok(view)
}

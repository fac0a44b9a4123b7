//! The card session: log in with the card (refusing a locked card before the card is
//! asked, reporting wrong passcodes), and clean up after a renewal that was interrupted
//! (the note in the state file, pending objects on the card).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use token::{Card, CardKeyRole, TokenError};

use crate::pinentry::{Asker, wrong_passcode};
use crate::tasks::Refusal;
use crate::{Agent, VERSION, serial_of};

/// A card session, and the passcode that opened it (for a passcode change right after).
pub(crate) struct LoggedIn {
    /// The session.
    pub(crate) session: api::CardSessionView,
    /// The passcode typed.
    pub(crate) passcode: String,
}

/// What the agent notes while a renewal is under way, so the next run can abort it.
#[derive(Serialize, Deserialize)]
pub(crate) struct RenewalNote {
    /// The attempt.
    pub(crate) renewal_id: i64,
    /// Its card session token.
    pub(crate) token: String,
}

/// The card's own PIN-counter flags, when it reports any (SoftHSM2 never does).
fn pin_flags(card: &Card) -> Option<api::TokenPinFlags> {
    let i = card.status().ok()?;
    let f = api::TokenPinFlags {
        count_low: i.user_pin_count_low,
        final_try: i.user_pin_final_try,
        locked: i.user_pin_locked,
    };
    (f != api::TokenPinFlags::default()).then_some(f)
}

/// Where the note of card `serial`'s renewal is kept.
pub(crate) fn state_file(serial: &str) -> PathBuf {
    dirs::state_dir()
        .or_else(dirs::data_dir)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("carecert-agent")
        .join(format!("renewal-{serial}.json"))
}

/// Writes the renewal note (it holds the session token) readable by this user only: the file
/// 0600 in a 0700 directory, made so from the start (no window with the umask's modes). The
/// note is removed when the renewal completes or is aborted.
pub(crate) fn write_note(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())
}

impl Agent {
    /// Logs in to the card and to carecert: refuses a locked card first (the card is not
    /// asked); asks the passcode (the dialog names the card, holder and tries left); on a
    /// wrong passcode reports it with a fresh challenge (and the card's own PIN flags) and,
    /// in a dialog, asks again showing the failure, until the right one, Cancel or the lock;
    /// on the right one signs a challenge with the card's authentication key and opens a
    /// card session, sending the PIN flags the card had before. Leftovers of an interrupted
    /// renewal are then cleaned up (or, when carecert had completed it, the pending key is
    /// the one carecert knows: the challenge is signed again with it and the pending objects
    /// promoted).
    pub(crate) async fn login(&self, card: &Card, ask: &Asker) -> Result<LoggedIn> {
        let serial = card.info().serial.clone();
        self.abort_interrupted(&serial).await;
        let state = self.client.card_status(&serial).await?;
        match state.status {
            api::CardStatus::Locked => bail!(Refusal { code: "locked", message: state.message }),
            api::CardStatus::Cancelled => bail!(Refusal { code: "card_cancelled", message: state.message }),
            _ => {}
        }
        let before = pin_flags(card);
        let mut desc = self.describe(card);
        let mut error: Option<String> = None;
        let mut tries = 0;
        // After a wrong passcode on a workstation that is not enrolled, carecert slows the
        // next challenge down: wait out what it said (the person typed meanwhile).
        let mut not_before = tokio::time::Instant::now();
        let pass = loop {
            let pass = ask.current(&desc, error.as_deref())?;
            match card.login(&pass) {
                Ok(()) => break pass,
                Err(TokenError::WrongPasscode) | Err(TokenError::Locked) => {
                    let ch = self.challenge(&serial, not_before).await?;
                    let body = api::PasscodeFailureBody { nonce: ch.nonce, token_flags: pin_flags(card) };
                    let f = self.client.passcode_failed(&serial, &body).await?;
                    if let Some(t) = f.tries_left {
                        self.remember_tries(&serial, t);
                    }
                    if let Some(wait) = f.retry_after_seconds {
                        not_before = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
                    }
                    tries += 1;
                    if f.locked || !ask.can_retry() || tries >= 10 {
                        let code = if f.locked { "locked" } else { "wrong_passcode" };
                        bail!(Refusal { code, message: f.message });
                    }
                    desc.tries_left = f.tries_left;
                    error = Some(wrong_passcode(f.tries_left));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let ch = self.challenge(&serial, not_before).await?;
        let sr: &str = &serial;
        let open = |nonce: String, pending: bool| async move {
            let sig = card.sign(CardKeyRole::Auth, pending, nonce.as_bytes())?;
            let body = api::CardLoginBody {
                nonce,
                signature: base64::engine::general_purpose::STANDARD.encode(sig),
                agent_version: VERSION.into(),
                token_flags: before,
            };
            Ok::<_, anyhow::Error>(self.client.open_card_session(sr, &body).await)
        };
        let s = match open(ch.nonce, false).await? {
            Err(e)
                if e.code() == Some("card_signature")
                    && card.certificate(CardKeyRole::Auth, true).ok().flatten().is_some() =>
            {
                // carecert completed a renewal whose new key is still pending on the card.
                let ch = self.client.login_challenge(&serial).await?;
                open(ch.nonce, true).await??
            }
            other => other?,
        };
        self.remember_tries(&serial, s.card.tries_left);
        self.reconcile(card, &s.card)?;
        Ok(LoggedIn { session: s, passcode: pass })
    }

    /// A login challenge, not before `not_before`; a slow-down answer (`too_many_requests`)
    /// is waited out a few times.
    async fn challenge(&self, serial: &str, not_before: tokio::time::Instant) -> Result<api::ChallengeView> {
        tokio::time::sleep_until(not_before).await;
        let mut waits = 0;
        loop {
            match self.client.login_challenge(serial).await {
                Err(e) if e.code() == Some("too_many_requests") && waits < 5 => {
                    waits += 1;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                other => return Ok(other?),
            }
        }
    }

    /// The tries left this agent last heard for card `serial`.
    pub(crate) fn tries_left(&self, serial: &str) -> Option<i64> {
        self.tries.lock().ok().and_then(|m| m.get(serial).copied())
    }

    pub(crate) fn remember_tries(&self, serial: &str, tries: i64) {
        if let Ok(mut m) = self.tries.lock() {
            m.insert(serial.to_string(), tries);
        }
    }

    /// After an unlock: the count is full again, but let the server say so next time.
    pub(crate) fn forget_tries(&self, serial: &str) {
        if let Ok(mut m) = self.tries.lock() {
            m.remove(serial);
        }
    }

    /// A renewal this agent left open (it was killed): abort it, so carecert revokes what
    /// it issued.
    pub(crate) async fn abort_interrupted(&self, serial: &str) {
        let state = state_file(serial);
        if let Ok(text) = std::fs::read_to_string(&state)
            && let Ok(note) = serde_json::from_str::<RenewalNote>(&text)
        {
            self.abort_attempt(note.renewal_id, &note.token, "the agent stopped during the renewal", &state).await;
        }
    }

    /// Tells carecert to abort renewal `id` (it revokes what the attempt issued). The note
    /// in `state` is forgotten once the server answered — a refusal means the attempt ended
    /// anyway, and a stale attempt is also aborted when the next one starts — and kept while
    /// the server cannot be reached, so the next run tells it.
    pub(crate) async fn abort_attempt(&self, id: i64, token: &str, reason: &str, state: &Path) {
        let r = self.client.with_bearer(token).abort_renewal(id, reason).await;
        if !matches!(&r, Err(e) if e.is_unreachable()) {
            let _ = std::fs::remove_file(state);
        }
    }

    /// Pending objects left by an interrupted renewal: promoted if carecert already
    /// completed that renewal (its current serials are the pending ones), else removed.
    pub(crate) fn reconcile(&self, card: &Card, view: &api::CardStatusView) -> Result<()> {
        let pending_auth = card.certificate(CardKeyRole::Auth, true).ok().flatten();
        let pending_sign = card.certificate(CardKeyRole::Sign, true).ok().flatten();
        let completed =
            pending_auth.as_deref().and_then(serial_of).is_some_and(|s| Some(&s) == view.auth_serial.as_ref())
                && pending_sign.as_deref().and_then(serial_of).is_some_and(|s| Some(&s) == view.sign_serial.as_ref());
        if completed {
            for role in CardKeyRole::BOTH {
                card.promote_pending(role)?;
            }
            eprintln!("note: finished installing a renewal that was interrupted");
        } else if card.discard_pending()? > 0 {
            eprintln!(
                "note: removed what an interrupted renewal left on the card; its certificates are revoked by carecert"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_renewal_note_is_private_to_its_user() {
        let base = std::env::temp_dir().join(format!("agent-note-{}", std::process::id()));
        let path = base.join("carecert-agent").join("renewal-X.json");
        super::write_note(&path, "{\"token\":\"secret\"}").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // Rewritten over a file someone made readable: private again.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        super::write_note(&path, "{}").unwrap();
        assert_eq!(mode(&path), 0o600);
        std::fs::remove_dir_all(&base).unwrap();
    }
}

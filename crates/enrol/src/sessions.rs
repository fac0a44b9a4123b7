//! Logon with EPOC + PIN, the lockout, sessions and logout.

use base64::Engine as _;
use store::{AttemptLimit, AttemptRule, EnrolSession, Organisation, Reservation};

use crate::EnrolError;
use crate::orgs::valid_epoc;
use crate::pin::{EnrolmentPin, decoy_hash, verify_secret};
use crate::service::{Enrolment, HashGate, sha256_hex};

/// A successful logon.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// Bearer token (only its hash is stored).
    pub token: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
    /// The organisation.
    pub organisation: Organisation,
}

/// Who a valid session belongs to.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The organisation.
    pub organisation: Organisation,
    /// The client version it logged on with.
    pub client_version: String,
}

impl Enrolment {
    /// Logon with EPOC + PIN. The answer for an unknown EPOC and for a wrong PIN is the same.
    pub async fn login(&self, epoc: &str, pin: &str, product: &str, version: &str) -> Result<LoggedIn, EnrolError> {
        let cfg = &self.inner.config;
        let verdict = self.check_client(product, version).await?;
        if verdict.update_required {
            return Err(EnrolError::ClientTooOld {
                product: product.into(),
                version: version.into(),
                minimum: verdict.minimum.unwrap_or_default(),
                download_page: verdict.latest.map(|r| r.url).unwrap_or_else(|| cfg.download_page.clone()),
            });
        }
        let failed = EnrolError::LoginFailed { max: cfg.max_failures, lock_minutes: cfg.lockout.as_secs() as i64 / 60 };
        let epoc = epoc.trim();
        let typed = EnrolmentPin::normalise(pin);
        // A turn at the Argon2 work first: a busy node answers 503 without taking a try.
        let permit = cfg.hash_gate.enter().await?;
        if !valid_epoc(epoc) || typed.is_empty() || typed.len() > 64 {
            HashGate::run(permit, move || verify_secret(&typed, decoy_hash())).await?;
            return Err(failed);
        }
        let now = self.now();
        // The try is taken before the PIN is checked (one conditional update): N concurrent
        // guesses take N tries, and none is judged once the EPOC is locked.
        let lock = cfg.lockout.as_secs() as i64;
        let rule = AttemptRule { max: cfg.max_failures, lock_seconds: lock, max_lock_seconds: lock };
        let locks_on_failure = match self.store().reserve_attempt(AttemptLimit::EpocPin, epoc, now, rule).await? {
            Reservation::Locked { until } => return Err(self.locked_out(until)),
            Reservation::Granted { locked_until, .. } => locked_until,
        };
        let org = self.store().organisation(epoc).await?;
        let pins = match &org {
            Some(_) => self.store().active_pins(epoc, now).await?,
            None => Vec::new(),
        };
        // Argon2 is slow on purpose: run it off the async workers, bounded by the gate.
        let hashes: Vec<String> = pins.iter().map(|p| p.pin_hash.clone()).collect();
        let matched = HashGate::run(permit, move || {
            if hashes.is_empty() {
                let _ = verify_secret(&typed, decoy_hash());
                return false;
            }
            hashes.iter().any(|h| verify_secret(&typed, h))
        })
        .await?;
        let Some(org) = org.filter(|_| matched) else {
            let ev = self.event(
                &format!("org:{epoc}"),
                "enrol.login_failed",
                &format!("org:{epoc}"),
                serde_json::json!({"client": format!("{product} {version}")}),
            );
            let mut events = vec![ev];
            if locks_on_failure > now {
                events.push(self.event(
                    "system",
                    "enrol.locked_out",
                    &format!("org:{epoc}"),
                    serde_json::json!({ "until": locks_on_failure }),
                ));
            }
            self.store().record(&events).await?;
            if locks_on_failure > now {
                return Err(self.locked_out(locks_on_failure));
            }
            return Err(failed);
        };
        self.require_active(&org)?;
        let raw: [u8; 32] = pki::random_bytes().map_err(|e| EnrolError::Internal(e.to_string()))?;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let expires_at = now + cfg.session_ttl.as_secs() as i64;
        let session = EnrolSession {
            epoc: org.epoc.clone(),
            client_version: format!("{product} {version}"),
            expires_at,
            ended_at: None,
        };
        let ev = self.event(
            &format!("org:{}", org.epoc),
            "enrol.login",
            &format!("org:{}", org.epoc),
            serde_json::json!({"client": session.client_version}),
        );
        self.store().create_enrol_session(&sha256_hex(token.as_bytes()), &session, now, ev).await?;
        Ok(LoggedIn { token, expires_at, organisation: org })
    }

    pub(crate) fn locked_out(&self, until: i64) -> EnrolError {
        let d = time::OffsetDateTime::from_unix_timestamp(until).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        EnrolError::LockedOut {
            until_unix: until,
            until: format!("{:04}-{:02}-{:02} {:02}:{:02}", d.year(), d.month() as u8, d.day(), d.hour(), d.minute()),
        }
    }

    /// The session behind a bearer token.
    pub async fn session(&self, token: &str) -> Result<SessionContext, EnrolError> {
        if token.is_empty() || token.len() > 128 {
            return Err(EnrolError::SessionInvalid);
        }
        let s = self.store().enrol_session(&sha256_hex(token.as_bytes())).await?.ok_or(EnrolError::SessionInvalid)?;
        if s.ended_at.is_some() || s.expires_at <= self.now() {
            return Err(EnrolError::SessionInvalid);
        }
        let org = self.organisation(&s.epoc).await?;
        self.require_active(&org)?;
        Ok(SessionContext { organisation: org, client_version: s.client_version })
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str) -> Result<(), EnrolError> {
        let ctx = self.session(token).await?;
        let epoc = ctx.organisation.epoc;
        let ev = self.event(&format!("org:{epoc}"), "enrol.logout", &format!("org:{epoc}"), serde_json::json!({}));
        self.store().end_enrol_session(&sha256_hex(token.as_bytes()), self.now(), ev).await?;
        Ok(())
    }
}

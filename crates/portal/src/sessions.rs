//! Password login, browser sessions (idle timeout, absolute lifetime), roles chosen for a
//! session, logout and the anti-CSRF check.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use store::{AttemptLimit, AttemptRule, Reservation, WebAccount};
use types::{Action, Actor, Area, Role, SessionEnd};

use crate::accounts::totp;
use crate::{HashGate, PortalError, Web, random_hex, sha};

/// The refusal while an account name is locked.
fn locked(until: i64) -> PortalError {
    let d = time::OffsetDateTime::from_unix_timestamp(until).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    PortalError::Locked {
        until_unix: until,
        until: format!("{:04}-{:02}-{:02} {:02}:{:02}", d.year(), d.month() as u8, d.day(), d.hour(), d.minute()),
    }
}

/// A session just opened.
#[derive(Debug, Clone)]
pub struct Login {
    /// Cookie value (only its hash is stored).
    pub token: String,
    /// The role chosen.
    pub role: Role,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account.
    pub account: WebAccount,
    /// The role in use.
    pub role: Role,
    /// The anti-CSRF token of this session's forms.
    pub csrf_token: String,
    /// The card the session was opened with.
    pub card_serial: Option<String>,
}

/// What the user is told when a session has ended for `reason`.
pub(crate) fn ended_message(reason: SessionEnd) -> &'static str {
    match reason {
        SessionEnd::Idle => "your session ended after a period without activity: log in again",
        SessionEnd::CardRemoved => "your session ended because the smartcard was removed: insert it and log in again",
        SessionEnd::Logout => "you have logged out",
    }
}

/// The short code of why a session ended, from [`PortalError::SessionEnded`]'s text: the
/// logged-out page says the reason (`card_removed`, `idle`, `logged_out`, `disabled`), or
/// `session_ended` when the text is not one of these.
pub fn session_end_code(e: &PortalError) -> &'static str {
    let PortalError::SessionEnded(m) = e else { return "session_ended" };
    match m.as_str() {
        m if m == ended_message(SessionEnd::CardRemoved) => "card_removed",
        m if m == ended_message(SessionEnd::Idle) => "idle",
        m if m == ended_message(SessionEnd::Logout) => "logged_out",
        m if m == DISABLED => "disabled",
        _ => "session_ended",
    }
}

/// What a user of a disabled account is told.
const DISABLED: &str = "your account has been disabled: ask an administrator";

impl Web {
    /// Password login to `area`. `role` picks one of the account's roles for the area (the
    /// first that fits when `None`).
    ///
    /// The try is taken **before** anything is verified (one conditional update per account
    /// name, so N concurrent guesses take N tries); in the RA console a wrong password, an
    /// unknown account and a right password with a wrong or replayed code get one answer;
    /// every failure is audited (a wrong code as `web.second_factor_failed`); a success
    /// clears the count.
    pub async fn password_login(
        &self,
        area: Area,
        username: &str,
        password: &str,
        second_factor: Option<&str>,
        role: Option<&str>,
    ) -> Result<Login, PortalError> {
        self.password_login_from(area, username, password, second_factor, role, None).await
    }

    /// [`Web::password_login`] from network address `source`: tries are counted per account
    /// name **and** per source (a source trying many names locks too, after
    /// [`WebConfig::max_failures_per_source`](crate::WebConfig) failures; a success clears the
    /// name's count only).
    pub async fn password_login_from(
        &self,
        area: Area,
        username: &str,
        password: &str,
        second_factor: Option<&str>,
        role: Option<&str>,
        source: Option<std::net::IpAddr>,
    ) -> Result<Login, PortalError> {
        let refused = if area == Area::Ra { PortalError::SecondFactor } else { PortalError::LoginFailed };
        let permit = self.config.hash_gate.enter().await?;
        let name = username.trim();
        let now = self.now();
        let lock = self.config.lockout.as_secs() as i64;
        let rule = AttemptRule {
            max: self.config.max_failures,
            lock_seconds: lock,
            max_lock_seconds: (self.config.max_lockout.as_secs() as i64).max(lock),
        };
        let valid_name = !name.is_empty() && name.len() <= 64;
        let locks_on_failure = if !valid_name {
            0
        } else {
            match self.store.reserve_attempt(AttemptLimit::WebLogin, name, now, rule).await? {
                Reservation::Locked { until } => return Err(locked(until)),
                Reservation::Granted { locked_until, .. } => locked_until,
            }
        };
        // Per source: its own count and lock (`@ADDRESS` cannot be a user name).
        let source_key = source.map(|ip| format!("@{ip}"));
        let source_locks = match &source_key {
            None => 0,
            Some(key) => {
                let rule = AttemptRule { max: self.config.max_failures_per_source, ..rule };
                match self.store.reserve_attempt(AttemptLimit::WebLogin, key, now, rule).await? {
                    Reservation::Locked { until } => return Err(locked(until)),
                    Reservation::Granted { locked_until, .. } => locked_until,
                }
            }
        };
        let locks_on_failure = locks_on_failure.max(source_locks);
        let account = if valid_name { self.store.web_account(name).await? } else { None };
        let hash = account.as_ref().and_then(|a| a.password_hash.clone());
        let typed = password.to_string();
        let ok = HashGate::run(permit, move || {
            // An unknown account still costs one Argon2 verification.
            let h = hash.unwrap_or_else(|| {
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g"
                    .into()
            });
            PasswordHash::new(&h)
                .map(|p| Argon2::default().verify_password(typed.as_bytes(), &p).is_ok())
                .unwrap_or(false)
        })
        .await?;
        let actor = Actor::Web(name.to_string());
        let fail = |action: Action, why: &str| {
            let mut events = vec![self.event(
                &actor,
                action,
                actor.to_string(),
                serde_json::json!({"area": area.as_str(), "why": why, "source": source.map(|ip| ip.to_string())}),
            )];
            if locks_on_failure > now {
                events.push(self.event(
                    &Actor::System,
                    Action::WebLoginLocked,
                    actor.to_string(),
                    serde_json::json!({"until": locks_on_failure}),
                ));
            }
            events
        };
        let account = match account {
            Some(a) if ok && a.disabled_at.is_none() => a,
            _ => {
                self.store.record(&fail(Action::WebLoginFailed, "password")).await?;
                return Err(if locks_on_failure > now { locked(locks_on_failure) } else { refused });
            }
        };
        if area == Area::Ra {
            // The RA console: a password is never enough on its own.
            let code = second_factor.map(str::trim).unwrap_or_default();
            let step = match account.totp_secret.as_deref() {
                Some(secret) if !code.is_empty() => totp(secret, &account.username)?.check(code, now.max(0) as u64),
                _ => None,
            };
            let accepted = match step {
                Some(step) => self.store.use_totp_step(&account.username, step as i64).await?,
                None => false,
            };
            if !accepted {
                self.store.record(&fail(Action::WebSecondFactorFailed, "code")).await?;
                return Err(if locks_on_failure > now { locked(locks_on_failure) } else { refused });
            }
        }
        self.store.clear_attempts(AttemptLimit::WebLogin, name).await?;
        let role = role.map(|r| r.parse::<Role>().map_err(|_| PortalError::NoRole)).transpose()?;
        self.open(area, &account, role.as_ref(), None).await
    }

    /// Opens a session for an authenticated account (password or card).
    pub async fn open(
        &self,
        area: Area,
        account: &WebAccount,
        role: Option<&Role>,
        card: Option<&str>,
    ) -> Result<Login, PortalError> {
        let role = match role {
            Some(r) if account.roles.contains(r) && area.admits(r) => r.clone(),
            Some(_) => return Err(PortalError::NoRole),
            None => account.roles.iter().find(|r| area.admits(r)).cloned().ok_or(PortalError::NoRole)?,
        };
        let token = random_hex()?;
        let csrf = random_hex()?;
        let now = self.now();
        let actor = Actor::Web(account.username.clone());
        let ev = self.event(
            &actor,
            Action::WebLogin,
            actor.to_string(),
            serde_json::json!({"area": area.as_str(), "role": role, "card": card}),
        );
        self.store
            .insert_web_session(
                &sha(&token),
                &account.username,
                area,
                &role,
                &csrf,
                card,
                now,
                now + self.config.max_age.as_secs() as i64,
                ev,
            )
            .await?;
        Ok(Login { token, role })
    }

    /// The live session behind a cookie: ends it (and says why) when it idled out or expired.
    pub async fn session(&self, area: Area, token: &str) -> Result<Session, PortalError> {
        let ended = |m: &str| PortalError::SessionEnded(m.into());
        if token.is_empty() || token.len() > 128 {
            return Err(ended("you are not logged in"));
        }
        let key = sha(token);
        let s = self.store.web_session(&key).await?.ok_or_else(|| ended("you are not logged in"))?;
        if s.area != area {
            return Err(ended("you are not logged in"));
        }
        if let Some(reason) = s.end_reason.filter(|_| s.ended_at.is_some()) {
            return Err(ended(ended_message(reason)));
        }
        let now = self.now();
        let idle = self.config.idle_timeout.as_secs() as i64;
        if now - s.last_seen >= idle || now >= s.expires_at {
            self.end(&key, &s.username, SessionEnd::Idle).await?;
            return Err(ended(ended_message(SessionEnd::Idle)));
        }
        if self.heartbeat_missed(&key, &s.username, s.card_serial.as_deref()).await? {
            return Err(ended(ended_message(SessionEnd::CardRemoved)));
        }
        let account = self.store.web_account(&s.username).await?.ok_or_else(|| ended("you are not logged in"))?;
        // A disabled account's sessions stop at once (disabling also ends them; this holds for
        // a session that raced it).
        if account.disabled_at.is_some() {
            self.end(&key, &s.username, SessionEnd::Logout).await?;
            return Err(ended(DISABLED));
        }
        self.store.touch_web_session(&key, now).await?;
        Ok(Session { account, role: s.role, csrf_token: s.csrf_token, card_serial: s.card_serial })
    }

    pub(crate) async fn end(&self, key: &str, username: &str, reason: SessionEnd) -> Result<(), PortalError> {
        let actor = Actor::Web(username.to_string());
        let ev = self.event(
            &actor,
            Action::WebSessionEnded,
            actor.to_string(),
            serde_json::json!({"reason": reason.as_str()}),
        );
        self.store.end_web_session(key, self.now(), reason, ev).await?;
        Ok(())
    }

    /// Logout.
    pub async fn logout(&self, token: &str) -> Result<(), PortalError> {
        let key = sha(token);
        if let Some(s) = self.store.web_session(&key).await? {
            self.end(&key, &s.username, SessionEnd::Logout).await?;
        }
        Ok(())
    }

    /// The user picks one of their portal roles for the session.
    pub async fn choose_role(&self, token: &str, role: &str) -> Result<(), PortalError> {
        let s = self.session(Area::Portal, token).await?;
        let role: Role = role.parse().map_err(|_| PortalError::NoRole)?;
        if !s.account.roles.contains(&role) || !Area::Portal.admits(&role) {
            return Err(PortalError::NoRole);
        }
        self.store.set_web_session_role(&sha(token), &role).await?;
        Ok(())
    }

    /// Whether the session behind `token` is still live, for the page's event stream (it
    /// does not count as activity): ends it when idle too long, or when it is bound to a card
    /// whose agent missed its heartbeat (the same rule as every page request).
    pub async fn still_live(&self, token: &str) -> Result<bool, PortalError> {
        let key = sha(token);
        let Some(s) = self.store.web_session(&key).await? else { return Ok(false) };
        if s.ended_at.is_some() {
            return Ok(false);
        }
        let idle = self.config.idle_timeout.as_secs() as i64;
        if self.now() - s.last_seen >= idle || self.now() >= s.expires_at {
            self.end(&key, &s.username, SessionEnd::Idle).await?;
            return Ok(false);
        }
        Ok(!self.heartbeat_missed(&key, &s.username, s.card_serial.as_deref()).await?)
    }

    /// For a session opened through the agent with a card: true (and the session ended as
    /// "card removed") when the agent has not reported the card present for longer than
    /// [`WebConfig::heartbeat_grace`](crate::WebConfig). Checked on every page request, not
    /// only by the event stream, so a stopped agent or a pulled card ends the session even
    /// when no page is open.
    async fn heartbeat_missed(&self, key: &str, username: &str, card: Option<&str>) -> Result<bool, PortalError> {
        let Some(card) = card else { return Ok(false) };
        let seen = self.store.card_seen(key).await?.unwrap_or(0);
        if self.now() - seen <= self.config.heartbeat_grace.as_secs() as i64 {
            return Ok(false);
        }
        let ev = self.event(
            &Actor::Card(card.to_string()),
            Action::WebSessionEnded,
            Actor::Web(username.to_string()).to_string(),
            serde_json::json!({"reason": "agent heartbeat missed"}),
        );
        self.store.end_web_session(key, self.now(), SessionEnd::CardRemoved, ev).await?;
        Ok(true)
    }

    /// Checks a form's anti-CSRF token against the session's (constant time).
    pub fn check_csrf(&self, session: &Session, form_token: &str) -> Result<(), PortalError> {
        use subtle::ConstantTimeEq;
        if bool::from(session.csrf_token.as_bytes().ct_eq(form_token.as_bytes())) {
            Ok(())
        } else {
            Err(PortalError::Csrf)
        }
    }
}

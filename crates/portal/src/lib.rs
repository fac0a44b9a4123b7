//! # portal — who is using the web pages
//!
//! Owns web accounts (RA staff, operators, portal users), password login (Argon2id),
//! browser sessions (256-bit random tokens stored as SHA-256, an idle timeout and an
//! absolute lifetime, ended on logout, timeout or card removal) and the per-session
//! anti-CSRF token.
//!
//! It must never speak HTTP (cookies and pages are the `server` crate's) and never keep a
//! password or a session token in clear.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use ca::Clock;
use sha2::Digest;
use store::{AuditEvent, Store, WebAccount};
use thiserror::Error;

/// What can go wrong. Login failures never say whether the account exists.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PortalError {
    /// Wrong user name or password.
    #[error("the user name or the password is not right")]
    LoginFailed,
    /// The second factor is missing or wrong.
    #[error("enter the current 6-digit code from your authenticator app (each code works once)")]
    SecondFactor,
    /// The account may not use this area or role.
    #[error("your account has no role for this part of carecert: ask an administrator")]
    NoRole,
    /// The session is missing, ended or timed out.
    #[error("{0}")]
    SessionEnded(String),
    /// The card's UID is not registered to a portal user.
    #[error(
        "your smartcard (UID {0}) is not registered for this portal: ask a portal administrator to register it, or call the helpdesk"
    )]
    NotRegistered(String),
    /// The ticket is unknown, used or expired.
    #[error("the login ticket is not valid (used, expired or forged): log in with your card again")]
    BadTicket,
    /// Form tampering or a cross-site request.
    #[error("the form has expired or did not come from this site: reload the page and try again")]
    Csrf,
    /// Bad input.
    #[error("{0}")]
    BadInput(String),
    /// Conflict.
    #[error("{0}")]
    Conflict(String),
    /// Storage.
    #[error(transparent)]
    Store(store::StoreError),
    /// Inside.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<store::StoreError> for PortalError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Conflict(m) => PortalError::Conflict(m),
            other => PortalError::Store(other),
        }
    }
}

/// Which web area a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The relying-party portal.
    Portal,
    /// The RA and operator console.
    Ra,
}

impl Area {
    fn as_str(self) -> &'static str {
        match self {
            Area::Portal => "portal",
            Area::Ra => "ra",
        }
    }

    /// Whether `role` opens this area.
    pub fn admits(self, role: &str) -> bool {
        match self {
            Area::Ra => role == "ra" || role == "operator",
            Area::Portal => role.starts_with("portal:"),
        }
    }
}

/// Session timing.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// A session with no request for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after login in any case.
    pub max_age: Duration,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self { idle_timeout: Duration::from_secs(15 * 60), max_age: Duration::from_secs(12 * 3600) }
    }
}

/// A new account, with its second-factor enrolment shown once.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The account.
    pub account: WebAccount,
    /// `otpauth://` URI for an authenticator app (RA-console accounts with a password).
    pub totp_uri: Option<String>,
    /// The same secret in base32.
    pub totp_secret: Option<String>,
}

fn totp(secret_b32: &str, username: &str) -> Result<totp_rs::Totp, PortalError> {
    let secret = totp_rs::Secret::try_from_base32(secret_b32).map_err(|e| PortalError::Internal(e.to_string()))?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(username.to_string())
        .with_issuer(Some("carecert RA"))
        .build()
        .map_err(|e| PortalError::Internal(e.to_string()))
}

/// A session just opened.
#[derive(Debug, Clone)]
pub struct Login {
    /// Cookie value (only its hash is stored).
    pub token: String,
    /// The role chosen.
    pub role: String,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account.
    pub account: WebAccount,
    /// The role in use.
    pub role: String,
    /// The anti-CSRF token of this session's forms.
    pub csrf_token: String,
    /// The card the session was opened with.
    pub card_serial: Option<String>,
}

/// Web identities and sessions. Cheap to clone.
#[derive(Clone)]
pub struct Web {
    store: Store,
    clock: std::sync::Arc<dyn Clock>,
    config: WebConfig,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web").field("config", &self.config).finish_non_exhaustive()
    }
}

fn sha(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

fn random_hex() -> Result<String, PortalError> {
    Ok(hex::encode(pki::random_bytes::<32>().map_err(|e| PortalError::Internal(e.to_string()))?))
}

impl Web {
    /// The service.
    pub fn new(store: Store, clock: std::sync::Arc<dyn Clock>, config: WebConfig) -> Self {
        Self { store, clock, config }
    }

    /// The timing rules.
    pub fn config(&self) -> &WebConfig {
        &self.config
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    fn event(&self, actor: &str, action: &str, details: serde_json::Value) -> AuditEvent {
        AuditEvent {
            at_ms: self.now() * 1000,
            actor: actor.into(),
            action: action.into(),
            subject: actor.into(),
            details,
        }
    }

    /// Adds an account with a password (at least 12 characters) and roles.
    pub async fn add_account(
        &self,
        username: &str,
        name: &str,
        uid: Option<&str>,
        roles: &[String],
        password: Option<&str>,
        actor: &str,
    ) -> Result<NewAccount, PortalError> {
        if username.is_empty()
            || username.len() > 64
            || !username.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(PortalError::BadInput(
                "a user name is 1 to 64 letters, digits, dots, dashes or underscores".into(),
            ));
        }
        if roles.is_empty() {
            return Err(PortalError::BadInput("give the account at least one role (ra, operator, portal:ROLE)".into()));
        }
        let password_hash = match password {
            Some(p) if p.chars().count() < 12 => {
                return Err(PortalError::BadInput("a password must have at least 12 characters".into()));
            }
            Some(p) => {
                let salt_bytes: [u8; 16] = pki::random_bytes().map_err(|e| PortalError::Internal(e.to_string()))?;
                let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| PortalError::Internal(e.to_string()))?;
                Some(
                    Argon2::default()
                        .hash_password(p.as_bytes(), &salt)
                        .map_err(|e| PortalError::Internal(e.to_string()))?
                        .to_string(),
                )
            }
            None => None,
        };
        // Password logins to the RA console need a second factor: enrol a TOTP secret now.
        let totp_secret = if password_hash.is_some() && roles.iter().any(|r| Area::Ra.admits(r)) {
            let bytes: [u8; 20] = pki::random_bytes().map_err(|e| PortalError::Internal(e.to_string()))?;
            Some(totp_rs::Secret::from(bytes).to_base32())
        } else {
            None
        };
        let a = WebAccount {
            username: username.into(),
            name: name.into(),
            uid: uid.map(str::to_string),
            roles: roles.to_vec(),
            password_hash,
            created_at: self.now(),
            disabled_at: None,
            totp_secret: totp_secret.clone(),
        };
        self.store
            .insert_web_account(
                &a,
                self.event(actor, "web_account.added", serde_json::json!({"username": username, "roles": roles})),
            )
            .await?;
        let totp_uri = match &totp_secret {
            Some(sec) => Some(totp(sec, username)?.to_url().map_err(|e| PortalError::Internal(e.to_string()))?),
            None => None,
        };
        Ok(NewAccount { account: a, totp_uri, totp_secret })
    }

    /// Password login to `area`. `role` picks one of the account's roles for the area (the
    /// first that fits when `None`).
    pub async fn password_login(
        &self,
        area: Area,
        username: &str,
        password: &str,
        second_factor: Option<&str>,
        role: Option<&str>,
    ) -> Result<Login, PortalError> {
        let account = self.store.web_account(username).await?;
        let hash = account.as_ref().and_then(|a| a.password_hash.clone());
        let typed = password.to_string();
        let ok = tokio::task::spawn_blocking(move || {
            // An unknown account still costs one Argon2 verification.
            let h = hash.unwrap_or_else(|| {
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g"
                    .into()
            });
            PasswordHash::new(&h)
                .map(|p| Argon2::default().verify_password(typed.as_bytes(), &p).is_ok())
                .unwrap_or(false)
        })
        .await
        .map_err(|e| PortalError::Internal(e.to_string()))?;
        let account = match account {
            Some(a) if ok && a.disabled_at.is_none() => a,
            _ => {
                let ev = self.event(
                    &format!("web:{username}"),
                    "web.login_failed",
                    serde_json::json!({"area": area.as_str()}),
                );
                self.store.record(&[ev]).await?;
                return Err(PortalError::LoginFailed);
            }
        };
        if area == Area::Ra {
            // The RA console: a password is never enough on its own.
            let secret = account.totp_secret.as_deref().ok_or(PortalError::SecondFactor)?;
            let code = second_factor.map(str::trim).filter(|c| !c.is_empty()).ok_or(PortalError::SecondFactor)?;
            let step = totp(secret, &account.username)?
                .check(code, self.now().max(0) as u64)
                .ok_or_else(|| PortalError::SecondFactor)?;
            if !self.store.use_totp_step(&account.username, step as i64).await? {
                return Err(PortalError::SecondFactor);
            }
        }
        self.open(area, &account, role, None).await
    }

    /// Opens a session for an authenticated account (password or card).
    pub async fn open(
        &self,
        area: Area,
        account: &WebAccount,
        role: Option<&str>,
        card: Option<&str>,
    ) -> Result<Login, PortalError> {
        let role = match role {
            Some(r) if account.roles.iter().any(|x| x == r) && area.admits(r) => r.to_string(),
            Some(_) => return Err(PortalError::NoRole),
            None => account.roles.iter().find(|r| area.admits(r)).cloned().ok_or(PortalError::NoRole)?,
        };
        let token = random_hex()?;
        let csrf = random_hex()?;
        let now = self.now();
        let ev = self.event(
            &format!("web:{}", account.username),
            "web.login",
            serde_json::json!({"area": area.as_str(), "role": role, "card": card}),
        );
        self.store
            .insert_web_session(
                &sha(&token),
                &account.username,
                area.as_str(),
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
        if s.area != area.as_str() {
            return Err(ended("you are not logged in"));
        }
        if let Some(reason) = s.end_reason.filter(|_| s.ended_at.is_some()) {
            return Err(PortalError::SessionEnded(match reason.as_str() {
                "idle" => "your session ended after a period without activity: log in again".into(),
                "card removed" => {
                    "your session ended because the smartcard was removed: insert it and log in again".into()
                }
                _ => "you have logged out".into(),
            }));
        }
        let now = self.now();
        let idle = self.config.idle_timeout.as_secs() as i64;
        if now - s.last_seen >= idle || now >= s.expires_at {
            self.end(&key, &s.username, "idle").await?;
            return Err(ended("your session ended after a period without activity: log in again"));
        }
        self.store.touch_web_session(&key, now).await?;
        let account = self.store.web_account(&s.username).await?.ok_or_else(|| ended("you are not logged in"))?;
        Ok(Session { account, role: s.role, csrf_token: s.csrf_token, card_serial: s.card_serial })
    }

    async fn end(&self, key: &str, username: &str, reason: &str) -> Result<(), PortalError> {
        let ev = self.event(&format!("web:{username}"), "web.session_ended", serde_json::json!({"reason": reason}));
        self.store.end_web_session(key, self.now(), reason, ev).await?;
        Ok(())
    }

    /// Logout.
    pub async fn logout(&self, token: &str) -> Result<(), PortalError> {
        let key = sha(token);
        if let Some(s) = self.store.web_session(&key).await? {
            self.end(&key, &s.username, "logout").await?;
        }
        Ok(())
    }

    /// A one-time login ticket (60 seconds) for the portal user registered with card UID
    /// `uid`; the card (`card_serial`) was just proven by the cards service.
    pub async fn issue_ticket(&self, uid: &str, card_serial: &str) -> Result<String, PortalError> {
        let account = self
            .store
            .web_account_by_uid(uid)
            .await?
            .filter(|a| a.disabled_at.is_none() && a.roles.iter().any(|r| Area::Portal.admits(r) || Area::Ra.admits(r)))
            .ok_or_else(|| PortalError::NotRegistered(uid.into()))?;
        let ticket = random_hex()?;
        let now = self.now();
        self.store.insert_portal_ticket(&sha(&ticket), &account.username, card_serial, now, now + 60).await?;
        Ok(ticket)
    }

    /// Redeems a ticket (once): a portal session bound to the card. With several portal
    /// roles the session starts without one and the user picks ([`Web::choose_role`]).
    pub async fn redeem_ticket(&self, area: Area, ticket: &str) -> Result<(Login, Vec<String>), PortalError> {
        if ticket.len() != 64 {
            return Err(PortalError::BadTicket);
        }
        let (username, card) =
            self.store.use_portal_ticket(&sha(ticket), self.now()).await?.ok_or(PortalError::BadTicket)?;
        let account = self.store.web_account(&username).await?.ok_or(PortalError::BadTicket)?;
        let roles: Vec<String> = account.roles.iter().filter(|r| area.admits(r)).cloned().collect();
        let first = roles.first().cloned().ok_or(PortalError::NoRole)?;
        let login = self.open(area, &account, Some(&first), Some(&card)).await?;
        self.store.card_present(&card, self.now()).await?;
        Ok((login, roles))
    }

    /// Opens a session for the account registered with card UID `uid` whose certificate the
    /// browser itself presented (not bound to an agent's heartbeat: the browser's TLS client
    /// certificate is the proof). Returns the login and the roles to choose from.
    pub async fn open_for_uid(&self, area: Area, uid: &str) -> Result<(Login, Vec<String>), PortalError> {
        let account = self
            .store
            .web_account_by_uid(uid)
            .await?
            .filter(|a| a.disabled_at.is_none())
            .ok_or_else(|| PortalError::NotRegistered(uid.into()))?;
        let roles: Vec<String> = account.roles.iter().filter(|r| area.admits(r)).cloned().collect();
        let first = roles.first().cloned().ok_or_else(|| PortalError::NotRegistered(uid.into()))?;
        let login = self.open(area, &account, Some(&first), None).await?;
        Ok((login, roles))
    }

    /// The user picks one of their portal roles for the session.
    pub async fn choose_role(&self, token: &str, role: &str) -> Result<(), PortalError> {
        let s = self.session(Area::Portal, token).await?;
        if !s.account.roles.iter().any(|r| r == role) || !Area::Portal.admits(role) {
            return Err(PortalError::NoRole);
        }
        self.store.set_web_session_role(&sha(token), role).await?;
        Ok(())
    }

    /// The agent reports the card present (heartbeat).
    pub async fn card_present(&self, card_serial: &str) -> Result<(), PortalError> {
        self.store.card_present(card_serial, self.now()).await?;
        Ok(())
    }

    /// The agent reports the card removed: every session opened with it ends now.
    pub async fn card_removed(&self, card_serial: &str) -> Result<u64, PortalError> {
        let ev = AuditEvent {
            at_ms: self.now() * 1000,
            actor: format!("card:{card_serial}"),
            action: "web.session_ended".into(),
            subject: format!("card:{card_serial}"),
            details: serde_json::json!({"reason": "card removed"}),
        };
        Ok(self.store.end_card_sessions(card_serial, self.now(), "card removed", ev).await?)
    }

    /// Whether the session behind `token` is still live, for the page's event stream (it
    /// does not count as activity): ends it when idle too long. Card sessions whose agent missed its heartbeat for `heartbeat_grace`
    /// seconds are ended.
    pub async fn still_live(&self, token: &str, heartbeat_grace: i64) -> Result<bool, PortalError> {
        let key = sha(token);
        let Some(s) = self.store.web_session(&key).await? else { return Ok(false) };
        if s.ended_at.is_some() {
            return Ok(false);
        }
        let idle = self.config.idle_timeout.as_secs() as i64;
        if self.now() - s.last_seen >= idle || self.now() >= s.expires_at {
            self.end(&key, &s.username, "idle").await?;
            return Ok(false);
        }
        if let Some(card) = &s.card_serial {
            let seen = self.store.card_seen(&key).await?.unwrap_or(0);
            if self.now() - seen > heartbeat_grace {
                let ev = AuditEvent {
                    at_ms: self.now() * 1000,
                    actor: format!("card:{card}"),
                    action: "web.session_ended".into(),
                    subject: format!("web:{}", s.username),
                    details: serde_json::json!({"reason": "agent heartbeat missed"}),
                };
                self.store.end_web_session(&key, self.now(), "card removed", ev).await?;
                return Ok(false);
            }
        }
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

//! Adding web accounts, with a second factor for password logins to the RA console.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use store::WebAccount;
use types::{Action, Actor, Area, Role, RoleError, Roles, Username};

use crate::{PortalError, Web};

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

pub(crate) fn totp(secret_b32: &str, username: &str) -> Result<totp_rs::Totp, PortalError> {
    let secret = totp_rs::Secret::try_from_base32(secret_b32).map_err(|e| PortalError::Internal(e.to_string()))?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(username.to_string())
        .with_issuer(Some("carecert RA"))
        .build()
        .map_err(|e| PortalError::Internal(e.to_string()))
}

impl Web {
    /// Adds an account with a password (at least 12 characters) and roles. Each role was
    /// parsed as exactly one role ([`Role`]'s `FromStr`); the account gets at least one.
    pub async fn add_account(
        &self,
        username: &str,
        name: &str,
        uid: Option<&str>,
        roles: &[Role],
        password: Option<&str>,
        actor: &str,
    ) -> Result<NewAccount, PortalError> {
        let username: Username = username.parse().map_err(|_| {
            PortalError::BadInput("a user name is 1 to 64 letters, digits, dots, dashes or underscores".into())
        })?;
        let roles = Roles::new(roles.iter().cloned()).map_err(|e| match e {
            RoleError::Empty => {
                PortalError::BadInput("give the account at least one role (ra, operator, portal:ROLE)".into())
            }
            other => PortalError::BadRole(other),
        })?;
        let actor: Actor = actor.parse().map_err(|e: types::InvalidActor| PortalError::Internal(e.to_string()))?;
        let (password_hash, totp_secret) = self.hash_new_password(password, &roles).await?;
        let a = WebAccount {
            username: username.to_string(),
            name: name.into(),
            uid: uid.map(str::to_string),
            roles,
            password_hash,
            created_at: self.now(),
            disabled_at: None,
            totp_secret: totp_secret.clone(),
            operator_role: None,
            scope: vec![],
        };
        let details = serde_json::json!({"username": a.username, "roles": a.roles});
        let subject = actor.to_string();
        self.store.insert_web_account(&a, self.event(&actor, Action::WebAccountAdded, subject, details)).await?;
        let totp_uri = match &totp_secret {
            Some(sec) => Some(totp(sec, &a.username)?.to_url().map_err(|e| PortalError::Internal(e.to_string()))?),
            None => None,
        };
        Ok(NewAccount { account: a, totp_uri, totp_secret })
    }
}

impl Web {
    /// Hashes a new password (at least 12 characters; Argon2id through the node's gate) and,
    /// when the roles open the RA console, enrols a TOTP secret for the second factor.
    pub(crate) async fn hash_new_password(
        &self,
        password: Option<&str>,
        roles: &Roles,
    ) -> Result<(Option<String>, Option<String>), PortalError> {
        let password_hash = match password {
            Some(p) if p.chars().count() < 12 => {
                return Err(PortalError::BadInput("a password must have at least 12 characters".into()));
            }
            Some(p) => {
                let salt_bytes: [u8; 16] = pki::random_bytes().map_err(|e| PortalError::Internal(e.to_string()))?;
                let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| PortalError::Internal(e.to_string()))?;
                // Argon2 off the async workers, through the node's gate.
                let p = p.to_string();
                let permit = self.config.hash_gate.enter().await?;
                let hashed = crate::HashGate::run(permit, move || {
                    Argon2::default().hash_password(p.as_bytes(), &salt).map(|h| h.to_string())
                })
                .await?;
                Some(hashed.map_err(|e| PortalError::Internal(e.to_string()))?)
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
        Ok((password_hash, totp_secret))
    }
}

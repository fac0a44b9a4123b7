//! Operator accounts and their API tokens: create, list, revoke, disable; authenticate a
//! token on every request (no cache, so a revocation or a disabled account counts at once on
//! every node); record refusals.

use store::{NewOperatorToken, OperatorToken, WebAccount};
use types::{Action, Actor, Operator, OperatorRole, Permission, Refused, Roles, Scope, Username};

use crate::accounts::NewAccount;
use crate::{PortalError, Web, random_hex, sha};

/// Days an API token lasts unless told otherwise.
pub const DEFAULT_TOKEN_DAYS: i64 = 90;
/// The longest a token may be made to last.
pub const MAX_TOKEN_DAYS: i64 = 366;
/// Hours the bootstrap token of `carecert init` lasts (if not used before).
pub const BOOTSTRAP_HOURS: i64 = 24;

/// A token just made: shown this once.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// Public handle (list, revoke).
    pub id: String,
    /// The token (256 bits, hex).
    pub token: String,
    /// Expires at (Unix seconds).
    pub expires_at: i64,
}

/// An operator authenticated by an API token.
#[derive(Debug, Clone)]
pub struct TokenOperator {
    /// Who.
    pub operator: Operator,
    /// The token's handle.
    pub token_id: String,
}

/// What a new operator account is.
#[derive(Debug, Clone)]
pub struct NewOperator<'a> {
    /// Account name.
    pub name: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Role.
    pub role: OperatorRole,
    /// Organisations (RA officers: at least one).
    pub orgs: Vec<String>,
    /// Console password (≥ 12 characters; a TOTP secret is enrolled with it).
    pub password: Option<&'a str>,
    /// Smartcard UID for card logins to the console.
    pub uid: Option<&'a str>,
    /// Make a first API token lasting this many days.
    pub token_days: Option<i64>,
}

fn new_token(
    account: Option<&str>,
    role: OperatorRole,
    scope: Vec<String>,
    label: &str,
    by: &Actor,
    now: i64,
    expires_at: i64,
) -> Result<(NewOperatorToken, IssuedToken), PortalError> {
    let token = random_hex()?;
    let id = random_hex()?[..12].to_string();
    Ok((
        NewOperatorToken {
            id: id.clone(),
            token_sha256: sha(&token),
            account: account.map(str::to_string),
            role,
            scope,
            label: label.to_string(),
            created_by: by.to_string(),
            created_at: now,
            expires_at,
        },
        IssuedToken { id, token, expires_at },
    ))
}

fn token_days(days: Option<i64>) -> Result<i64, PortalError> {
    match days.unwrap_or(DEFAULT_TOKEN_DAYS) {
        d if (1..=MAX_TOKEN_DAYS).contains(&d) => Ok(d),
        d => Err(PortalError::BadInput(format!("a token lasts 1 to {MAX_TOKEN_DAYS} days, not {d}"))),
    }
}

impl Web {
    /// The operator behind an API token: refused (one answer, [`PortalError::Unauthorized`])
    /// when the token is unknown, expired, revoked, a used bootstrap token, or its account is
    /// disabled. Checked on every call against the stored row, which the store reads for each
    /// call (SQLite) or keeps only until the database says it changed (PostgreSQL;
    /// `store::token_cache`).
    pub async fn operator_for_token(&self, token: &str) -> Result<TokenOperator, PortalError> {
        let t = self.store.operator_token(&sha(token)).await?.ok_or(PortalError::Unauthorized)?;
        let now = self.now();
        if t.revoked_at.is_some() || t.account_disabled_at.is_some() || now >= t.expires_at || t.used_at.is_some() {
            return Err(PortalError::Unauthorized);
        }
        let name = match (&t.account, t.role) {
            (Some(a), _) => a.clone(),
            (None, OperatorRole::Bootstrap) => "bootstrap".to_string(),
            (None, _) => return Err(PortalError::Unauthorized),
        };
        Ok(TokenOperator { operator: Operator { name, role: t.role, scope: t.scope() }, token_id: t.id })
    }

    /// Records that `op` was refused `permission` (on `subject`, of organisation `org`):
    /// nothing else changed. Returns the refusal for the caller to answer with.
    pub async fn refuse(
        &self,
        op: &Operator,
        permission: Permission,
        org: Option<&str>,
        subject: &str,
        why: &Refused,
    ) -> Result<(), PortalError> {
        let ev = self.event(
            &op.actor(),
            Action::OperatorRefused,
            subject.to_string(),
            serde_json::json!({"permission": permission.as_str(), "organisation": org, "role": op.role.as_str(), "why": why.to_string()}),
        );
        self.store.record(&[ev]).await?;
        Ok(())
    }

    /// Makes the bootstrap token (`carecert init`): creates operator accounts and tokens only,
    /// once, within [`BOOTSTRAP_HOURS`].
    pub async fn create_bootstrap_token(&self) -> Result<IssuedToken, PortalError> {
        let now = self.now();
        let (row, issued) = new_token(
            None,
            OperatorRole::Bootstrap,
            vec![],
            "carecert init",
            &Actor::Operator,
            now,
            now + BOOTSTRAP_HOURS * 3600,
        )?;
        let ev = self.event(
            &Actor::Operator,
            Action::OperatorTokenCreated,
            format!("token/{}", issued.id),
            serde_json::json!({"role": "bootstrap", "expires_at": issued.expires_at}),
        );
        self.store.insert_operator_token(&row, None, ev).await?;
        Ok(issued)
    }

    /// Creates an operator account (and its first token when asked). The caller's permission
    /// ([`Permission::ManageOperators`]) was checked; a bootstrap caller's token is consumed
    /// in the same transaction.
    pub async fn create_operator(
        &self,
        by: &TokenOperator,
        new: NewOperator<'_>,
    ) -> Result<(NewAccount, Option<IssuedToken>), PortalError> {
        let username: Username = new.name.parse().map_err(|_| {
            PortalError::BadInput("a user name is 1 to 64 letters, digits, dots, dashes or underscores".into())
        })?;
        if new.role == OperatorRole::Bootstrap {
            return Err(PortalError::BadInput(
                "an account's role is ca-admin, ra-officer, auditor or portal-admin".into(),
            ));
        }
        let mut orgs: Vec<String> = Vec::new();
        for o in new.orgs {
            let o = o.trim().to_string();
            if o.is_empty() || o.len() > 128 {
                return Err(PortalError::BadInput("an organisation is 1 to 128 characters".into()));
            }
            if !orgs.contains(&o) {
                orgs.push(o);
            }
        }
        match (new.role.is_scoped(), orgs.is_empty()) {
            (true, true) => {
                return Err(PortalError::BadInput(
                    "an ra-officer acts for named organisations: give at least one (--org EPOC or RA unit)".into(),
                ));
            }
            (false, false) => {
                return Err(PortalError::BadInput(format!(
                    "a {} is not scoped to organisations: drop --org",
                    new.role
                )));
            }
            _ => {}
        }
        let web_role = new.role.web_role().ok_or(PortalError::NoRole)?;
        let roles = Roles::new([web_role])?;
        let (password_hash, totp_secret) = self.hash_new_password(new.password, &roles).await?;
        let now = self.now();
        let by_actor = by.operator.actor();
        let a = WebAccount {
            username: username.to_string(),
            name: if new.display_name.is_empty() { username.to_string() } else { new.display_name.to_string() },
            uid: new.uid.map(str::to_string),
            roles,
            password_hash,
            created_at: now,
            disabled_at: None,
            totp_secret: totp_secret.clone(),
            operator_role: Some(new.role),
            scope: orgs.clone(),
        };
        let mut events = vec![self.event(
            &by_actor,
            Action::OperatorAccountCreated,
            format!("operator/{}", a.username),
            serde_json::json!({"role": new.role.as_str(), "organisations": orgs}),
        )];
        let token = match new.token_days {
            Some(days) => {
                let days = token_days(Some(days))?;
                let (row, issued) = new_token(
                    Some(&a.username),
                    new.role,
                    orgs.clone(),
                    "first token",
                    &by_actor,
                    now,
                    now + days * 86_400,
                )?;
                events.push(self.event(
                    &by_actor,
                    Action::OperatorTokenCreated,
                    format!("token/{}", issued.id),
                    serde_json::json!({"account": a.username, "role": new.role.as_str(), "expires_at": issued.expires_at}),
                ));
                Some((row, issued))
            }
            None => None,
        };
        let bootstrap = (by.operator.role == OperatorRole::Bootstrap).then_some(by.token_id.as_str());
        self.store.insert_operator_account(&a, token.as_ref().map(|(r, _)| r), bootstrap, &events).await?;
        let totp_uri = match &totp_secret {
            Some(sec) => Some(
                crate::accounts::totp(sec, &a.username)?.to_url().map_err(|e| PortalError::Internal(e.to_string()))?,
            ),
            None => None,
        };
        Ok((NewAccount { account: a, totp_uri, totp_secret }, token.map(|(_, t)| t)))
    }

    /// Makes an API token for `account` with the account's role and scope.
    pub async fn create_token(
        &self,
        by: &TokenOperator,
        account: &str,
        days: Option<i64>,
        label: &str,
    ) -> Result<IssuedToken, PortalError> {
        let days = token_days(days)?;
        let a = self
            .store
            .web_account(account)
            .await?
            .filter(|a| a.operator_role.is_some())
            .ok_or_else(|| PortalError::NotFound(format!("no operator account '{account}'")))?;
        if a.disabled_at.is_some() {
            return Err(PortalError::Conflict(format!("the account '{account}' is disabled")));
        }
        let role = a.operator_role.ok_or(PortalError::NoRole)?;
        let now = self.now();
        let by_actor = by.operator.actor();
        let (row, issued) =
            new_token(Some(account), role, a.scope.clone(), label, &by_actor, now, now + days * 86_400)?;
        let ev = self.event(
            &by_actor,
            Action::OperatorTokenCreated,
            format!("token/{}", issued.id),
            serde_json::json!({"account": account, "role": role.as_str(), "expires_at": issued.expires_at, "label": label}),
        );
        let bootstrap = (by.operator.role == OperatorRole::Bootstrap).then_some(by.token_id.as_str());
        self.store.insert_operator_token(&row, bootstrap, ev).await?;
        Ok(issued)
    }

    /// Every token (of `account` when given), newest first.
    pub async fn operator_tokens(&self, account: Option<&str>) -> Result<Vec<OperatorToken>, PortalError> {
        Ok(self.store.operator_tokens(account).await?)
    }

    /// Revokes a token by its handle: it stops working at once on every node.
    pub async fn revoke_token(&self, by: &Operator, id: &str) -> Result<(), PortalError> {
        let ev = self.event(&by.actor(), Action::OperatorTokenRevoked, format!("token/{id}"), serde_json::json!({}));
        if self.store.revoke_operator_token(id, self.now(), ev).await? {
            Ok(())
        } else {
            Err(PortalError::NotFound(format!("no live token '{id}' (see carecert admin token list)")))
        }
    }

    /// Every operator account.
    pub async fn operator_accounts(&self) -> Result<Vec<WebAccount>, PortalError> {
        Ok(self.store.operator_accounts().await?)
    }

    /// Disables an account: its console sessions end and its tokens stop working at once.
    pub async fn disable_account(&self, by: &Operator, name: &str) -> Result<(), PortalError> {
        let ev =
            self.event(&by.actor(), Action::OperatorAccountDisabled, format!("operator/{name}"), serde_json::json!({}));
        if self.store.disable_web_account(name, self.now(), ev).await? {
            Ok(())
        } else {
            Err(PortalError::NotFound(format!("no enabled account '{name}'")))
        }
    }
}

/// The scope of an operator as a list, for display.
pub fn scope_list(scope: &Scope) -> Vec<String> {
    scope.orgs().to_vec()
}

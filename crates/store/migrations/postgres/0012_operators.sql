-- Issue 13 (part A): named operator accounts and their API tokens.
--
-- An operator account is a web account with an operator role (ca-admin, ra-officer, auditor,
-- portal-admin) and, for RA officers, a scope: a JSON list of the organisations / RA units it
-- acts for. Its console login (password + TOTP, or smartcard) is the web account's; its API
-- tokens are rows below. Disabling the account (web_accounts.disabled_at) stops both at once
-- on every node: nothing is cached. The old shared token (admin_tokens) is no longer read:
-- `carecert bootstrap-token` writes a one-shot token that makes the first named ca-admin.
ALTER TABLE web_accounts ADD COLUMN operator_role TEXT;
ALTER TABLE web_accounts ADD COLUMN scope TEXT NOT NULL DEFAULT '[]';

-- API tokens: 256-bit random values stored as SHA-256. `id` is a short public handle to list
-- and revoke by. `account` is NULL for the bootstrap token of `carecert init` (role
-- 'bootstrap', used once: `used_at`). The role and scope are the account's when the token was
-- made; the account's own state (disabled) is read on every request.
CREATE TABLE operator_tokens (
    id           TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    account      TEXT REFERENCES web_accounts(username),
    role         TEXT NOT NULL,
    scope        TEXT NOT NULL DEFAULT '[]',
    label        TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX operator_tokens_account ON operator_tokens (account);

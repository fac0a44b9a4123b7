-- Second factor of RA-console password logins: a TOTP secret (RFC 6238, base32) per
-- account, and the last time step accepted (a code works once).
ALTER TABLE web_accounts ADD COLUMN totp_secret TEXT;
ALTER TABLE web_accounts ADD COLUMN totp_last_step BIGINT;

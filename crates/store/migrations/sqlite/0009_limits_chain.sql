-- Issue 10 (abuse resistance): atomic attempt limits, renewal once per certificate, and a
-- guarded audit head.
--
-- Attempt limits: a try is reserved (counted) before the secret is verified, in one
-- conditional upsert; `last_lock_seconds` is the length of the last lock (back-off doubles it);
-- `updated_at` lets maintenance forget quiet rows.
ALTER TABLE login_failures ADD COLUMN last_lock_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE login_failures ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;

-- Password (+ TOTP) logins to the web pages, per account name typed.
CREATE TABLE web_login_attempts (
    username          TEXT PRIMARY KEY,
    failures          INTEGER NOT NULL,
    locked_until      INTEGER NOT NULL,
    last_lock_seconds INTEGER NOT NULL DEFAULT 0,
    updated_at        INTEGER NOT NULL
);

-- Renewal over mutual TLS: once per certificate (the serial it was renewed from).
CREATE TABLE certificate_renewals (
    serial     TEXT PRIMARY KEY,
    request_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO certificate_renewals (serial, request_id, created_at)
    SELECT renewal_of, MIN(id), MIN(created_at) FROM cert_requests WHERE renewal_of IS NOT NULL GROUP BY renewal_of;

-- The audit head only moves forward, and cannot be removed.
CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
WHEN NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash)
BEGIN SELECT RAISE(ABORT, 'the audit head only moves forward'); END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'the audit head cannot be removed'); END;

-- Issue 10 (abuse resistance): atomic attempt limits, renewal once per certificate, and a
-- guarded audit log and head (see the SQLite twin for the notes).
ALTER TABLE login_failures ADD COLUMN last_lock_seconds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE login_failures ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;

CREATE TABLE web_login_attempts (
    username          TEXT PRIMARY KEY,
    failures          BIGINT NOT NULL,
    locked_until      BIGINT NOT NULL,
    last_lock_seconds BIGINT NOT NULL DEFAULT 0,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE certificate_renewals (
    serial     TEXT PRIMARY KEY,
    request_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO certificate_renewals (serial, request_id, created_at)
    SELECT renewal_of, MIN(id), MIN(created_at) FROM cert_requests WHERE renewal_of IS NOT NULL GROUP BY renewal_of;

-- TRUNCATE fires no row trigger: refuse it by a statement trigger, on the log and the head.
CREATE FUNCTION audit_refuse_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_removal();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_removal();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_removal();

-- The head only moves forward.
CREATE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) THEN
        RAISE EXCEPTION 'the audit head only moves forward (from % to %)', OLD.seq, NEW.seq;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();

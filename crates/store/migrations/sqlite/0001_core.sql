-- carecert core schema (SQLite). Times are Unix seconds unless named *_ms.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE cas (
    name               TEXT PRIMARY KEY,
    parent             TEXT REFERENCES cas(name),
    cert_der           BLOB NOT NULL,
    key_ref            TEXT NOT NULL,   -- encrypted PKCS#8 PEM, or a pkcs11: URI
    responder_cert_der BLOB,
    responder_key_ref  TEXT,
    crl_number         BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL
);

CREATE TABLE certificates (
    issuer            TEXT NOT NULL REFERENCES cas(name),
    serial            TEXT NOT NULL,   -- canonical upper-case hex
    profile           TEXT NOT NULL,
    subject           TEXT NOT NULL,
    spki_sha256       TEXT NOT NULL,
    not_before        BIGINT NOT NULL,
    not_after         BIGINT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('reserved', 'issued', 'revoked')),
    der               BLOB,            -- NULL while reserved
    created_at        BIGINT NOT NULL,
    revoked_at        BIGINT,
    revocation_reason INTEGER,
    revocation_seq    BIGINT,
    PRIMARY KEY (issuer, serial)
);
CREATE INDEX certificates_by_serial ON certificates (serial);
CREATE INDEX certificates_revoked ON certificates (issuer, revocation_seq) WHERE status = 'revoked';
CREATE INDEX certificates_expiry ON certificates (not_after);

CREATE TABLE revocation_clock (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO revocation_clock (id, seq) VALUES (1, 0);

CREATE TABLE crls (
    issuer      TEXT NOT NULL REFERENCES cas(name),
    crl_number  BIGINT NOT NULL,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    entries     BIGINT NOT NULL,
    der         BLOB NOT NULL,
    PRIMARY KEY (issuer, crl_number)
);

CREATE TABLE admin_tokens (
    token_sha256 TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at_ms     BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

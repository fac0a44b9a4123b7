-- Machine certificates (enrol): organisations, PIN letters, sessions, requests, releases,
-- and the trust feed. Times are Unix seconds.
CREATE TABLE organisations (
    epoc       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('pharmacy', 'gp', 'dental', 'ophthalmic')),
    status     TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'closed')),
    approval   TEXT NOT NULL CHECK (approval IN ('automatic', 'ra-queue')),
    created_at INTEGER NOT NULL
);

CREATE TABLE enrolment_pins (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    epoc       TEXT NOT NULL REFERENCES organisations(epoc),
    pin_hash   TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('active', 'superseded')),
    issued_by  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX enrolment_pins_active ON enrolment_pins (epoc, status);

CREATE TABLE login_failures (
    epoc         TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL
);

CREATE TABLE enrol_sessions (
    token_sha256   TEXT PRIMARY KEY,
    epoc           TEXT NOT NULL REFERENCES organisations(epoc),
    client_version TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    ended_at       INTEGER
);

CREATE TABLE cert_requests (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    epoc               TEXT NOT NULL REFERENCES organisations(epoc),
    status             TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'downloaded', 'installed', 'denied', 'cancelled')),
    channel            TEXT NOT NULL CHECK (channel IN ('pin', 'certificate')),
    csr_der            BLOB NOT NULL,
    spki_sha256        TEXT NOT NULL,
    policy_version     TEXT NOT NULL,
    requested_by       TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    decided_at         INTEGER,
    decided_by         TEXT,
    deny_reason        TEXT,
    issuer             TEXT,
    serial             TEXT,
    renewal_of         TEXT,
    downloaded_at      INTEGER,
    installed_at       INTEGER
);
CREATE INDEX cert_requests_by_org ON cert_requests (epoc, id);
CREATE INDEX cert_requests_by_status ON cert_requests (status, id);
CREATE INDEX cert_requests_by_serial ON cert_requests (serial);

CREATE TABLE releases (
    product    TEXT NOT NULL,
    version    TEXT NOT NULL,
    minimum    INTEGER NOT NULL,
    url        TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    notes      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (product, version)
);

-- The trust feed: CA certificates added (or withdrawn) in order; clients keep the last seq.
CREATE TABLE trust_events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    ca_name TEXT NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('added', 'withdrawn')),
    at      INTEGER NOT NULL
);
INSERT INTO trust_events (ca_name, kind, at) SELECT name, 'added', created_at FROM cas ORDER BY created_at, name;
CREATE TRIGGER cas_trust_feed AFTER INSERT ON cas
BEGIN
    INSERT INTO trust_events (ca_name, kind, at) VALUES (NEW.name, 'added', NEW.created_at);
END;

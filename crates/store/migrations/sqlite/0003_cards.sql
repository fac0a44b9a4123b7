-- Smartcards (cards): users, card batches, cards, identity checks, sponsors, one-time unlock
-- codes, renewals and signed challenges. Times are Unix seconds.
CREATE TABLE users (
    uid            TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    email          TEXT,
    mobile         TEXT,
    landline       TEXT,
    landline_voice INTEGER NOT NULL DEFAULT 0,
    roles          TEXT NOT NULL DEFAULT '',
    organisation   TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE card_batches (
    batch             TEXT PRIMARY KEY,
    min_agent_version TEXT NOT NULL,
    created_at        INTEGER NOT NULL
);

CREATE TABLE cards (
    serial              TEXT PRIMARY KEY,
    uid                 TEXT NOT NULL REFERENCES users(uid),
    batch               TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('active', 'locked', 'cancelled')),
    failed_passcodes    INTEGER NOT NULL DEFAULT 0,
    so_pin_sealed       TEXT NOT NULL,
    auth_serial         TEXT,
    sign_serial         TEXT,
    not_after           INTEGER,
    remote_renewals     INTEGER NOT NULL DEFAULT 0,
    identity_checked_at INTEGER,
    identity_checked_by TEXT,
    created_at          INTEGER NOT NULL
);
CREATE INDEX cards_by_uid ON cards (uid);
CREATE INDEX cards_by_expiry ON cards (not_after);

CREATE TABLE identity_checks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uid         TEXT NOT NULL REFERENCES users(uid),
    card_serial TEXT,
    purpose     TEXT NOT NULL CHECK (purpose IN ('issue', 'renew', 'unlock')),
    checked_by  TEXT NOT NULL,
    documents   TEXT NOT NULL,
    checked_at  INTEGER NOT NULL
);

CREATE TABLE sponsors (
    sponsor_uid  TEXT NOT NULL REFERENCES users(uid),
    organisation TEXT NOT NULL,
    granted_by   TEXT NOT NULL,
    granted_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    PRIMARY KEY (sponsor_uid, organisation)
);

CREATE TABLE unlock_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    card_serial TEXT NOT NULL REFERENCES cards(serial),
    channel     TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'voice')),
    code_hash   TEXT NOT NULL,
    tries       INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX unlock_codes_by_card ON unlock_codes (card_serial, id);

CREATE TABLE card_renewals (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    card_serial     TEXT NOT NULL REFERENCES cards(serial),
    kind            TEXT NOT NULL CHECK (kind IN ('remote', 'ra')),
    status          TEXT NOT NULL CHECK (status IN ('started', 'done', 'aborted')),
    new_auth_serial TEXT,
    new_sign_serial TEXT,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    note            TEXT
);
CREATE INDEX card_renewals_by_card ON card_renewals (card_serial, id);

CREATE TABLE challenges (
    nonce       TEXT PRIMARY KEY,
    card_serial TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

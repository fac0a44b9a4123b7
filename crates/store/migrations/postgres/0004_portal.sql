-- Web accounts (RA staff, operators, portal users with passwords) and browser sessions.
-- Times are Unix seconds.
CREATE TABLE web_accounts (
    username      TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    uid           TEXT,
    roles         TEXT NOT NULL,
    password_hash TEXT,
    created_at    BIGINT NOT NULL,
    disabled_at   BIGINT
);

CREATE TABLE web_sessions (
    token_sha256 TEXT PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES web_accounts(username),
    area         TEXT NOT NULL CHECK (area IN ('portal', 'ra')),
    role         TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    card_serial  TEXT,
    created_at   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ended_at     BIGINT,
    end_reason   TEXT
);
CREATE INDEX web_sessions_by_card ON web_sessions (card_serial);

-- Card locking and unlock codes (issue 10). A login challenge records who asked for it
-- (`ip:ADDRESS` or `cert:SERIAL` of an enrolled workstation), so a passcode-failure report
-- must come from the same source and name a challenge that was issued and not yet used.
-- `card_limits` holds every rate limit and back-off as one row per key (GCRA: the
-- theoretical arrival time in ms, plus an hourly window), so the limits hold across nodes.
-- `cards.token_flags` is the last PIN-counter state the card itself reported.
ALTER TABLE challenges ADD COLUMN source TEXT;
CREATE INDEX challenges_by_expiry ON challenges (expires_at);

CREATE TABLE card_limits (
    key              TEXT PRIMARY KEY,
    card_serial      TEXT,
    tat_ms           INTEGER NOT NULL,
    window_start     INTEGER NOT NULL,
    window_count     INTEGER NOT NULL,
    failures         INTEGER NOT NULL DEFAULT 0,
    blocked_until_ms INTEGER NOT NULL DEFAULT 0,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX card_limits_by_card ON card_limits (card_serial);
CREATE INDEX card_limits_by_update ON card_limits (updated_at);

ALTER TABLE cards ADD COLUMN token_flags TEXT;
CREATE INDEX unlock_codes_by_expiry ON unlock_codes (expires_at);

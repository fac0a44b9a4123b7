-- Issue 14 (RA desk in the browser): desk tickets and the unlock-code delivery log.
--
-- A desk ticket is minted by the RA console when an RA officer records an identity check at
-- the desk: a short-lived (10 minutes), single-use bearer credential that lets the desk's
-- card agent issue ONE card to ONE holder (uid) with exactly the documents and batch the RA
-- recorded. Stored as SHA-256 like every other token. `claimed_at` is set atomically when the
-- agent presents it (a second presentation is refused); a failed issue releases the claim
-- while the ticket is still valid; `used_at` and `card_serial` record the card it made.
CREATE TABLE desk_tickets (
    token_sha256 TEXT PRIMARY KEY,
    purpose      TEXT NOT NULL CHECK (purpose IN ('issue', 'renew')),
    uid          TEXT NOT NULL REFERENCES users(uid),
    documents    TEXT NOT NULL,
    batch        TEXT NOT NULL,
    ra_account   TEXT NOT NULL,
    ra_actor     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    claimed_at   INTEGER,
    used_at      INTEGER,
    card_serial  TEXT
);
CREATE INDEX desk_tickets_by_uid ON desk_tickets (uid);

-- The delivery log the RA console shows per card: where each code went (masked, as the holder
-- was told) and whether a newer code replaced it. Expired codes keep their row (the hash is
-- cleared) for the log; rows older than 90 days are deleted.
ALTER TABLE unlock_codes ADD COLUMN sent_to TEXT NOT NULL DEFAULT '';
ALTER TABLE unlock_codes ADD COLUMN superseded_at INTEGER;

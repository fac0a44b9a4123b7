-- Issue 11 (zero touch): trust withdrawals with a reason, organisation contacts, and
-- expiry reminders claimed once across nodes.

-- Why a CA was withdrawn from the trust feed (NULL for 'added' rows).
ALTER TABLE trust_events ADD COLUMN reason TEXT;

-- Who is told that the organisation's machine certificate is about to expire.
ALTER TABLE organisations ADD COLUMN contact_email TEXT;

-- One row per reminder sent (or being sent): the primary key is the claim, taken in the same
-- transaction as the audit entry, before the message goes out — a second node's insert of the
-- same (kind, subject, threshold) finds the row and sends nothing.
CREATE TABLE expiry_reminders (
    kind           TEXT NOT NULL CHECK (kind IN ('machine', 'card')),
    subject        TEXT NOT NULL,   -- machine: the certificate serial; card: the card serial
    threshold_days BIGINT NOT NULL,
    owner          TEXT NOT NULL,   -- machine: the EPOC; card: the holder's UID
    recipient      TEXT NOT NULL,
    not_after      BIGINT NOT NULL,
    sent_at        BIGINT NOT NULL,
    node           TEXT NOT NULL,
    PRIMARY KEY (kind, subject, threshold_days)
);
CREATE INDEX expiry_reminders_by_owner ON expiry_reminders (kind, owner);

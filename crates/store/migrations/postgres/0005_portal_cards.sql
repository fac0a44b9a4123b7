-- Smartcard sessions of the portal: when the card's agent last said the card is present.
ALTER TABLE web_sessions ADD COLUMN card_seen BIGINT;

-- One-time login tickets the agent obtains for a card and the browser redeems.
CREATE TABLE portal_tickets (
    ticket_sha256 TEXT PRIMARY KEY,
    username      TEXT NOT NULL REFERENCES web_accounts(username),
    card_serial   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT
);

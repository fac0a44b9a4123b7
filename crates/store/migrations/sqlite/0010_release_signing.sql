-- Self-update (issue 11): release-signing public keys registered by the operator, and signed
-- releases whose binary the server may serve from a file on its machine.
CREATE TABLE release_keys (
    key_id     TEXT PRIMARY KEY,
    product    TEXT NOT NULL CHECK (product IN ('ecmt', 'carecert-agent')),
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
ALTER TABLE releases ADD COLUMN signature TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN file_path TEXT NOT NULL DEFAULT '';

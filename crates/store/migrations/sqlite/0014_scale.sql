-- Issue 12: the queries that must stay fast at 10M certificates read an index, not the table.
-- Dashboard and reminders: issued certificates expiring in a window, counted per issuer
-- from the index alone.
CREATE INDEX certificates_expiring ON certificates (status, not_after, issuer);
-- The certificate list, newest first (LIMIT without a sort of the whole table).
CREATE INDEX certificates_newest ON certificates (created_at);
-- CRL: one issuer's revoked entries with everything the CRL needs (an index-only read);
-- replaces certificates_revoked (issuer, revocation_seq).
DROP INDEX certificates_revoked;
CREATE INDEX certificates_crl ON certificates (issuer, revocation_seq, not_after, serial, revoked_at, revocation_reason)
    WHERE status = 'revoked';
-- Maintenance asks every second what was revoked since the clock it last saw.
CREATE INDEX certificates_revoked_since ON certificates (revocation_seq) WHERE status = 'revoked';

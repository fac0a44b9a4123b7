-- Issue 12: CRL shards. A certificate names one shard of its CA's CRL in its CRL
-- distribution point, chosen from its serial when it is issued and kept here (NULL: the
-- certificate names the CA's whole CRL — every certificate issued before shards, CA and
-- OCSP responder certificates, and every certificate when `[crl] shards = 0`).
ALTER TABLE certificates ADD COLUMN crl_shard INTEGER;
-- Which CRL a stored CRL is: -1 the CA's whole CRL, 0… a shard. CRL numbers stay one
-- sequence per CA (`cas.crl_number`), shared by its shards, so they still only grow for
-- every CRL a relying party fetches.
ALTER TABLE crls ADD COLUMN shard INTEGER NOT NULL DEFAULT -1;
CREATE INDEX crls_scope ON crls (issuer, shard, crl_number);
-- The CRL reads stay index-only with the shard among the columns they read.
DROP INDEX certificates_crl;
CREATE INDEX certificates_crl ON certificates (issuer, revocation_seq, not_after, serial, revoked_at, revocation_reason, crl_shard)
    WHERE status = 'revoked';

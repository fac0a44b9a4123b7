-- A CRL is stored on every publication, and every revocation publishes one. PostgreSQL
-- compressed each (pglz) before moving it out of line: at ~40k entries (1.5–2 MB) that was
-- 75 % of the database server's CPU under a revocation load, for little gain (serials and
-- signatures do not compress). EXTERNAL: out of line, uncompressed.
ALTER TABLE crls ALTER COLUMN der SET STORAGE EXTERNAL;

-- Issue 13 part B: CA keys in an HSM, the root offline, keys that expire by themselves.
--
-- The offline root cannot sign OCSP answers for the intermediates on demand: it pre-signs
-- them for a period (`carecert root presign`), and the serving nodes hand them out. One
-- answer per CertID form: the hash of the CertID (sha1 | sha256) and whether its
-- AlgorithmIdentifier carries NULL parameters (a response echoes the CertID exactly).
CREATE TABLE presigned_ocsp (
    issuer       TEXT NOT NULL REFERENCES cas(name),
    serial       TEXT NOT NULL,
    cert_id_hash TEXT NOT NULL CHECK (cert_id_hash IN ('sha1', 'sha256')),
    null_params  INTEGER NOT NULL,
    this_update  BIGINT NOT NULL,
    next_update  BIGINT NOT NULL,
    der          BYTEA NOT NULL,
    PRIMARY KEY (issuer, serial, cert_id_hash, null_params, this_update)
);

-- A reservation whose signing failed is marked 'failed' by maintenance (it was never
-- signed: OCSP answers unknown, nothing to revoke).
ALTER TABLE certificates DROP CONSTRAINT certificates_status_check;
ALTER TABLE certificates ADD CONSTRAINT certificates_status_check
    CHECK (status IN ('reserved', 'issued', 'revoked', 'failed'));
CREATE INDEX certificates_reserved ON certificates (created_at) WHERE status = 'reserved';

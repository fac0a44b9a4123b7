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
    der          BLOB NOT NULL,
    PRIMARY KEY (issuer, serial, cert_id_hash, null_params, this_update)
);

-- A reservation whose signing failed is marked 'failed' by maintenance (it was never
-- signed: OCSP answers unknown, nothing to revoke). SQLite cannot change a CHECK
-- constraint in place: the table is rebuilt (nothing references it).
CREATE TABLE certificates_new (
    issuer            TEXT NOT NULL REFERENCES cas(name),
    serial            TEXT NOT NULL,
    profile           TEXT NOT NULL,
    subject           TEXT NOT NULL,
    spki_sha256       TEXT NOT NULL,
    not_before        BIGINT NOT NULL,
    not_after         BIGINT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('reserved', 'issued', 'revoked', 'failed')),
    der               BLOB,
    created_at        BIGINT NOT NULL,
    revoked_at        BIGINT,
    revocation_reason INTEGER,
    revocation_seq    BIGINT,
    PRIMARY KEY (issuer, serial)
);
INSERT INTO certificates_new SELECT issuer, serial, profile, subject, spki_sha256, not_before, not_after, status,
    der, created_at, revoked_at, revocation_reason, revocation_seq FROM certificates;
DROP TABLE certificates;
ALTER TABLE certificates_new RENAME TO certificates;
CREATE INDEX certificates_by_serial ON certificates (serial);
CREATE INDEX certificates_revoked ON certificates (issuer, revocation_seq) WHERE status = 'revoked';
CREATE INDEX certificates_expiry ON certificates (not_after);
CREATE INDEX certificates_reserved ON certificates (created_at) WHERE status = 'reserved';

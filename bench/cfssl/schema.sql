-- cfssl certdb schema for SQLite, exactly as shipped in cloudflare/cfssl at commit
-- 7fb22c8 (2016-08-24), the snapshot packaged by Debian as golang-cfssl
-- 1.2.0+git20160825.89.7fb22c8: certdb/sqlite/migrations/001_CreateCertificates.sql
-- ("Up" section; the goose markers are dropped). Identical to the file at tag 1.2.0.
--
-- Note: the "bytea" column type gives NUMERIC affinity in SQLite, so the decimal
-- serial numbers are stored as REAL (lossy); upstream changed the types to blob
-- in 2017 (#787). Kept as-is because it is what cfssl 1.2 used.

CREATE TABLE certificates (
  serial_number            bytea NOT NULL,
  authority_key_identifier bytea NOT NULL,
  ca_label                 bytea,
  status                   bytea NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      bytea NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);

CREATE TABLE ocsp_responses (
  serial_number            bytea NOT NULL,
  authority_key_identifier bytea NOT NULL,
  body                     bytea NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier) REFERENCES certificates(serial_number, authority_key_identifier)
);


-- Issue 12: the dashboard's "expiring per week" must not count rows one by one at 10M
-- certificates. Issued certificates are counted per CA and UTC day of notAfter
-- (day = not_after / 86400); triggers keep the counts in the same transaction as every
-- change of a certificate's status, whatever statement makes it (group commit, revocation,
-- the bench's bulk loader).
CREATE TABLE certificate_expiry_days (
    issuer TEXT NOT NULL,
    day INTEGER NOT NULL,
    issued INTEGER NOT NULL,
    PRIMARY KEY (issuer, day)
) WITHOUT ROWID;

INSERT INTO certificate_expiry_days (issuer, day, issued)
    SELECT issuer, not_after / 86400, COUNT(*) FROM certificates WHERE status = 'issued'
    GROUP BY issuer, not_after / 86400;

CREATE TRIGGER certificate_expiry_days_insert AFTER INSERT ON certificates
WHEN NEW.status = 'issued'
BEGIN
    INSERT INTO certificate_expiry_days (issuer, day, issued) VALUES (NEW.issuer, NEW.not_after / 86400, 1)
        ON CONFLICT (issuer, day) DO UPDATE SET issued = issued + 1;
END;

CREATE TRIGGER certificate_expiry_days_enter AFTER UPDATE OF status ON certificates
WHEN NEW.status = 'issued' AND OLD.status <> 'issued'
BEGIN
    INSERT INTO certificate_expiry_days (issuer, day, issued) VALUES (NEW.issuer, NEW.not_after / 86400, 1)
        ON CONFLICT (issuer, day) DO UPDATE SET issued = issued + 1;
END;

CREATE TRIGGER certificate_expiry_days_leave AFTER UPDATE OF status ON certificates
WHEN OLD.status = 'issued' AND NEW.status <> 'issued'
BEGIN
    UPDATE certificate_expiry_days SET issued = issued - 1 WHERE issuer = OLD.issuer AND day = OLD.not_after / 86400;
END;

CREATE TRIGGER certificate_expiry_days_delete AFTER DELETE ON certificates
WHEN OLD.status = 'issued'
BEGIN
    UPDATE certificate_expiry_days SET issued = issued - 1 WHERE issuer = OLD.issuer AND day = OLD.not_after / 86400;
END;

-- Nothing reads certificates by notAfter alone (the rest of today is counted through
-- certificates_expiring (status, not_after, issuer)): one index fewer to write per issuance.
DROP INDEX certificates_expiry;

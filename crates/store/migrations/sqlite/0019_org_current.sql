-- Issue 12: the reminders' "organisations whose certificate expires within 90 days" walked
-- every organisation's requests (≈ 11 µs each: 0.1 s at 10,000 organisations). Each
-- organisation's current certificate — the one its newest still-issued request received —
-- is kept here by triggers, in the same transaction as the change that moves it: a request
-- receiving its certificate, a certificate entering or leaving `issued`.
CREATE TABLE org_current_certificates (
    epoc TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    not_after INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX org_current_certificates_expiry ON org_current_certificates (issuer, not_after);

INSERT INTO org_current_certificates (epoc, issuer, serial, not_after)
    SELECT r.epoc, c.issuer, c.serial, c.not_after FROM organisations o
    JOIN cert_requests r ON r.id = (SELECT r2.id FROM cert_requests r2
        JOIN certificates c2 ON c2.issuer = r2.issuer AND c2.serial = r2.serial
        WHERE r2.epoc = o.epoc AND c2.status = 'issued' ORDER BY r2.id DESC LIMIT 1)
    JOIN certificates c ON c.issuer = r.issuer AND c.serial = r.serial;

CREATE TRIGGER org_current_request_insert AFTER INSERT ON cert_requests
WHEN NEW.serial IS NOT NULL
BEGIN
    DELETE FROM org_current_certificates WHERE epoc = NEW.epoc;
    INSERT INTO org_current_certificates (epoc, issuer, serial, not_after)
        SELECT r.epoc, c.issuer, c.serial, c.not_after FROM cert_requests r
        JOIN certificates c ON c.issuer = r.issuer AND c.serial = r.serial
        WHERE r.id = (SELECT r2.id FROM cert_requests r2
            JOIN certificates c2 ON c2.issuer = r2.issuer AND c2.serial = r2.serial
            WHERE r2.epoc = NEW.epoc AND c2.status = 'issued' ORDER BY r2.id DESC LIMIT 1);
END;

CREATE TRIGGER org_current_request_update AFTER UPDATE OF serial, issuer ON cert_requests
WHEN NEW.serial IS NOT NULL AND (OLD.serial IS NOT NEW.serial OR OLD.issuer IS NOT NEW.issuer)
BEGIN
    DELETE FROM org_current_certificates WHERE epoc = NEW.epoc;
    INSERT INTO org_current_certificates (epoc, issuer, serial, not_after)
        SELECT r.epoc, c.issuer, c.serial, c.not_after FROM cert_requests r
        JOIN certificates c ON c.issuer = r.issuer AND c.serial = r.serial
        WHERE r.id = (SELECT r2.id FROM cert_requests r2
            JOIN certificates c2 ON c2.issuer = r2.issuer AND c2.serial = r2.serial
            WHERE r2.epoc = NEW.epoc AND c2.status = 'issued' ORDER BY r2.id DESC LIMIT 1);
END;

CREATE TRIGGER org_current_certificate_status AFTER UPDATE OF status ON certificates
WHEN (OLD.status = 'issued') <> (NEW.status = 'issued')
BEGIN
    DELETE FROM org_current_certificates
        WHERE epoc IN (SELECT epoc FROM cert_requests WHERE serial = NEW.serial AND issuer = NEW.issuer);
    INSERT INTO org_current_certificates (epoc, issuer, serial, not_after)
        SELECT r.epoc, c.issuer, c.serial, c.not_after
        FROM (SELECT DISTINCT epoc FROM cert_requests WHERE serial = NEW.serial AND issuer = NEW.issuer) x
        JOIN cert_requests r ON r.id = (SELECT r2.id FROM cert_requests r2
            JOIN certificates c2 ON c2.issuer = r2.issuer AND c2.serial = r2.serial
            WHERE r2.epoc = x.epoc AND c2.status = 'issued' ORDER BY r2.id DESC LIMIT 1)
        JOIN certificates c ON c.issuer = r.issuer AND c.serial = r.serial;
END;

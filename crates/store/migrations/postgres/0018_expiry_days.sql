-- Issue 12: the dashboard's "expiring per week" must not count rows one by one at 10M
-- certificates. Issued certificates are counted per CA and UTC day of notAfter
-- (day = not_after / 86400); statement-level triggers (one aggregated upsert per
-- statement, so a group-commit batch of 500 rows costs one) keep the counts in the same
-- transaction as every change of a certificate's status, whatever statement makes it.
CREATE TABLE certificate_expiry_days (
    issuer TEXT NOT NULL,
    day BIGINT NOT NULL,
    issued BIGINT NOT NULL,
    PRIMARY KEY (issuer, day)
);

INSERT INTO certificate_expiry_days (issuer, day, issued)
    SELECT issuer, not_after / 86400, COUNT(*) FROM certificates WHERE status = 'issued'
    GROUP BY issuer, not_after / 86400;

-- Rows are upserted in (issuer, day) order, so two transactions lock counters in one order.
CREATE FUNCTION certificate_expiry_days_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO certificate_expiry_days (issuer, day, issued)
        SELECT issuer, not_after / 86400, COUNT(*) FROM new_rows WHERE status = 'issued'
        GROUP BY issuer, not_after / 86400 ORDER BY 1, 2
        ON CONFLICT (issuer, day) DO UPDATE SET issued = certificate_expiry_days.issued + EXCLUDED.issued;
    RETURN NULL;
END $$;

CREATE FUNCTION certificate_expiry_days_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO certificate_expiry_days (issuer, day, issued)
        SELECT d.issuer, d.day, d.delta FROM (
            SELECT n.issuer, n.not_after / 86400 AS day,
                   SUM((n.status = 'issued')::int - (o.status = 'issued')::int) AS delta
            FROM old_rows o JOIN new_rows n ON n.issuer = o.issuer AND n.serial = o.serial
            WHERE (n.status = 'issued') <> (o.status = 'issued')
            GROUP BY n.issuer, n.not_after / 86400) d
        WHERE d.delta <> 0 ORDER BY 1, 2
        ON CONFLICT (issuer, day) DO UPDATE SET issued = certificate_expiry_days.issued + EXCLUDED.issued;
    RETURN NULL;
END $$;

CREATE FUNCTION certificate_expiry_days_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO certificate_expiry_days (issuer, day, issued)
        SELECT issuer, not_after / 86400, -COUNT(*) FROM old_rows WHERE status = 'issued'
        GROUP BY issuer, not_after / 86400 ORDER BY 1, 2
        ON CONFLICT (issuer, day) DO UPDATE SET issued = certificate_expiry_days.issued + EXCLUDED.issued;
    RETURN NULL;
END $$;

CREATE TRIGGER certificate_expiry_days_insert AFTER INSERT ON certificates
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION certificate_expiry_days_inserted();
CREATE TRIGGER certificate_expiry_days_update AFTER UPDATE ON certificates
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION certificate_expiry_days_updated();
CREATE TRIGGER certificate_expiry_days_delete AFTER DELETE ON certificates
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION certificate_expiry_days_deleted();

-- Nothing reads certificates by notAfter alone (the rest of today is counted through
-- certificates_expiring (status, not_after, issuer)): one index fewer to write per issuance.
DROP INDEX certificates_expiry;

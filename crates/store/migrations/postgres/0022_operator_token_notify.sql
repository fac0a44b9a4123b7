-- Issue 12: a node keeps the operator tokens it has read (store/src/token_cache.rs) until
-- it hears that one may have changed. Every statement that changes `operator_tokens` or
-- `web_accounts` (a token revoked or used, an account disabled — through carecert on any
-- node, or by hand) notifies `carecert_operator_tokens`; PostgreSQL delivers the
-- notification when the transaction commits, and every listening node then forgets the
-- tokens it kept. New rows need no notification: only tokens that exist are kept.
CREATE FUNCTION operator_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('carecert_operator_tokens', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
CREATE TRIGGER operator_tokens_notify AFTER UPDATE OR DELETE OR TRUNCATE ON operator_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION operator_tokens_changed();
CREATE TRIGGER web_accounts_notify AFTER UPDATE OR DELETE OR TRUNCATE ON web_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION operator_tokens_changed();

-- Issue 12: on PostgreSQL this migration adds the triggers that tell every node an
-- operator token or account changed (store/src/token_cache.rs). SQLite has one process,
-- which reads tokens inline on every request and keeps none: nothing to add. The file
-- keeps both engines' migration numbers the same.
SELECT 1;

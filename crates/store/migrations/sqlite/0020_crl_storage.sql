-- PostgreSQL's 0020 stops compressing stored CRLs (ALTER … SET STORAGE EXTERNAL). SQLite
-- never compresses a blob: nothing to change; this file keeps the two migration lists alike.
SELECT 1;

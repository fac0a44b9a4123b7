-- Web account roles: a JSON list of role texts, each exactly one role (`["ra"]`,
-- `["portal:clinician","portal:admin"]`), instead of a comma-joined string in which a
-- role containing a comma became two roles. Existing lists are converted as they were read.
UPDATE web_accounts
SET roles = COALESCE(
    (SELECT json_agg(r ORDER BY i)::text
     FROM unnest(string_to_array(roles, ',')) WITH ORDINALITY AS t(r, i)
     WHERE r <> ''),
    '[]')
WHERE roles NOT LIKE '[%';

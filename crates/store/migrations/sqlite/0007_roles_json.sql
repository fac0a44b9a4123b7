-- Web account roles: a JSON list of role texts, each exactly one role (`["ra"]`,
-- `["portal:clinician","portal:admin"]`), instead of a comma-joined string in which a
-- role containing a comma became two roles. Existing lists are converted as they were read.
UPDATE web_accounts
SET roles = CASE
    WHEN trim(roles, ',') = '' THEN '[]'
    ELSE '["' || replace(replace(trim(roles, ','), ',,', ','), ',', '","') || '"]'
END
WHERE roles NOT LIKE '[%';

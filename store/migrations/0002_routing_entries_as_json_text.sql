-- Routing entries are stored as `json` (their text, checked for syntax) instead of `jsonb`.
-- Every router reads every entry that changes, and nothing queries inside an entry: with
-- jsonb, PostgreSQL rebuilt the text of each one for each router (about 7.5 µs a row,
-- 0.8 s of database CPU per router for a reload of 100k accounts); a json value is sent
-- as it is. Rewrites the table once (a few seconds per million entries).
ALTER TABLE routing_entries ALTER COLUMN entry TYPE json USING entry::json;

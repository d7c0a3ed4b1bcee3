-- Routing entries: written by the rebalancer and by Management (a region's general pool),
-- read by every router. See store/routing_store.py.

-- name: routing_next_versions
-- Takes the clock's row lock until commit: versions become visible in increasing order.
UPDATE routing_clock SET version = version + $1 RETURNING version

-- name: routing_upsert
INSERT INTO routing_entries (kind, key, version, entry, updated_at)
SELECT * , now() FROM unnest($1::text[], $2::text[], $3::bigint[], $4::json[])
ON CONFLICT (kind, key) DO UPDATE
SET version = EXCLUDED.version, entry = EXCLUDED.entry, updated_at = EXCLUDED.updated_at

-- name: routing_insert_absent
-- routing_upsert's sibling for entries that must never replace one: each is written only
-- when its (kind, key) has none (a version left unused by a skipped entry is harmless).
INSERT INTO routing_entries (kind, key, version, entry, updated_at)
SELECT * , now() FROM unnest($1::text[], $2::text[], $3::bigint[], $4::json[])
ON CONFLICT (kind, key) DO NOTHING

-- name: routing_accounts_without_entry
-- Those of the accounts $1 that exist and have no routing entry yet, with their region.
SELECT a.account_id, a.region
FROM accounts a
WHERE a.account_id = ANY ($1::text[])
  AND NOT EXISTS (SELECT 1 FROM routing_entries e WHERE e.kind = 'account' AND e.key = a.account_id)
ORDER BY a.account_id

-- name: routing_notify
SELECT pg_notify('sendingip_routing', $1::text)

-- name: routing_latest_version
SELECT version FROM routing_clock

-- name: routing_general_pool
-- The region's general pool with each IP's ramp-in stage (rule 12; NULL: warm), the policy's
-- schedule and rules that weigh them, and the entry published for it now (NULL: none).
-- A blocked IP (BlockIPs) is left out: it takes no traffic from the version this publishes.
SELECT p.pool_id,
       array_agg(host(i.address) ORDER BY i.address) FILTER (WHERE i.address IS NOT NULL) AS addresses,
       array_agg(i.general_stage ORDER BY i.address) FILTER (WHERE i.address IS NOT NULL) AS stages,
       (SELECT warmup_schedule FROM policy) AS schedule,
       (SELECT warmup_rules FROM policy) AS rules,
       (SELECT e.entry FROM routing_entries e WHERE e.kind = 'region' AND e.key = $1) AS published
FROM pools p
LEFT JOIN ip_addresses i ON i.pool_id = p.pool_id AND i.state = 'general' AND i.blocked_reason IS NULL
WHERE p.region = $1 AND p.pool_type = 'general'
GROUP BY p.pool_id

-- name: routing_general_regions
-- The regions that have a general pool.
SELECT region FROM pools WHERE pool_type = 'general' ORDER BY region

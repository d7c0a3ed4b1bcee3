-- The Management API (server/management): status reads and operator writes.

-- name: mgmt_account
SELECT a.account_id, a.region, a.management_type, a.transition_started_on, a.dedicated_on, a.warmup_paused,
       a.mode, a.reason,
       a.figures::text AS figures,
       (SELECT count(*) FROM pools p
        JOIN ip_addresses i ON i.pool_id = p.pool_id AND i.state = 'dedicated' AND i.blocked_reason IS NULL
        WHERE p.account_id = a.account_id AND p.pool_type = 'dedicated') AS dedicated_ip_count,
       (SELECT json_agg(json_build_object('ip', r.ip, 'provider', r.mailbox_provider, 'kind', r.kind,
                                          'until', r.until, 'reason', r.reason)
                        ORDER BY r.ip, r.mailbox_provider, r.kind)
        FROM pair_rests r WHERE r.account_id = a.account_id AND r.until > now())::text AS rests
FROM accounts a
WHERE a.account_id = $1 AND a.deleted_at IS NULL

-- name: mgmt_list_accounts
-- Keyset pagination on account_id: $4 is the last id of the previous page ('' first).
-- $1 region and $2 management_type filter when not ''; $3 limits to a key's accounts.
SELECT a.account_id, a.region, a.management_type, a.transition_started_on, a.dedicated_on, a.warmup_paused,
       a.mode, a.reason,
       a.figures::text AS figures,
       (SELECT count(*) FROM pools p
        JOIN ip_addresses i ON i.pool_id = p.pool_id AND i.state = 'dedicated' AND i.blocked_reason IS NULL
        WHERE p.account_id = a.account_id AND p.pool_type = 'dedicated') AS dedicated_ip_count,
       (SELECT json_agg(json_build_object('ip', r.ip, 'provider', r.mailbox_provider, 'kind', r.kind,
                                          'until', r.until, 'reason', r.reason)
                        ORDER BY r.ip, r.mailbox_provider, r.kind)
        FROM pair_rests r WHERE r.account_id = a.account_id AND r.until > now())::text AS rests
FROM accounts a
WHERE ($1::text = '' OR a.region = $1)
  AND ($2::text = '' OR a.management_type = $2)
  AND ($3::text[] IS NULL OR a.account_id = ANY ($3::text[]))
  AND a.account_id > $4
  AND a.deleted_at IS NULL
ORDER BY a.account_id
LIMIT $5

-- name: mgmt_region_exists
SELECT EXISTS (SELECT 1 FROM regions WHERE region = $1)

-- name: mgmt_insert_account
INSERT INTO accounts (account_id, region) VALUES ($1, $2)
ON CONFLICT (account_id) DO NOTHING
RETURNING account_id

-- name: mgmt_account_region
SELECT region FROM accounts WHERE account_id = $1

-- name: mgmt_ensure_region
INSERT INTO regions (region) VALUES ($1) ON CONFLICT DO NOTHING

-- name: mgmt_ensure_general_pool
-- One general pool per region (a unique index); its id is 'general:<region>'.
INSERT INTO pools (pool_id, region, pool_type) VALUES ('general:' || $1, $1, 'general')
ON CONFLICT DO NOTHING

-- name: mgmt_insert_ips
-- $3 is 'general' (into the region's general pool) or 'inventory'. Addresses already
-- stored are left alone and not returned; the caller classifies them. A general IP starts
-- at stage 0 of its ramp-in (SPEC rule 12). $4: each address's hostname ('' for none).
INSERT INTO ip_addresses (address, region, state, pool_id, general_stage, hostname)
SELECT a, $2, $3,
       CASE WHEN $3 = 'general' THEN (SELECT pool_id FROM pools WHERE region = $2 AND pool_type = 'general') END,
       CASE WHEN $3 = 'general' THEN 0 END,
       nullif(h, '')
FROM unnest($1::text[]::inet[], $4::text[]) AS t (a, h)
ON CONFLICT (address) DO NOTHING
RETURNING host(address) AS address

-- name: mgmt_existing_ips
SELECT host(address) AS address, region, state, hostname
FROM ip_addresses
WHERE address = ANY ($1::text[]::inet[])

-- name: mgmt_set_hostnames
-- (v2) AddIPs with a hostname for an address already present: the new one replaces it.
UPDATE ip_addresses i SET hostname = t.h, updated_at = now()
FROM unnest($1::text[]::inet[], $2::text[]) AS t (a, h)
WHERE i.address = t.a AND i.hostname IS DISTINCT FROM t.h

-- name: mgmt_dedicated_ips
-- One account's dedicated pool for the Sending IP Addresses table. $2 is today (UTC). A
-- pair is still warming below the length of its provider's schedule (provider_schedules,
-- else warmup_schedule). sum() of bigints is a numeric; it is capped before the cast, so
-- that no stored count can make the call fail. A blocked IP (BlockIPs) sends nothing and
-- is not listed (ListIPs shows it); a draining one is, blocked or not.
SELECT host(i.address) AS address, i.region, i.pool_id, i.state, i.assigned_on,
       coalesce(w.pairs, 0) AS pairs, coalesce(w.warming, 0) AS warming,
       LEAST(coalesce(h.sent, 0), 9223372036854775807)::bigint AS sent_today
FROM pools p
JOIN ip_addresses i ON i.pool_id = p.pool_id
    AND (i.state = 'draining' OR (i.state = 'dedicated' AND i.blocked_reason IS NULL))
LEFT JOIN LATERAL (
    SELECT count(*) AS pairs,
           count(*) FILTER (
               WHERE ws.stage < coalesce(
                   jsonb_array_length(pol.provider_schedules -> ws.mailbox_provider),
                   cardinality(pol.warmup_schedule)
               )
           ) AS warming
    FROM warmup_state ws CROSS JOIN policy pol
    WHERE ws.address = i.address AND ws.account_id = $1
) w ON true
LEFT JOIN LATERAL (
    SELECT sum(d.counted) AS sent
    FROM daily_history d
    WHERE d.day = $2 AND d.account_id = $1 AND d.ip = host(i.address)
) h ON true
WHERE p.account_id = $1 AND p.pool_type = 'dedicated'
ORDER BY i.state = 'draining', i.assigned_on, i.address

-- name: mgmt_general_ips
-- The general pool of region $2 with what account $1 sent through each IP on day $3, each
-- IP's ramp-in stage (rule 12; NULL: warm) and the policy's schedule and rules. Blocked IPs
-- take no traffic (routing_general_pool leaves them out too).
SELECT host(i.address) AS address, i.region, i.pool_id, i.general_stage AS stage,
       (SELECT warmup_schedule FROM policy) AS schedule, (SELECT warmup_rules FROM policy) AS rules,
       LEAST(coalesce(h.sent, 0), 9223372036854775807)::bigint AS sent_today
FROM pools p
JOIN ip_addresses i ON i.pool_id = p.pool_id AND i.state = 'general' AND i.blocked_reason IS NULL
LEFT JOIN LATERAL (
    SELECT sum(d.counted) AS sent
    FROM daily_history d
    WHERE d.day = $3 AND d.account_id = $1 AND d.ip = host(i.address)
) h ON true
WHERE p.region = $2 AND p.pool_type = 'general'
ORDER BY i.address

-- name: mgmt_mailbox_providers
SELECT mailbox_providers FROM policy

-- name: mgmt_history_policy
-- What ImportHistory checks rows against: the providers, and the window that bounds their days.
SELECT mailbox_providers, history_window_days FROM policy

-- name: mgmt_history_ip_pools
-- For each (account $1, IP $2) an ImportHistory call names: the account's region (NULL
-- when the account does not exist), whether the IP is or was in the account's dedicated
-- pool or in its region's general pool, and whether it is in one of them now.
SELECT t.account_id, t.ip, a.region,
       EXISTS (
           SELECT 1 FROM ip_pool_members m
           WHERE m.address = t.ip::inet
             AND (m.account_id = t.account_id OR (m.account_id IS NULL AND m.region = a.region))
       ) AS was_in_pool,
       EXISTS (
           SELECT 1 FROM ip_addresses i JOIN pools p ON p.pool_id = i.pool_id
           WHERE i.address = t.ip::inet
             AND (p.account_id = t.account_id OR (p.pool_type = 'general' AND p.region = a.region))
       ) AS in_pool_now
FROM unnest($1::text[], $2::text[]) AS t (account_id, ip)
LEFT JOIN accounts a ON a.account_id = t.account_id

-- name: mgmt_import_history
-- One statement per ImportHistory call. Sets (not adds) the imported count, so a
-- re-import is harmless; the routers' `counted` is left alone. Counts are at most 10^9
-- (server/validate.py MAX_COUNT), so imported + counted fits a bigint (router.sql).
INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported)
SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::bigint[])
ON CONFLICT (day, account_id, ip, mailbox_provider) DO UPDATE SET imported = EXCLUDED.imported

-- name: mgmt_policy
-- Read by column name (server/management/policy.py; store/policy_columns.py COLUMNS).
SELECT * FROM policy

-- name: mgmt_policy_for_update
SELECT * FROM policy
FOR UPDATE

-- name: mgmt_policy_update
-- Parameters $1-$25 are the policy's columns in the order of store/policy_columns.py
-- COLUMNS (the fields of store.policy_settings.Policy, rates as percentages, provider_schedules
-- and account_overrides as JSON text), then $26 the key id that changes it. tests/unit/test_policy_limits.py checks
-- the two orders agree.
UPDATE policy SET
    history_window_days = $1, dedicated_threshold_30d = $2, general_threshold_30d = $3,
    min_active_days = $4, ip_daily_capacity = $5, max_ips_per_account = $6,
    warmup_schedule = $7::bigint[], scale_in_days = $8, quarantine_days = $9, drain_days = $10,
    hold_bounce_percent = $11, hold_complaint_percent = $12, hold_deferral_percent = $13,
    step_back_bounce_percent = $14, step_back_complaint_percent = $15,
    expected_volume_days = $16, mailbox_providers = $17::text[],
    advance_fraction = $18, warmup_rules = $19, hourly_burst = $20, same_day_min_outcomes = $21,
    throttle_pause_minutes = $22, audit_retention_days = $23, provider_schedules = $24::jsonb,
    account_overrides = $25::jsonb, updated_by = $26, updated_at = now()
RETURNING *

-- name: mgmt_policy_audit
INSERT INTO policy_audit (changed_by, old_policy, new_policy) VALUES ($1, $2::jsonb, $3::jsonb)

-- name: mgmt_lock_account_mode
-- (rule 7) The account's mode, its row locked until the change and its audit event commit.
SELECT mode FROM accounts WHERE account_id = $1 AND deleted_at IS NULL FOR UPDATE

-- name: mgmt_set_account_mode
UPDATE accounts SET mode = $2, updated_at = now() WHERE account_id = $1

-- name: mgmt_lock_warmup_paused
-- (rule 7) Whether the account's warm-up is paused, its row locked until the change and
-- its audit event commit.
SELECT warmup_paused FROM accounts WHERE account_id = $1 AND deleted_at IS NULL FOR UPDATE

-- name: mgmt_set_warmup_paused
UPDATE accounts SET warmup_paused = $2, updated_at = now()
WHERE account_id = $1 AND deleted_at IS NULL
RETURNING account_id

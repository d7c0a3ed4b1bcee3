-- The rebalancer (workers/). Reads are bulk, one statement per kind for every account;
-- each account's decision is applied in one transaction of its own.

-- name: worker_policy
-- Read by column name (store/policy_columns.py COLUMNS), percentages converted there.
SELECT * FROM policy

-- name: worker_create_accounts
-- Accounts seen in history but unknown (e.g. imported before they were created) join
-- the default region, when that region exists.
INSERT INTO accounts (account_id, region)
SELECT a, r.region
FROM unnest($1::text[]) AS a
JOIN regions r ON r.region = $2
WHERE a ~ '^[A-Za-z0-9._:@-]{1,128}$'
ON CONFLICT DO NOTHING

-- name: worker_window_work_mem
-- The window's sort by account fits in memory at 100k accounts × 30 days.
SET LOCAL work_mem = '128MB'

-- name: worker_release_quarantine
-- An IP being removed (RemoveIPs, removing_since) is not released: worker_remove_drained deletes it.
UPDATE ip_addresses
SET state = 'inventory', quarantine_until = NULL, updated_at = now()
WHERE state = 'quarantine' AND quarantine_until <= $1 AND removing_since IS NULL
RETURNING host(address) AS address, region

-- name: worker_remove_drained
-- (v2) RemoveIPs: an IP it drained leaves once it is out of every pool (quarantine) and
-- drain_days have passed since the call, so that mail already routed to it went out.
DELETE FROM ip_addresses
WHERE removing_since IS NOT NULL AND state = 'quarantine'
  AND removing_since + (SELECT drain_days FROM policy) <= $1
RETURNING host(address) AS address, region

-- name: worker_accounts
-- The run goes through the accounts in chunks, in key order (``workers/rebalance/run.py``):
-- this is the next chunk, at most $2 accounts after $1 ('' for the first).
SELECT a.account_id, a.region, a.management_type, a.transition_started_on, a.dedicated_on,
       a.warmup_paused, a.mode, a.reason, a.policy_state::text AS policy_state, a.figures::text AS figures,
       p.pool_id, r.entry::text AS route
FROM accounts a
LEFT JOIN pools p ON p.account_id = a.account_id AND p.pool_type = 'dedicated'
LEFT JOIN routing_entries r ON r.kind = 'account' AND r.key = a.account_id
WHERE a.account_id > $1 AND a.deleted_at IS NULL
ORDER BY a.account_id
LIMIT $2

-- name: worker_count_accounts
SELECT count(*) FROM accounts WHERE deleted_at IS NULL

-- name: worker_last_chunk_end
-- The last chunk ends at the greater of its last account ($1) and the last account of
-- the window's history (days $2 .. $3 - 1), so that accounts seen only in history are
-- in it. Every chunk has both ends: `$2 IS NULL OR account_id <= $2` would keep a
-- prepared statement's generic plan from using the upper bound (measured: 5 s a chunk at 1M).
SELECT greatest($1::text, (SELECT max(account_id) FROM daily_history WHERE day >= $2 AND day < $3))

-- name: worker_pool_ips
-- A chunk's accounts (after $1 up to $2), as each query below that reads one. A blocked
-- IP (BlockIPs) is gone from the pool for the policy, which replaces it from inventory;
-- one that is draining already drains on.
SELECT p.account_id, host(i.address) AS address, i.assigned_on, i.drain_started_on
FROM ip_addresses i
JOIN pools p ON p.pool_id = i.pool_id
WHERE p.pool_type = 'dedicated' AND (i.state = 'draining' OR (i.state = 'dedicated' AND i.blocked_reason IS NULL))
  AND p.account_id > $1 AND p.account_id <= $2
ORDER BY p.account_id, i.assigned_on, i.address

-- name: worker_pairs
SELECT account_id, host(address) AS address, mailbox_provider, stage, last_evaluated_on
FROM warmup_state
WHERE account_id > $1 AND account_id <= $2
ORDER BY account_id

-- name: worker_history_window
-- A chunk's window (days $3 .. $4 - 1) in one pass: one row per account with its (day,
-- provider, ip, sent) rows as parallel arrays, decoded in C by asyncpg; the day as its
-- offset from $3 (a small int, no date object per row). Reads only the window's day
-- partitions (migration 0009), each by its primary key (day, account_id, ...).
SELECT account_id,
       array_agg(day - $3::date) AS days, array_agg(mailbox_provider) AS providers,
       array_agg(ip) AS ips, array_agg(imported + counted) AS sent
FROM daily_history
WHERE day >= $3 AND day < $4 AND imported + counted > 0
  AND account_id > $1 AND account_id <= $2
GROUP BY account_id

-- name: worker_outcomes_window
SELECT account_id, day, ip, mailbox_provider, delivered, deferred, bounced, complained, throttled
FROM daily_outcomes
WHERE day >= $3 AND day < $4 AND ip <> ''
  AND account_id > $1 AND account_id <= $2

-- name: worker_lock_account
SELECT a.account_id, a.region, a.management_type, a.transition_started_on, a.dedicated_on,
       a.warmup_paused, a.mode, a.reason, a.policy_state::text AS policy_state, a.figures::text AS figures,
       p.pool_id, r.entry::text AS route
FROM accounts a
LEFT JOIN pools p ON p.account_id = a.account_id AND p.pool_type = 'dedicated'
LEFT JOIN routing_entries r ON r.kind = 'account' AND r.key = a.account_id
WHERE a.account_id = $1 AND a.deleted_at IS NULL
FOR UPDATE OF a

-- name: worker_account_pool_ips
-- The pool id first (a sub-select), then its IPs by ip_addresses_pool: written as a join,
-- the planner, with statistics from before a first run assigned thousands of IPs, walked
-- every dedicated IP for each account (7 ms each at 2,000, growing with every run's
-- assignments). Blocked IPs as in worker_pool_ips.
SELECT host(i.address) AS address, i.assigned_on, i.drain_started_on
FROM ip_addresses i
WHERE i.pool_id = (SELECT p.pool_id FROM pools p WHERE p.account_id = $1 AND p.pool_type = 'dedicated')
  AND (i.state = 'draining' OR (i.state = 'dedicated' AND i.blocked_reason IS NULL))
ORDER BY i.assigned_on, i.address

-- name: worker_account_pairs
SELECT host(address) AS address, mailbox_provider, stage, last_evaluated_on
FROM warmup_state
WHERE account_id = $1

-- name: worker_claim_inventory
-- Free IPs of a region, lowest address first (SPEC rule 1), locked for this transaction;
-- another worker skips them. The order is the inet column's (IPv4 before IPv6, each
-- numerically, as the index ip_addresses_free holds it), so it is qualified: a bare
-- `ORDER BY address` sorts by the text output column of that name ('2001:db8::11'
-- before '203.0.113.2'). Never a blocked IP (the index leaves them out too).
SELECT host(i.address) AS address
FROM ip_addresses i
WHERE i.region = $1 AND i.state = 'inventory' AND i.blocked_reason IS NULL
ORDER BY i.address
LIMIT $2
FOR UPDATE SKIP LOCKED

-- name: worker_ensure_pool
INSERT INTO pools (pool_id, region, pool_type, account_id)
VALUES ($1, $2, 'dedicated', $3)
ON CONFLICT DO NOTHING

-- name: worker_assign_ip
UPDATE ip_addresses
SET state = 'dedicated', pool_id = $2, assigned_on = $3, updated_at = now()
WHERE address = $1::inet AND state = 'inventory'

-- name: worker_start_drain
UPDATE ip_addresses
SET state = 'draining', drain_started_on = $3, updated_at = now()
WHERE address = $1::inet AND pool_id = $2 AND state = 'dedicated'

-- name: worker_release_ip
UPDATE ip_addresses
SET state = 'quarantine', pool_id = NULL, assigned_on = NULL, drain_started_on = NULL,
    quarantine_until = $3, updated_at = now()
WHERE address = $1::inet AND pool_id = $2 AND state = 'draining'

-- name: worker_delete_pairs
DELETE FROM warmup_state WHERE account_id = $1

-- name: worker_insert_pairs
INSERT INTO warmup_state (address, mailbox_provider, account_id, stage, last_evaluated_on)
SELECT a::inet, p, $1, s, e
FROM unnest($2::text[], $3::text[], $4::int[], $5::date[]) AS t(a, p, s, e)

-- name: worker_update_account
UPDATE accounts
SET management_type = $2, transition_started_on = $3, dedicated_on = $4, reason = $5,
    policy_state = $6::jsonb, figures = $7::jsonb, last_decided_on = $8, updated_at = now()
WHERE account_id = $1

-- name: worker_update_figures
-- Accounts whose decision changed nothing but their figures and reason, in one batch.
UPDATE accounts a
SET reason = t.reason, figures = t.figures::jsonb, last_decided_on = $4, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[]) AS t(account_id, reason, figures)
WHERE a.account_id = t.account_id

-- name: worker_missing_partitions
-- The day partitions (migration 0009) of daily_history and daily_outcomes from $1 through
-- $2 that do not exist yet, oldest first.
SELECT t.parent, d::date AS day
FROM unnest(ARRAY['daily_history', 'daily_outcomes']) AS t(parent),
     generate_series($1::date, $2::date, interval '1 day') AS d
WHERE to_regclass(t.parent || '_' || to_char(d, 'YYYYMMDD')) IS NULL
ORDER BY d, t.parent

-- name: worker_partition_lock_timeout
-- Partition upkeep waits this long for its locks, then gives up until the next run: a
-- queue behind its lock would stall the routers' flushes.
SET LOCAL lock_timeout = '2s'

-- name: worker_ensure_partition
SELECT history_partition_ensure($1, $2)

-- name: worker_drop_partitions
-- Retention: the day partitions of table $1 wholly before $2 are dropped, and the DEFAULT
-- partition's rows before it deleted.
SELECT history_partitions_drop_before($1, $2)

-- name: worker_prune_flushes
DELETE FROM history_flushes WHERE flushed_at < now() - make_interval(days => $1)

-- name: worker_try_session_lock
SELECT pg_try_advisory_lock(hashtext($1))

-- name: worker_session_unlock
SELECT pg_advisory_unlock(hashtext($1))

-- name: worker_ramp_general_ips
-- SPEC rule 12 (v2): each general-pool IP still ramping in (general_stage not NULL) advances
-- one stage for each day before $1 on which it carried traffic and that no run has counted
-- yet (history from $2 on, the window); past the schedule's $3 stages it is warm (NULL).
-- Idempotent: a day is counted once (general_evaluated_through), and a run for an earlier
-- day counts nothing. Returns the IPs it looked at.
WITH carried AS (
    SELECT w.address,
           (SELECT count(DISTINCT h.day) FROM daily_history h
            WHERE h.day >= $2 AND h.day < $1 AND h.ip = host(w.address)
              AND h.day > coalesce(w.general_evaluated_through, $2::date - 1)
              AND h.imported + h.counted > 0) AS days
    FROM ip_addresses w
    WHERE w.state = 'general' AND w.general_stage IS NOT NULL
      AND (w.general_evaluated_through IS NULL OR w.general_evaluated_through < $1::date - 1)
)
UPDATE ip_addresses i
SET general_stage = CASE WHEN i.general_stage + c.days >= $3 THEN NULL ELSE i.general_stage + c.days END,
    general_evaluated_through = $1::date - 1
FROM carried c
WHERE i.address = c.address
RETURNING host(i.address) AS address, i.general_stage AS stage

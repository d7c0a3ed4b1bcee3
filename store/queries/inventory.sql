-- (v2) The IP inventory calls of Management (server/management/inventory.py, ip_admin.py,
-- account_delete.py). States as the API shows them come from the view ip_inventory
-- (migration 0011); a "usable" general IP is one in the general pool and not blocked.

-- name: inv_list_ips
-- One page in address order (the inet column: IPv4 before IPv6, numerically), after $5
-- (NULL for the first page). Filters when not '': $1 region, $2 shown state, $3 account;
-- $4 limits to IPs of those accounts' dedicated pools (a scoped key; NULL: all).
SELECT host(v.address) AS address, v.region, coalesce(v.hostname, '') AS hostname, v.shown_state,
       coalesce(v.account_id, '') AS account_id, coalesce(v.pool_id, '') AS pool_id, v.since,
       v.quarantine_until, coalesce(v.blocked_reason, '') AS blocked_reason
FROM ip_inventory v
WHERE ($1::text = '' OR v.region = $1)
  AND ($2::text = '' OR v.shown_state = $2)
  AND ($3::text = '' OR v.account_id = $3)
  AND ($4::text[] IS NULL OR v.account_id = ANY ($4::text[]))
  AND ($5::inet IS NULL OR v.address > $5::inet)
ORDER BY v.address
LIMIT $6

-- name: inv_list_regions
SELECT r.region,
       count(v.address) FILTER (WHERE v.shown_state = 'general') AS general_ips,
       count(v.address) FILTER (WHERE v.shown_state = 'free') AS free_ips,
       count(v.address) FILTER (WHERE v.shown_state = 'assigned') AS assigned_ips,
       count(v.address) FILTER (WHERE v.shown_state = 'draining') AS draining_ips,
       count(v.address) FILTER (WHERE v.shown_state = 'quarantined') AS quarantined_ips,
       count(v.address) FILTER (WHERE v.shown_state = 'blocked') AS blocked_ips,
       (SELECT count(*) FROM accounts a WHERE a.region = r.region AND a.deleted_at IS NULL) AS accounts
FROM regions r
LEFT JOIN ip_inventory v ON v.region = r.region
GROUP BY r.region
ORDER BY r.region

-- name: inv_ip_regions
-- The regions of the addresses $1 (unlocked: which regions to lock first).
SELECT DISTINCT region FROM ip_addresses WHERE address = ANY ($1::text[]::inet[]) ORDER BY region

-- name: inv_lock_regions
-- Serialises the calls that take general IPs out of a region (RemoveIPs, BlockIPs): each
-- counts what is left only after this lock, so two of them never both take the last ones.
SELECT region FROM regions WHERE region = ANY ($1::text[]) ORDER BY region FOR UPDATE

-- name: inv_lock_ips
-- The addresses $1 with where they are, locked until commit.
-- shown_state: the state ListIPs shows (the view ip_inventory), for the audit events.
SELECT host(i.address) AS address, i.region, i.state, i.pool_id, v.account_id, i.removing_since,
       i.blocked_reason, v.shown_state
FROM ip_addresses i
JOIN ip_inventory v ON v.address = i.address
WHERE i.address = ANY ($1::text[]::inet[])
ORDER BY i.address
FOR UPDATE OF i

-- name: inv_stranded_regions
-- Of the regions $1, those with accounts that would have no usable general IP once the
-- addresses $2 leave the general pool or are blocked.
SELECT r.region
FROM regions r
WHERE r.region = ANY ($1::text[])
  AND EXISTS (SELECT 1 FROM accounts a WHERE a.region = r.region AND a.deleted_at IS NULL)
  AND NOT EXISTS (
      SELECT 1 FROM ip_addresses i
      WHERE i.region = r.region AND i.state = 'general' AND i.blocked_reason IS NULL
        AND i.address <> ALL ($2::text[]::inet[])
  )
ORDER BY r.region

-- name: inv_delete_ips
DELETE FROM ip_addresses WHERE address = ANY ($1::text[]::inet[])

-- name: inv_drain_dedicated
-- RemoveIPs of assigned IPs: they drain (no new traffic) and the rebalancer releases them.
UPDATE ip_addresses
SET state = 'draining', drain_started_on = $2, removing_since = $2, updated_at = now()
WHERE address = ANY ($1::text[]::inet[]) AND state = 'dedicated'

-- name: inv_mark_removing
-- RemoveIPs of IPs the rebalancer is already draining: they leave instead of returning.
UPDATE ip_addresses
SET removing_since = $2, updated_at = now()
WHERE address = ANY ($1::text[]::inet[]) AND state = 'draining' AND removing_since IS NULL

-- name: inv_drain_general
-- RemoveIPs of general IPs: out of the pool now (the pool's entry is republished), held in
-- quarantine for drain_days (mail already routed to them goes out), then deleted by the
-- rebalancer (worker_remove_drained).
UPDATE ip_addresses
SET state = 'quarantine', pool_id = NULL, general_stage = NULL, general_evaluated_through = NULL,
    quarantine_until = $2::date + (SELECT drain_days FROM policy), removing_since = $2, updated_at = now()
WHERE address = ANY ($1::text[]::inet[]) AND state = 'general'

-- name: inv_block
UPDATE ip_addresses
SET blocked_reason = $2, blocked_at = now(), updated_at = now()
WHERE address = ANY ($1::text[]::inet[])

-- name: inv_unblock
UPDATE ip_addresses
SET blocked_reason = NULL, blocked_at = NULL, updated_at = now()
WHERE address = ANY ($1::text[]::inet[]) AND blocked_reason IS NOT NULL

-- name: inv_account_entries
-- The published entries of the accounts $1, to take addresses out of them.
SELECT key AS account_id, entry::text AS entry
FROM routing_entries
WHERE kind = 'account' AND key = ANY ($1::text[])
ORDER BY key

-- name: inv_lock_account
-- The account (not deleted) with its dedicated pool, locked against the rebalancer.
SELECT a.account_id, a.region, a.management_type, p.pool_id
FROM accounts a
LEFT JOIN pools p ON p.account_id = a.account_id AND p.pool_type = 'dedicated'
WHERE a.account_id = $1 AND a.deleted_at IS NULL
FOR UPDATE OF a

-- name: inv_assign
-- AssignIPs: free IPs into the pool $2 from day $3 (their pairs start at stage 0 at the next
-- run, as for any assigned IP). Only free ones: the caller compares the count.
UPDATE ip_addresses
SET state = 'dedicated', pool_id = $2, assigned_on = $3, updated_at = now()
WHERE address = ANY ($1::text[]::inet[]) AND state = 'inventory' AND blocked_reason IS NULL
  AND removing_since IS NULL

-- name: inv_account_deleted
SELECT deleted_at FROM accounts WHERE account_id = $1

-- name: inv_quarantine_account_ips
-- DeleteAccount: the account's IPs (pool $1) leave it at once and wait in quarantine until
-- $2; nobody else gets them meanwhile, so mail already routed through them goes out.
UPDATE ip_addresses
SET state = 'quarantine', pool_id = NULL, assigned_on = NULL, drain_started_on = NULL,
    quarantine_until = $2, updated_at = now()
WHERE pool_id = $1 AND state IN ('dedicated', 'draining')
RETURNING host(address) AS address

-- name: inv_delete_account_pairs
DELETE FROM warmup_state WHERE account_id = $1

-- name: inv_tombstone_account
UPDATE accounts
SET deleted_at = now(), management_type = 'general', transition_started_on = NULL, dedicated_on = NULL,
    reason = 'deleted', figures = '{}', policy_state = '{}', updated_at = now()
WHERE account_id = $1

-- name: inv_quarantine_days
SELECT drain_days, quarantine_days FROM policy

-- name: inv_revive_account
-- CreateAccount of a deleted account in its region: it is back, as a new General account
-- (its history, kept, counts again).
UPDATE accounts SET deleted_at = NULL, reason = '', updated_at = now()
WHERE account_id = $1 AND region = $2 AND deleted_at IS NOT NULL
RETURNING account_id

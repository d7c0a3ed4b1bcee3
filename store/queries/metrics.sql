-- The gauges the rebalancer refreshes after each run (workers/metrics.py): what an operator
-- watches between runs, read once per run, never on a router's hot path.

-- name: metrics_accounts_by_type
SELECT management_type, count(*) AS n FROM accounts WHERE deleted_at IS NULL GROUP BY management_type

-- name: metrics_ips_by_state
-- The states ListIPs shows (the ip_inventory view: general, free, assigned, draining,
-- quarantined, blocked), per region.
SELECT region, shown_state AS state, count(*) AS n FROM ip_inventory GROUP BY region, shown_state

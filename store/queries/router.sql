-- The router's queries (server/router).

-- name: router_entries_page
-- The routing entries after a version, a page at a time (versions become visible in
-- increasing order, so paging by version misses nothing).
SELECT kind, key, version, entry::text AS entry
FROM routing_entries
WHERE version > $1
ORDER BY version
LIMIT $2

-- name: router_flush_history
-- One flush of aggregated picks, applied at most once: the flush id goes into
-- history_flushes in the same statement, and a retried flush (same id) adds nothing.
-- Accounts the router has no entry for are created in their region (when it exists).
-- Returns 1 when applied, 0 when the flush id was already recorded.
-- Stored counts saturate at 2^62 - 1 instead of overflowing: an overflow would fail this
-- flush, and so every later one, for every account. With an imported count at most 10^9
-- (ImportHistory allowed up to 2^62 once), imported + counted always fits a bigint, so the
-- readers of that sum (worker.sql) never overflow either.
WITH flush AS (
    INSERT INTO history_flushes (flush_id, router_id, rows)
    VALUES ($1, $2, cardinality($3::date[]))
    ON CONFLICT (flush_id) DO NOTHING
    RETURNING flush_id
), created AS (
    INSERT INTO accounts (account_id, region)
    SELECT a.account_id, a.region
    FROM unnest($8::text[], $9::text[]) AS a (account_id, region)
    JOIN regions r ON r.region = a.region
    WHERE EXISTS (SELECT 1 FROM flush)
    ON CONFLICT (account_id) DO NOTHING
), counted AS (
    INSERT INTO daily_history AS h (day, account_id, ip, mailbox_provider, counted)
    SELECT u.day, u.account_id, u.ip, u.mailbox_provider, u.n
    FROM unnest($3::date[], $4::text[], $5::text[], $6::text[], $7::bigint[])
        AS u (day, account_id, ip, mailbox_provider, n)
    WHERE EXISTS (SELECT 1 FROM flush)
    ON CONFLICT (day, account_id, ip, mailbox_provider)
    DO UPDATE SET counted = LEAST(h.counted::numeric + EXCLUDED.counted, 4611686018427387903)::bigint
)
SELECT count(*)::int FROM flush

-- name: router_prune_flushes
-- Flush ids are needed only while a flush may still be retried (minutes); keep a week.
DELETE FROM history_flushes WHERE flushed_at < now() - make_interval(days => $1)

-- name: router_report_outcomes
-- Counts saturate at 2^62 - 1, as in router_flush_history: an overflow would refuse every
-- later report touching the key, and the other outcomes of each such report with it.
INSERT INTO daily_outcomes AS o (day, account_id, ip, mailbox_provider, delivered, deferred, bounced, complained, throttled)
SELECT *
FROM unnest(
    $1::date[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[]
)
ON CONFLICT (day, account_id, ip, mailbox_provider) DO UPDATE
SET delivered = LEAST(o.delivered::numeric + EXCLUDED.delivered, 4611686018427387903)::bigint,
    deferred = LEAST(o.deferred::numeric + EXCLUDED.deferred, 4611686018427387903)::bigint,
    bounced = LEAST(o.bounced::numeric + EXCLUDED.bounced, 4611686018427387903)::bigint,
    complained = LEAST(o.complained::numeric + EXCLUDED.complained, 4611686018427387903)::bigint,
    throttled = LEAST(o.throttled::numeric + EXCLUDED.throttled, 4611686018427387903)::bigint

-- name: router_claim_outcome_report
-- Returns a row when this report_id is new (then the outcomes are added in the same transaction).
INSERT INTO outcome_reports (report_id) VALUES ($1) ON CONFLICT (report_id) DO NOTHING RETURNING report_id

-- name: router_prune_outcome_reports
DELETE FROM outcome_reports WHERE applied_at < now() - make_interval(days => $1)

-- name: router_prune_rests
-- (rule 11) Rests that ended days ago say nothing any more (the audit log keeps the trips).
DELETE FROM pair_rests WHERE until < now() - make_interval(days => $1)

-- name: router_heartbeat
-- Says this router is alive; returns how many routers are (itself included).
WITH beat AS (
    INSERT INTO router_heartbeats AS b (router_id, address, routing_version)
    VALUES ($1, $2, $3)
    ON CONFLICT (router_id) DO UPDATE
    SET last_seen = now(), address = EXCLUDED.address, routing_version = EXCLUDED.routing_version
    RETURNING router_id
)
SELECT 1 + count(*)::int
FROM router_heartbeats
WHERE router_id <> $1 AND last_seen > now() - make_interval(secs => $4)

-- name: router_heartbeat_remove
DELETE FROM router_heartbeats WHERE router_id = $1

-- name: router_breaker_pairs
-- (rule 11) Today's outcomes of the reported pairs that are in their account's dedicated
-- pool, with the kinds of rest each already has ($5: now). $2-$4 are the reported keys
-- (valid addresses only). `ip` is the address as the routing entries write it.
SELECT u.account_id, host(ia.address) AS ip, u.mailbox_provider,
       o.delivered, o.deferred, o.bounced, o.complained, o.throttled,
       COALESCE((SELECT array_agg(r.kind) FROM pair_rests r
                 WHERE r.ip = host(ia.address) AND r.mailbox_provider = u.mailbox_provider AND r.until > $5),
                '{}') AS resting
FROM unnest($2::text[], $3::text[], $4::text[]) AS u (account_id, ip, mailbox_provider)
JOIN daily_outcomes o
  ON o.day = $1 AND o.account_id = u.account_id AND o.ip = u.ip AND o.mailbox_provider = u.mailbox_provider
JOIN ip_addresses ia ON ia.address = u.ip::inet AND ia.state IN ('dedicated', 'draining')
JOIN pools p ON p.pool_id = ia.pool_id AND p.account_id = u.account_id

-- name: router_rest_pair
-- (rule 11) Rest a pair until $6; a pair already resting keeps the later end (and the
-- moment it first tripped).
INSERT INTO pair_rests AS r (ip, mailbox_provider, kind, account_id, tripped_at, until, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (ip, mailbox_provider, kind) DO UPDATE
SET account_id = EXCLUDED.account_id,
    reason = EXCLUDED.reason,
    tripped_at = CASE WHEN r.until > EXCLUDED.tripped_at THEN r.tripped_at ELSE EXCLUDED.tripped_at END,
    until = GREATEST(CASE WHEN r.until > EXCLUDED.tripped_at THEN r.until END, EXCLUDED.until)

-- name: router_rests_notify
-- Wakes every router's loader (a payload that is not a version always does).
SELECT pg_notify('sendingip_routing', 'rests')

-- name: router_active_rests
-- (rule 11) The pairs resting now ($1), for the routers' tables.
SELECT account_id, ip, mailbox_provider, until FROM pair_rests WHERE until > $1

-- name: router_lease_grant
-- (rules 8-10, issue 16) Grants this router ($2) up to $6 more picks of each allowance
-- ($3 IP, $4 mailbox provider or '' for the IP's capacity) for day $1, without the
-- allowance's total ever passing $5, its cap now; $7 is what the router has counted. One
-- conditional upsert for all of them, in key order (so routers racing for the same rows lock
-- them in one order): a row at its cap is left alone and returns nothing. Returns what was
-- granted per allowance (the router adds it to what it holds); the router's own row grows
-- by the same amount in the same statement. The caller sends each key once, want and cap > 0.
WITH asked AS (
    SELECT * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])
        AS a (ip, mailbox_provider, cap, want, used)
), granted AS (
    INSERT INTO lease_budgets AS b (day, ip, mailbox_provider, cap, leased, granted)
    SELECT $1, a.ip, a.mailbox_provider, a.cap, LEAST(a.want, a.cap), LEAST(a.want, a.cap)
    FROM asked a
    ORDER BY a.ip, a.mailbox_provider
    ON CONFLICT (day, ip, mailbox_provider) DO UPDATE
    SET granted = LEAST(EXCLUDED.granted, EXCLUDED.cap - b.leased),
        leased = b.leased + LEAST(EXCLUDED.granted, EXCLUDED.cap - b.leased),
        cap = EXCLUDED.cap
    WHERE b.leased < EXCLUDED.cap
    RETURNING b.ip, b.mailbox_provider, b.granted
), mine AS (
    INSERT INTO budget_leases AS l (day, router_id, ip, mailbox_provider, leased, used)
    SELECT $1, $2, g.ip, g.mailbox_provider, g.granted, a.used
    FROM granted g
    JOIN asked a USING (ip, mailbox_provider)
    ON CONFLICT (day, router_id, ip, mailbox_provider) DO UPDATE
    SET leased = l.leased + EXCLUDED.leased, used = EXCLUDED.used, updated_at = now()
)
SELECT ip, mailbox_provider, granted FROM granted

-- name: router_lease_give_back
-- (issue 16) This router ($2) gives back $5 picks of each allowance it holds for day $1
-- ($3 IP, $4 mailbox provider or ''), having counted $6: its row and the budget both shrink
-- by them. The budget rows are locked in key order first, as router_lease_grant locks them.
WITH back AS (
    SELECT * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[])
        AS u (ip, mailbox_provider, back, used)
), mine AS (
    UPDATE budget_leases l
    SET leased = l.leased - u.back, used = u.used, updated_at = now()
    FROM back u
    WHERE l.day = $1 AND l.router_id = $2 AND l.ip = u.ip AND l.mailbox_provider = u.mailbox_provider
      AND l.leased >= u.back
    RETURNING l.ip, l.mailbox_provider, u.back
), locked AS MATERIALIZED (
    SELECT b.ip, b.mailbox_provider
    FROM lease_budgets b
    JOIN back u ON b.day = $1 AND b.ip = u.ip AND b.mailbox_provider = u.mailbox_provider
    ORDER BY b.ip, b.mailbox_provider
    FOR UPDATE OF b
)
UPDATE lease_budgets b
SET leased = GREATEST(b.leased - m.back, 0)
FROM mine m
JOIN locked k USING (ip, mailbox_provider)
WHERE b.day = $1 AND b.ip = m.ip AND b.mailbox_provider = m.mailbox_provider

-- name: router_leases_held
-- (issue 16) What this router ($2) holds of each allowance of day $1, as a router started
-- again with the same router_id resumes it.
SELECT ip, mailbox_provider, leased, used FROM budget_leases WHERE day = $1 AND router_id = $2

-- name: router_prune_leases
-- Leases and budgets are per UTC day: a week of them is kept for a look after the fact.
WITH gone AS (
    DELETE FROM budget_leases WHERE day < (now() AT TIME ZONE 'UTC')::date - $1::int
)
DELETE FROM lease_budgets WHERE day < (now() AT TIME ZONE 'UTC')::date - $1::int

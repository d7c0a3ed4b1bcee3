-- The web console (server/console): what its pages show besides the Management calls.

-- name: console_provider_history
-- Account $1's messages per (day, mailbox provider) from day $2 to day $3, and how many of
-- them went through an IP that is or was in the account's dedicated pool
-- (ip_pool_members). Sums of bigints are numerics, capped before the cast so that no
-- stored count can make the page fail.
WITH dedicated AS (
    SELECT DISTINCT host(address) AS ip FROM ip_pool_members WHERE account_id = $1
)
SELECT d.day, d.mailbox_provider,
       LEAST(coalesce(sum(d.imported::numeric + d.counted) FILTER (WHERE d.ip IN (SELECT ip FROM dedicated)), 0),
             9223372036854775807)::bigint AS dedicated,
       LEAST(sum(d.imported::numeric + d.counted), 9223372036854775807)::bigint AS total
FROM daily_history d
WHERE d.account_id = $1 AND d.day BETWEEN $2 AND $3
GROUP BY d.day, d.mailbox_provider
ORDER BY d.mailbox_provider, d.day

-- name: console_warmup_limits
-- Today's warm-up limit per mailbox provider summed over account $1's dedicated IPs whose
-- pair is still warming: stage s of the provider's schedule (provider_schedules, else
-- warmup_schedule); a warm pair adds none (NULL when none is warming).
SELECT ws.mailbox_provider,
       LEAST(sum(coalesce((pol.provider_schedules -> ws.mailbox_provider ->> ws.stage)::bigint,
                          pol.warmup_schedule[ws.stage + 1]))
                 FILTER (WHERE ws.stage < coalesce(jsonb_array_length(pol.provider_schedules -> ws.mailbox_provider),
                                                   cardinality(pol.warmup_schedule))),
             9223372036854775807)::bigint AS limit_today
FROM warmup_state ws
CROSS JOIN policy pol
JOIN ip_addresses i ON i.address = ws.address AND i.state = 'dedicated'
JOIN pools p ON p.pool_id = i.pool_id AND p.pool_type = 'dedicated' AND p.account_id = $1
WHERE ws.account_id = $1
GROUP BY ws.mailbox_provider
ORDER BY ws.mailbox_provider

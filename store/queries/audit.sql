-- name: audit_record
-- One audit event (SPEC §3 AuditEvent), in the caller's transaction.
INSERT INTO audit_events (actor, kind, account_id, addresses, before, after, reason)
VALUES ($1, $2, $3, $4::text[], $5::jsonb, $6::jsonb, $7)
RETURNING id

-- name: audit_page
-- ListAuditEvents: newest first, below the page token's id ($5, NULL on the first page).
-- $1 account (NULL: any), $2 since (NULL: ever), $3 kinds (NULL: all), $4 a scoped key's
-- accounts (NULL: unscoped; a scoped key sees no event without an account), $6 limit.
-- Walks the primary key (or audit_events_account, audit_events_kind) backwards.
SELECT id, at, actor, kind, account_id, addresses, before::text AS before, after::text AS after, reason
FROM audit_events
WHERE ($1::text IS NULL OR account_id = $1)
  AND ($2::timestamptz IS NULL OR at >= $2)
  AND ($3::text[] IS NULL OR kind = ANY($3::text[]))
  AND ($4::text[] IS NULL OR account_id = ANY($4::text[]))
  AND ($5::bigint IS NULL OR id < $5)
ORDER BY id DESC
LIMIT $6

-- name: audit_prune
-- The rebalancer, at the end of a run: events older than the policy's audit_retention_days.
DELETE FROM audit_events WHERE at < now() - make_interval(days => $1)

-- name: audit_record_many
-- Several events of one actor in one statement (a rebalancer's account: its IPs and its
-- move), in the order given. $4: each event's addresses as a JSON array.
INSERT INTO audit_events (actor, kind, account_id, addresses, before, after, reason)
SELECT $1, t.kind, t.account_id, ARRAY(SELECT jsonb_array_elements_text(t.addresses)), t.before, t.after, t.reason
FROM unnest($2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::jsonb[], $7::text[])
     WITH ORDINALITY AS t (kind, account_id, addresses, before, after, reason, n)
ORDER BY t.n

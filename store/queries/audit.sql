-- name: audit_record
-- One audit event (SPEC §3 AuditEvent), in the caller's transaction.
INSERT INTO audit_events (actor, kind, account_id, addresses, before, after, reason)
VALUES ($1, $2, $3, $4::text[], $5::jsonb, $6::jsonb, $7)
RETURNING id

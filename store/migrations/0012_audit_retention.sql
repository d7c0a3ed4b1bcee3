-- (v2) SPEC §3 ListAuditEvents: how long the audit log keeps an event. The rebalancer
-- deletes events older than this at the end of each run (store/queries/audit.sql
-- audit_prune). Its limits are Policy.validate's (store/policy_limits.py); this CHECK is
-- looser, never stricter.
ALTER TABLE policy
    ADD COLUMN audit_retention_days integer NOT NULL DEFAULT 400 CHECK (audit_retention_days >= 1);

-- The log filtered by kind, newest first (ListAuditEvents ... kinds=...): without it a
-- rare kind is found by reading every event after it.
CREATE INDEX audit_events_kind ON audit_events (kind, id);

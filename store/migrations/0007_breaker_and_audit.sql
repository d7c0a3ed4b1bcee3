-- (v2) SPEC §2 rule 11: the same-day breaker. A row rests one (IP, mailbox provider) pair
-- of an account's dedicated pool until `until`: the routers give it no dedicated picks
-- meanwhile. `kind` is 'hold' (today's outcomes crossed a hold threshold: until the end of
-- the UTC day) or 'throttle' (the provider rate-limited it: throttle_pause_minutes). One
-- row per pair and kind; a new trip of a resting pair moves `until` on. Rows past `until`
-- mean nothing and are pruned by the rebalancer.
CREATE TABLE pair_rests (
    ip                text NOT NULL,
    mailbox_provider  text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('hold', 'throttle')),
    account_id        text NOT NULL,
    tripped_at        timestamptz NOT NULL DEFAULT now(),
    until             timestamptz NOT NULL,
    reason            text NOT NULL,
    PRIMARY KEY (ip, mailbox_provider, kind)
);
CREATE INDEX pair_rests_account ON pair_rests (account_id);
CREATE INDEX pair_rests_until ON pair_rests (until);

-- (v2) SPEC §3 AuditEvent: what changed, who changed it, and why, written in the same
-- transaction as the change. `actor` is an API key's id, 'rebalancer' or 'router' (the
-- same-day breaker); `before`/`after` are small JSON documents of what the event changed.
CREATE TABLE audit_events (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    kind        text NOT NULL,
    account_id  text,
    addresses   text[] NOT NULL DEFAULT '{}',
    before      jsonb,
    after       jsonb,
    reason      text NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_account ON audit_events (account_id, id) WHERE account_id IS NOT NULL;
CREATE INDEX audit_events_at ON audit_events (at);

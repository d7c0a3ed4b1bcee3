-- The initial schema: SPEC §1–2. Invariants live in constraints so that no code path
-- (or operator with psql) can break them: an IP is in at most one pool, an account has
-- at most one dedicated pool, an IP's pool is of its region and of the type its state says.

CREATE TABLE regions (
    region      text PRIMARY KEY CHECK (region ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    account_id             text PRIMARY KEY CHECK (account_id ~ '^[A-Za-z0-9._:@-]{1,128}$'),
    region                 text NOT NULL REFERENCES regions,
    management_type        text NOT NULL DEFAULT 'general'
                           CHECK (management_type IN ('general', 'transition', 'dedicated')),
    transition_started_on  date,
    dedicated_on           date,
    warmup_paused          boolean NOT NULL DEFAULT false,
    reason                 text NOT NULL DEFAULT '',
    -- The policy's per-account bookkeeping (scale-in streaks, last evaluated day),
    -- owned by workers.policy and written with the rest of a decision.
    policy_state           jsonb NOT NULL DEFAULT '{}',
    -- Figures for the Management API (store/account_figures.py), written with the decision.
    figures                jsonb NOT NULL DEFAULT '{}',
    last_decided_on        date,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CHECK (management_type = 'general' OR transition_started_on IS NOT NULL),
    CHECK (management_type <> 'dedicated' OR dedicated_on IS NOT NULL)
);
CREATE INDEX accounts_region_type ON accounts (region, management_type, account_id);

CREATE TABLE pools (
    pool_id     text PRIMARY KEY,
    region      text NOT NULL REFERENCES regions,
    pool_type   text NOT NULL CHECK (pool_type IN ('general', 'dedicated')),
    account_id  text REFERENCES accounts ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((pool_type = 'general') = (account_id IS NULL)),
    UNIQUE (pool_id, pool_type, region)
);
CREATE UNIQUE INDEX pools_one_general_per_region ON pools (region) WHERE pool_type = 'general';
CREATE UNIQUE INDEX pools_one_dedicated_per_account ON pools (account_id) WHERE pool_type = 'dedicated';

-- An IP's lifecycle: general (in its region's shared pool), inventory (free), dedicated
-- (in an account's pool), draining (still in that pool, no new traffic), quarantine
-- (out of every pool until quarantine_until, then back to inventory).
CREATE TABLE ip_addresses (
    address           inet PRIMARY KEY CHECK (masklen(address) = CASE WHEN family(address) = 4 THEN 32 ELSE 128 END),
    region            text NOT NULL REFERENCES regions,
    state             text NOT NULL CHECK (state IN ('general', 'inventory', 'dedicated', 'draining', 'quarantine')),
    pool_id           text,
    pool_type         text GENERATED ALWAYS AS (
                          CASE WHEN state = 'general' THEN 'general'
                               WHEN state IN ('dedicated', 'draining') THEN 'dedicated' END
                      ) STORED,
    assigned_on       date,
    drain_started_on  date,
    quarantine_until  date,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (pool_id, pool_type, region) REFERENCES pools (pool_id, pool_type, region),
    CHECK ((state IN ('general', 'dedicated', 'draining')) = (pool_id IS NOT NULL)),
    CHECK ((state IN ('dedicated', 'draining')) = (assigned_on IS NOT NULL)),
    CHECK ((state = 'draining') = (drain_started_on IS NOT NULL)),
    CHECK ((state = 'quarantine') = (quarantine_until IS NOT NULL))
);
CREATE INDEX ip_addresses_pool ON ip_addresses (pool_id) WHERE pool_id IS NOT NULL;
CREATE INDEX ip_addresses_free ON ip_addresses (region, address) WHERE state = 'inventory';
CREATE INDEX ip_addresses_quarantine ON ip_addresses (quarantine_until) WHERE state = 'quarantine';

-- Warm-up per (IP, mailbox provider): the stage reached in the policy's warmup_schedule.
CREATE TABLE warmup_state (
    address           inet NOT NULL REFERENCES ip_addresses ON DELETE CASCADE,
    mailbox_provider  text NOT NULL CHECK (mailbox_provider ~ '^[a-z0-9_-]{1,32}$'),
    account_id        text NOT NULL REFERENCES accounts,
    stage             integer NOT NULL DEFAULT 0 CHECK (stage >= 0),
    last_sent_on      date,
    last_evaluated_on date,
    PRIMARY KEY (address, mailbox_provider)
);
CREATE INDEX warmup_state_account ON warmup_state (account_id);

-- Messages per (day, account, IP, provider). `imported` is set by ImportHistory (a
-- re-import replaces it); `counted` is added to by the routers' flushes. The volume of
-- a key is imported + counted. `ip` is '' when the sending IP is unknown. No foreign
-- key to accounts: an account the system does not know yet is created from its history.
CREATE TABLE daily_history (
    day               date NOT NULL,
    account_id        text NOT NULL,
    ip                text NOT NULL DEFAULT '',
    mailbox_provider  text NOT NULL,
    imported          bigint NOT NULL DEFAULT 0 CHECK (imported >= 0),
    counted           bigint NOT NULL DEFAULT 0 CHECK (counted >= 0),
    PRIMARY KEY (day, account_id, ip, mailbox_provider)
);
-- The 30-day aggregation scans a day range (the primary key's leading column); status
-- queries read one account's window.
CREATE INDEX daily_history_account_day ON daily_history (account_id, day);

-- Delivery outcomes per (day, account, IP, provider), added to by ReportOutcomes.
CREATE TABLE daily_outcomes (
    day               date NOT NULL,
    account_id        text NOT NULL,
    ip                text NOT NULL DEFAULT '',
    mailbox_provider  text NOT NULL,
    delivered         bigint NOT NULL DEFAULT 0 CHECK (delivered >= 0),
    deferred          bigint NOT NULL DEFAULT 0 CHECK (deferred >= 0),
    bounced           bigint NOT NULL DEFAULT 0 CHECK (bounced >= 0),
    complained        bigint NOT NULL DEFAULT 0 CHECK (complained >= 0),
    PRIMARY KEY (day, account_id, ip, mailbox_provider)
);
CREATE INDEX daily_outcomes_account_day ON daily_outcomes (account_id, day);

-- Exactly-once history: a router's flush inserts its id in the same transaction as
-- its counts, so a retried flush (commit unknown) is recognised and not counted twice.
CREATE TABLE history_flushes (
    flush_id    uuid PRIMARY KEY,
    router_id   text NOT NULL,
    rows        integer NOT NULL CHECK (rows >= 0),
    flushed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_flushes_flushed_at ON history_flushes (flushed_at);

-- The policy of SPEC §2: one validated row.
CREATE TABLE policy (
    singleton                    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    history_window_days          integer NOT NULL DEFAULT 30 CHECK (history_window_days BETWEEN 1 AND 365),
    dedicated_threshold_30d      bigint NOT NULL DEFAULT 250000 CHECK (dedicated_threshold_30d > 0),
    general_threshold_30d        bigint NOT NULL DEFAULT 100000 CHECK (general_threshold_30d >= 0),
    min_active_days              integer NOT NULL DEFAULT 8 CHECK (min_active_days >= 0),
    ip_daily_capacity            bigint NOT NULL DEFAULT 2500000 CHECK (ip_daily_capacity > 0),
    max_ips_per_account          integer NOT NULL DEFAULT 10 CHECK (max_ips_per_account >= 1),
    warmup_schedule              bigint[] NOT NULL DEFAULT ARRAY[
        200, 500, 1000, 2000, 5000, 10000, 20000, 40000, 60000, 80000, 100000, 150000, 200000,
        250000, 325000, 400000, 500000, 600000, 750000, 900000, 1000000, 1150000, 1300000,
        1500000, 1700000, 1900000, 2100000, 2300000, 2400000, 2500000
    ]::bigint[] CHECK (cardinality(warmup_schedule) BETWEEN 1 AND 365 AND 0 < ALL (warmup_schedule)),
    scale_in_days                integer NOT NULL DEFAULT 7 CHECK (scale_in_days >= 1),
    quarantine_days              integer NOT NULL DEFAULT 30 CHECK (quarantine_days >= 0),
    hold_bounce_percent          double precision NOT NULL DEFAULT 5 CHECK (hold_bounce_percent BETWEEN 0 AND 100),
    hold_complaint_percent       double precision NOT NULL DEFAULT 0.1 CHECK (hold_complaint_percent BETWEEN 0 AND 100),
    hold_deferral_percent        double precision NOT NULL DEFAULT 20 CHECK (hold_deferral_percent BETWEEN 0 AND 100),
    step_back_bounce_percent     double precision NOT NULL DEFAULT 10 CHECK (step_back_bounce_percent BETWEEN 0 AND 100),
    step_back_complaint_percent  double precision NOT NULL DEFAULT 0.5 CHECK (step_back_complaint_percent BETWEEN 0 AND 100),
    drain_days                   integer NOT NULL DEFAULT 1 CHECK (drain_days >= 1),
    expected_volume_days         integer NOT NULL DEFAULT 7 CHECK (expected_volume_days >= 1),
    mailbox_providers            text[] NOT NULL DEFAULT ARRAY['google', 'microsoft', 'yahoo', 'apple', 'other']
                                 CHECK ('other' = ANY (mailbox_providers)),
    updated_by                   text NOT NULL DEFAULT 'migration',
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    CHECK (general_threshold_30d <= dedicated_threshold_30d),
    CHECK (min_active_days <= history_window_days),
    CHECK (hold_bounce_percent <= step_back_bounce_percent),
    CHECK (hold_complaint_percent <= step_back_complaint_percent)
);
INSERT INTO policy DEFAULT VALUES;

CREATE TABLE policy_audit (
    id          bigserial PRIMARY KEY,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    old_policy  jsonb NOT NULL,
    new_policy  jsonb NOT NULL
);

-- API keys: only a hash of the secret is stored. `accounts` NULL means every account.
CREATE TABLE api_keys (
    key_id       text PRIMARY KEY CHECK (key_id ~ '^[a-z0-9]{8,32}$'),
    secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
    permissions  text[] NOT NULL CHECK (cardinality(permissions) > 0
                                        AND permissions <@ ARRAY['route', 'view', 'admin']),
    accounts     text[],
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

-- Routing entries, one per account and one per region (its general pool). `version`
-- comes from routing_clock under a row lock held until commit, so versions become
-- visible in increasing order and a router that polls `version > last_seen` misses nothing.
CREATE TABLE routing_clock (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL DEFAULT 0 CHECK (version >= 0)
);
INSERT INTO routing_clock DEFAULT VALUES;

CREATE TABLE routing_entries (
    kind        text NOT NULL CHECK (kind IN ('account', 'region')),
    key         text NOT NULL,
    version     bigint NOT NULL CHECK (version > 0),
    entry       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, key)
);
CREATE UNIQUE INDEX routing_entries_version ON routing_entries (version);

-- Routers say they are alive; each enforces 1/N of every daily limit, N = live routers.
CREATE TABLE router_heartbeats (
    router_id        text PRIMARY KEY,
    address          text NOT NULL DEFAULT '',
    started_at       timestamptz NOT NULL DEFAULT now(),
    last_seen        timestamptz NOT NULL DEFAULT now(),
    routing_version  bigint NOT NULL DEFAULT 0
);

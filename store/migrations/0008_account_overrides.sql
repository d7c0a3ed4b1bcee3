-- (v2) SPEC §2 "per-account overrides" and rule 7's modes.
-- account_overrides: an account's own dedicated_threshold_30d and max_ips_per_account,
-- {"acme": {"dedicated_threshold_30d": 100000, "max_ips_per_account": 3}}; the accounts it
-- does not name use the policy's. Stored with the policy (one row, one audit trail) and
-- validated by Policy.validate (store/policy_limits.py); this CHECK only keeps a
-- hand-written UPDATE from storing what no rule could read.
ALTER TABLE policy
    ADD COLUMN account_overrides jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(account_overrides) = 'object');
-- mode: how an operator pinned the account (rule 7): 'auto' (the thresholds decide),
-- 'general' (never dedicated), 'dedicated' (dedicated whatever the thresholds say) or
-- 'frozen' (the rebalancer leaves it alone). Set by SetAccountMode, read by the rebalancer.
ALTER TABLE accounts
    ADD COLUMN mode text NOT NULL DEFAULT 'auto' CHECK (mode IN ('auto', 'general', 'dedicated', 'frozen'));

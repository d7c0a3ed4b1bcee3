-- (v2) The policy settings added in v2 (SPEC §2 "Settings added in v2"), with their defaults.
-- Their limits are Policy.validate's (store/policy_limits.py); these CHECKs are looser, never
-- stricter, and only keep a hand-written UPDATE from storing what no rule could use.
-- advance_fraction: a pair advances only on a day it carried at least this share of its limit.
-- warmup_rules: 'v2' (default) or 'v1', the first release's rules 2 and 4, kept as an option.
-- hourly_burst: pacing inside the day; 0 turns it off.
-- same_day_min_outcomes: outcomes a pair needs today before the same-day breaker may act.
-- throttle_pause_minutes: how long a pair rests after its provider throttled it.
-- provider_schedules: a provider's own warm-up schedule, {"microsoft": [100, 300, ...]}; the
-- providers it does not name use warmup_schedule.
ALTER TABLE policy
    ADD COLUMN advance_fraction double precision NOT NULL DEFAULT 0.9
        CHECK (advance_fraction > 0 AND advance_fraction <= 1),
    ADD COLUMN warmup_rules text NOT NULL DEFAULT 'v2' CHECK (warmup_rules IN ('v1', 'v2')),
    ADD COLUMN hourly_burst double precision NOT NULL DEFAULT 2
        CHECK (hourly_burst = 0 OR hourly_burst BETWEEN 1 AND 24),
    ADD COLUMN same_day_min_outcomes bigint NOT NULL DEFAULT 200 CHECK (same_day_min_outcomes >= 1),
    ADD COLUMN throttle_pause_minutes integer NOT NULL DEFAULT 60
        CHECK (throttle_pause_minutes BETWEEN 1 AND 1440),
    ADD COLUMN provider_schedules jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(provider_schedules) = 'object');

-- (v2) SPEC §2 rule 12: a general-pool IP added to a region ramps in along the warm-up
-- schedule. general_stage is its stage in the policy's warmup_schedule (its weight in the
-- shared pool is that stage's limit); NULL once it is warm, past the schedule. The IPs in a
-- general pool before this migration already carry traffic: they stay NULL, warm.
-- general_evaluated_through: the last day the rebalancer counted for it (NULL: none yet).
ALTER TABLE ip_addresses
    ADD COLUMN general_stage integer CHECK (general_stage >= 0),
    ADD COLUMN general_evaluated_through date;

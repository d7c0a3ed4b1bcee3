-- (v2, issue 16) Exact daily limits across routers: budget leasing (docs/router.md, "Daily
-- limits"). Each router leases chunks of an allowance from here and counts its picks against
-- what it holds, so the routers together never carry more than the allowance, however
-- unevenly the picks reach them.
--
-- lease_budgets: one row per UTC day and allowance. mailbox_provider names a warming
-- (IP, provider) pair, whose cap is its daily limit as released by the current UTC hour
-- (rules 8, 10); '' names the dedicated IP's capacity over all providers (rule 9). `leased`
-- is what the routers were granted in all, never above the cap a grant was made under:
-- the granting statement adds to it only while it is below (a conditional upsert, so routers
-- racing for one row are serialised by its row lock). `cap` is the last cap asked under;
-- `granted` is the last grant, for the granting statement to return.
CREATE TABLE lease_budgets (
    day               date NOT NULL,
    ip                text NOT NULL,
    mailbox_provider  text NOT NULL,
    cap               bigint NOT NULL CHECK (cap >= 0),
    leased            bigint NOT NULL CHECK (leased >= 0),
    granted           bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, ip, mailbox_provider)
);

-- budget_leases: what each router holds of each allowance. `leased` is its share of the
-- budget row's `leased` (the rows of one allowance sum to it); `used` is what the router had
-- counted when it last asked or gave back. A router that stops cleanly gives back the rest
-- (`leased` = `used`); one that dies keeps its row: the unused part (at most one chunk) is
-- written off for the day, since picks it made after its last report are unknown. A router
-- started again with the same router_id resumes its rows.
CREATE TABLE budget_leases (
    day               date NOT NULL,
    router_id         text NOT NULL,
    ip                text NOT NULL,
    mailbox_provider  text NOT NULL,
    leased            bigint NOT NULL CHECK (leased >= 0),
    used              bigint NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, router_id, ip, mailbox_provider)
);

-- (v2) Which pools an IP has been in (SPEC §3 "Bounds"): ImportHistory may name only an IP
-- that is or was in the account's dedicated pool or in its region's general pool.
-- ip_addresses says where an IP is now; this table remembers where it was. A trigger records
-- every pool an IP enters, whatever statement puts it there (AddIPs, the rebalancer, a future
-- call, an operator with psql), so that no code path can forget to. One row per (IP, pool)
-- ever held: a handful per IP, never pruned (an IP that has left keeps its past).
CREATE TABLE ip_pool_members (
    address     inet NOT NULL,
    pool_id     text NOT NULL,
    region      text NOT NULL,
    -- The account of a dedicated pool; NULL for a region's general pool.
    account_id  text,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (address, pool_id)
);

-- Per statement, over the rows it wrote (a transition table): an AddIPs of 65,536 addresses
-- pays one INSERT … SELECT, not 65,536.
CREATE FUNCTION ip_pool_members_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ip_pool_members (address, pool_id, region, account_id)
    SELECT DISTINCT n.address, p.pool_id, p.region, p.account_id
    FROM entered n
    JOIN pools p ON p.pool_id = n.pool_id
    ON CONFLICT (address, pool_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER ip_addresses_record_pools_on_insert AFTER INSERT ON ip_addresses
REFERENCING NEW TABLE AS entered FOR EACH STATEMENT EXECUTE FUNCTION ip_pool_members_record();
CREATE TRIGGER ip_addresses_record_pools_on_update AFTER UPDATE ON ip_addresses
REFERENCING NEW TABLE AS entered FOR EACH STATEMENT EXECUTE FUNCTION ip_pool_members_record();

-- The pools IPs are in today. (Where an IP was before this migration is not known: history
-- through such an IP is imported with the IP left empty.)
INSERT INTO ip_pool_members (address, pool_id, region, account_id)
SELECT i.address, p.pool_id, p.region, p.account_id
FROM ip_addresses i
JOIN pools p ON p.pool_id = i.pool_id;

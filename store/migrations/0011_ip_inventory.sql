-- (v2) SPEC §3 IP inventory calls: hostnames, blocking, removal, and deleted accounts.

-- hostname: the EHLO and PTR name of the IP (AddIPs), lower case, a valid DNS name of at
-- most 253 characters (store/hostnames.py holds the same rule for every door).
ALTER TABLE ip_addresses
    ADD COLUMN hostname text
        CHECK (hostname IS NULL OR (
            length(hostname) <= 253
            AND hostname ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'
        )),
    -- blocked_reason: set by BlockIPs (e.g. "listed on Spamhaus SBL"); a blocked IP takes no
    -- traffic (every query that routes or claims an IP skips it) whatever its state.
    ADD COLUMN blocked_reason text CHECK (length(blocked_reason) BETWEEN 1 AND 500),
    ADD COLUMN blocked_at timestamptz,
    ADD CONSTRAINT ip_addresses_blocked_together CHECK ((blocked_reason IS NULL) = (blocked_at IS NULL)),
    -- removing_since: RemoveIPs drains an assigned or general IP first; the rebalancer deletes
    -- the row once it is in quarantine and drain_days have passed since this day.
    ADD COLUMN removing_since date,
    ADD CONSTRAINT ip_addresses_removing_drains
        CHECK (removing_since IS NULL OR state IN ('draining', 'quarantine'));

-- The free IPs the rebalancer claims (worker_claim_inventory): never a blocked one.
DROP INDEX ip_addresses_free;
CREATE INDEX ip_addresses_free ON ip_addresses (region, address)
    WHERE state = 'inventory' AND blocked_reason IS NULL;

-- deleted_at: DeleteAccount's tombstone. The row stays (its history and pool rows name it)
-- so that neither a router's flush nor the rebalancer re-creates the account from its
-- history; reads and the rebalancer skip it, and its picks go to its region's general pool.
ALTER TABLE accounts ADD COLUMN deleted_at timestamptz;

-- ip_inventory: every IP with the state the Management API shows (SPEC §3 ListIPs): one
-- definition that ListIPs and ListRegions (store/queries/inventory.sql) both read.
-- "draining" is an IP recovered by the rebalancer or being removed; "blocked" wins over
-- every other state (account_id and pool_id still say where a blocked IP belongs).
CREATE VIEW ip_inventory AS
SELECT i.address, i.region, i.hostname, i.pool_id, p.account_id, i.blocked_reason,
       CASE
           WHEN i.blocked_reason IS NOT NULL THEN 'blocked'
           WHEN i.removing_since IS NOT NULL OR i.state = 'draining' THEN 'draining'
           WHEN i.state = 'general' THEN 'general'
           WHEN i.state = 'inventory' THEN 'free'
           WHEN i.state = 'dedicated' THEN 'assigned'
           ELSE 'quarantined'
       END AS shown_state,
       CASE
           WHEN i.blocked_reason IS NOT NULL THEN i.blocked_at::date
           WHEN i.removing_since IS NOT NULL THEN i.removing_since
           WHEN i.state = 'draining' THEN i.drain_started_on
           WHEN i.state = 'dedicated' THEN i.assigned_on
           ELSE i.updated_at::date
       END AS since,
       CASE WHEN i.removing_since IS NULL THEN i.quarantine_until END AS quarantine_until
FROM ip_addresses i
LEFT JOIN pools p ON p.pool_id = i.pool_id AND p.pool_type = 'dedicated';

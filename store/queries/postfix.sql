-- What `sendingip postfix master-cf` reads (cli/postfix.py).

-- name: postfix_transport_ips
-- Every IP the system holds, whatever its state (an inventory IP needs its transport
-- before the rebalancer assigns it); $1 limits it to one region, NULL for all.
SELECT host(address) AS address, region
FROM ip_addresses
WHERE $1::text IS NULL OR region = $1::text
ORDER BY region, address

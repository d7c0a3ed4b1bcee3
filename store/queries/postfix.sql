-- What `sendingip postfix master-cf` reads (cli/postfix.py).

-- name: postfix_transport_ips
-- Every IP the system holds, whatever its state (an inventory IP needs its transport
-- before the rebalancer assigns it); $1 limits it to one region, NULL for all.
-- Address order within a region (IPv4 before IPv6): the table's inet column, not the
-- text output column of the same name, which would put '2001:db8::11' first.
-- hostname (v2, AddIPs): the transport's smtp_helo_name; '' when none.
SELECT host(i.address) AS address, i.region, coalesce(i.hostname, '') AS hostname
FROM ip_addresses AS i
WHERE $1::text IS NULL OR i.region = $1::text
ORDER BY i.region, i.address

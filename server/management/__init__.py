"""The Management service (SPEC §3): status for operators, and their writes.

``servicer`` is the thin gRPC layer; one module per concern does the work: ``accounts``,
``ips`` (AddIPs and the Sending IP Addresses table), ``history`` (ImportHistory),
``policy``, ``warmup`` (pause/resume). ``errors`` maps failures to statuses;
``runtime`` holds its servicer and pool inside ``sendingip serve`` (``server.app`` hands
it the access control).
"""

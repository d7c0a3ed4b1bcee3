"""The Router service (SPEC §3): per-message sending-IP selection from memory.

One idea per module: ``providers`` (recipient domain → mailbox provider), ``validate``
(requests), ``table`` (the compiled routing table), ``pick`` (the pure weighted choice),
``limits`` (today's counters per (IP, provider)), ``history`` (aggregation and the
exactly-once flusher), ``loader`` (initial load, LISTEN, polling), ``snapshot`` (the
last-known table on disk), ``heartbeat``, ``metrics``, ``engine`` (the pick with its
counters), ``servicer`` (gRPC), ``runtime`` (wires them together) and ``bench`` (the
latency benchmark and profile of the README's router section; not imported by the server).
"""

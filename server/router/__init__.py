"""The Router service (SPEC §3): per-message sending-IP selection from memory.

One idea per module: ``providers`` (recipient domain → mailbox provider), ``validate``
(requests), ``table`` (the compiled routing table), ``pick`` (the pure weighted choice),
``limits`` (today's counters per (IP, provider)), ``history_buffer`` (the picks counted
in memory, the hot path's side) and ``history_flusher`` (written to PostgreSQL exactly
once, kept on disk by ``spill`` while it cannot be), ``loader`` (initial load, LISTEN,
polling), ``snapshot`` (the last-known table on disk), ``heartbeat``, ``metrics``,
``engine`` (the pick with its counters), ``servicer`` (gRPC) and ``runtime`` (wires them
together). The latency benchmark of a reload is ``bench/reload_latency.py``.
"""

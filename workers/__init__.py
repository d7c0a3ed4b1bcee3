"""The async workers (rebalancer) and the pure policy they apply.

``workers.policy`` holds the decisions as plain functions over plain data (no I/O, no
clock); ``workers.simulate`` runs that policy over simulated days without a database.
"""

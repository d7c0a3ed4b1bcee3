"""The rebalancer: the pure policy run against PostgreSQL, one account per transaction."""

"""``sendingip simulate``: the policy run day by day over a scenario, without a database."""

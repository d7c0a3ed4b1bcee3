"""The database itself refuses states that break the domain's invariants."""

from __future__ import annotations

import asyncpg
import pytest


async def _seed(db: asyncpg.Connection) -> None:
    await db.execute("INSERT INTO regions (region) VALUES ('us-east'), ('eu-west')")
    await db.execute(
        "INSERT INTO accounts (account_id, region, management_type, transition_started_on) VALUES "
        "('acme', 'us-east', 'transition', '2026-11-01'), ('globex', 'us-east', 'general', NULL)"
    )
    await db.execute(
        "INSERT INTO pools (pool_id, region, pool_type, account_id) VALUES "
        "('general:us-east', 'us-east', 'general', NULL), ('dedicated:acme', 'us-east', 'dedicated', 'acme')"
    )


async def test_a_valid_lifecycle_is_accepted(db: asyncpg.Connection) -> None:
    await _seed(db)
    await db.execute(
        "INSERT INTO ip_addresses (address, region, state, pool_id) VALUES ('192.0.2.1', 'us-east', 'general', "
        "'general:us-east')"
    )
    await db.execute(
        "INSERT INTO ip_addresses (address, region, state, pool_id, assigned_on) VALUES "
        "('192.0.2.2', 'us-east', 'dedicated', 'dedicated:acme', '2026-11-01')"
    )
    await db.execute(
        "UPDATE ip_addresses SET state = 'draining', drain_started_on = '2026-11-20' WHERE address = '192.0.2.2'"
    )
    await db.execute(
        "UPDATE ip_addresses SET state = 'quarantine', pool_id = NULL, assigned_on = NULL, "
        "drain_started_on = NULL, quarantine_until = '2026-12-20' WHERE address = '192.0.2.2'"
    )
    assert await db.fetchval("SELECT state FROM ip_addresses WHERE address = '192.0.2.2'") == "quarantine"


@pytest.mark.parametrize(
    ("statement", "broken"),
    [
        (
            "INSERT INTO ip_addresses (address, region, state, pool_id, assigned_on) VALUES "
            "('192.0.2.3', 'us-east', 'dedicated', 'general:us-east', '2026-11-01')",
            "a dedicated IP in the general pool",
        ),
        (
            "INSERT INTO ip_addresses (address, region, state, pool_id) VALUES "
            "('192.0.2.3', 'us-east', 'general', 'dedicated:acme')",
            "a general IP in a dedicated pool",
        ),
        (
            "INSERT INTO ip_addresses (address, region, state, pool_id) VALUES "
            "('192.0.2.3', 'eu-west', 'general', 'general:us-east')",
            "an IP in another region's pool",
        ),
        (
            "INSERT INTO ip_addresses (address, region, state, pool_id) VALUES "
            "('192.0.2.3', 'us-east', 'inventory', 'general:us-east')",
            "a free IP that is in a pool",
        ),
        (
            "INSERT INTO ip_addresses (address, region, state) VALUES ('192.0.2.0/24', 'us-east', 'inventory')",
            "a network instead of an address",
        ),
        (
            "INSERT INTO ip_addresses (address, region, state) VALUES ('192.0.2.3', 'us-east', 'quarantine')",
            "a quarantine without an end",
        ),
        (
            "INSERT INTO pools (pool_id, region, pool_type, account_id) VALUES "
            "('dedicated:acme-2', 'us-east', 'dedicated', 'acme')",
            "a second dedicated pool for one account",
        ),
        (
            "INSERT INTO pools (pool_id, region, pool_type) VALUES ('general:us-east-2', 'us-east', 'general')",
            "a second general pool in one region",
        ),
        ("UPDATE accounts SET management_type = 'shared' WHERE account_id = 'globex'", "an unknown management type"),
        (
            "UPDATE accounts SET management_type = 'transition' WHERE account_id = 'globex'",
            "a transition without a start date",
        ),
        ("INSERT INTO accounts (account_id, region) VALUES ('bad id!', 'us-east')", "a malformed account id"),
        ("UPDATE policy SET general_threshold_30d = 300000", "hysteresis thresholds the wrong way round"),
        ("INSERT INTO policy DEFAULT VALUES", "a second policy row"),
        (
            "INSERT INTO api_keys (key_id, secret_hash, permissions) VALUES "
            "('abcdefgh', decode(repeat('00', 32), 'hex'), ARRAY['superuser'])",
            "an unknown permission",
        ),
    ],
)
async def test_the_database_refuses(db: asyncpg.Connection, statement: str, broken: str) -> None:
    await _seed(db)
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        await db.execute(statement)

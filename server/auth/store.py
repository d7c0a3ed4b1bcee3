"""API keys in PostgreSQL: create, list, revoke, and the first-start admin key.

Every change sends a NOTIFY on ``KEYS_CHANNEL`` (delivered on commit), so running
servers reload their key cache at once; their polling catches a missed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from server.auth import keys
from store import audit, queries

KEYS_CHANNEL = "sendingip_keys"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A stored key as ``keys list`` shows it (no secret, no hash)."""

    key_id: str
    permissions: tuple[str, ...]
    accounts: tuple[str, ...] | None
    description: str
    created_at: datetime
    revoked_at: datetime | None


async def create_key(
    conn: asyncpg.Connection,
    permissions: Sequence[str],
    accounts: Sequence[str] | None = None,
    description: str = "",
    *,
    actor: str | None = None,
) -> tuple[keys.NewKey, KeyInfo]:
    """Store a new key; the returned ``NewKey.token`` is the only copy of the secret.
    With an ``actor`` (``sendingip keys``: ``audit.cli_actor()``), an audit event records it."""
    perms = keys.parse_permissions(permissions)
    new = keys.generate()
    async with conn.transaction():
        created_at = await conn.fetchval(
            queries.load()["keys_insert"],
            new.key_id,
            new.secret_hash,
            list(perms),
            None if accounts is None else sorted(set(accounts)),
            description,
        )
        await conn.execute(queries.load()["keys_notify"], new.key_id)
        if actor is not None:
            await audit.record(
                conn,
                actor=actor,
                kind="CreateKey",
                after={
                    "key_id": new.key_id,
                    "permissions": list(perms),
                    "accounts": None if accounts is None else sorted(set(accounts)),
                    "description": description,
                },
                reason=f"key {new.key_id} created",
            )
    info = KeyInfo(
        new.key_id, perms, None if accounts is None else tuple(sorted(set(accounts))), description, created_at, None
    )
    return new, info


async def list_keys(conn: asyncpg.Connection) -> list[KeyInfo]:
    return [
        KeyInfo(
            key_id=r["key_id"],
            permissions=tuple(r["permissions"]),
            accounts=None if r["accounts"] is None else tuple(r["accounts"]),
            description=r["description"],
            created_at=r["created_at"],
            revoked_at=r["revoked_at"],
        )
        for r in await conn.fetch(queries.load()["keys_list"])
    ]


async def revoke_key(conn: asyncpg.Connection, key_id: str, *, actor: str | None = None) -> datetime | None:
    """Revoke ``key_id``; its revocation time, or ``None`` when there is no such key. With
    an ``actor``, an audit event records it."""
    async with conn.transaction():
        revoked_at: datetime | None = await conn.fetchval(queries.load()["keys_revoke"], key_id)
        if revoked_at is not None:
            await conn.execute(queries.load()["keys_notify"], key_id)
            if actor is not None:
                await audit.record(
                    conn,
                    actor=actor,
                    kind="RevokeKey",
                    before={"key_id": key_id, "revoked": False},
                    after={"key_id": key_id, "revoked": True},
                    reason=f"key {key_id} revoked",
                )
    return revoked_at


async def bootstrap_admin_key(conn: asyncpg.Connection) -> keys.NewKey | None:
    """A key with every permission when no key was ever made (a fresh install), else ``None``.

    Revoked keys count as made: revoking every key does not bring a bootstrap key back.
    The table lock makes several servers starting at once create one key between them.
    """
    async with conn.transaction():
        await conn.execute(queries.load()["keys_lock"])
        if await conn.fetchval(queries.load()["keys_any"]):
            return None
        new = keys.generate()
        await conn.fetchval(
            queries.load()["keys_insert"],
            new.key_id,
            new.secret_hash,
            list(keys.PERMISSIONS),
            None,
            "bootstrap admin key, created at first start",
        )
        await conn.execute(queries.load()["keys_notify"], new.key_id)
    return new

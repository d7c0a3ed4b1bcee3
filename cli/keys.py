"""`sendingip keys create|list|revoke`: API keys, written to PostgreSQL directly.

These commands need the database, not a running server (so the first key can be made
before anything else), and apply pending migrations first. Running servers pick a
change up at once (NOTIFY), or at their next poll. ``keys create`` prints the new key
once, alone on the last line: ``KEY=$(sendingip keys create ... | tail -n1)``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from cli.output import print_json, table
from cli.runtime import INIT_HELP, database, run_async
from server import validate
from server.auth import keys
from server.auth.store import KeyInfo, create_key, list_keys, revoke_key
from store import audit
from store.config import DatabaseConfig
from store.database import connect
from store.migrate import apply_migrations
from store.outage import DATABASE_UNAVAILABLE

T = TypeVar("T")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="create, list or revoke API keys (on the database)")
    sub = parser.add_subparsers(dest="keys_command", metavar="{create,list,revoke}", required=True)

    create = sub.add_parser("create", help="a new key, printed once on the last line")
    create.add_argument(
        "--permissions", required=True, help="comma-separated: route (MTAs), view (status reads), admin (writes)"
    )
    create.add_argument("--accounts", help="comma-separated account ids the key is limited to (default: all)")
    create.add_argument("--description", default="", help="who or what uses the key")
    create.add_argument("--json", action="store_true", help="print JSON (the key in field 'key')")
    create.add_argument("--init", action="store_true", help=INIT_HELP)
    create.set_defaults(func=_clean_errors(create_command))

    listing = sub.add_parser("list", help="every key (never the secrets)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_clean_errors(list_command))

    revoke = sub.add_parser("revoke", help="revoke a key; servers stop accepting it within seconds")
    revoke.add_argument("key_id", metavar="KEY_ID")
    revoke.add_argument("--json", action="store_true")
    revoke.set_defaults(func=_clean_errors(revoke_command))


def _clean_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    @functools.wraps(command)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except DatabaseFailed as exc:
            print(f"error: database: {exc}", file=sys.stderr)
            return 1

    return wrapped


def _info_dict(info: KeyInfo) -> dict[str, Any]:
    return {
        "key_id": info.key_id,
        "permissions": list(info.permissions),
        "accounts": None if info.accounts is None else list(info.accounts),
        "description": info.description,
        "created_at": info.created_at.isoformat(),
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }


class DatabaseFailed(Exception):
    pass


def _with_connection(work: Callable[[asyncpg.Connection], Awaitable[T]], *, init: bool = False) -> T:
    """Run ``work`` on the configured database, migrated first (a fresh one bootstraps)."""

    async def main(url: str) -> T:
        async with connect(url) as conn:
            await apply_migrations(conn)
            return await work(conn)

    try:
        with database(DatabaseConfig.from_env(), init=init) as db:
            return run_async(main(db.url))
    except DATABASE_UNAVAILABLE as exc:
        raise DatabaseFailed(str(exc)) from exc


def create_command(args: argparse.Namespace) -> int:
    try:
        permissions = keys.parse_permissions(args.permissions)
    except ValueError as exc:
        print(f"error: --permissions: {exc}", file=sys.stderr)
        return 2
    accounts: list[str] | None = None
    if args.accounts is not None:
        accounts = [a.strip() for a in args.accounts.split(",") if a.strip()]
        bad = [a for a in accounts if not validate.ACCOUNT_ID.fullmatch(a)]
        if bad or not accounts:
            print(f"error: --accounts: {bad[0] if bad else args.accounts!r} is not an account id", file=sys.stderr)
            return 2
    new, info = _with_connection(
        lambda conn: create_key(conn, permissions, accounts, args.description, actor=audit.cli_actor()), init=args.init
    )
    if args.json:
        print_json({**_info_dict(info), "key": new.token})
        return 0
    scope = "all accounts" if info.accounts is None else "accounts " + ",".join(info.accounts)
    print(f"created key {info.key_id}: {','.join(info.permissions)} on {scope}")
    print("the key is shown once; only its hash is stored:")
    print(new.token)
    return 0


def list_command(args: argparse.Namespace) -> int:
    infos: list[KeyInfo] = _with_connection(list_keys)
    if args.json:
        print_json([_info_dict(i) for i in infos])
        return 0
    rows = [
        (
            i.key_id,
            ",".join(i.permissions),
            "all" if i.accounts is None else ",".join(i.accounts),
            i.created_at.strftime("%Y-%m-%d %H:%M"),
            i.revoked_at.strftime("%Y-%m-%d %H:%M") if i.revoked_at else "-",
            i.description,
        )
        for i in infos
    ]
    print(
        table(("Key id", "Permissions", "Accounts", "Created", "Revoked", "Description"), rows) if rows else "(no keys)"
    )
    return 0


def revoke_command(args: argparse.Namespace) -> int:
    revoked_at = _with_connection(lambda conn: revoke_key(conn, args.key_id, actor=audit.cli_actor()))
    if revoked_at is None:
        print(f"error: no key {args.key_id!r} (see `sendingip keys list`)", file=sys.stderr)
        return 1
    if args.json:
        print_json({"key_id": args.key_id, "revoked_at": revoked_at.isoformat()})
    else:
        print(f"revoked key {args.key_id} at {revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0

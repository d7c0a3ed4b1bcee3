"""The rebalancer of a git revision beside the working tree's, side by side under the same
machine load: one seeded database (bench/rebalance_scale.py's), a first run of day D on a
fresh copy of it for each, alternating, with a digest of what each stored (IP addresses left
out: which free IP an account gets depends on which connection claims first).

    python -m bench.rebalance_compare --accounts 100000 --against HEAD --order old,new,new,old

The revision's ``workers/rebalance`` runs as a package of its own (``_rebalance_<rev>``),
with that revision's ``store/queries/worker.sql``; everything else is the tree's.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import rebalance_scale
from store import queries
from store.database import connect, create_pool, with_database

REPO = Path(__file__).resolve().parent.parent
IP = "'[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+'"
DIGESTS = {
    "accounts": "SELECT md5(string_agg(account_id || management_type || regexp_replace(reason || figures::text"
    f" || policy_state::text, {IP}, 'IP', 'g'), ',' ORDER BY account_id)) FROM accounts",
    "routes": f"SELECT md5(string_agg(kind || key || regexp_replace(entry::text, {IP}, 'IP', 'g'), ','"
    " ORDER BY kind, key)) FROM routing_entries",
    "ips": "SELECT md5(string_agg(state, ',' ORDER BY state)) FROM ip_addresses",
}


def load_revision(rev: str, folder: Path) -> Any:
    """``workers/rebalance/run.py`` of ``rev`` as a module of a package of its own."""
    name = f"_rebalance_{rev.replace('/', '_').replace('~', '_').replace('^', '_')}"
    package = folder / name
    package.mkdir()
    listing = _git("ls-tree", "--name-only", f"{rev}:workers/rebalance").split()
    old_sql = queries.parse(_git("show", f"{rev}:store/queries/worker.sql"), source=f"{rev}:worker.sql")
    (package / "_queries.py").write_text(
        "from functools import cache\nfrom store import queries as _tree\n\n\n@cache\ndef load():\n"
        f"    return _tree.Queries({{**_tree.load(), **{old_sql!r}}})\n"
    )
    for file in listing:
        if file.endswith(".py"):
            text = _git("show", f"{rev}:workers/rebalance/{file}")
            text = text.replace("from workers.rebalance import", f"from {name} import")
            text = text.replace("from store import queries\n", f"from {name} import _queries as queries\n")
            text = text.replace(
                "from store import audit, ", f"from {name} import _queries as queries\nfrom store import audit, "
            )
            text = text.replace(", queries, ", ", ")
            (package / file).write_text(text)
    sys.path.insert(0, str(folder))
    return importlib.import_module(f"{name}.run")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout


async def compare(server_url: str, accounts: int, inventory: int, old: Any, order: list[str]) -> dict[str, Any]:
    new = importlib.import_module("workers.rebalance.run")
    template = f"sip_cmp_{uuid.uuid4().hex[:8]}"
    async with connect(server_url) as admin:
        await admin.execute(f'CREATE DATABASE "{template}"')
    runs = []
    try:
        async with connect(with_database(server_url, template)) as conn:
            seed_seconds, rows = await rebalance_scale.seed(conn, accounts, inventory)
        for which in order:
            runs.append(await _one(server_url, template, old if which == "old" else new, which))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    finally:
        async with connect(server_url) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    return {"accounts": accounts, "history_rows": rows, "seed_seconds": round(seed_seconds, 1), "runs": runs}


async def _one(server_url: str, template: str, module: Any, which: str) -> dict[str, Any]:
    name = f"sip_cmp_{uuid.uuid4().hex[:8]}"
    async with connect(server_url) as admin:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = with_database(server_url, name)
    try:
        async with connect(url) as conn:
            await conn.execute("ANALYZE")
        pool = await create_pool(url, size=5)  # as `sendingip worker`
        try:
            cpu = time.process_time()
            report = await module.rebalance(pool, rebalance_scale.DAY)
            cpu = time.process_time() - cpu
            async with pool.acquire() as conn:
                digests = {k: (await conn.fetchval(sql))[:10] for k, sql in DIGESTS.items()}
        finally:
            await pool.close()
    finally:
        async with connect(server_url) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "code": which,
        "seconds": round(report.seconds, 2),
        "python_cpu_seconds": round(cpu, 2),
        "load_average": os.getloadavg()[0],
        "applied": report.applied,
        "unchanged": report.unchanged,
        "digests": digests,
        "phases": {k: round(v, 2) for k, v in report.phases.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--inventory", type=int, default=5_000)
    parser.add_argument("--against", default="HEAD", help="the git revision to run beside the tree (HEAD)")
    parser.add_argument("--order", default="old,new,new,old", help="runs, each 'old' or 'new' (old,new,new,old)")
    args = parser.parse_args()
    url = os.environ.get("SENDINGIP_DATABASE_URL")
    if not url:
        parser.error("set SENDINGIP_DATABASE_URL to a PostgreSQL server (a database of its own is made there)")
    order = args.order.split(",")
    if set(order) - {"old", "new"}:
        parser.error("--order takes 'old' and 'new' only")
    with tempfile.TemporaryDirectory(prefix="sip-cmp-") as tmp:
        old = load_revision(args.against, Path(tmp))
        result = asyncio.run(compare(url, args.accounts, args.inventory, old, order))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`sendingip audit [ACCOUNT]` against a real `sendingip serve`, as an operator types it
(SPEC §4, ListAuditEvents): the admin calls just made, newest first, by the key that made them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.processes import ServerProcess, admin_key, sendingip_env
from tests.support.processes import run_cli as run

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(db_url: str) -> Iterator[dict[str, str]]:
    server = ServerProcess(sendingip_env(db_url, SENDINGIP_METRICS_LISTEN="0"), ["--no-workers"])
    try:
        env = sendingip_env(db_url, SENDINGIP_LISTEN=server.target, SENDINGIP_API_KEY=admin_key(server))
        run(env, "ips", "add", "--region", "us-east", "--general", "192.0.2.1")
        run(env, "accounts", "create", "acme", "--region", "us-east")
        run(env, "accounts", "create", "other", "--region", "us-east")
        run(env, "warmup", "pause", "acme")
        run(env, "policy", "set", "quarantine_days=12")
        yield env
    finally:
        server.stop()


def test_audit_lists_the_calls_newest_first_in_a_table(cli: dict[str, str]) -> None:
    lines = run(cli, "audit").stdout.splitlines()
    assert lines[0].split() == ["At", "(UTC)", "Actor", "Kind", "Account", "Addresses", "Change", "Reason"]
    rows = lines[2:] if set(lines[1]) <= {"-", " "} else lines[1:]
    kinds = [row.split()[3] for row in rows]
    assert kinds[:4] == ["UpdatePolicy", "PauseWarmup", "CreateAccount", "CreateAccount"]
    assert "quarantine_days 30→12" in rows[0]
    assert "warmup_paused false→true" in rows[1]

    acme = run(cli, "audit", "acme", "--json").stdout
    assert [(e["kind"], e["account_id"]) for e in json.loads(acme)] == [
        ("PauseWarmup", "acme"),
        ("CreateAccount", "acme"),
    ]
    only = json.loads(run(cli, "audit", "--kind", "CreateAccount", "--limit", "1", "--json").stdout)
    assert [(e["kind"], e["account_id"]) for e in only] == [("CreateAccount", "other")]
    assert run(cli, "audit", "--since", "2999-01-01").stdout.strip() == "(no events)"


def test_audit_refuses_a_bad_since_or_kind_with_the_rule(cli: dict[str, str]) -> None:
    bad = run(cli, "audit", "--since", "last week", check=False)
    assert bad.returncode == 1
    assert "INVALID_ARGUMENT: since: 'last week' is not a day YYYY-MM-DD or an RFC 3339 time" in bad.stderr
    bad = run(cli, "audit", "--kind", "Nope", check=False)
    assert bad.returncode == 1 and "kinds: 'Nope' is not an audit event kind" in bad.stderr
    assert run(cli, "audit", "--limit", "0", check=False).returncode == 2

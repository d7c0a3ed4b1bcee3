"""`sendingip ips add|list|remove|block|unblock|assign`, `sendingip regions`, `sendingip accounts
delete` and `sendingip postfix master-cf` against a real `sendingip serve`, as an operator
types them (SPEC §4 v2)."""

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
        run(env, "ips", "add", "--region", "us-east", "--general", "192.0.2.1", "192.0.2.2")
        run(env, "accounts", "create", "acme", "--region", "us-east")
        yield env
    finally:
        server.stop()


def listed(env: dict[str, str], *args: str) -> dict[str, dict[str, object]]:
    return {ip["address"]: ip for ip in json.loads(run(env, "ips", "list", "--json", *args).stdout)}


def test_ips_add_with_hostnames_list_and_master_cf(cli: dict[str, str]) -> None:
    out = run(
        cli,
        "ips",
        "add",
        "--region",
        "us-east",
        "--inventory",
        "203.0.113.0/30",
        "--hostname",
        "203.0.113.1=MTA1.example.com",
    ).stdout
    assert "added 2, already present 0" in out
    # An address already present gets the name: here one of the general pool, added as such.
    out = run(cli, "ips", "add", "--region", "us-east", "--general", "--hostname", "192.0.2.1=out1.example.com").stdout
    assert "added 0, already present 1" in out
    table = run(cli, "ips", "list").stdout.splitlines()
    assert table[0].split() == ["Address", "Region", "State", "Account", "Hostname", "Since", "Note"]
    rows = [line.split() for line in table[2:]]
    assert [r[:5] for r in rows] == [
        ["192.0.2.1", "us-east", "general", "-", "out1.example.com"],
        ["192.0.2.2", "us-east", "general", "-", "-"],
        ["203.0.113.1", "us-east", "free", "-", "mta1.example.com"],
        ["203.0.113.2", "us-east", "free", "-", "-"],
    ]
    master = run(cli, "postfix", "master-cf").stdout
    line = next(x for x in master.splitlines() if x.startswith("sendingip_203_0_113_1 "))
    assert "-o smtp_bind_address=203.0.113.1 -o smtp_helo_name=mta1.example.com " in line
    assert "smtp_helo_name" not in next(x for x in master.splitlines() if x.startswith("sendingip_192_0_2_2 "))

    bad = run(cli, "ips", "add", "--region", "us-east", "--general", "--hostname", "192.0.2.9", check=False)
    assert bad.returncode == 2 and "give ADDRESS=NAME" in bad.stderr
    bad = run(cli, "ips", "add", "--region", "us-east", "--general", "--hostname", "192.0.2.9=a_b", check=False)
    assert bad.returncode == 1 and "INVALID_ARGUMENT: hostnames[0]: 'a_b' must be a DNS name" in bad.stderr


def test_block_remove_assign_regions_and_delete(cli: dict[str, str]) -> None:
    run(cli, "ips", "add", "--region", "us-east", "--inventory", "203.0.113.1", "203.0.113.2")
    out = run(cli, "ips", "block", "--reason", "listed on SBL", "192.0.2.1", "203.0.113.2").stdout
    assert "blocked 2; already blocked 0" in out
    shown = listed(cli, "--state", "blocked")
    assert list(shown) == ["192.0.2.1", "203.0.113.2"] and shown["192.0.2.1"]["blocked_reason"] == "listed on SBL"
    assert "listed on SBL" in run(cli, "ips", "list", "--state", "blocked").stdout

    refused = run(cli, "ips", "remove", "192.0.2.2", check=False)
    assert refused.returncode == 1
    assert "FAILED_PRECONDITION: cannot remove the last usable general IPs of region 'us-east'" in refused.stderr
    assert "sendingip ips add --region us-east --general" in refused.stderr
    assert "unblocked 1; not blocked 0" in run(cli, "ips", "unblock", "192.0.2.1").stdout
    assert "removed 0; draining 1" in run(cli, "ips", "remove", "192.0.2.2").stdout
    assert "removed 1; draining 0" in run(cli, "ips", "remove", "203.0.113.2").stdout

    refused = run(cli, "ips", "assign", "acme", "203.0.113.1", check=False)
    assert refused.returncode == 1 and "FAILED_PRECONDITION" in refused.stderr
    assert "sendingip accounts mode acme dedicated" in refused.stderr

    regions = run(cli, "regions").stdout.splitlines()
    assert regions[0].split() == [
        "Region",
        "General",
        "Free",
        "Assigned",
        "Draining",
        "Quarantined",
        "Blocked",
        "Accounts",
    ]
    assert regions[2].split() == ["us-east", "1", "1", "0", "1", "0", "0", "1"]
    assert json.loads(run(cli, "regions", "--json").stdout)[0]["draining_ips"] == 1

    refused = run(cli, "accounts", "delete", "acme", check=False)
    assert refused.returncode == 2 and "add --yes" in refused.stderr
    assert "account acme deleted; 0 IPs went to quarantine" in run(cli, "accounts", "delete", "acme", "--yes").stdout
    assert "NOT_FOUND" in run(cli, "accounts", "show", "acme", check=False).stderr
    assert "(no accounts)" in run(cli, "accounts", "list").stdout

"""`sendingip accounts mode` and `sendingip policy set account_overrides=...` against a real
`sendingip serve`, as an operator types them (SPEC §4, rule 7 and the per-account overrides)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.processes import SENDINGIP, ServerProcess, admin_key, sendingip_env

pytestmark = pytest.mark.e2e


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([SENDINGIP, *args], env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


@pytest.fixture
def cli(db_url: str) -> Iterator[dict[str, str]]:
    server = ServerProcess(sendingip_env(db_url, SENDINGIP_METRICS_LISTEN="0"), ["--no-workers"])
    try:
        env = sendingip_env(db_url, SENDINGIP_LISTEN=server.target, SENDINGIP_API_KEY=admin_key(server))
        run(env, "ips", "add", "--region", "us-east", "--general", "192.0.2.1")
        run(env, "accounts", "create", "acme", "--region", "us-east")
        yield env
    finally:
        server.stop()


def test_accounts_mode_sets_shows_and_refuses_a_bad_mode(cli: dict[str, str]) -> None:
    out = run(cli, "accounts", "mode", "acme", "frozen").stdout
    assert "account acme is in mode frozen" in out
    assert "Mode: frozen (set by an operator)" in run(cli, "status", "acme").stdout
    assert json.loads(run(cli, "accounts", "show", "acme", "--json").stdout)["mode"] == "frozen"
    bad = run(cli, "accounts", "mode", "acme", "pinned", check=False)
    assert bad.returncode == 2 and "invalid choice: 'pinned'" in bad.stderr
    missing = run(cli, "accounts", "mode", "nobody", "auto", check=False)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    run(cli, "accounts", "mode", "acme", "auto")
    assert "Mode:" not in run(cli, "status", "acme").stdout


def test_policy_set_account_overrides_and_show(cli: dict[str, str]) -> None:
    out = run(cli, "policy", "set", "account_overrides=acme:dedicated_threshold_30d=150000,max_ips_per_account=3")
    line = next(x for x in out.stdout.splitlines() if x.startswith("account_overrides"))
    assert line.split(None, 1)[1] == "acme:dedicated_threshold_30d=150000,max_ips_per_account=3"
    shown = json.loads(run(cli, "policy", "show", "--json").stdout)
    assert shown["account_overrides"] == {"acme": {"dedicated_threshold_30d": 150_000, "max_ips_per_account": 3}}
    refused = run(cli, "policy", "set", "account_overrides=acme:dedicated_threshold_30d=5", check=False)
    assert refused.returncode == 1
    assert "policy.account_overrides[acme].dedicated_threshold_30d must be >=" in refused.stderr
    run(cli, "policy", "set", "account_overrides=acme:")
    assert json.loads(run(cli, "policy", "show", "--json").stdout)["account_overrides"] == {}

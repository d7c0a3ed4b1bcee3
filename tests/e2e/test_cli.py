"""The operator CLI against a real `sendingip serve`, as the README walkthrough uses it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.databases import DatabaseFactory
from tests.support.processes import SENDINGIP, ServerProcess, admin_key, sendingip_env, wait_for

pytestmark = pytest.mark.e2e


@dataclass
class Cli:
    env: dict[str, str]

    def run(
        self, *args: str, key: str | None = None, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if key is not None:
            env["SENDINGIP_API_KEY"] = key
        result = subprocess.run([SENDINGIP, *args], env=env, capture_output=True, text=True, timeout=60, input=stdin)
        assert "Traceback" not in result.stderr, result.stderr
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result


@pytest.fixture
def served(databases: DatabaseFactory, db_url: str) -> Iterator[tuple[ServerProcess, Cli]]:
    server = ServerProcess(sendingip_env(db_url, SENDINGIP_METRICS_LISTEN="0"), ["--no-workers"])
    try:
        target = server.target
        cli = Cli(sendingip_env(db_url, SENDINGIP_LISTEN=target, SENDINGIP_API_KEY=admin_key(server)))
        yield server, cli
    finally:
        server.stop()


def _history_csv(path: Path, account: str, days: int = 30) -> Path:
    today = datetime.now(UTC).date()
    lines = ["account_id,day,mailbox_provider,ip,count"]
    for back in range(1, days + 1):
        day = today - timedelta(days=back)
        lines += [
            f"{account},{day},google,,60000",
            f"{account},{day},microsoft,,30000",
            f"{account},{day},other,,10000",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_readme_walkthrough_ends_with_a_transition_account_and_in_progress_ips(
    served: tuple[ServerProcess, Cli], tmp_path: Path
) -> None:
    server, cli = served
    out = cli.run("ips", "add", "--region", "us-east", "--general", "192.0.2.1", "192.0.2.2").stdout
    assert "added 2, already present 0" in out
    out = cli.run("ips", "add", "--region", "us-east", "--inventory", "198.51.100.0/29").stdout
    assert "added 6, already present 0" in out
    assert "account acme is in region us-east" in cli.run("accounts", "create", "acme", "--region", "us-east").stdout

    csv = _history_csv(tmp_path / "history.csv", "acme")
    first = cli.run("history", "import", str(csv), "--batch-size", "40")
    assert "imported 90 rows" in first.stdout
    again = json.loads(cli.run("history", "import", str(csv), "--json").stdout)
    assert again["rows"] == 90

    shown = json.loads(cli.run("accounts", "show", "acme", "--json").stdout)
    assert shown["management_type"] == "MANAGEMENT_TYPE_GENERAL"

    cli.run("worker", "--once")
    routed = cli.run("route", "acme", "msg-1", "gmail.com").stdout
    assert "provider google" in routed

    text = cli.run("status", "acme").stdout
    assert "Management type: Transition" in text, text
    assert re.search(r"Transition progress: \d+\.\d%", text) and "Dedicated share:" in text
    header = next(line for line in text.splitlines() if line.startswith("IP address"))
    assert re.split(r"\s{2,}", header) == [
        "IP address",
        "Region",
        "Pool",
        "Pool type",
        "Status",
        "Warm-up",
        "Share",
        "Limit today",
        "Sent today",
        "Assigned on",
    ]
    dedicated = [line for line in text.splitlines() if "dedicated:acme" in line]
    assert dedicated and all("Dedicated" in line and "In Progress" in line for line in dedicated), text
    # Just added by AddIPs, all equally new: In Progress until warm (rule 12), equal shares.
    assert any("general:us-east" in line and "General" in line and "In Progress" in line for line in text.splitlines())
    reason = next(line for line in text.splitlines() if line.startswith("Reason: "))
    assert len(reason) > len("Reason: -"), text  # the rebalancer said why

    table = json.loads(cli.run("status", "acme", "--json").stdout)
    assert table["account"]["management_type"] == "MANAGEMENT_TYPE_TRANSITION"
    assert table["account"]["volume_30d"] == 3_000_000  # a number, not a string
    statuses = {ip["pool_type"]: ip["status"] for ip in table["ips"]}
    assert statuses == {"POOL_TYPE_DEDICATED": "IP_STATUS_IN_PROGRESS", "POOL_TYPE_GENERAL": "IP_STATUS_IN_PROGRESS"}

    def counted() -> bool:  # the routed message, once the router has flushed its counts
        table = json.loads(cli.run("status", "acme", "--json").stdout)
        return bool(sum(ip["sent_today"] for ip in table["ips"]) == 1)

    wait_for(counted, timeout=15, interval=0.3)

    listed = cli.run("accounts", "--type", "transition").stdout
    assert "acme" in listed and "Transition" in listed
    assert server.proc.poll() is None


def test_cli_errors_are_one_clean_line_and_a_non_zero_exit(served: tuple[ServerProcess, Cli], tmp_path: Path) -> None:
    _, cli = served
    result = cli.run("status", "nobody", check=False)
    assert result.returncode == 1 and result.stderr == "error: NOT_FOUND: account 'nobody' not found\n"
    result = cli.run("status", "acme", key="", check=False)
    assert result.returncode == 1 and result.stderr.startswith("error: UNAUTHENTICATED: missing API key")
    result = cli.run("ips", "add", "--region", "us-east", "--general", "10.0.0.300", check=False)
    assert result.returncode == 1 and "INVALID_ARGUMENT" in result.stderr and "10.0.0.300" in result.stderr
    result = cli.run("policy", "set", "general_threshold_30d=900000", check=False)
    assert result.returncode == 1 and "policy.general_threshold_30d" in result.stderr
    bad = tmp_path / "bad.csv"
    yesterday = datetime.now(UTC).date() - timedelta(days=1)  # a day the history keeps
    bad.write_text(f"account_id,day,mailbox_provider,ip,count\nacme,{yesterday},google,,5\nacme,2026-13-01,google,,5\n")
    result = cli.run("history", "import", str(bad), check=False)
    assert result.returncode != 0 and "line 3" in result.stderr and "day" in result.stderr, result.stderr
    old = bad.with_name("old.csv")  # a day the rebalancer would drop: the range is in the message
    old.write_text("account_id,day,mailbox_provider,ip,count\nacme,1970-01-01,google,,5\n")
    result = cli.run("history", "import", str(old), check=False)
    assert result.returncode != 0 and "line 2" in result.stderr, result.stderr
    assert "1970-01-01 is older than the history kept: days from" in result.stderr
    result = cli.run("status", "acme", "--server", "127.0.0.1:1", "--timeout", "2", check=False)
    assert result.returncode == 1 and result.stderr.startswith(("error: UNAVAILABLE", "error: DEADLINE_EXCEEDED"))

    shown = cli.run("policy", "set", "dedicated_threshold_30d=300000", "--json").stdout
    assert json.loads(shown)["dedicated_threshold_30d"] == 300_000
    assert "300,000" in cli.run("policy", "show").stdout

    # The v2 settings (SPEC §2): set, shown, a provider's schedule set and removed by PROVIDER:LIMITS.
    shown = cli.run(
        "policy", "set", "advance_fraction=0.8", "warmup_rules=v1", "hourly_burst=0", "same_day_min_outcomes=500",
        "throttle_pause_minutes=30", "provider_schedules=microsoft:100,300", "provider_schedules=yahoo:50", "--json",
    ).stdout  # fmt: skip
    values = json.loads(shown)
    assert (values["advance_fraction"], values["warmup_rules"], values["hourly_burst"]) == (0.8, "v1", 0.0)
    assert (values["same_day_min_outcomes"], values["throttle_pause_minutes"]) == (500, 30)
    assert values["provider_schedules"] == {"microsoft": [100, 300], "yahoo": [50]}
    lines = cli.run("policy", "set", "provider_schedules=yahoo:").stdout.splitlines()
    assert any(line.split() == ["provider_schedules", "microsoft:100,300"] for line in lines), lines
    assert any(line.split() == ["warmup_rules", "v1"] for line in lines), lines
    result = cli.run("policy", "set", "provider_schedules=100,300", check=False)
    assert result.returncode == 2 and "PROVIDER:LIMITS" in result.stderr  # a usage error, before any call
    result = cli.run("policy", "set", "hourly_burst=0.5", check=False)
    assert result.returncode == 1 and "policy.hourly_burst must be 0 (pacing off)" in result.stderr


def test_an_account_created_in_a_region_of_its_own_is_routed_there(served: tuple[ServerProcess, Cli]) -> None:
    """The red team's reproduction: general IPs in `loopback` only, an account created there;
    `sendingip route` answered FAILED_PRECONDITION "region 'us-east' has no general pool IPs"."""
    _, cli = served
    cli.run("ips", "add", "--region", "loopback", "--general", "127.0.0.2", "127.0.0.3")
    cli.run("accounts", "create", "demo", "--region", "loopback")

    def routed() -> dict[str, object]:
        result = cli.run("route", "demo", "<1@mta.example>", "gmail.com", "--retry", "--json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else {}

    wait_for(lambda: routed().get("ip") in ("127.0.0.2", "127.0.0.3"), timeout=10)
    answer = json.loads(
        cli.run("route", "demo", "<2@mta.example>", "gmail.com", "--region", "us-east", "--json").stdout
    )
    assert answer["ip"] in ("127.0.0.2", "127.0.0.3") and answer["management_type"] == "MANAGEMENT_TYPE_GENERAL"


def test_keys_cli_scopes_and_revocation_without_restart(served: tuple[ServerProcess, Cli]) -> None:
    _, cli = served
    cli.run("ips", "add", "--region", "us-east", "--general", "192.0.2.1")
    for account in ("acme", "beta"):
        cli.run("accounts", "create", account, "--region", "us-east")

    created = cli.run(
        "keys", "create", "--permissions", "view", "--accounts", "acme", "--description", "acme dashboard"
    )
    view_key = created.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"sip_[a-z0-9]+_[A-Za-z0-9_-]+", view_key), created.stdout
    key_id = view_key.split("_")[1]

    assert "acme" in cli.run("status", "acme", key=view_key).stdout
    denied = cli.run("status", "beta", key=view_key, check=False)
    assert denied.returncode == 1 and denied.stderr.startswith("error: PERMISSION_DENIED:")
    assert [a["account_id"] for a in json.loads(cli.run("accounts", "--json", key=view_key).stdout)] == ["acme"]
    denied = cli.run("warmup", "pause", "acme", key=view_key, check=False)
    assert denied.returncode == 1 and "PERMISSION_DENIED" in denied.stderr

    listed = json.loads(cli.run("keys", "list", "--json").stdout)
    mine = next(k for k in listed if k["key_id"] == key_id)
    assert mine["accounts"] == ["acme"] and mine["revoked_at"] is None
    assert view_key not in cli.run("keys", "list").stdout

    assert f"revoked key {key_id}" in cli.run("keys", "revoke", key_id).stdout

    def refused() -> bool:
        result = cli.run("status", "acme", key=view_key, check=False)
        return result.returncode == 1 and "UNAUTHENTICATED" in result.stderr

    wait_for(refused, timeout=10)
    assert cli.run("keys", "revoke", "nosuchkey1", check=False).returncode == 1


def test_keys_create_bootstraps_a_fresh_database(db_url: str) -> None:
    cli = Cli(sendingip_env(db_url))
    out = cli.run("keys", "create", "--permissions", "route").stdout
    assert out.splitlines()[-1].startswith("sip_")
    bad = cli.run("keys", "create", "--permissions", "root", check=False)
    assert bad.returncode == 2 and "unknown permission 'root'" in bad.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
def test_tls_when_a_certificate_is_configured(db_url: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = ServerProcess(
        sendingip_env(db_url, SENDINGIP_TLS_CERT=str(cert), SENDINGIP_TLS_KEY=str(key), SENDINGIP_METRICS_LISTEN="0"),
        ["--no-workers"],
    )
    try:
        env = sendingip_env(db_url, SENDINGIP_LISTEN=server.target, SENDINGIP_API_KEY=admin_key(server))
        secure = Cli({**env, "SENDINGIP_TLS_CA": str(cert)})
        assert "history_window_days" in secure.run("policy", "show").stdout
        plain = Cli(env).run("policy", "show", "--timeout", "1.5", check=False)
        assert plain.returncode == 1 and ("UNAVAILABLE" in plain.stderr or "DEADLINE_EXCEEDED" in plain.stderr)
    finally:
        server.stop()

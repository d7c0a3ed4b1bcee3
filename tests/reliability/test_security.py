"""Access control end to end (issue 8, fault 6): every way in without the right key is
refused, no key reaches the log, and the key check takes one path whatever is wrong."""

from __future__ import annotations

import hmac
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from sendingip.v1 import management_pb2, management_pb2_grpc, router_pb2, router_pb2_grpc, types_pb2
from server.auth import keys
from server.auth.authorizer import ActiveKey, KeyAuthorizer
from store.database import connect
from tests.support.processes import SENDINGIP, ServerProcess, admin_key, create_key, sendingip_env, wait_for
from tests.support.requests import bearer, pick_request
from tests.support.routing import seed_acme

pytestmark = pytest.mark.e2e
UNAUTHENTICATED, PERMISSION_DENIED = grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED


def _code(call: Any, request: Any, key: str | None) -> grpc.StatusCode:
    try:
        call(request, timeout=5, metadata=bearer(key) if key is not None else ())
    except grpc.RpcError as exc:
        assert "Traceback" not in (exc.details() or "")
        return exc.code()
    return grpc.StatusCode.OK


async def test_every_wrong_key_is_refused_and_no_key_reaches_the_log(db_url: str, tmp_path: Path) -> None:
    async with connect(db_url) as db:
        await seed_acme(db)
        await db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east'), ('beta', 'us-east')")
    env = sendingip_env(db_url, SENDINGIP_DATA_DIR=str(tmp_path), SENDINGIP_METRICS_LISTEN="0")
    # DEBUG: the most a log can hold; no secret may be in it either.
    server = ServerProcess(env, ["--no-workers"], command=["--log-level", "DEBUG", "serve", "--listen", "127.0.0.1:0"])
    try:
        admin = admin_key(server)
        server.wait_serving()
        route = create_key(db_url, "route")
        route_acme = create_key(db_url, "route", accounts="acme")
        view_acme = create_key(db_url, "view", accounts="acme")
        view_all = create_key(db_url, "view")
        revoked = create_key(db_url, "route,view,admin")
        subprocess.run(
            [SENDINGIP, "keys", "revoke", revoked.split("_")[1]], env=env, check=True, capture_output=True, timeout=60
        )
        prefix, key_id, secret = route.split("_", 2)
        wrong_secret = f"{prefix}_{key_id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
        unknown_id = f"{prefix}_zzzzzzzzzzzz_{secret}"
        with grpc.insecure_channel(server.target) as channel:
            router = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            mgmt = management_pb2_grpc.ManagementStub(channel)  # type: ignore[no-untyped-call]
            pick = pick_request("<1@x>")
            pick_beta = pick_request("<1@x>", "beta")
            get_acme = management_pb2.GetAccountRequest(account_id="acme")
            get_beta = management_pb2.GetAccountRequest(account_id="beta")
            create = management_pb2.CreateAccountRequest(account_id="gamma", region="us-east")
            add_ips = management_pb2.AddIPsRequest(
                region="us-east", addresses=["203.0.113.9"], purpose=types_pb2.IP_PURPOSE_INVENTORY
            )

            def wait_revoked() -> bool:
                return _code(router.SelectSendingIP, pick, revoked) == UNAUTHENTICATED

            wait_for(wait_revoked, timeout=10)
            expectations = [
                # (what, call, request, key, expected)
                ("no key", router.SelectSendingIP, pick, None, UNAUTHENTICATED),
                ("no key", mgmt.GetAccount, get_acme, None, UNAUTHENTICATED),
                ("empty key", router.SelectSendingIP, pick, "", UNAUTHENTICATED),
                ("malformed key", mgmt.GetAccount, get_acme, "hunter2", UNAUTHENTICATED),
                ("wrong secret", router.SelectSendingIP, pick, wrong_secret, UNAUTHENTICATED),
                ("unknown key id", router.SelectSendingIP, pick, unknown_id, UNAUTHENTICATED),
                ("revoked", mgmt.GetAccount, get_acme, revoked, UNAUTHENTICATED),
                ("route key on Management", mgmt.GetAccount, get_acme, route, PERMISSION_DENIED),
                ("view key on the Router", router.SelectSendingIP, pick, view_all, PERMISSION_DENIED),
                ("view key writing", mgmt.CreateAccount, create, view_all, PERMISSION_DENIED),
                ("view key outside its accounts", mgmt.GetAccount, get_beta, view_acme, PERMISSION_DENIED),
                ("view key outside its accounts", mgmt.ListSendingIPs, management_pb2.ListSendingIPsRequest(account_id="beta"), view_acme, PERMISSION_DENIED),
                ("scoped key on an all-accounts write", mgmt.AddIPs, add_ips, view_acme, PERMISSION_DENIED),
                ("route key outside its accounts", router.SelectSendingIP, pick_beta, route_acme, PERMISSION_DENIED),
                ("route key outside its accounts (batch)", router.SelectSendingIPBatch, router_pb2.SelectSendingIPBatchRequest(requests=[pick, pick_beta]), route_acme, PERMISSION_DENIED),
                # ... and what each may do, so the refusals above are about the key.
                ("view key inside its accounts", mgmt.GetAccount, get_acme, view_acme, grpc.StatusCode.OK),
                ("route key inside its accounts", router.SelectSendingIP, pick, route_acme, grpc.StatusCode.OK),
                ("admin", mgmt.CreateAccount, create, admin, grpc.StatusCode.OK),
            ]  # fmt: skip
            got = [(what, _code(call, request, key)) for what, call, request, key, _ in expectations]
            assert got == [(what, expected) for what, _, _, _, expected in expectations]
            stream = list(router.SelectSendingIPStream(iter([pick]), timeout=5, metadata=bearer(route)))
            assert len(stream) == 1
    finally:
        server.stop()
    # The first-start banner shows the bootstrap admin key once, by design (on stdout,
    # for the operator); nothing else may.
    banner = ("export SENDINGIP_API_KEY=", "admin key (shown once): ")
    assert sum(any(b in line for b in banner) for line in server.lines) == 2
    log = "\n".join(line for line in server.lines if not any(b in line for b in banner))
    for key in (admin, route, route_acme, view_acme, view_all, revoked, wrong_secret, unknown_id):
        secret = key.split("_", 2)[2]
        assert secret not in log, f"a secret reached the log: {key.split('_')[1]}"
    assert "Traceback" not in log


def test_the_key_check_takes_one_path_whatever_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    """Structural: one SHA-256 and one ``hmac.compare_digest`` of two 32-byte digests for
    an unknown key id, a wrong secret and the right one alike — no early return between
    parsing and the comparison that would tell an attacker which ids exist."""
    good = keys.generate()
    authorizer = KeyAuthorizer([ActiveKey(good.key_id, good.secret_hash, frozenset({"route"}), None)])
    compared: list[tuple[int, int]] = []
    hashed: list[str] = []
    real_compare, real_hash = hmac.compare_digest, keys.hash_secret

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real_compare(a, b)

    def hash_secret(secret: str) -> bytes:
        hashed.append(secret)
        return real_hash(secret)

    monkeypatch.setattr("server.auth.authorizer.hmac.compare_digest", compare_digest)
    monkeypatch.setattr("server.auth.authorizer.keys.hash_secret", hash_secret)
    other = keys.generate()
    cases = {
        "right": good.token,
        "wrong secret": f"sip_{good.key_id}_{other.secret}",
        "unknown id": f"sip_{other.key_id}_{good.secret}",
    }
    for name, token in cases.items():
        compared.clear()
        hashed.clear()
        result = authorizer.check([("authorization", f"Bearer {token}")], "route")
        assert compared == [(32, 32)] and len(hashed) == 1, name
        assert (result is None) == (name == "right"), name


def test_the_key_check_takes_about_as_long_for_an_unknown_id_as_for_a_wrong_secret() -> None:
    """Coarse sanity check beside the structural test (a fine statistical one would flake)."""
    good = keys.generate()
    authorizer = KeyAuthorizer([ActiveKey(good.key_id, good.secret_hash, frozenset({"route"}), None)])
    other = keys.generate()
    wrong_secret = [("authorization", f"Bearer sip_{good.key_id}_{other.secret}")]
    unknown_id = [("authorization", f"Bearer sip_{other.key_id}_{other.secret}")]

    def median_ns(metadata: list[tuple[str, str]]) -> float:
        samples = []
        for _ in range(30):
            t = time.perf_counter_ns()
            for _ in range(200):
                authorizer.check(metadata, "route")
            samples.append(time.perf_counter_ns() - t)
        return statistics.median(samples)

    a, b = median_ns(wrong_secret), median_ns(unknown_id)
    assert 0.5 < a / b < 2.0, (a, b)

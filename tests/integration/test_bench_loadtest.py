"""The load-test mode and the h2load body against a real `sendingip serve` (loopback only)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import h2load, seed, stack
from bench.loadtest import LoadSpec, LoadTest
from sendingip.v1 import router_pb2

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_loadtest_and_h2load_against_a_real_router(db_url: str, tmp_path: Path) -> None:
    await seed.seed(db_url, 200)
    env = stack.sendingip_env(db_url, tmp_path / "data", SENDINGIP_HISTORY_FLUSH_INTERVAL="0.2")
    key = await asyncio.to_thread(stack.create_key, env)
    router = await asyncio.to_thread(stack.start_router, env)
    try:
        spec = LoadSpec(
            target=router.target,
            key=key,
            mtas=3,
            rate=300,
            duration=1.5,
            accounts=tuple(seed.account_id(i) for i in range(200)),
            provider_mix=(("google", 50), ("microsoft", 30), ("fastmail", 0), ("other", 20)),
            counted=True,  # first picks, as the router's counters below see them
        )
        before = await asyncio.to_thread(router.picks)
        result = await LoadTest(spec, progress=None).run()
        assert result["errors"] == {}
        assert result["sent"] == result["ok"] == 450  # 300/s for 1.5 s, open loop
        assert result["latency_seconds"]["n"] == 450
        assert set(result["pool_types"]) == {"general", "dedicated"}  # the seed has both
        assert await asyncio.to_thread(router.picks) - before == 450

        # A wrong key is reported by status, not hidden.
        bad = LoadSpec(**{**spec.__dict__, "key": "sip_nope", "duration": 0.2, "rate": 20})
        failed = await LoadTest(bad, progress=None).run()
        assert failed["ok"] == 0 and failed["errors"] == {"UNAUTHENTICATED": 4}

        if shutil.which("h2load"):
            # The prepared body is a valid call: every HTTP 200 is an answered pick (one counted,
            # then repeats of the same message, answered alike and not counted again).
            request = router_pb2.SelectSendingIPRequest(
                account_id=seed.account_id(17), message_id="<h2>", recipient_domain="gmail.com"
            )
            body = tmp_path / "body.bin"
            body.write_bytes(h2load.grpc_frame(request.SerializeToString()))
            before = await asyncio.to_thread(router.picks)
            cmd = ["h2load", f"http://{router.target}/sendingip.v1.Router/SelectSendingIP", "-n", "200", "-c", "2"]
            cmd += ["-d", str(body)] + [a for h in h2load.grpc_headers(key) for a in ("-H", h)]
            done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=30)
            parsed = h2load.parse_output(done.stdout)
            assert parsed.succeeded == 200 and parsed.status_2xx == 200
            assert await asyncio.to_thread(router.picks) - before == 200
    finally:
        await asyncio.to_thread(router.stop)

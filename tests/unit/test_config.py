"""Settings from the environment: read once, and a malformed one is named, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import ServerConfig
from store.config import ConfigError, DatabaseConfig, env_int, env_seconds
from workers.service import WorkerConfig


def test_defaults_and_overrides() -> None:
    assert DatabaseConfig.from_env({}).url is None
    assert DatabaseConfig.from_env({"SENDINGIP_DB_POOL_SIZE": "3"}).pool_size == 3
    assert ServerConfig.from_env({"SENDINGIP_LISTEN": "0.0.0.0:1"}).listen == "0.0.0.0:1"
    assert WorkerConfig.from_env({"SENDINGIP_REBALANCE_INTERVAL": "2.5"}).interval == 2.5


@pytest.mark.parametrize(
    ("read", "message"),
    [
        (lambda: env_int({"X": "ten"}, "X", 1, minimum=1), "X='ten': expected a whole number"),
        (lambda: env_int({"X": "0"}, "X", 1, minimum=1), "X='0': must be at least 1"),
        (lambda: env_seconds({"X": "soon"}, "X", 1.0), "X='soon': expected a number of seconds"),
        (lambda: env_seconds({"X": "-1"}, "X", 1.0), "X='-1': must be more than 0"),
        (lambda: env_seconds({"X": "soon"}, "X", 1.0, minimum=0, unit="hours"), "X='soon': expected a number of hours"),
        (lambda: env_seconds({"X": "-1"}, "X", 1.0, minimum=0, unit="hours"), "X='-1': must be 0 or more"),
        (lambda: env_seconds({"X": "inf"}, "X", 1.0, minimum=0, unit="hours"), "X='inf': must be 0 or more"),
    ],
)
def test_a_malformed_setting_is_named(read: object, message: str) -> None:
    assert callable(read)
    with pytest.raises(ConfigError, match=message):
        read()


def test_the_command_says_which_setting_is_wrong(tmp_path: Path) -> None:
    env = {**os.environ, "SENDINGIP_DB_POOL_SIZE": "many", "SENDINGIP_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("sendingip")), "migrate"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: SENDINGIP_DB_POOL_SIZE='many': expected a whole number"

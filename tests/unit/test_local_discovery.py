"""How a command finds the data folder and a local server from any working directory
(``store.embedded.find_data_dir``, ``cli.runtime.locate``, ``cli.local_server``)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from cli import local_server
from cli.client import DEFAULT_SERVER, server_address
from cli.runtime import NoDatabase, locate
from store.config import DatabaseConfig
from store.embedded import find_data_dir, record_data_dir


def _with_database(folder: Path) -> Path:
    (folder / "postgres").mkdir(parents=True)
    (folder / "postgres" / "PG_VERSION").write_text("16\n")
    return folder


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path / "state")}


def test_a_command_elsewhere_finds_the_database_serve_noted(tmp_path: Path, env: dict[str, str]) -> None:
    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    data = _with_database(checkout / ".data")
    elsewhere.mkdir()
    record_data_dir(data, env)
    found = find_data_dir(env, elsewhere)
    assert (found.folder, found.elsewhere) == (elsewhere / ".data", data)
    assert locate(DatabaseConfig(), env=env, cwd=elsewhere).data_dir == data
    # Its own folder's database comes first.
    assert locate(DatabaseConfig(), env=env, cwd=checkout).data_dir == data


def test_no_database_anywhere_is_refused_unless_init(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(NoDatabase, match=r"would start a new, empty one.*--init.*SENDINGIP_DATABASE_URL"):
        locate(DatabaseConfig(), env=env, cwd=tmp_path)
    assert locate(DatabaseConfig(), init=True, env=env, cwd=tmp_path).data_dir == tmp_path / ".data"
    # serve creates the first one by itself (make run on a fresh clone) ...
    assert locate(DatabaseConfig(), serving=True, env=env, cwd=tmp_path).data_dir == tmp_path / ".data"
    # ... and a URL needs no folder's database.
    assert locate(DatabaseConfig(url="postgresql://h/db"), env=env, cwd=tmp_path).url == "postgresql://h/db"


def test_serve_elsewhere_does_not_start_a_second_database_without_init(tmp_path: Path, env: dict[str, str]) -> None:
    data = _with_database(tmp_path / "checkout" / ".data")
    record_data_dir(data, env)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(NoDatabase, match=f"the last `sendingip serve` used {data}"):
        locate(DatabaseConfig(), serving=True, env=env, cwd=other)
    assert locate(DatabaseConfig(), serving=True, init=True, env=env, cwd=other).data_dir == other / ".data"


def test_an_explicit_data_dir_is_used_as_given(tmp_path: Path, env: dict[str, str]) -> None:
    record_data_dir(_with_database(tmp_path / "noted"), env)
    explicit = {**env, "SENDINGIP_DATA_DIR": "mine"}
    found = find_data_dir(explicit, tmp_path)
    assert (found.folder, found.elsewhere) == (tmp_path / "mine", None)


def _server_file(folder: Path, pid: int, grpc: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / local_server.SERVER_FILE).write_text(json.dumps({"pid": pid, "grpc": grpc}))


def test_client_commands_find_a_running_local_servers_address(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _with_database(tmp_path / "checkout" / ".data")
    record_data_dir(data, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _server_file(data, os.getpid(), "0.0.0.0:50999")
    assert local_server.find_grpc(env, elsewhere) == "127.0.0.1:50999"  # a wildcard, as reached here
    # The order: --server, SENDINGIP_LISTEN, the local server's, the default.
    monkeypatch.chdir(elsewhere)
    assert server_address(argparse.Namespace(server=None), env) == "127.0.0.1:50999"
    assert server_address(argparse.Namespace(server=None), {**env, "SENDINGIP_LISTEN": "h:1"}) == "h:1"
    assert server_address(argparse.Namespace(server="s:2"), {**env, "SENDINGIP_LISTEN": "h:1"}) == "s:2"


def test_a_dead_servers_note_is_ignored(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = _with_database(tmp_path / ".data")
    _server_file(data, 2**22 + 12345, "127.0.0.1:50999")  # above any pid_max default: no such process
    assert local_server.find_grpc(env, tmp_path) is None
    assert local_server.running_pid(data) is None
    monkeypatch.chdir(tmp_path)
    assert server_address(argparse.Namespace(server=None), env) == DEFAULT_SERVER


def test_the_banner_names_every_address_and_what_is_off(tmp_path: Path) -> None:
    text = local_server.banner(
        {"grpc": "127.0.0.1:50051", "http": "127.0.0.1:8080", "metrics": "127.0.0.1:9464"}, 2.25, tmp_path
    )
    lines = text.splitlines()
    assert lines[0] == f"sendingip is serving (2.2s after start; data folder {tmp_path}):"
    assert "  gRPC (Router, Management)  127.0.0.1:50051" in lines
    assert "  metrics (Prometheus)       127.0.0.1:9464" in lines
    assert "  Postfix policy door        off (set SENDINGIP_POSTFIX_LISTEN to open it)" in lines
    assert local_server.address("0.0.0.0:0", 4321) == "0.0.0.0:4321"
    assert local_server.address("[::1]:0", 4321) == "[::1]:4321"

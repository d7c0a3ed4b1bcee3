"""Where a local ``sendingip serve`` listens: printed at start, and written down for the
client commands.

Once it answers, ``serve`` prints every address it listens on (gRPC, the HTTP door, the
metrics endpoint, the Postfix and line doors) and writes them with its pid to
``<data folder>/server.json``; it removes the file when it stops. A client command given
neither ``--server`` nor ``SENDINGIP_LISTEN`` reads that file from the data folder, found
as the commands find the database (``store.embedded.find_data_dir``), so moving the server
with ``SENDINGIP_LISTEN`` needs the variable in its own terminal only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from store.embedded import find_data_dir, recorded_data_dir

log = logging.getLogger(__name__)

SERVER_FILE = "server.json"

#: What each address is, in the order they are printed. Missing ones print as off.
KINDS = {
    "grpc": ("gRPC (Router, Management)", ""),
    "http": ("HTTP door and /healthz", "SENDINGIP_HTTP_LISTEN"),
    "metrics": ("metrics (Prometheus)", "SENDINGIP_METRICS_LISTEN"),
    "postfix": ("Postfix policy door", "SENDINGIP_POSTFIX_LISTEN"),
    "line": ("line door", "SENDINGIP_LINE_LISTEN"),
}


def address(listen: str, port: int) -> str:
    """``listen``'s host with the port actually bound (``listen`` may ask for port 0)."""
    return host_port(listen.rpartition(":")[0] or "127.0.0.1", port)


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def banner(addresses: Mapping[str, str], seconds: float, data_dir: Path) -> str:
    """The lines ``serve`` prints once it answers."""
    width = max(len(label) for label, _ in KINDS.values())
    lines = [f"sendingip is serving ({seconds:.1f}s after start; data folder {data_dir}):"]
    for kind, (label, variable) in KINDS.items():
        where = addresses.get(kind) or f"off (set {variable} to open it)"
        lines.append(f"  {label:<{width}}  {where}")
    lines.append(f"Client commands as this user find the gRPC address in {data_dir / SERVER_FILE}.")
    return "\n".join(lines)


def write(data_dir: Path, addresses: Mapping[str, str]) -> None:
    """Best effort: a read-only data folder costs the client commands a default, not the server."""
    path = data_dir / SERVER_FILE
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"pid": os.getpid(), **addresses}) + "\n", encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        log.warning("could not write %s: %s", path, exc)


def remove(data_dir: Path) -> None:
    """Remove the file if this process wrote it (another server may have taken the folder since)."""
    path = data_dir / SERVER_FILE
    if _read(path).get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


def _read(path: Path) -> dict[str, object]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def running_pid(data_dir: Path) -> int | None:
    """The pid of the server that wrote ``data_dir``'s address file, while it runs."""
    pid = _read(data_dir / SERVER_FILE).get("pid")
    return pid if isinstance(pid, int) and alive(pid) else None


def alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def find_grpc(env: Mapping[str, str], cwd: Path | None = None) -> str | None:
    """The gRPC address of a running local server, or None: from the data folder a command
    would use, else from the one the last ``serve`` noted."""
    folders = [find_data_dir(env, Path.cwd() if cwd is None else cwd).folder]
    if not env.get("SENDINGIP_DATA_DIR"):
        noted = recorded_data_dir(env)
        if noted is not None:
            folders.append(noted)
    for folder in folders:
        record = _read(folder / SERVER_FILE)
        grpc = record.get("grpc")
        if isinstance(grpc, str) and alive(record.get("pid")):
            return _reachable(grpc)
    return None


def _reachable(listen: str) -> str:
    """A wildcard listen address as a client reaches it on this machine."""
    host, _, port = listen.rpartition(":")
    if host in ("", "0.0.0.0"):
        return f"127.0.0.1:{port}"
    if host in ("[::]", "::"):
        return f"[::1]:{port}"
    return listen
